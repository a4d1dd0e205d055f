/// Limited-memory BFGS with PyTorch's update and its strong-Wolfe line search (`torch.optim.LBFGS(...,
/// line_search_fn="strong_wolfe")`, itself after minFunc and Torch7's `lbfgs.lua` / `lswolfe.lua`): the optimiser
/// Gatys et al. used. One `step` is one iteration of PyTorch's inner loop (a direction from the history, a line
/// search along it, the move); state carries over between steps, so N calls equal one PyTorch `step()` with
/// `max_iter = N`, without PyTorch's extra evaluation at the start of every `step()` call.
///
/// Parameters and directions are fp32 like PyTorch's; dot products and the line search's scalars are Double.
/// The history costs 2 · `historySize` copies of the parameters (PyTorch's note says the same).
public final class LBFGS {
    public enum Outcome: Equatable, Sendable {
        /// Moved; more steps may help.
        case moved
        /// Stopped for the reason given (gradient or change below tolerance); further steps do nothing.
        case converged(String)
    }

    /// f and ∂f/∂x at x.
    public typealias Objective = ([Float]) -> (loss: Double, gradient: [Float])

    public var learningRate: Double
    public var historySize: Int
    public var toleranceGrad: Double
    public var toleranceChange: Double
    /// Strong-Wolfe line search (true) or a fixed step of `learningRate` (PyTorch's `line_search_fn=None`).
    public var lineSearch: Bool

    /// Iterations taken and objective evaluations made so far.
    public private(set) var iterations = 0
    public private(set) var evaluations = 0
    /// f at the current x (after the last step), nil before the first.
    public private(set) var loss: Double?

    private var gradient: [Float] = []
    private var previousGradient: [Float] = []
    private var direction: [Float] = []
    private var stepLength = 0.0
    private var ys: [[Float]] = [], ss: [[Float]] = []
    private var rho: [Double] = []
    private var hessianDiagonal = 1.0
    private var trial: [Float] = []
    private var converged: String?

    public init(learningRate: Double = 1, historySize: Int = 100, toleranceGrad: Double = 1e-7, toleranceChange: Double = 1e-9,
                lineSearch: Bool = true) {
        self.learningRate = learningRate
        self.historySize = historySize
        self.toleranceGrad = toleranceGrad
        self.toleranceChange = toleranceChange
        self.lineSearch = lineSearch
    }

    /// One iteration from x (updated in place).
    @discardableResult
    public func step(_ x: inout [Float], objective: Objective) -> Outcome {
        if let converged { return .converged(converged) }
        if loss == nil {
            let (f, g) = objective(x)
            evaluations += 1
            loss = f
            gradient = g
            if maxAbs(g) <= toleranceGrad { return stop("gradient below tolerance") }
        }
        precondition(gradient.count == x.count, "parameter count changed between steps")
        iterations += 1
        if iterations == 1 {
            direction = gradient.map { -$0 }
            hessianDiagonal = 1
        } else {
            updateHistory()
            computeDirection()
        }
        previousGradient = gradient
        let previousLoss = loss!
        var t = iterations == 1 ? min(1, 1 / sumAbs(gradient)) * learningRate : learningRate
        let gtd = dot(gradient, direction)
        if gtd > -toleranceChange { return stop("directional derivative below tolerance") }

        if lineSearch {
            let result = strongWolfe(x: x, t: t, f: previousLoss, g: gradient, gtd: gtd, objective: objective)
            t = result.t
            loss = result.f
            gradient = result.g
            axpy(Float(t), direction, &x)
        } else {
            axpy(Float(t), direction, &x)
            let (f, g) = objective(x)
            evaluations += 1
            loss = f
            gradient = g
        }
        stepLength = t
        if maxAbs(gradient) <= toleranceGrad { return stop("gradient below tolerance") }
        if maxAbs(direction) * abs(t) <= toleranceChange { return stop("step below tolerance") }
        if abs(loss! - previousLoss) < toleranceChange { return stop("loss change below tolerance") }
        return .moved
    }

    private func stop(_ reason: String) -> Outcome {
        converged = reason
        return .converged(reason)
    }

    /// Adds (y, s) = (g − g_prev, t·d) to the history when the curvature yᵀs is positive enough.
    private func updateHistory() {
        let n = gradient.count
        var y = [Float](repeating: 0, count: n), s = [Float](repeating: 0, count: n)
        let t = Float(stepLength)
        for i in 0..<n {
            y[i] = gradient[i] - previousGradient[i]
            s[i] = direction[i] * t
        }
        let curvature = dot(y, s)
        guard curvature > 1e-10 else { return }
        if ys.count == historySize {
            ys.removeFirst()
            ss.removeFirst()
            rho.removeFirst()
        }
        ys.append(y)
        ss.append(s)
        rho.append(1 / curvature)
        hessianDiagonal = curvature / dot(y, y)
    }

    /// d = −H·g by the two-loop recursion over the history.
    private func computeDirection() {
        var q = gradient.map { -$0 }
        var alpha = [Double](repeating: 0, count: ys.count)
        for i in stride(from: ys.count - 1, through: 0, by: -1) {
            alpha[i] = dot(ss[i], q) * rho[i]
            axpy(Float(-alpha[i]), ys[i], &q)
        }
        let h = Float(hessianDiagonal)
        for i in q.indices { q[i] *= h }
        for i in 0..<ys.count {
            let beta = dot(ys[i], q) * rho[i]
            axpy(Float(alpha[i] - beta), ss[i], &q)
        }
        direction = q
    }

    /// f and g at x + t·d.
    private func evaluate(_ x: [Float], _ t: Double, _ objective: Objective) -> (Double, [Float]) {
        if trial.count != x.count { trial = x } else { for i in x.indices { trial[i] = x[i] } }
        axpy(Float(t), direction, &trial)
        evaluations += 1
        return objective(trial)
    }

    /// PyTorch's `_strong_wolfe`: bracket a step satisfying the strong Wolfe conditions (c1 = 1e-4, c2 = 0.9),
    /// then zoom by cubic interpolation; at most 25 evaluations.
    private func strongWolfe(x: [Float], t initial: Double, f: Double, g: [Float], gtd: Double,
                             objective: Objective) -> (f: Double, g: [Float], t: Double) {
        let c1 = 1e-4, c2 = 0.9, maxSearches = 25
        let dNorm = maxAbs(direction)
        var t = initial
        var (fNew, gNew) = evaluate(x, t, objective)
        var gtdNew = dot(gNew, direction)
        var tPrev = 0.0, fPrev = f, gPrev = g, gtdPrev = gtd
        var done = false
        var searches = 0
        var bracket: [Double] = [], bracketF: [Double] = [], bracketG: [[Float]] = [], bracketGtd: [Double] = []
        while searches < maxSearches {
            if fNew > f + c1 * t * gtd || (searches > 1 && fNew >= fPrev) {
                (bracket, bracketF, bracketG, bracketGtd) = ([tPrev, t], [fPrev, fNew], [gPrev, gNew], [gtdPrev, gtdNew])
                break
            }
            if abs(gtdNew) <= -c2 * gtd {
                (bracket, bracketF, bracketG) = ([t], [fNew], [gNew])
                done = true
                break
            }
            if gtdNew >= 0 {
                (bracket, bracketF, bracketG, bracketGtd) = ([tPrev, t], [fPrev, fNew], [gPrev, gNew], [gtdPrev, gtdNew])
                break
            }
            let minStep = t + 0.01 * (t - tPrev), maxStep = t * 10
            let previous = t
            t = Self.cubicInterpolate(tPrev, fPrev, gtdPrev, t, fNew, gtdNew, bounds: (minStep, maxStep))
            tPrev = previous
            fPrev = fNew
            gPrev = gNew
            gtdPrev = gtdNew
            (fNew, gNew) = evaluate(x, t, objective)
            gtdNew = dot(gNew, direction)
            searches += 1
        }
        if searches == maxSearches {
            // PyTorch leaves bracketGtd as it was here; a zoom cannot run with searches exhausted anyway.
            (bracket, bracketF, bracketG) = ([0, t], [f, fNew], [g, gNew])
        }
        var insufficientProgress = false
        var (low, high) = bracketF[0] <= bracketF[bracketF.count - 1] ? (0, 1) : (1, 0)
        while !done && searches < maxSearches {
            if abs(bracket[1] - bracket[0]) * dNorm < toleranceChange { break }
            t = Self.cubicInterpolate(bracket[0], bracketF[0], bracketGtd[0], bracket[1], bracketF[1], bracketGtd[1], bounds: nil)
            let top = max(bracket[0], bracket[1]), bottom = min(bracket[0], bracket[1])
            let eps = 0.1 * (top - bottom)
            if min(top - t, t - bottom) < eps {
                if insufficientProgress || t >= top || t <= bottom {
                    t = abs(t - top) < abs(t - bottom) ? top - eps : bottom + eps
                    insufficientProgress = false
                } else {
                    insufficientProgress = true
                }
            } else {
                insufficientProgress = false
            }
            (fNew, gNew) = evaluate(x, t, objective)
            gtdNew = dot(gNew, direction)
            searches += 1
            if fNew > f + c1 * t * gtd || fNew >= bracketF[low] {
                bracket[high] = t
                bracketF[high] = fNew
                bracketG[high] = gNew
                bracketGtd[high] = gtdNew
                (low, high) = bracketF[0] <= bracketF[1] ? (0, 1) : (1, 0)
            } else {
                if abs(gtdNew) <= -c2 * gtd {
                    done = true
                } else if gtdNew * (bracket[high] - bracket[low]) >= 0 {
                    bracket[high] = bracket[low]
                    bracketF[high] = bracketF[low]
                    bracketG[high] = bracketG[low]
                    bracketGtd[high] = bracketGtd[low]
                }
                bracket[low] = t
                bracketF[low] = fNew
                bracketG[low] = gNew
                bracketGtd[low] = gtdNew
            }
        }
        if bracket.count == 1 { low = 0 }
        return (bracketF[low], bracketG[low], bracket[low])
    }

    /// Minimiser of the cubic through (x1, f1, g1) and (x2, f2, g2), clamped to `bounds` (default: between the
    /// two points); the middle of the bounds when the cubic has no minimum.
    static func cubicInterpolate(_ x1: Double, _ f1: Double, _ g1: Double, _ x2: Double, _ f2: Double, _ g2: Double,
                                 bounds: (Double, Double)?) -> Double {
        let (lo, hi) = bounds ?? (x1 <= x2 ? (x1, x2) : (x2, x1))
        let d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
        let d2Square = d1 * d1 - g1 * g2
        guard d2Square >= 0 else { return (lo + hi) / 2 }
        let d2 = d2Square.squareRoot()
        let minimum = x1 <= x2
            ? x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
            : x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(minimum, lo), hi)
    }
}

private func dot(_ a: [Float], _ b: [Float]) -> Double {
    a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in
            var s = 0.0
            for i in 0..<pa.count { s += Double(pa[i]) * Double(pb[i]) }
            return s
        }
    }
}

private func axpy(_ alpha: Float, _ x: [Float], _ y: inout [Float]) {
    x.withUnsafeBufferPointer { px in
        y.withUnsafeMutableBufferPointer { py in
            for i in 0..<px.count { py[i] += alpha * px[i] }
        }
    }
}

private func maxAbs(_ a: [Float]) -> Double { Double(a.reduce(0) { max($0, abs($1)) }) }
private func sumAbs(_ a: [Float]) -> Double { a.reduce(0.0) { $0 + Double(abs($1)) } }
