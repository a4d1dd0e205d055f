import Foundation

/// Imports an ml5 / deeplearn.js style folder (`manifest.json` + 48 raw float32 variables): Engstrom's
/// TensorFlow fast-style network. The recipe is that of `shared/models/ml5/README.md`: TF "SAME" zero
/// padding, instance norm ε = 1e-3 with shift at n+1 and scale at n+2, transposed kernels [kh, kw, out, in],
/// and `150·tanh(x) + 127.5` at the end.
public enum ML5Importer {
    struct Entry: Decodable {
        var filename: String
        var shape: [Int]
    }

    /// True when `path` is a folder with a `manifest.json` (the cheap test used by format detection).
    public static func looksLikeML5(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
            && FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent("manifest.json"))
    }

    public static func load(path: String) throws -> StyleModel {
        let manifestPath = (path as NSString).appendingPathComponent("manifest.json")
        guard FileManager.default.fileExists(atPath: manifestPath) else {
            throw StylizeError(.fileNotFound, "\(path): no manifest.json (not an ml5 model folder)")
        }
        guard let data = FileManager.default.contents(atPath: manifestPath) else {
            throw StylizeError(.unreadable, "\(manifestPath): cannot be read")
        }
        let manifest: [String: Entry]
        do {
            manifest = try JSONDecoder().decode([String: Entry].self, from: data)
        } catch {
            throw StylizeError(.corruptFile, "\(manifestPath): not a valid ml5 manifest (\(Self.describe(error)))")
        }
        func variable(_ i: Int) throws -> Tensor {
            let key = i == 0 ? "Variable" : "Variable_\(i)"
            guard let e = manifest[key] else {
                throw StylizeError(.unknownFormat, "\(manifestPath): no entry \(key); expected the 48 variables of Engstrom's network")
            }
            guard !e.filename.contains("/"), !e.filename.contains("..") else {
                throw StylizeError(.corruptFile, "\(manifestPath): \(key) names a file outside the folder")
            }
            guard e.shape.allSatisfy({ $0 > 0 }), e.shape.count <= 4 else {
                throw StylizeError(.corruptFile, "\(manifestPath): \(key) has an invalid shape \(e.shape)")
            }
            let values = try RawFloats.read((path as NSString).appendingPathComponent(e.filename), count: e.shape.reduce(1, *))
            return Tensor(shape: e.shape, data: values)
        }

        var weights: [String: Tensor] = [:]
        var nodes: [Node] = []
        var current = "input"

        /// Converts an HWIO kernel to OIHW, checking it against the architecture.
        func convKernel(_ i: Int, k: Int, cin: Int, cout: Int) throws -> String {
            let t = try variable(i)
            guard t.shape == [k, k, cin, cout] else {
                throw StylizeError(.shapeMismatch, "\(path): Variable_\(i) has shape \(t.shape), expected \([k, k, cin, cout])")
            }
            var oihw = [Float](repeating: 0, count: t.count)
            for ky in 0..<k { for kx in 0..<k { for ci in 0..<cin { for co in 0..<cout {
                oihw[((co * cin + ci) * k + ky) * k + kx] = t.data[((ky * k + kx) * cin + ci) * cout + co]
            } } } }
            let name = "v\(i).weight"
            weights[name] = Tensor(shape: [cout, cin, k, k], data: oihw)
            return name
        }
        /// Converts a [kh, kw, out, in] transposed kernel to [in, out, kh, kw].
        func transposedKernel(_ i: Int, k: Int, cin: Int, cout: Int) throws -> String {
            let t = try variable(i)
            guard t.shape == [k, k, cout, cin] else {
                throw StylizeError(.shapeMismatch, "\(path): Variable_\(i) has shape \(t.shape), expected \([k, k, cout, cin])")
            }
            var out = [Float](repeating: 0, count: t.count)
            for ky in 0..<k { for kx in 0..<k { for co in 0..<cout { for ci in 0..<cin {
                out[((ci * cout + co) * k + ky) * k + kx] = t.data[((ky * k + kx) * cout + co) * cin + ci]
            } } } }
            let name = "v\(i).weight"
            weights[name] = Tensor(shape: [cin, cout, k, k], data: out)
            return name
        }
        func norm(_ i: Int, channels: Int, relu: Bool, label: String) throws {
            let shift = try variable(i + 1), scale = try variable(i + 2)
            for (j, t) in [(i + 1, shift), (i + 2, scale)] where t.count != channels {
                throw StylizeError(.shapeMismatch, "\(path): Variable_\(j) has shape \(t.shape), expected [\(channels)]")
            }
            weights["v\(i).shift"] = Tensor(shape: [channels], data: shift.data)
            weights["v\(i).scale"] = Tensor(shape: [channels], data: scale.data)
            let out = "\(label).in"
            nodes.append(Node(name: "\(label).norm", op: .instanceNorm(InstanceNormSpec(scale: "v\(i).scale", shift: "v\(i).shift", epsilon: 1e-3)),
                              inputs: [current], output: out))
            current = out
            if relu {
                nodes.append(Node(name: "\(label).relu", op: .relu, inputs: [current], output: "\(label).relu"))
                current = "\(label).relu"
            }
        }
        func conv(_ i: Int, k: Int, s: Int, cin: Int, cout: Int, relu: Bool, label: String) throws {
            let w = try convKernel(i, k: k, cin: cin, cout: cout)
            nodes.append(Node(name: label, op: .conv2d(Conv2DSpec(weight: w, strideH: s, strideW: s, padding: .tfSame)),
                              inputs: [current], output: "\(label).conv"))
            current = "\(label).conv"
            try norm(i, channels: cout, relu: relu, label: label)
        }
        func deconv(_ i: Int, cin: Int, cout: Int, label: String) throws {
            let w = try transposedKernel(i, k: 3, cin: cin, cout: cout)
            nodes.append(Node(name: label, op: .convTranspose2d(ConvTranspose2DSpec(weight: w, strideH: 2, strideW: 2, padding: .tfSame)),
                              inputs: [current], output: "\(label).conv"))
            current = "\(label).conv"
            try norm(i, channels: cout, relu: true, label: label)
        }

        try conv(0, k: 9, s: 1, cin: 3, cout: 32, relu: true, label: "conv1")
        try conv(3, k: 3, s: 2, cin: 32, cout: 64, relu: true, label: "conv2")
        try conv(6, k: 3, s: 2, cin: 64, cout: 128, relu: true, label: "conv3")
        for (b, r) in [9, 15, 21, 27, 33].enumerated() {
            let skip = current
            try conv(r, k: 3, s: 1, cin: 128, cout: 128, relu: true, label: "res\(b + 1).a")
            try conv(r + 3, k: 3, s: 1, cin: 128, cout: 128, relu: false, label: "res\(b + 1).b")
            nodes.append(Node(name: "res\(b + 1)", op: .add, inputs: [current, skip], output: "res\(b + 1)"))
            current = "res\(b + 1)"
        }
        try deconv(39, cin: 128, cout: 64, label: "convT1")
        try deconv(42, cin: 64, cout: 32, label: "convT2")
        try conv(45, k: 9, s: 1, cin: 32, cout: 3, relu: false, label: "conv_out")
        nodes.append(Node(name: "output", op: .tanh, inputs: [current], output: "tanh"))
        nodes.append(Node(name: "output.scale", op: .scalarAffine(alpha: 150, beta: 127.5), inputs: ["tanh"], output: "output"))

        if manifest.count != 48 {
            throw StylizeError(.unknownFormat, "\(manifestPath): has \(manifest.count) variables, Engstrom's network has 48")
        }
        let name = URL(fileURLWithPath: path).standardizedFileURL.lastPathComponent
        let info = ModelInfo(name: name, architecture: "engstrom-tf", sourceFormat: "ml5",
                             input: .identity255, output: .identity255, sizeMultiple: 4,
                             notes: "Engstrom fast-style network (ml5/deeplearn.js weights); research/non-commercial licence")
        return StyleModel(info: info, graph: Graph(input: "input", output: "output", nodes: nodes), weights: weights)
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let c): return c.debugDescription
        case DecodingError.keyNotFound(let k, _): return "missing key \(k.stringValue)"
        case DecodingError.typeMismatch(_, let c): return c.debugDescription
        default: return "\(error)"
        }
    }
}
