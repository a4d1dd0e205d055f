import Stylize

/// A trainable square transposed convolution with bias (PyTorch `ConvTranspose2d(cin, cout, k, stride=s,
/// padding=p, output_padding=op)`): each input pixel scatters W[ci, ·] onto the output at stride s, and p rows
/// and columns are cropped from every side of the full result; op more rows and columns at the bottom and
/// right pick between the output sizes that a stride-s convolution maps to the same input size.
///
/// It is the adjoint of the convolution `c` with cin' = cout, cout' = cin, the same k and s, on an input padded
/// to (Ho + 2p)×(Wo + 2p), whose OIHW weight is exactly this layer's [cin][cout][k][k]. So every pass is one
/// of `Conv2d`'s products on c's geometry:
/// - forward          y  = crop_p(col2im(Wᵀ·x)) + b     (c's input gradient, with x as dY)
/// - input gradient   dx = W ⊛ pad_p(dy)                (c's forward)
/// - weight gradient  dW += x · im2col(pad_p(dy))ᵀ      (c's weight gradient, with x as dY)
/// - bias gradient    db[c] += Σ dy[c, ·]
/// The forward keeps its input; parameter gradients accumulate until `zeroGradients()`, as in `Conv2d`.
public final class ConvTranspose2d {
    public let inputChannels: Int
    public let outputChannels: Int
    public let kernel: Int
    public let stride: Int
    public let padding: Int
    public let outputPadding: Int
    /// [cin][cout][k][k], the layout of PyTorch's `ConvTranspose2d.weight`.
    public var weight: [Float]
    public var bias: [Float]
    public private(set) var weightGradient: [Float]
    public private(set) var biasGradient: [Float]

    private let context: TrainingContext
    private var input = FeatureMap()
    /// The adjoint convolution's geometry for the last forward (its input is the padded output).
    private var geometry: Convolution.Geometry?
    /// The full, uncropped output in the forward; the padded dy in the backward.
    private var paddedOutput: [Float] = []

    public init(inputChannels: Int, outputChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0, outputPadding: Int = 0,
                weight: [Float], bias: [Float], context: TrainingContext) {
        precondition(weight.count == inputChannels * outputChannels * kernel * kernel,
                     "weight is not \(inputChannels)×\(outputChannels)×\(kernel)×\(kernel)")
        precondition(bias.count == outputChannels, "bias is not \(outputChannels) values")
        precondition(kernel >= 1 && stride >= 1 && padding >= 0, "kernel and stride must be positive, padding not negative")
        // As in PyTorch: a larger output padding would add rows no input pixel reaches.
        precondition(outputPadding >= 0 && outputPadding < stride, "output padding must be less than the stride")
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.outputPadding = outputPadding
        self.weight = weight
        self.bias = bias
        weightGradient = [Float](repeating: 0, count: weight.count)
        biasGradient = [Float](repeating: 0, count: bias.count)
        self.context = context
    }

    public func zeroGradients() {
        for i in weightGradient.indices { weightGradient[i] = 0 }
        for i in biasGradient.indices { biasGradient[i] = 0 }
    }

    /// (h − 1)·s − 2p + k + op rows, likewise columns.
    public func forward(_ x: FeatureMap, into y: inout FeatureMap) {
        precondition(x.channels == inputChannels, "input has \(x.channels) channels, not \(inputChannels)")
        let ho = (x.height - 1) * stride - 2 * padding + kernel + outputPadding
        let wo = (x.width - 1) * stride - 2 * padding + kernel + outputPadding
        precondition(x.height > 0 && x.width > 0 && ho > 0 && wo > 0, "a \(x.height)×\(x.width) input has no output at padding \(padding)")
        let g = Convolution.Geometry(cin: outputChannels, hp: ho + 2 * padding, wp: wo + 2 * padding, cout: inputChannels,
                                     kh: kernel, kw: kernel, sh: stride, sw: stride)
        assert(g.ho == x.height && g.wo == x.width)
        geometry = g
        input = x
        Conv2d.zero(&paddedOutput, count: g.cin * g.hp * g.wp)
        x.values.withUnsafeBufferPointer { xb in
            weight.withUnsafeBufferPointer { w in
                paddedOutput.withUnsafeMutableBufferPointer { full in
                    Conv2d.backwardBands(g, outputGradient: xb.baseAddress!, weightGradient: nil,
                                         inputGradient: (w.baseAddress!, full.baseAddress!), context: context)
                }
            }
        }
        Conv2d.unpad(paddedOutput, channels: g.cin, paddedHeight: g.hp, paddedWidth: g.wp, padding: padding, mode: .zero,
                     into: &y, pool: context.pool)
        y.values.withUnsafeMutableBufferPointer { yb in
            bias.withUnsafeBufferPointer { b in
                Convolution.addBias(yb.baseAddress!, channels: outputChannels, plane: ho * wo, bias: b.baseAddress!)
            }
        }
    }

    /// Given dL/dy for the last forward, accumulates dL/dW and dL/db and writes dL/dx.
    public func backward(_ dy: FeatureMap, into dx: inout FeatureMap) {
        guard let g = geometry else { preconditionFailure("backward before forward") }
        let ho = g.hp - 2 * padding, wo = g.wp - 2 * padding
        precondition(dy.channels == outputChannels && dy.height == ho && dy.width == wo, "dy does not match the last forward's output")
        Conv2d.accumulateBiasGradient(dy, into: &biasGradient)
        if paddedOutput.count != g.cin * g.hp * g.wp { paddedOutput = [Float](repeating: 0, count: g.cin * g.hp * g.wp) }
        dx.reshape(channels: inputChannels, height: g.ho, width: g.wo)
        let (pool, workspace) = (context.pool, context.workspace)
        dy.values.withUnsafeBufferPointer { dyb in
            paddedOutput.withUnsafeMutableBufferPointer { dyp in
                Elementwise.pad(dyb.baseAddress!, c: outputChannels, h: ho, w: wo, pads: .uniform(padding), mode: .zero,
                                into: dyp.baseAddress!, pool: pool)
                let padded = UnsafePointer(dyp.baseAddress!)
                weight.withUnsafeBufferPointer { w in
                    dx.values.withUnsafeMutableBufferPointer { dxb in
                        Convolution.forwardIm2col(padded, g, weight: w.baseAddress!, into: dxb.baseAddress!, workspace: workspace, pool: pool)
                    }
                }
                input.values.withUnsafeBufferPointer { xb in
                    weightGradient.withUnsafeMutableBufferPointer { dw in
                        Conv2d.backwardBands(g, outputGradient: xb.baseAddress!, weightGradient: (padded, dw.baseAddress!),
                                             inputGradient: nil, context: context)
                    }
                }
            }
        }
    }
}
