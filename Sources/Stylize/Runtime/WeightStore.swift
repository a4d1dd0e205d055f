/// Weights copied once into stable aligned memory, plus any repacked forms the kernels want.
///
/// Immutable after construction and shared by every session that runs the same model.
final class WeightStore: @unchecked Sendable {
    private var buffers: [String: (FloatBuffer, [Int])] = [:]

    init(_ weights: [String: Tensor]) {
        for (name, t) in weights { add(name, t.data, shape: t.shape) }
    }

    func add(_ name: String, _ data: [Float], shape: [Int]) {
        let b = FloatBuffer(capacity: data.count)
        data.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { b.base.update(from: base, count: data.count) }
        }
        buffers[name] = (b, shape)
    }

    func pointer(_ name: String) -> UnsafeMutablePointer<Float>? { buffers[name]?.0.base }
    func shape(_ name: String) -> [Int]? { buffers[name]?.1 }
    func values(_ name: String) -> [Float]? {
        guard let (b, shape) = buffers[name] else { return nil }
        return Array(UnsafeBufferPointer(start: b.base, count: shape.reduce(1, *)))
    }
}
