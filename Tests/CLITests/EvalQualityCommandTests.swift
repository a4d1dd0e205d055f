import Foundation
import TestSupport
import XCTest

/// `streamd eval quality` puts models side by side on the same held-out photos and painting: the photos' own row
/// first (all of their structure, their own colours), then each model's.
final class EvalQualityCommandTests: XCTestCase {
    func testModelsSideBySideAgainstThePhotosThemselves() throws {
        let photos = try ["chicago.jpg", "stata.jpg"].map { try SharedData.path("media/images/content/" + $0) }
        let wave = try SharedData.path("media/images/style/wave.jpg")
        let r = try CLI.run(["eval", "quality", "--json", "--style-image", wave, "--max-size", "96",
                             "--model", "default#wave", "--model", try SharedData.path("models/ml5/wave")] + photos)
        XCTAssertEqual(r.status, 0, r.stderr)
        let report = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.stdout)
        XCTAssertEqual(report["photos"] as? Int, 2)
        let rows = try XCTUnwrap(report["rows"] as? [[String: Any]])
        XCTAssertEqual(rows.count, 3)
        func mean(_ row: [String: Any], _ key: String) -> Double { ((row["mean"] as? [String: Any])?[key] as? Double) ?? .nan }
        let photosRow = rows[0]
        XCTAssertEqual(mean(photosRow, "structure"), 1, accuracy: 1e-9)
        XCTAssertEqual((photosRow["photos"] as? [String: Any])?.count, 2)
        for row in rows.dropFirst() {
            let name = row["model"] as? String ?? "?"
            // A style keeps some of the photo's shapes, not all, and brings its colours and textures toward the
            // painting's: closer in colour and in style loss than the photos themselves.
            XCTAssertGreaterThan(mean(row, "structure"), 0.1, name)
            XCTAssertLessThan(mean(row, "structure"), 0.95, name)
            XCTAssertLessThan(mean(row, "colour"), mean(photosRow, "colour"), name)
            XCTAssertLessThan(mean(row, "style"), mean(photosRow, "style"), name)
        }

        CLI.assertFails(try CLI.run(["eval", "quality", "--style-image", wave, "--model", "default#nosuch", photos[0]]),
                        mentioning: ["default#nosuch", "nosuch"])
        CLI.assertFails(try CLI.run(["eval", "quality", "--style-image", wave, "--model", "default", "/nonexistent/photo.jpg"]),
                        mentioning: ["/nonexistent/photo.jpg"])
    }
}
