/// A dense float32 tensor in C order (last dimension fastest).
///
/// Weights use it as loaded (OIHW for convolutions, `[in, out, kh, kw]` for transposed ones); activations
/// inside the runtime use `Activation` instead, which owns reusable storage.
public struct Tensor: Sendable, Equatable {
    public var shape: [Int]
    public var data: [Float]

    public init(shape: [Int], data: [Float]) {
        precondition(shape.reduce(1, *) == data.count, "tensor shape \(shape) does not match \(data.count) values")
        self.shape = shape
        self.data = data
    }

    public init(shape: [Int], repeating value: Float = 0) {
        self.shape = shape
        self.data = [Float](repeating: value, count: shape.reduce(1, *))
    }

    public var count: Int { data.count }
}
