/// A small deterministic generator for test data (the SplitMix64 sequence), so random-shape and damage tests
/// are reproducible from their seed.
public struct SplitMix64 {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in `range`.
    public mutating func int(_ range: ClosedRange<Int>) -> Int { range.lowerBound + Int(next() % UInt64(range.count)) }

    /// Uniform in [-1, 1].
    public mutating func float() -> Float { Float(next() % 2_000_001) / 1_000_000 - 1 }

    public mutating func floats(_ n: Int) -> [Float] { (0..<n).map { _ in float() } }
}
