import Foundation

/// Adam (Kingma & Ba) over one flat array of parameters, with `torch.optim.Adam`'s defaults (lr 1e-3,
/// betas (0.9, 0.999), eps 1e-8, no weight decay, not AMSGrad) and its update, step t counted from 1:
///
///     m ← β₁·m + (1 − β₁)·g
///     v ← β₂·v + (1 − β₂)·g²
///     p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + eps)
///
/// Note eps is added after the bias correction of √v, as PyTorch does (not to √v itself, as the paper's
/// "efficient" form does), so results match PyTorch, not the paper, when v is tiny. The moments are fp32
/// like PyTorch's state for fp32 parameters; the bias-correction scalars are computed in Double, as Python does.
/// One `Adam` per parameter array (Gatys' optimisation has exactly one: the picture).
public struct Adam: Sendable {
    public var learningRate: Double
    public var beta1: Double
    public var beta2: Double
    public var epsilon: Double
    /// Steps taken so far (PyTorch's `state['step']`).
    public private(set) var step = 0
    /// First and second moment estimates (`exp_avg`, `exp_avg_sq`), empty before the first step.
    public private(set) var firstMoment: [Float] = []
    public private(set) var secondMoment: [Float] = []

    public init(learningRate: Double = 1e-3, beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
    }

    /// Puts back the state of a checkpoint (`step`, `firstMoment`, `secondMoment` as they were saved).
    public mutating func restore(step: Int, firstMoment: [Float], secondMoment: [Float]) {
        precondition(firstMoment.count == secondMoment.count, "moments of different sizes")
        self.step = step
        self.firstMoment = firstMoment
        self.secondMoment = secondMoment
    }

    /// One step: updates `parameters` in place from their gradient.
    public mutating func update(_ parameters: inout [Float], gradient: [Float]) {
        precondition(parameters.count == gradient.count, "\(gradient.count) gradients for \(parameters.count) parameters")
        if firstMoment.isEmpty {
            firstMoment = [Float](repeating: 0, count: parameters.count)
            secondMoment = firstMoment
        }
        precondition(firstMoment.count == parameters.count, "parameter count changed between steps")
        step += 1
        let t = Double(step)
        let b2 = Float(beta2), oneMinusB1 = Float(1 - beta1), oneMinusB2 = Float(1 - beta2)
        let stepSize = Float(learningRate / (1 - pow(beta1, t)))
        let correction2Root = Float((1 - pow(beta2, t)).squareRoot())
        let eps = Float(epsilon)
        for i in 0..<parameters.count {
            let g = gradient[i]
            // PyTorch's operations in their order: `exp_avg.lerp_(g, 1 − β₁)` (self + w·(end − self) for w < ½),
            // `exp_avg_sq.mul_(β₂).addcmul_(g, g, value: 1 − β₂)`, `param.addcdiv_(m, denom, value: −step_size)`,
            // each evaluated left to right as in their scalar kernels. (Their vectorised kernels may fuse
            // multiply-adds, so agreement is to fp32 rounding, not bit for bit.)
            firstMoment[i] += oneMinusB1 * (g - firstMoment[i])
            secondMoment[i] = b2 * secondMoment[i] + oneMinusB2 * g * g
            let denominator = secondMoment[i].squareRoot() / correction2Root + eps
            parameters[i] -= stepSize * firstMoment[i] / denominator
        }
    }
}
