/// Gatys' optimisation of one picture's pixels against a `GatysObjective`, step by step, so the caller can show
/// progress, save intermediate pictures and stop between any two steps with a valid picture in hand.
///
/// - Adam: one evaluation per step; the picture is clamped to 0…1 after each update (a picture's range, as the
///   PyTorch tutorial does), and the losses reported are those at the picture the step started from.
/// - L-BFGS: one iteration per step (its strong-Wolfe line search may evaluate several times); no clamping
///   inside the run, which would break the line search's model of the function; the losses reported are those
///   at the point the iteration moved to. The caller clamps when it writes the picture (`rgbImage()` does).
public final class GatysOptimization {
    public enum Method: String, CaseIterable, Sendable { case adam, lbfgs }

    public struct Step: Sendable {
        public var losses: GatysObjective.Losses
        /// Set when L-BFGS has stopped for good (gradient or progress below tolerance).
        public var converged: String?
    }

    public let method: Method
    public private(set) var picture: FeatureMap
    public private(set) var steps = 0
    /// Objective evaluations (forward and backward passes through VGG) so far.
    public private(set) var evaluations = 0

    private let objective: GatysObjective
    private var adam: Adam
    private let lbfgs: LBFGS
    private var gradient = FeatureMap()
    private var lastLosses = GatysObjective.Losses()

    public init(objective: GatysObjective, initial: FeatureMap, method: Method, learningRate: Double) {
        self.objective = objective
        self.method = method
        picture = initial
        adam = Adam(learningRate: learningRate)
        lbfgs = LBFGS(learningRate: learningRate)
    }

    public func step() -> Step {
        steps += 1
        switch method {
        case .adam:
            let losses = objective.evaluate(picture, gradient: &gradient)
            evaluations += 1
            adam.update(&picture.values, gradient: gradient.values)
            for i in picture.values.indices { picture.values[i] = min(max(picture.values[i], 0), 1) }
            return Step(losses: losses)
        case .lbfgs:
            let (c, h, w) = (picture.channels, picture.height, picture.width)
            var seen: [GatysObjective.Losses] = []
            var x = picture.values
            let outcome = lbfgs.step(&x) { values in
                let losses = self.objective.evaluate(FeatureMap(channels: c, height: h, width: w, values: values), gradient: &self.gradient)
                seen.append(losses)
                return (losses.total, self.gradient.values)
            }
            evaluations += seen.count
            picture.values = x
            let accepted = lbfgs.loss.flatMap { f in seen.last { $0.total == f } } ?? seen.last ?? lastLosses
            lastLosses = accepted
            if case .converged(let reason) = outcome { return Step(losses: accepted, converged: reason) }
            return Step(losses: accepted)
        }
    }
}
