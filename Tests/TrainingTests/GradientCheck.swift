import TestSupport
import Training
import XCTest

/// Central finite differences in double precision (what `torch.autograd.gradcheck` estimates) and the error
/// measures every gradient test reports.
enum GradientCheck {
    /// ∂f/∂xᵢ ≈ (f(x + h·eᵢ) − f(x − h·eᵢ)) / 2h for every i.
    static func numericalGradient(at x: [Double], step h: Double = 1e-5, _ f: ([Double]) -> Double) -> [Double] {
        var x = x
        return (0..<x.count).map { i in
            let saved = x[i]
            x[i] = saved + h
            let up = f(x)
            x[i] = saved - h
            let down = f(x)
            x[i] = saved
            return (up - down) / (2 * h)
        }
    }

    /// The relative errors of a layer's input, weight and bias gradients against central finite differences of
    /// `loss(x, w, b)` around (x, w, b), by name.
    static func layerGradientErrors(input dx: [Float], weight dw: [Float], bias db: [Float],
                                    at x: [Double], _ w: [Double], _ b: [Double],
                                    loss: ([Double], [Double], [Double]) -> Double) -> [(name: String, error: Double)] {
        [("input", relativeError(dx, numericalGradient(at: x) { loss($0, w, b) })),
         ("weight", relativeError(dw, numericalGradient(at: w) { loss(x, $0, b) })),
         ("bias", relativeError(db, numericalGradient(at: b) { loss(x, w, $0) }))]
    }

    /// max |a − b|.
    static func maxAbsDifference(_ a: [Float], _ b: [Double]) -> Double {
        precondition(a.count == b.count, "\(a.count) values against \(b.count)")
        return zip(a, b).map { abs(Double($0) - $1) }.max() ?? 0
    }

    /// max |a − b| / max |b|: the worst error relative to the gradient's scale (a per-element relative error
    /// blows up at entries that happen to be near zero).
    static func relativeError(_ a: [Float], _ b: [Double]) -> Double {
        let scale = b.map(abs).max() ?? 0
        precondition(scale > 0, "reference gradient is all zeros: the check would prove nothing")
        return maxAbsDifference(a, b) / scale
    }

    /// Σ y·r: a scalar loss whose gradient with respect to y is the fixed random r, so every output matters.
    static func dot(_ y: [Double], _ r: [Double]) -> Double { zip(y, r).reduce(0) { $0 + $1.0 * $1.1 } }

    static func randomMap(_ rng: inout SplitMix64, channels: Int, height: Int, width: Int) -> FeatureMap {
        FeatureMap(channels: channels, height: height, width: width, values: rng.floats(channels * height * width))
    }
}

extension FeatureMap {
    var doubles: [Double] { values.map(Double.init) }
}

/// The trainable layers with a weight and a bias, for checks that hold for each of them alike.
protocol WeightAndBias: Layer {
    var weightGradient: [Float] { get }
    var biasGradient: [Float] { get }
    func zeroGradients()
}

extension Conv2d: WeightAndBias {}
extension ConvTranspose2d: WeightAndBias {}

extension GradientCheck {
    /// Given a layer after one backward of dy that wrote dx: parameter gradients add up over backward calls (a
    /// batch, or several losses) until zeroed, like `.grad`; the input gradient is written, not added.
    static func assertParameterGradientsAccumulate(_ layer: some WeightAndBias, dy: FeatureMap, dx: FeatureMap,
                                                   file: StaticString = #filePath, line: UInt = #line) {
        let (once, onceBias) = (layer.weightGradient, layer.biasGradient)
        var again = FeatureMap()
        layer.backward(dy, into: &again)
        XCTAssertEqual(layer.weightGradient, once.map { 2 * $0 }, file: file, line: line)
        XCTAssertEqual(layer.biasGradient, onceBias.map { 2 * $0 }, file: file, line: line)
        XCTAssertEqual(again, dx, file: file, line: line)
        layer.zeroGradients()
        XCTAssertEqual(layer.weightGradient, [Float](repeating: 0, count: once.count), file: file, line: line)
        XCTAssertEqual(layer.biasGradient, [Float](repeating: 0, count: onceBias.count), file: file, line: line)
    }
}
