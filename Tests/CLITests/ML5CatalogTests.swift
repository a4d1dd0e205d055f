import Foundation
import ModelHub
import TestSupport
import XCTest

/// The ml5 catalogue `streamd models pull` checks downloads against is data linked into the binary
/// (`ml5-catalog.tsv`): it lists the whole collection, and every file of the copies in the shared data matches
/// its recorded size and SHA-256, so a pull of a good file is never refused and a changed one always is.
final class ML5CatalogTests: XCTestCase {
    func testTheBundledCatalogueMatchesTheCollection() throws {
        let models = ML5Catalog.models
        XCTAssertEqual(models.keys.sorted(), ["la_muse", "mathura", "matilde_perez", "matta", "rain_princess", "scream", "udnie", "wave", "wreck"])
        for (name, files) in models.sorted(by: { $0.key < $1.key }) {
            XCTAssertTrue(files.contains { $0.name == "manifest.json" }, "\(name) has its manifest")
            let directory = try SharedData.path("models/ml5/\(name)")
            let paths = files.map { directory + "/" + $0.name }
            let run = try runToolCapturing("/usr/bin/sha256sum", paths)
            XCTAssertEqual(run.status, 0, "\(name): \(run.stderr)")
            let sums = Dictionary(uniqueKeysWithValues: String(decoding: run.stdout, as: UTF8.self).split(separator: "\n").map { line -> (String, String) in
                let parts = line.split(separator: " ", maxSplits: 1)
                return (String(parts[1].drop { $0 == " " || $0 == "*" }), String(parts[0]))
            })
            for (file, path) in zip(files, paths) {
                let size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue
                XCTAssertEqual(size, file.size, "\(name)/\(file.name) size")
                XCTAssertEqual(sums[path], file.sha256, "\(name)/\(file.name) SHA-256")
            }
        }
    }

    func testAMalformedCatalogueLineIsNamed() {
        XCTAssertThrowsError(try ML5Catalog.parse("# comment\nwave\tVariable\t12\n")) { error in
            XCTAssertEqual("\(error)", "line 2: expected model, file, size and a lowercase SHA-256, got 'wave\tVariable\t12'")
        }
        XCTAssertEqual(try ML5Catalog.parse("wave\tVariable\t12\t" + String(repeating: "a", count: 64) + "\n")["wave"]?.first?.size, 12)
    }
}
