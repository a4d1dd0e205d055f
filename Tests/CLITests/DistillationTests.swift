import Decode
import Foundation
import Pipeline
@testable import StreamdCLI
import Stylize
import TestSupport
import XCTest

/// `streamd train --teacher`: a network learns another network's pictures (no loss network needed), its distance
/// to the teacher falls, a resumed run ends with the very weights of an uninterrupted one, and mistakes are
/// one-line errors.
final class DistillationTests: XCTestCase {
    func arguments(_ tmp: TempDir, out: String, extra: [String] = []) throws -> [String] {
        ["train", "--dataset-path", try DistillationRun.photos(tmp), "--teacher", "arbitrary",
         "--style-image", try SharedData.path("media/images/style/wave.jpg"), "--style-image", try SharedData.path("media/images/style/scream.jpg"),
         "--out", out, "--arch", "light", "--edge-kernel", "3", "--depthwise-sampling", "--strided-edges",
         "--image-size", "64", "--batch-size", "2", "--lr", "0.005", "--threads", "2", "--sample-interval", "0", "--seed", "3"] + extra
    }

    /// The student's mean squared distance (0…1 scale) to the teacher on a held-out photo in each style.
    func distanceToTeacher(_ student: String) throws -> Double {
        let photo = try ImageDecoder.resize(try ImageDecoder.decode(path: try SharedData.path("media/images/content/face.jpg")), width: 96, height: 128)
        let teacher = try Stylizer(model: try ModelLoader.load(path: "builtin:arbitrary"), threads: 2)
        let predictor = try StylePredictor.builtin(threads: 2)
        let model = try NativeModelFile.load(path: student)
        let network = try Stylizer(model: model, threads: 2)
        var total = 0.0
        for (i, name) in ["wave", "scream"].enumerated() {
            let embedding = try predictor.embedding(ofPaintingAt: try SharedData.path("media/images/style/\(name).jpg"))
            let target = try teacher.stylize(photo, options: StyleOptions(styleWeights: embedding))
            let got = try network.stylize(photo, options: StyleOptions(styleWeights: [0, 1].map { $0 == i ? 1 : 0 }))
            total += meanSquaredDifference(samples: got.pixels, target.pixels)
        }
        return total / 2
    }

    func testDistillationApproachesTheTeacherAndResumesExactly() throws {
        let tmp = try TempDir()
        let run = try DistillationRun(tmp, steps: 24) { try self.arguments(tmp, out: $0, extra: $1) }
        // No loss network was read: a pure distillation needs none.
        XCTAssertTrue(run.first.stderr.contains("pixel"), run.first.stderr)
        XCTAssertTrue(run.trained.stderr.contains("wrote \(run.outA) after 24 steps"), run.trained.stderr)
        let log = try String(contentsOfFile: tmp.file("a-checkpoints/loss.csv"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(log.first, "step,epoch,content,style,tv,total,unix_time,pixel")
        let pixel = log.dropFirst().map { Double($0.split(separator: ",")[7])! }
        XCTAssertLessThan(pixel.suffix(4).reduce(0, +), pixel.prefix(4).reduce(0, +) * 0.8, "the pixel loss falls: \(pixel)")
        let (before, after) = (try distanceToTeacher(run.early), try distanceToTeacher(run.outA))
        print("distillation: distance to the teacher on a held-out photo \(before) after 1 step, \(after) after 24")
        XCTAssertLessThan(after, before * 0.8, "closer to the teacher on a photo it never saw")
        try run.assertResumesExactly()
        XCTAssertEqual(try NativeModelFile.load(path: run.outA).info.styleNames, ["wave", "scream"])
    }

    /// A fixed-style teacher teaches its own styles (no painting), and mistakes are one-line errors.
    /// `--lambda-colour` adds the colour loss against the paintings: it runs beside the pixel loss, is kept in the
    /// checkpoint for a resume, and a bad weight is a usage error naming the option.
    func testColourLossRunsBesideThePixelLossAndIsKept() throws {
        let tmp = try TempDir()
        let out = tmp.file("colour.safetensors")
        let run = try CLI.run(try arguments(tmp, out: out, extra: ["--max-steps", "2", "--checkpoint-interval", "2", "--lambda-colour", "5"]))
        XCTAssertEqual(run.status, 0, run.stderr)
        let state = try String(contentsOfFile: tmp.file("colour-checkpoints/step-2/state.json"), encoding: .utf8)
        XCTAssertTrue(state.replacingOccurrences(of: " ", with: "").contains("\"lambdaColour\":5"), state.prefix(2000).description)
        let bad = try CLI.run(try arguments(tmp, out: tmp.file("bad.safetensors"), extra: ["--lambda-colour=-1"]))
        XCTAssertEqual(bad.status, 64, bad.stderr)
        XCTAssertTrue(bad.stderr.contains("--lambda-colour must be a number ≥ 0"), bad.stderr)
    }

    func testFixedStyleTeacherAndMistakes() throws {
        let tmp = try TempDir()
        let out = tmp.file("udnie.safetensors")
        var args = try arguments(tmp, out: out, extra: ["--max-steps", "2"])
        let teacherAt = args.firstIndex(of: "--teacher")! + 1
        args[teacherAt] = try SharedData.path("models/ml5/udnie")
        let withPaintings = try CLI.run(args)
        CLI.assertFails(withPaintings, mentioning: ["teaches its own styles"])
        args.removeAll { $0 == "--style-image" || $0.hasSuffix("wave.jpg") || $0.hasSuffix("scream.jpg") }
        let fixed = try CLI.run(args)
        XCTAssertEqual(fixed.status, 0, fixed.stderr)
        let fixedModel = try NativeModelFile.load(path: out)
        XCTAssertEqual(fixedModel.info.styleNames, [], "one style, as the teacher has")
        XCTAssertTrue(fixedModel.info.notes.contains("distilled from udnie"), fixedModel.info.notes)

        let noPainting = try arguments(tmp, out: tmp.file("x.safetensors")).filter { !$0.hasSuffix(".jpg") && $0 != "--style-image" }
        CLI.assertFails(try CLI.run(noPainting), mentioning: ["takes any painting", "--style-image"])
        var pixelAlone = try arguments(tmp, out: tmp.file("y.safetensors")) + ["--lambda-pixel", "2", "--max-steps", "1"]
        pixelAlone[pixelAlone.firstIndex(of: "arbitrary")!] = "none"
        // An argument mistake: the argument parser's usage error (status 64) naming the option.
        let pixel = try CLI.run(pixelAlone)
        XCTAssertEqual(pixel.status, 64, pixel.stderr)
        XCTAssertTrue(pixel.stderr.contains("--lambda-pixel needs a --teacher"), pixel.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp.file("x.safetensors")))
    }
}

/// A tiny distillation run as the distillation tests make it: one step (`early`), then `steps` steps with a
/// checkpoint half-way (`outA`); `assertResumesExactly` trains again from that checkpoint and compares weights.
struct DistillationRun {
    let tmp: TempDir
    let steps: Int
    let arguments: (_ out: String, _ extra: [String]) throws -> [String]
    let early: String, outA: String
    let first: CLI.Result, trained: CLI.Result

    init(_ tmp: TempDir, steps: Int, arguments: @escaping (_ out: String, _ extra: [String]) throws -> [String],
         file: StaticString = #filePath, line: UInt = #line) throws {
        self.tmp = tmp
        self.steps = steps
        self.arguments = arguments
        early = tmp.file("early.safetensors")
        outA = tmp.file("a.safetensors")
        first = try CLI.run(try arguments(early, ["--max-steps", "1"]))
        XCTAssertEqual(first.status, 0, first.stderr, file: file, line: line)
        trained = try CLI.run(try arguments(outA, ["--max-steps", "\(steps)", "--checkpoint-interval", "\(steps / 2)"]))
        XCTAssertEqual(trained.status, 0, trained.stderr, file: file, line: line)
    }

    /// A run resumed from the half-way checkpoint ends with the very weights of the uninterrupted one.
    func assertResumesExactly(file: StaticString = #filePath, line: UInt = #line) throws {
        let outB = tmp.file("b.safetensors")
        let b = try CLI.run(try arguments(outB, ["--max-steps", "\(steps)", "--checkpoint-interval", "\(steps / 2)",
                                                  "--checkpoint-model", tmp.file("a-checkpoints/step-\(steps / 2)")]))
        XCTAssertEqual(b.status, 0, b.stderr, file: file, line: line)
        let (wa, wb) = (try NativeModelFile.load(path: outA).weights, try NativeModelFile.load(path: outB).weights)
        XCTAssertEqual(Set(wa.keys), Set(wb.keys), file: file, line: line)
        for (name, values) in wa { XCTAssertEqual(values.data, wb[name]?.data, "\(name) differs after resuming", file: file, line: line) }
    }

    /// Six Kodak photos linked into `tmp`/photos (made once).
    static func photos(_ tmp: TempDir) throws -> String {
        let photos = tmp.file("photos")
        if !FileManager.default.fileExists(atPath: photos) {
            try FileManager.default.createDirectory(atPath: photos, withIntermediateDirectories: true)
            for i in 1...6 {
                let name = String(format: "kodim%02d.png", i)
                try FileManager.default.createSymbolicLink(atPath: (photos as NSString).appendingPathComponent(name),
                                                           withDestinationPath: try SharedData.path("media/images/kodak/\(name)"))
            }
        }
        return photos
    }
}
