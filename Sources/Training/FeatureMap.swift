/// One image's C×H×W activations, or their gradient: channels planar, fp32 (PyTorch's NCHW with N = 1).
///
/// Layers write their results into a caller-owned `FeatureMap` (`into:`), so a training loop that keeps its maps
/// between steps reuses their storage instead of allocating every step.
public struct FeatureMap: Sendable, Equatable {
    public private(set) var channels: Int
    public private(set) var height: Int
    public private(set) var width: Int
    /// `channels · height · width` values, index (c·height + y)·width + x.
    public var values: [Float]

    public init(channels: Int, height: Int, width: Int, values: [Float]) {
        precondition(values.count == channels * height * width, "\(values.count) values for \(channels)×\(height)×\(width)")
        self.channels = channels
        self.height = height
        self.width = width
        self.values = values
    }

    /// Zeros.
    public init(channels: Int, height: Int, width: Int) {
        self.init(channels: channels, height: height, width: width,
                  values: [Float](repeating: 0, count: channels * height * width))
    }

    /// An empty map, for outputs a layer will shape.
    public init() { self.init(channels: 0, height: 0, width: 0) }

    public var count: Int { channels * height * width }
    public var plane: Int { height * width }

    /// Makes this map c×h×w. The storage is kept when the element count is unchanged (the values are then
    /// stale, and the caller overwrites them); otherwise it is replaced by zeros.
    mutating func reshape(channels: Int, height: Int, width: Int) {
        self.channels = channels
        self.height = height
        self.width = width
        if values.count != count { values = [Float](repeating: 0, count: count) }
    }
}
