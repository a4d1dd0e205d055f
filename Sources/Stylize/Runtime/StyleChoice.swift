/// Which of a model's trained styles to paint with: the one rule behind every way of choosing one (`--style`,
/// `--style-index` and `--style-mix` on the command line, a pipeline's `style`, `style_index` and `style_mix`, the
/// style API, `POST /v1/stylize?style=`). Its errors name the model's styles, never an option or a key of one
/// front end, so the same mistake reads the same everywhere.
public enum StyleChoice: Sendable, Equatable {
    /// The model's first (or only) style.
    case first
    case index(Int)
    case name(String)
    /// Several styles blended, each weight ≥ 0 (normalised to sum 1 when applied).
    case mix([Weight])

    public struct Weight: Sendable, Equatable {
        public var index: Int
        public var weight: Double
        public init(index: Int, weight: Double) { self.index = index; self.weight = weight }
    }

    /// The choice among a name, an index and a mix given separately (at most one of them; none: `.first`).
    public init(name: String?, index: Int?, mix: [Weight]?) throws(StyleChoiceError) {
        switch (name, index, mix) {
        case (nil, nil, nil): self = .first
        case (let name?, nil, nil): self = .name(name)
        case (nil, let index?, nil): self = .index(index)
        case (nil, nil, let mix?): self = .mix(mix)
        default: throw StyleChoiceError("choose a style by its name, its index or a mix, not several at once")
        }
    }

    /// A mix written `INDEX:WEIGHT,…` (`3:0.5,12:0.5`).
    public static func parseMix(_ text: String) throws(StyleChoiceError) -> [Weight] {
        var weights: [Weight] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let pair = part.split(separator: ":")
            guard pair.count == 2, let i = Int(pair[0].trimmingCharacters(in: .whitespaces)),
                  let w = Double(pair[1].trimmingCharacters(in: .whitespaces)) else {
                throw StyleChoiceError("the mix '\(text)' is not INDEX:WEIGHT pairs such as 3:0.5,12:0.5")
            }
            weights.append(Weight(index: i, weight: w))
        }
        return weights
    }

    /// The style-weight vector of this choice for a model whose styles are `styleNames` (empty: one unnamed
    /// style); nil means the model's first or only style. Index 0 of a single-style model is that style.
    public func weights(styleNames: [String]) throws(StyleChoiceError) -> [Float]? {
        let count = styleNames.count
        func oneHot(_ i: Int) -> [Float]? { count > 1 ? (0..<count).map { $0 == i ? 1 : 0 } : nil }
        func range() -> String { count > 1 ? "the model has styles 0 to \(count - 1)" : "the model has a single style" }
        switch self {
        case .first:
            return nil
        case .index(let i):
            guard i >= 0 && i < max(count, 1) else { throw StyleChoiceError("style \(i) does not exist: \(range())") }
            return oneHot(i)
        case .name(let name):
            guard let i = styleNames.firstIndex(of: name) else {
                throw StyleChoiceError(count == 0 ? "style '\(name)' does not exist: the model has a single style, without a name"
                                                  : "style '\(name)' does not exist: the model's styles are \(styleNames.joined(separator: ", "))")
            }
            return oneHot(i)
        case .mix(let entries):
            guard count > 1 else { throw StyleChoiceError("a mix of styles needs a multi-style model: \(range())") }
            guard !entries.isEmpty else { throw StyleChoiceError("the mix names no style") }
            var w = [Float](repeating: 0, count: count)
            for e in entries {
                guard e.index >= 0 && e.index < count else { throw StyleChoiceError("style \(e.index) in the mix does not exist: \(range())") }
                // Checked as the engine sees it: 1e300 is a finite Double but an infinite Float.
                let weight = Float(e.weight)
                guard e.weight >= 0, weight.isFinite else {
                    throw StyleChoiceError("the weight of style \(e.index) in the mix must be a number from 0 to \(Float.greatestFiniteMagnitude), got \(e.weight)")
                }
                w[e.index] += weight
            }
            let sum = w.reduce(0, +)
            guard sum.isFinite else { throw StyleChoiceError("the mix's weights are too large: their sum overflows") }
            guard sum > 0 else { throw StyleChoiceError("the mix's weights add up to 0") }
            return w.map { $0 / sum }
        }
    }
}

/// A style that cannot be chosen, in one line that names the model's styles.
public struct StyleChoiceError: Error, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
