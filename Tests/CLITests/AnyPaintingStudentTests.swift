import Decode
import Foundation
import Pipeline
@testable import StreamdCLI
import Stylize
import TestSupport
import XCTest

/// `streamd train --any-painting` and the network it made that ships (`builtin:arbitrary-fast`): a light student
/// conditioned on the painting's style embedding, distilled from Magenta's transformer.
final class AnyPaintingStudentTests: XCTestCase {
    static func painting(_ name: String) throws -> String { try SharedData.path("media/images/style/\(name).jpg") }

    /// A held-out photo (not among the Kodak training photos), small enough for a test.
    static func heldOutPhoto() throws -> RGBImage {
        try ImageDecoder.resize(try ImageDecoder.decode(path: try SharedData.path("media/images/content/chicago.jpg")), width: 160, height: 108)
    }

    func arguments(_ tmp: TempDir, out: String, extra: [String] = []) throws -> [String] {
        ["train", "--dataset-path", try DistillationRun.photos(tmp), "--any-painting",
         "--style-image", try Self.painting("wave"), "--style-image", try Self.painting("scream"), "--style-crops", "1",
         "--out", out, "--arch", "light", "--edge-kernel", "3", "--depthwise-sampling", "--strided-edges",
         "--image-size", "64", "--batch-size", "2", "--lr", "0.005", "--threads", "2", "--sample-interval", "0", "--seed", "5"] + extra
    }

    /// The student's mean distance to the teacher on the held-out photo, painting with each of `paintings`.
    func distanceToTeacher(_ student: StyleModel, paintings: [String]) throws -> Double {
        let photo = try Self.heldOutPhoto()
        let teacher = try Stylizer(model: try ModelLoader.load(path: "builtin:arbitrary"), threads: 2)
        let network = try Stylizer(model: student, threads: 2)
        let predictor = try StylePredictor.builtin(threads: 2)
        var total = 0.0
        for name in paintings {
            let options = StyleOptions(styleWeights: try predictor.embedding(ofPaintingAt: try Self.painting(name)))
            total += meanSquaredDifference(try network.stylize(photo, options: options), try teacher.stylize(photo, options: options))
        }
        return total / Double(paintings.count)
    }

    /// A tiny run on two paintings: the student comes closer to the teacher on a photo it never saw (painting with
    /// the paintings it learnt), exports a network that takes any painting, and a resumed run ends with the very
    /// weights of an uninterrupted one.
    func testTinyDistillationApproachesTheTeacherAndResumesExactly() throws {
        let tmp = try TempDir()
        let run = try DistillationRun(tmp, steps: 30) { try self.arguments(tmp, out: $0, extra: $1) }
        // 2 pictures, 1 crop each, as many blends: 8 styles.
        XCTAssertTrue(run.first.stderr.contains("8 styles: 2 pictures, 2 crops of them, 4 blends"), run.first.stderr)
        let student = try NativeModelFile.load(path: run.outA)
        XCTAssertEqual(student.info.styleEmbeddingSize, 100, "takes a painting's embedding, as the teacher")
        XCTAssertEqual(student.info.styleNames, [])
        let (before, after) = (try distanceToTeacher(try NativeModelFile.load(path: run.early), paintings: ["wave", "scream"]),
                               try distanceToTeacher(student, paintings: ["wave", "scream"]))
        print("any-painting distillation: distance to the teacher on a held-out photo \(before) after 1 step, \(after) after 30")
        XCTAssertLessThan(after, before * 0.8, "closer to the teacher on a photo it never saw")
        try run.assertResumesExactly()

        // It paints with --style-image like any network that takes a painting.
        let picture = tmp.file("la_muse.png")
        let r = try CLI.run(["image", "--model", run.outA, "--style-image", try Self.painting("la_muse"),
                             try SharedData.path("media/images/content/stata.jpg"), picture])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: picture))
    }

    func testMistakesAreOneLineErrors() throws {
        let tmp = try TempDir()
        let out = tmp.file("x.safetensors")
        var fixedTeacher = try arguments(tmp, out: out, extra: ["--max-steps", "1"])
        fixedTeacher += ["--teacher", try SharedData.path("models/ml5/udnie")]
        CLI.assertFails(try CLI.run(fixedTeacher), mentioning: ["--any-painting", "fixed styles"])
        let withStyleLoss = try arguments(tmp, out: out, extra: ["--lambda-style", "1"])
        assertUsageError(try CLI.run(withStyleLoss), mentioning: ["--any-painting", "--lambda-style"])
        let folderAlone = try arguments(tmp, out: out, extra: ["--style-folder", tmp.path]).filter { $0 != "--any-painting" }
        assertUsageError(try CLI.run(folderAlone), mentioning: ["--style-folder", "--any-painting"])
        let missingFolder = try arguments(tmp, out: out, extra: ["--style-folder", tmp.file("nowhere"), "--max-steps", "1"])
        CLI.assertFails(try CLI.run(missingFolder), mentioning: [tmp.file("nowhere"), "--style-folder"])
        assertUsageError(try CLI.run(["image", "--fast", try SharedData.path("media/images/content/stata.jpg"), tmp.file("y.png")]),
                         mentioning: ["--fast", "--style-image"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp.file("y.png")))
    }

    /// An option mistake: the argument parser's usage error (status 64), its first line naming the options.
    func assertUsageError(_ r: CLI.Result, mentioning words: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, 64, r.stderr, file: file, line: line)
        let first = r.stderr.split(separator: "\n").first.map(String.init) ?? ""
        for w in words { XCTAssertTrue(first.contains(w), "\(w) not in \(first)", file: file, line: line) }
    }

    /// The shipped student on a held-out photo: two paintings give two clearly different pictures; with each of the
    /// four paintings it learnt from, its picture is nearer the teacher's picture with that painting than the
    /// teacher's picture with any other of the eight; and so it is with at least three of the four paintings it
    /// never saw. Compared at an eighth of the size (20×14: the palette and the large shapes), which is what a
    /// network of a quarter of the teacher's cost reproduces; at full size the teacher's fine strokes dominate the
    /// distance. The shipped weights (the 8/16/32 network at step 12,000) paint all four unseen ones nearest their
    /// own at this scale, rain_princess by a narrow margin (0.0223 against matta's 0.0226), which the same network
    /// at step 8,000 missed: three of four is what the test holds any student to.
    func testShippedStudentPaintsThePaintingItIsGiven() throws {
        let photo = try Self.heldOutPhoto()
        let predictor = try StylePredictor.builtin(threads: 2)
        let student = try Stylizer(model: try ModelLoader.load(path: "builtin:arbitrary-fast"), threads: 2)
        let teacher = try Stylizer(model: try ModelLoader.load(path: "builtin:arbitrary"), threads: 2)
        let seen = ["wave", "scream", "wreck", "udnie"], unseen = ["la_muse", "rain_princess", "matta", "matilde_perez"]
        var studentPictures: [String: RGBImage] = [:], teacherPictures: [String: RGBImage] = [:]
        for name in seen + unseen {
            let options = StyleOptions(styleWeights: try predictor.embedding(ofPaintingAt: try Self.painting(name)))
            studentPictures[name] = try student.stylize(photo, options: options)
            teacherPictures[name] = try teacher.stylize(photo, options: options)
        }
        let apart = meanSquaredDifference(studentPictures["wave"]!, studentPictures["udnie"]!)
        XCTAssertGreaterThan(apart, 0.01, "wave and udnie paint clearly different pictures (mean squared difference \(apart))")
        func coarse(_ picture: RGBImage) throws -> RGBImage { try ImageDecoder.resize(picture, width: 20, height: 14) }
        let studentCoarse = try studentPictures.mapValues(coarse), teacherCoarse = try teacherPictures.mapValues(coarse)
        var unseenMatched: [String] = []
        for name in seen + unseen {
            let own = meanSquaredDifference(studentCoarse[name]!, teacherCoarse[name]!)
            let others = (seen + unseen).filter { $0 != name }.map { (other: $0, d: meanSquaredDifference(studentCoarse[name]!, teacherCoarse[$0]!)) }
            let nearest = others.min { $0.d < $1.d }!
            print("arbitrary-fast with \(name) (\(seen.contains(name) ? "learnt" : "never seen")): distance at 20x14 to the teacher's \(name) \(own), nearest other \(nearest.other) \(nearest.d); at full size \(meanSquaredDifference(studentPictures[name]!, teacherPictures[name]!))")
            if seen.contains(name) {
                XCTAssertLessThan(own, nearest.d, "\(name): the student's picture is nearest the teacher's \(name), not its \(nearest.other)")
            } else if own < nearest.d {
                unseenMatched.append(name)
            }
        }
        XCTAssertGreaterThanOrEqual(unseenMatched.count, 3, "paintings it never saw painted nearest the teacher's own: \(unseenMatched)")
    }
}
