public import Pipeline

/// The tests' random data comes from the seeded generator streamd itself uses (`SeededRandom`), so random-shape
/// and damage tests are reproducible from their seed.
public typealias SplitMix64 = SeededRandom

extension SeededRandom {
    /// Uniform in `range`.
    public mutating func int(_ range: ClosedRange<Int>) -> Int { range.lowerBound + Int(next() % UInt64(range.count)) }

    /// Uniform in [-1, 1].
    public mutating func float() -> Float { Float(next() % 2_000_001) / 1_000_000 - 1 }

    public mutating func floats(_ n: Int) -> [Float] { (0..<n).map { _ in float() } }
}
