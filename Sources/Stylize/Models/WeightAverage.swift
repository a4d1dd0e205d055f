extension StyleModel {
    /// The element-wise mean of the weights of `models`, which must be the same network (the same graph, and
    /// tensors of the same names and shapes): checkpoints of one training run, averaged over its last steps
    /// (Izmailov et al. 2018, stochastic weight averaging). A step's weights carry the noise of its last few
    /// batches; their mean keeps what the steps agree on, which is what a held-out photo sees. The result has
    /// the first model's description. Sums run in Double, in the models' order.
    ///
    /// - Parameter names: how each model is named in errors (its file), parallel to `models`.
    public static func average(_ models: [StyleModel], names: [String]) throws -> StyleModel {
        precondition(models.count == names.count)
        guard var result = models.first else { throw StylizeError(.invalidArgument, "nothing to average") }
        for (model, name) in zip(models, names).dropFirst() {
            guard model.graph == result.graph else {
                throw StylizeError(.shapeMismatch, "\(name): not the same network as \(names[0]) (the graphs differ)")
            }
            guard Set(model.weights.keys) == Set(result.weights.keys) else {
                throw StylizeError(.shapeMismatch, "\(name): not the same network as \(names[0]) (other weight names)")
            }
            for (key, tensor) in model.weights where tensor.shape != result.weights[key]!.shape {
                throw StylizeError(.shapeMismatch, "\(name): weight '\(key)' is \(tensor.shape), in \(names[0]) \(result.weights[key]!.shape)")
            }
        }
        for key in result.weights.keys {
            var sum = [Double](repeating: 0, count: result.weights[key]!.data.count)
            for model in models {
                for (i, v) in model.weights[key]!.data.enumerated() { sum[i] += Double(v) }
            }
            let n = Double(models.count)
            result.weights[key]!.data = sum.map { Float($0 / n) }
        }
        return result
    }
}
