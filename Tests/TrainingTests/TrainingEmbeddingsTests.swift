import Foundation
import Stylize
import TestSupport
import Training
import XCTest

/// The styles `train --any-painting` draws from pictures: the same for the same seed, different embeddings for
/// different pictures and crops, and no trap on a picture smaller than the smallest crop.
final class TrainingEmbeddingsTests: XCTestCase {
    func testStylesAreSeededAndATinyPictureIsTakenWhole() throws {
        let dir = try TempDir("embeddings")
        let tiny = dir.file("tiny.png")
        // 12×10: smaller than the 16-pixel floor of a crop, which then is the whole shorter side.
        try runFFmpeg(["-f", "lavfi", "-i", "testsrc=size=12x10", "-frames:v", "1", "-y", tiny])
        let wave = try SharedData.path("media/images/style/wave.jpg")
        let predictor = try StylePredictor.builtin(threads: 2)
        let styles = try TrainingEmbeddings.sample(pictures: [wave, tiny], crops: 2, blends: 3, seed: 7, predictor: predictor)
        XCTAssertEqual(styles.prefix(6).map { $0.name.split(separator: " ").prefix(3).joined(separator: " ") },
                       ["wave", "wave crop 1", "wave crop 2", "tiny", "tiny crop 1", "tiny crop 2"])
        XCTAssertEqual(styles.count, 9)
        XCTAssertTrue(styles.allSatisfy { $0.embedding.count == 100 && $0.embedding.allSatisfy(\.isFinite) })
        XCTAssertNotEqual(styles[0].embedding, styles[1].embedding, "a crop is its own style")
        XCTAssertNotEqual(styles[0].embedding, styles[3].embedding)
        let again = try TrainingEmbeddings.sample(pictures: [wave, tiny], crops: 2, blends: 3, seed: 7, predictor: predictor)
        XCTAssertEqual(again, styles, "the same seed draws the same styles")
    }
}
