import Foundation
import Stylize
import TestSupport
import XCTest

/// The ml5 (Engstrom) networks against golden outputs computed with TensorFlow (see
/// shared/models/ml5-testvectors/README.md). Tolerance 0.05 on the 0..255 scale.
final class ML5ReferenceTests: XCTestCase {
    static let styles = ["la_muse", "mathura", "matilde_perez", "matta", "rain_princess", "scream", "udnie", "wave", "wreck"]

    func input(_ name: String, _ h: Int, _ w: Int) throws -> [Float] {
        let bytes = try SharedData.bytes("models/ml5-testvectors/\(name).input.u8.rgb")
        XCTAssertEqual(bytes.count, h * w * 3)
        return bytes.map(Float.init)
    }

    func testAllNineStylesAtBothSizesMatchTensorFlow() throws {
        let cases = [("stata_64x96", 64, 96, 64, 96), ("stata_50x70", 50, 70, 52, 72)]
        for style in Self.styles {
            let model = try ML5Importer.load(path: try SharedData.path("models/ml5/\(style)"))
            let session = try Session(model: model, threads: 2)
            for (name, h, w, oh, ow) in cases {
                let out = try session.runRaw(rgb: try input(name, h, w), height: h, width: w)
                XCTAssertEqual(out.height, oh, "\(style) \(name)")
                XCTAssertEqual(out.width, ow, "\(style) \(name)")
                let ref = try SharedData.floats("models/ml5-testvectors/\(name).\(style).output.f32")
                let diff = maxAbsDiff(out.rgb, ref)
                print("ml5 \(style) \(name): max |diff| \(diff)")
                XCTAssertLessThanOrEqual(diff, 0.05, "\(style) \(name): max |diff| \(diff)")
            }
        }
    }

    /// Per-layer intermediates of udnie at 64×96, so a failure points at the layer that broke.
    func testUdnieIntermediatesMatchLayerByLayer() throws {
        let model = try ML5Importer.load(path: try SharedData.path("models/ml5/udnie"))
        let layers: [(String, String)] = [
            ("conv1", "conv1.relu"), ("conv2", "conv2.relu"), ("conv3", "conv3.relu"),
            ("res1", "res1"), ("res2", "res2"), ("res3", "res3"), ("res4", "res4"), ("res5", "res5"),
            ("convT1", "convT1.relu"), ("convT2", "convT2.relu"), ("conv_out_prenonlin", "conv_out.in"),
        ]
        let rgb = try input("stata_64x96", 64, 96)
        for (file, value) in layers {
            var truncated = model
            truncated.graph.output = value
            truncated.graph.nodes = Array(truncated.graph.nodes.prefix { $0.output != value }) +
                truncated.graph.nodes.filter { $0.output == value }
            let session = try Session(model: truncated, threads: 1)
            let net = try session.run(Tensor(shape: [3, 64, 96], data: chw(rgb, 64, 96)))
            let ref = try SharedData.floats("models/ml5-testvectors/stata_64x96.udnie.layer_\(file).f32")
            let got = hwc(net)
            XCTAssertEqual(got.count, ref.count, file)
            let diff = maxAbsDiff(got, ref)
            // Intermediates are not on the output scale; compare relative to their magnitude.
            let scale = max(ref.map(abs).max() ?? 1, 1)
            XCTAssertLessThanOrEqual(diff / scale, 1e-4, "\(file): max |diff| \(diff) of max \(scale)")
        }
    }

    func testMissingAndCorruptFoldersGiveOneLineErrors() throws {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("ml5-bad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tmp) }
        XCTAssertThrowsError(try ML5Importer.load(path: tmp.path)) { e in
            XCTAssertTrue("\(e)".contains("manifest.json"), "\(e)")
        }
        // A real model with one variable cut in half.
        let src = try SharedData.path("models/ml5/udnie")
        for f in try FileManager.default.contentsOfDirectory(atPath: src) {
            try FileManager.default.copyItem(atPath: src + "/" + f, toPath: tmp.path + "/" + f)
        }
        let victim = tmp.path + "/Variable_12"
        let data = try Data(contentsOf: URL(fileURLWithPath: victim))
        try FileManager.default.removeItem(atPath: victim)
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: victim))
        XCTAssertThrowsError(try ML5Importer.load(path: tmp.path)) { e in
            let text = "\(e)"
            XCTAssertTrue(text.contains("Variable_12") && text.contains("truncated"), text)
            XCTAssertFalse(text.contains("\n"))
        }
        // Garbage manifest.
        try Data("{ not json".utf8).write(to: tmp.appendingPathComponent("manifest.json"))
        XCTAssertThrowsError(try ML5Importer.load(path: tmp.path)) { e in
            XCTAssertTrue("\(e)".contains("not a valid ml5 manifest"), "\(e)")
        }
    }
}

func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    guard a.count == b.count else { return .infinity }
    var m: Float = 0
    for i in a.indices { m = max(m, abs(a[i] - b[i])) }
    return m
}

/// HWC → CHW.
func chw(_ x: [Float], _ h: Int, _ w: Int) -> [Float] {
    let c = x.count / (h * w)
    var out = [Float](repeating: 0, count: x.count)
    for y in 0..<h { for xx in 0..<w { for k in 0..<c { out[(k * h + y) * w + xx] = x[(y * w + xx) * c + k] } } }
    return out
}

/// CHW tensor → HWC array.
func hwc(_ t: Tensor) -> [Float] {
    let c = t.shape[0], h = t.shape[1], w = t.shape[2]
    var out = [Float](repeating: 0, count: t.count)
    for k in 0..<c { for y in 0..<h { for x in 0..<w { out[(y * w + x) * c + k] = t.data[(k * h + y) * w + x] } } }
    return out
}
