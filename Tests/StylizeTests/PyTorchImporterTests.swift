import Foundation
import TestSupport
import XCTest

@testable import Stylize

/// The `.pth` importer against the shared test vectors (`models/pth-testvectors`): structure, container
/// agreement, refusals and damage. Numerical agreement with PyTorch is in `PyTorchReferenceTests` below.
final class PyTorchImporterTests: XCTestCase {
    static let dir = "models/pth-testvectors"

    func vector(_ name: String) throws -> String { try SharedData.path("\(Self.dir)/\(name)") }

    /// A scratch folder for damaged copies, removed after the test.
    func scratch() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("pth-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    func write(_ bytes: [UInt8], _ name: String, in dir: URL) throws -> String {
        let url = dir.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }

    /// Runs `body`, which must throw a `StylizeError` with `code` whose message starts with `path` and
    /// contains every fragment.
    func assertError(_ code: StylizeError.Code, path: String, contains fragments: [String] = [],
                     file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void) {
        do {
            try body()
            XCTFail("expected \(code), nothing was thrown", file: file, line: line)
        } catch let error as StylizeError {
            XCTAssertEqual(error.code, code, error.message, file: file, line: line)
            XCTAssertTrue(error.message.hasPrefix("\(path): "), "message does not name the file: \(error.message)",
                          file: file, line: line)
            XCTAssertFalse(error.message.contains("\n"), "message is not one line: \(error.message)", file: file, line: line)
            for fragment in fragments {
                XCTAssertTrue(error.message.contains(fragment), "'\(fragment)' not in: \(error.message)", file: file, line: line)
            }
        } catch {
            XCTFail("expected StylizeError, got \(error)", file: file, line: line)
        }
    }

    // MARK: - Structure

    func testSeedLayoutStructure() throws {
        let model = try PyTorchImporter.load(path: try vector("seed_transformernet.pth"))
        XCTAssertEqual(model.info.name, "seed_transformernet")
        XCTAssertEqual(model.info.architecture, "transformernet-seed")
        XCTAssertEqual(model.info.sourceFormat, "pth")
        XCTAssertEqual(model.info.sizeMultiple, 4)
        XCTAssertEqual(model.info.input.scale, 1 / 255)
        XCTAssertEqual(model.info.input.mean, [0.485, 0.456, 0.406])
        XCTAssertEqual(model.info.input.std, [0.229, 0.224, 0.225])
        XCTAssertEqual(model.info.output.scale, 255)
        XCTAssertEqual(model.info.output.mean, [0.485, 0.456, 0.406])
        XCTAssertEqual(model.info.output.std, [0.229, 0.224, 0.225])

        XCTAssertEqual(model.weights.count, 62)
        XCTAssertEqual(model.weights["model.0.block.1.weight"]?.shape, [32, 3, 9, 9])
        XCTAssertEqual(model.weights["model.2.block.1.weight"]?.shape, [128, 64, 3, 3])
        XCTAssertEqual(model.weights["model.7.block.1.block.1.weight"]?.shape, [128, 128, 3, 3])
        XCTAssertEqual(model.weights["model.9.block.1.weight"]?.shape, [32, 64, 3, 3])
        XCTAssertEqual(model.weights["model.10.block.1.weight"]?.shape, [3, 32, 9, 9])
        XCTAssertEqual(model.weights["model.10.block.1.bias"]?.shape, [3])
        XCTAssertEqual(Array(model.weights["model.0.block.1.weight"]!.data.prefix(4)),
                       [-0.06043199077248573, -0.012586419470608234, -0.030812004581093788, -0.01710992306470871])
        XCTAssertEqual(Self.sum(model.weights), 1597.2551365892352, accuracy: 1e-6)
        XCTAssertEqual(model.weights.values.reduce(0) { $0 + $1.count }, 1_679_235)

        // 3 × (conv, norm, relu); 5 × residual (conv, norm, relu, conv, norm, add);
        // 2 × (upsample, conv, norm, relu); final conv.
        let g = model.graph
        XCTAssertEqual(g.nodes.count, 9 + 30 + 8 + 1)
        XCTAssertEqual(g.input, "input")
        XCTAssertEqual(g.output, "model.10.block.1")
        XCTAssertEqual(g.nodes.first?.inputs, ["input"])
        XCTAssertEqual(g.nodes.last?.output, g.output)
        try Self.checkWiring(g)

        XCTAssertEqual(Self.conv(g, "model.0.block.1"),
                       Conv2DSpec(weight: "model.0.block.1.weight", bias: "model.0.block.1.bias",
                                  padding: .explicit(.uniform(4)), padMode: .reflect))
        XCTAssertEqual(Self.conv(g, "model.1.block.1")?.strideH, 2)
        XCTAssertEqual(Self.conv(g, "model.2.block.1")?.strideW, 2)
        XCTAssertEqual(Self.conv(g, "model.3.block.0.block.1")?.strideH, 1)
        XCTAssertEqual(Self.conv(g, "model.8.block.1")?.padding, .explicit(.uniform(1)))
        XCTAssertEqual(g.nodes.filter { $0.op == .upsampleNearest(2) }.map(\.name), ["model.8.upsample", "model.9.upsample"])
        XCTAssertEqual(g.nodes.filter { $0.op == .relu }.count, 3 + 5 + 2)
        let norm = g.nodes.first { $0.name == "model.3.block.1.norm" }
        XCTAssertEqual(norm?.op, .instanceNorm(InstanceNormSpec(scale: "model.3.block.1.norm.weight",
                                                                 shift: "model.3.block.1.norm.bias", epsilon: 1e-5)))
        // Residual: the sum of the block input (model.2's ReLU) and its second norm.
        let add = g.nodes.first { $0.name == "model.3.add" }
        XCTAssertEqual(add?.inputs, ["model.2.relu", "model.3.block.1.norm"])
        // The last conv feeds nothing else: no norm, no ReLU after it.
        XCTAssertEqual(g.nodes.last?.name, "model.10.block.1")
    }

    func testExamplesLayoutStructure() throws {
        let model = try PyTorchImporter.load(path: try vector("examples_transformernet.pth"))
        XCTAssertEqual(model.info.name, "examples_transformernet")
        XCTAssertEqual(model.info.architecture, "transformernet-examples")
        XCTAssertEqual(model.info.sourceFormat, "pth")
        XCTAssertEqual(model.info.input, .identity255)
        XCTAssertEqual(model.info.output, .identity255)
        XCTAssertEqual(model.info.sizeMultiple, 4)

        // The running_mean/running_var buffers are ignored.
        XCTAssertEqual(model.weights.count, 62)
        XCTAssertFalse(model.weights.keys.contains { $0.contains("running") })
        XCTAssertEqual(model.weights["conv1.conv2d.weight"]?.shape, [32, 3, 9, 9])
        XCTAssertEqual(model.weights["conv2.conv2d.weight"]?.shape, [64, 32, 3, 3])
        XCTAssertEqual(model.weights["res3.conv2.conv2d.weight"]?.shape, [128, 128, 3, 3])
        XCTAssertEqual(model.weights["deconv1.conv2d.weight"]?.shape, [64, 128, 3, 3])
        XCTAssertEqual(model.weights["in5.weight"]?.shape, [32])
        XCTAssertEqual(model.weights["deconv3.conv2d.weight"]?.shape, [3, 32, 9, 9])
        XCTAssertEqual(model.weights["deconv3.conv2d.bias"]?.data, [127.30027770996094, 127.48776245117188, 127.554443359375])
        XCTAssertEqual(Self.sum(model.weights), 2055.8468101416925, accuracy: 1e-6)

        let g = model.graph
        XCTAssertEqual(g.nodes.count, 9 + 30 + 8 + 1)
        XCTAssertEqual(g.output, "deconv3.conv2d")
        try Self.checkWiring(g)
        XCTAssertEqual(Self.conv(g, "conv2.conv2d")?.strideH, 2)
        XCTAssertEqual(Self.conv(g, "conv3.conv2d")?.strideH, 2)
        XCTAssertEqual(Self.conv(g, "deconv1.conv2d")?.strideH, 1)
        XCTAssertEqual(Self.conv(g, "deconv3.conv2d")?.padding, .explicit(.uniform(4)))
        XCTAssertEqual(g.nodes.first { $0.name == "res5.add" }?.inputs, ["res4.add", "res5.in2"])
        let order = g.nodes.map(\.name)
        let up = try XCTUnwrap(order.firstIndex(of: "deconv1.upsample"))
        XCTAssertEqual(Array(order[up ..< up + 4]), ["deconv1.upsample", "deconv1.conv2d", "in4", "deconv1.relu"])
        XCTAssertEqual(g.nodes.filter { $0.op == .relu }.count, 3 + 5 + 2)
    }

    func testLegacyContainerGivesTheZipWeights() throws {
        let zip = try PyTorchImporter.load(path: try vector("examples_transformernet.pth"))
        let legacy = try PyTorchImporter.load(path: try vector("examples_transformernet_legacy.pth"))
        XCTAssertEqual(legacy.graph, zip.graph)
        XCTAssertEqual(legacy.weights.count, zip.weights.count)
        for (key, tensor) in zip.weights {
            XCTAssertEqual(legacy.weights[key], tensor, key)
        }
        XCTAssertEqual(legacy.info.architecture, zip.info.architecture)
        XCTAssertTrue(legacy.info.notes.contains("legacy"), legacy.info.notes)
        XCTAssertTrue(zip.info.notes.contains("zip"), zip.info.notes)
    }

    // MARK: - Refusals and damage

    func testMissingFile() throws {
        let path = try scratch().appendingPathComponent("absent.pth").path
        assertError(.fileNotFound, path: path) { _ = try PyTorchImporter.load(path: path) }
    }

    func testRandomBytesAreNotACheckpoint() throws {
        var rng = SplitMix64(seed: 7)
        let bytes = (0 ..< 4096).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let path = try write(bytes, "random.pth", in: try scratch())
        assertError(.unknownFormat, path: path, contains: ["not a PyTorch checkpoint"]) {
            _ = try PyTorchImporter.load(path: path)
        }
    }

    func testEmptyFile() throws {
        let path = try write([], "empty.pth", in: try scratch())
        assertError(.corruptFile, path: path, contains: ["empty"]) { _ = try PyTorchImporter.load(path: path) }
    }

    /// Cut at points that fall in the central directory, the middle of storages and inside data.pkl.
    func testTruncatedZipIsCorrupt() throws {
        let original = try SharedData.bytes("\(Self.dir)/seed_transformernet.pth")
        let dir = try scratch()
        for cut in [original.count - 1, original.count - 30, original.count / 2, 5000, 200, 4] {
            let path = try write(Array(original.prefix(cut)), "cut\(cut).pth", in: dir)
            assertError(.corruptFile, path: path) { _ = try PyTorchImporter.load(path: path) }
        }
    }

    func testTruncatedLegacyIsCorrupt() throws {
        let original = try SharedData.bytes("\(Self.dir)/examples_transformernet_legacy.pth")
        let dir = try scratch()
        // In the magic pickle, the system info, the main pickle, the key list, a count, the last storage.
        for cut in [8, 60, 5000, 13000, 14571, original.count / 2, original.count - 1] {
            let path = try write(Array(original.prefix(cut)), "cut\(cut).pth", in: dir)
            assertError(.corruptFile, path: path, contains: ["truncated"]) { _ = try PyTorchImporter.load(path: path) }
        }
    }

    /// Flipped bytes inside a stored zip record fail its CRC-32 rather than loading altered weights.
    func testCorruptZipRecordFailsItsChecksum() throws {
        var bytes = try SharedData.bytes("\(Self.dir)/seed_transformernet.pth")
        bytes[bytes.count / 2] ^= 0xFF
        let path = try write(bytes, "flipped.pth", in: try scratch())
        assertError(.corruptFile, path: path, contains: ["CRC-32"]) { _ = try PyTorchImporter.load(path: path) }
    }

    /// A pickle that would run `os.system` under Python's unpickler is refused by naming the global.
    func testForbiddenGlobalInZipIsRefused() throws {
        var pickle: [UInt8] = [0x80, 0x02]
        pickle += Array("cos\nsystem\n".utf8)
        pickle += [0x58] + le32(13) + Array("echo 'pwned'!".utf8)  // BINUNICODE
        pickle += [0x85, 0x52, 0x2E]  // TUPLE1, REDUCE, STOP
        let zip = StoredZip.make([("evil/data.pkl", pickle), ("evil/version", Array("3\n".utf8))])
        let path = try write(zip, "evil.pth", in: try scratch())
        assertError(.unknownFormat, path: path, contains: ["os.system"]) { _ = try PyTorchImporter.load(path: path) }
    }

    func testForbiddenGlobalInLegacyIsRefused() throws {
        var bytes = try SharedData.bytes("\(Self.dir)/examples_transformernet_legacy.pth")
        let target = Array("collections\nOrderedDict\n".utf8)
        let at = try XCTUnwrap(Self.find(target, in: bytes))
        bytes.replaceSubrange(at ..< at + target.count, with: Array("builtins\neval\n".utf8))
        let path = try write(bytes, "evil_legacy.pth", in: try scratch())
        assertError(.unknownFormat, path: path, contains: ["builtins.eval"]) { _ = try PyTorchImporter.load(path: path) }
    }

    func testNonFloatWeightsAreAnUnsupportedDtype() throws {
        var bytes = try SharedData.bytes("\(Self.dir)/examples_transformernet_legacy.pth")
        let target = Array("torch\nFloatStorage\n".utf8)
        let at = try XCTUnwrap(Self.find(target, in: bytes))
        // Same element size, so the container stays consistent and only the dtype is wrong.
        bytes.replaceSubrange(at ..< at + target.count, with: Array("torch\nIntStorage\n".utf8))
        let path = try write(bytes, "int.pth", in: try scratch())
        assertError(.unknownFormat, path: path, contains: ["conv1.conv2d.weight", "int32", "unsupported dtype"]) {
            _ = try PyTorchImporter.load(path: path)
        }
    }

    func testUnknownStorageTypeIsNamed() throws {
        var bytes = try SharedData.bytes("\(Self.dir)/examples_transformernet_legacy.pth")
        let target = Array("torch\nFloatStorage\n".utf8)
        let at = try XCTUnwrap(Self.find(target, in: bytes))
        bytes.replaceSubrange(at ..< at + target.count, with: Array("torch\nQInt8Storage\n".utf8))
        let path = try write(bytes, "qint8.pth", in: try scratch())
        assertError(.unknownFormat, path: path, contains: ["torch.QInt8Storage", "unsupported dtype"]) {
            _ = try PyTorchImporter.load(path: path)
        }
    }

    /// conv2's weight declared with 16 input channels (its stride keeps it inside its storage).
    func testWrongInChannelsIsAShapeMismatch() throws {
        var bytes = try SharedData.bytes("\(Self.dir)/examples_transformernet_legacy.pth")
        // MARK, BININT1 64, BININT1 32, BININT1 3, BININT1 3, TUPLE: the size of conv2.conv2d.weight.
        let size: [UInt8] = [0x28, 0x4B, 64, 0x4B, 32, 0x4B, 3, 0x4B, 3, 0x74]
        let at = try XCTUnwrap(Self.find(size, in: bytes))
        bytes[at + 4] = 16
        let path = try write(bytes, "narrow.pth", in: try scratch())
        assertError(.shapeMismatch, path: path,
                    contains: ["conv2.conv2d.weight has shape [64, 16, 3, 3], expected [64, 32, 3, 3]"]) {
            _ = try PyTorchImporter.load(path: path)
        }
    }

    func testUnknownAndMissingKeys() throws {
        let original = try SharedData.bytes("\(Self.dir)/examples_transformernet_legacy.pth")
        let dir = try scratch()
        func renamed(_ from: String, _ to: String) throws -> String {
            precondition(from.utf8.count == to.utf8.count)
            var bytes = original
            let at = try XCTUnwrap(Self.find(Array(from.utf8), in: bytes), from)
            bytes.replaceSubrange(at ..< at + from.utf8.count, with: Array(to.utf8))
            return try write(bytes, "\(to).pth", in: dir)
        }
        let noLayout = try renamed("conv1.conv2d.weight", "convX.conv2d.weight")
        assertError(.unknownFormat, path: noLayout, contains: ["match no supported TransformerNet layout"]) {
            _ = try PyTorchImporter.load(path: noLayout)
        }
        let missing = try renamed("res5.in2.bias", "res5.in2.bia_")
        assertError(.unknownFormat, path: missing, contains: ["missing key 'res5.in2.bias'"]) {
            _ = try PyTorchImporter.load(path: missing)
        }
        let extra = try renamed("in1.running_mean", "in1.running_mea2")
        assertError(.unknownFormat, path: extra, contains: ["unexpected key 'in1.running_mea2'"]) {
            _ = try PyTorchImporter.load(path: extra)
        }
    }

    /// A training checkpoint that nests the state dict (`{"epoch": …, "state_dict": {…}}`) loads the same.
    func testWrappedStateDict() throws {
        let original = try SharedData.bytes("\(Self.dir)/examples_transformernet_legacy.pth")
        // The main pickle starts after the three header pickles: PROTO 2, then GLOBAL OrderedDict … REDUCE.
        let mainStart = 137
        XCTAssertEqual(Array(original[mainStart ..< mainStart + 3]), [0x80, 0x02, 0x63])
        // {"epoch": 3, "state_dict": <the OrderedDict>}: EMPTY_DICT, MARK, key, value, key, <original…>, SETITEMS.
        var prefix: [UInt8] = [0x80, 0x02, 0x7D, 0x28]
        prefix += [0x58] + le32(5) + Array("epoch".utf8) + [0x4B, 3]
        prefix += [0x58] + le32(10) + Array("state_dict".utf8)
        // The original pickle body without its PROTO and its final STOP; its memo indices are unchanged.
        let mainEnd = try XCTUnwrap(Self.find([0x80, 0x02, 0x5D], in: original, from: mainStart + 2))
        XCTAssertEqual(original[mainEnd - 1], 0x2E)
        var bytes = Array(original[..<mainStart]) + prefix + Array(original[(mainStart + 2) ..< (mainEnd - 1)])
        bytes += [0x75, 0x2E]  // SETITEMS, STOP
        bytes += original[mainEnd...]
        let path = try write(bytes, "wrapped.pth", in: try scratch())
        let wrapped = try PyTorchImporter.load(path: path)
        let plain = try PyTorchImporter.load(path: try vector("examples_transformernet_legacy.pth"))
        XCTAssertEqual(wrapped.graph, plain.graph)
        XCTAssertEqual(wrapped.weights, plain.weights)
    }

    /// Random damage to the pickles of the legacy file: every outcome is a load or a typed error, never a
    /// crash or a hang (the zip container adds CRC-32s, so the legacy form is the exposed one).
    func testDamagedLegacyPicklesNeverCrash() throws {
        let original = try SharedData.bytes("\(Self.dir)/examples_transformernet_legacy.pth")
        var rng = SplitMix64(seed: 2024)
        var loaded = 0, refused = 0
        for round in 0 ..< 400 {
            var bytes = original
            for _ in 0 ..< 1 + round % 3 {
                let at = Int(rng.next() % 14_600)  // the five pickles and the first storage count
                bytes[at] = round % 2 == 0 ? UInt8(truncatingIfNeeded: rng.next()) : bytes[at] ^ (1 << UInt8(rng.next() % 8))
            }
            do {
                let checkpoint = try TorchCheckpoint.readLegacy(bytes)
                for (key, tensor) in try checkpoint.stateDict().prefix(2) { _ = try checkpoint.floatTensor(tensor, name: key) }
                loaded += 1
            } catch is CheckpointError {
                refused += 1
            }
        }
        XCTAssertEqual(loaded + refused, 400)
        XCTAssertGreaterThan(refused, 100)
    }

    // MARK: - Unpickler and tensor views

    func testUnpicklerRejectsDeepNestingAndStackAbuse() throws {
        // 100 nested TUPLE1 around None.
        let deep: [UInt8] = [0x80, 0x02, 0x4E] + Array(repeating: 0x85, count: 100) + [0x2E]
        var u = Unpickler(bytes: deep)
        XCTAssertThrowsError(try u.run()) { XCTAssertEqual(($0 as? CheckpointError)?.code, .corruptFile) }
        for bad: [UInt8] in [[0x80, 0x02, 0x30, 0x2E], [0x80, 0x02, 0x65, 0x2E], [0x80, 0x02, 0x68, 0x05, 0x2E],
                             [0x80, 0x02, 0x58, 0xFF, 0xFF, 0xFF, 0x7F], [0x80, 0x02, 0x4E, 0x4E, 0x2E], [0x80, 0x02]] {
            var u = Unpickler(bytes: bad)
            XCTAssertThrowsError(try u.run(), "\(bad)") { XCTAssertEqual(($0 as? CheckpointError)?.code, .corruptFile) }
        }
        // NEWOBJ (0x81) would instantiate a class: refused.
        var newobj = Unpickler(bytes: [0x80, 0x02, 0x4E, 0x29, 0x81, 0x2E])
        XCTAssertThrowsError(try newobj.run()) { XCTAssertEqual(($0 as? CheckpointError)?.code, .unknownFormat) }
    }

    func testUnpicklerValues() throws {
        // {"a": [1, -2, 300, 70000, 1.5, True, None], "b": ("x", 2**70)} with memo reuse.
        var p: [UInt8] = [0x80, 0x02, 0x7D, 0x71, 0x00, 0x28]
        p += [0x8C, 1] + Array("a".utf8) + [0x5D, 0x71, 0x01, 0x28]
        p += [0x4B, 1, 0x4A, 0xFE, 0xFF, 0xFF, 0xFF, 0x4D, 0x2C, 0x01, 0x8A, 3, 0x70, 0x11, 0x01]
        p += [0x47, 0x3F, 0xF8, 0, 0, 0, 0, 0, 0, 0x88, 0x4E, 0x65]
        p += [0x8C, 1] + Array("b".utf8) + [0x8C, 1] + Array("x".utf8) + [0x8A, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0x40, 0x86]
        p += [0x75, 0x2E]
        var u = Unpickler(bytes: p)
        guard case .dict(let id) = try u.run() else { return XCTFail("not a dict") }
        guard case .list(let listID) = u.dicts[id][string: "a"] else { return XCTFail("a is not a list") }
        XCTAssertEqual(u.lists[listID], [.int(1), .int(-2), .int(300), .int(70000), .float(1.5), .bool(true), .none])
        XCTAssertEqual(u.dicts[id][string: "b"]?.tupleItems,
                       [.string("x"), .bigInt([0, 0, 0, 0, 0, 0, 0, 0, 0x40])])
    }

    /// A transposed view (stride order reversed) and an offset view come out in C order.
    func testStridedViewsAreMadeContiguous() throws {
        let values: [Float] = (0 ..< 12).map(Float.init)
        let bytes = values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
        let storage = StorageRef(key: "0", dtype: .float32, count: 12, viewCount: 12)
        let checkpoint = TorchCheckpoint(
            container: .zip, root: .none, lists: [], dicts: [],
            storages: ["0": .init(bytes: bytes, dtype: .float32, count: 12, bigEndian: false)])
        // The 3×4 matrix [[0,1,2,3],[4,5,6,7],[8,9,10,11]] seen transposed: 4×3 with strides (1, 4).
        let transposed = try checkpoint.floatTensor(TensorRef(storage: storage, offset: 0, sizes: [4, 3], strides: [1, 4]), name: "t")
        XCTAssertEqual(transposed.shape, [4, 3])
        XCTAssertEqual(transposed.data, [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11])
        // Column 1 of that matrix: offset 1, stride 4.
        let column = try checkpoint.floatTensor(TensorRef(storage: storage, offset: 1, sizes: [3], strides: [4]), name: "c")
        XCTAssertEqual(column.data, [1, 5, 9])
        // A broadcast (stride 0) and a scalar.
        let broadcast = try checkpoint.floatTensor(TensorRef(storage: storage, offset: 2, sizes: [2, 2], strides: [0, 1]), name: "b")
        XCTAssertEqual(broadcast.data, [2, 3, 2, 3])
        let scalar = try checkpoint.floatTensor(TensorRef(storage: storage, offset: 11, sizes: [], strides: []), name: "s")
        XCTAssertEqual(scalar.shape, [])
        XCTAssertEqual(scalar.data, [11])
    }

    func testOtherFloatTypesConvert() throws {
        XCTAssertEqual(halfToFloat(0x3C00), 1)
        XCTAssertEqual(halfToFloat(0xC000), -2)
        XCTAssertEqual(halfToFloat(0x7BFF), 65504)
        XCTAssertEqual(halfToFloat(0x0001), Float(sign: .plus, exponent: -24, significand: 1))
        XCTAssertEqual(halfToFloat(0x7C00), .infinity)
        XCTAssertTrue(halfToFloat(0x7E00).isNaN)
        let doubles: [Double] = [0.25, -3]
        let bytes = doubles.flatMap { withUnsafeBytes(of: $0.bitPattern.bigEndian, Array.init) }
        let storage = TorchCheckpoint.StorageBytes(bytes: bytes, dtype: .float64, count: 2, bigEndian: true)
        XCTAssertEqual(storage.decode([1, 0]), [-3, 0.25])
        let bf16 = TorchCheckpoint.StorageBytes(bytes: [0x80, 0x3F, 0x40, 0xC0], dtype: .bfloat16, count: 2, bigEndian: false)
        XCTAssertEqual(bf16.decode([0, 1]), [1, -3])
    }

    // MARK: - Helpers

    static func sum(_ weights: [String: Tensor]) -> Double {
        weights.values.reduce(0.0) { acc, t in t.data.reduce(acc) { $0 + Double($1) } }
    }

    static func conv(_ g: Graph, _ name: String) -> Conv2DSpec? {
        guard case .conv2d(let spec)? = g.nodes.first(where: { $0.name == name })?.op else { return nil }
        return spec
    }

    /// Every node reads values defined before it; names and outputs are unique.
    static func checkWiring(_ g: Graph) throws {
        var defined: Set<String> = [g.input]
        for node in g.nodes {
            XCTAssertEqual(node.inputs.count, node.op == .add ? 2 : 1, node.name)
            for input in node.inputs { XCTAssertTrue(defined.contains(input), "\(node.name) reads undefined \(input)") }
            XCTAssertFalse(defined.contains(node.output), "\(node.output) defined twice")
            defined.insert(node.output)
        }
        XCTAssertEqual(Set(g.nodes.map(\.name)).count, g.nodes.count)
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int = 0) -> Int? {
        guard needle.count <= haystack.count else { return nil }
        var i = start
        while i + needle.count <= haystack.count {
            if haystack[i] == needle[0], Array(haystack[i ..< i + needle.count]) == needle { return i }
            i += 1
        }
        return nil
    }
}

/// The imported networks run by `Session` against PyTorch's own outputs for the same random weights
/// (README of models/pth-testvectors): raw output, 0..255 scale, before clamping; max |diff| ≤ 0.05.
final class PyTorchReferenceTests: XCTestCase {
    static let cases = [("stata_64x96", 64, 96, 64, 96), ("stata_50x70", 50, 70, 52, 72)]

    func check(_ file: String, reference: String) throws {
        let model = try PyTorchImporter.load(path: try SharedData.path("models/pth-testvectors/\(file)"))
        let session = try Session(model: model, threads: 2)
        for (name, h, w, oh, ow) in Self.cases {
            let bytes = try SharedData.bytes("models/ml5-testvectors/\(name).input.u8.rgb")
            XCTAssertEqual(bytes.count, h * w * 3)
            let out = try session.runRaw(rgb: bytes.map(Float.init), height: h, width: w)
            XCTAssertEqual(out.height, oh, "\(file) \(name)")
            XCTAssertEqual(out.width, ow, "\(file) \(name)")
            let ref = try SharedData.floats("models/pth-testvectors/\(name).\(reference).output.f32")
            XCTAssertEqual(out.rgb.count, ref.count, "\(file) \(name)")
            let diff = maxAbsDiff(out.rgb, ref)
            print("\(file) \(name): max |diff| \(diff)")
            XCTAssertLessThanOrEqual(diff, 0.05, "\(file) \(name): max |diff| \(diff)")
        }
    }

    func testSeedLayoutMatchesPyTorch() throws {
        try check("seed_transformernet.pth", reference: "seed")
    }

    func testExamplesLayoutMatchesPyTorch() throws {
        try check("examples_transformernet.pth", reference: "examples")
    }

    func testLegacyExamplesMatchesPyTorch() throws {
        try check("examples_transformernet_legacy.pth", reference: "examples")
    }
}

func le32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
func le16(_ v: UInt16) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }


/// Writes a zip archive of stored (uncompressed) records, as torch.save does, so tests can craft checkpoints
/// without a zip library of their own.
enum StoredZip {
    static func make(_ records: [(String, [UInt8])]) -> [UInt8] {
        var out: [UInt8] = []
        var central: [UInt8] = []
        for (name, data) in records {
            let offset = UInt32(out.count)
            let crc = crc32(data)
            let nameBytes = Array(name.utf8)
            out += le32(0x0403_4B50) + le16(20) + le16(0) + le16(0) + le16(0) + le16(0x21)
            out += le32(crc) + le32(UInt32(data.count)) + le32(UInt32(data.count))
            out += le16(UInt16(nameBytes.count)) + le16(0) + nameBytes + data
            central += le32(0x0201_4B50) + le16(20) + le16(20) + le16(0) + le16(0) + le16(0) + le16(0x21)
            central += le32(crc) + le32(UInt32(data.count)) + le32(UInt32(data.count))
            central += le16(UInt16(nameBytes.count)) + le16(0) + le16(0) + le16(0) + le16(0) + le32(0)
            central += le32(offset) + nameBytes
        }
        let centralOffset = UInt32(out.count)
        out += central
        out += le32(0x0605_4B50) + le16(0) + le16(0) + le16(UInt16(records.count)) + le16(UInt16(records.count))
        out += le32(UInt32(central.count)) + le32(centralOffset) + le16(0)
        return out
    }

    static func crc32(_ data: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in data {
            crc ^= UInt32(byte)
            for _ in 0 ..< 8 { crc = (crc >> 1) ^ (crc & 1 == 1 ? 0xEDB8_8320 : 0) }
        }
        return ~crc
    }
}
