import COpenBLAS
import CKernels
import Foundation

/// Runs one model on one thread of control. Each worker owns a session (its workspace and buffers); the
/// loaded model and its weights are shared, read-only.
///
/// `threads` is the number of threads one run uses (GEMMs and the passes between them alike); OpenBLAS itself
/// is kept single-threaded (see `GEMM`). Several sessions in one process each use their own threads, so
/// workers × threads should not exceed the cores.
public final class Session {
    public let model: StyleModel
    public let threads: Int
    let plan: Plan
    let workspace = Workspace()
    /// This session's compute threads (the caller plus `threads − 1` workers).
    let pool: ComputePool
    private var slots: [Activation?]
    /// Multiply-adds of the convolutions in the last run (for GFLOP/s figures).
    public private(set) var lastRunMACs = 0
    /// When set, `execute` works out every shape and cost but computes nothing.
    private var dryRun = false
    /// The convolutions this session has computed, by path and by kernel (the tests check each is reached).
    package private(set) var convolutionsRun = ConvolutionCounts()

    public init(model: StyleModel, threads: Int = 1) throws {
        self.model = model
        self.threads = max(1, threads)
        pool = ComputePool(threads: self.threads)
        plan = try Plan(model: model)
        slots = Array(repeating: nil, count: plan.slotCount)
        Session.keepBLASSingleThreaded()
    }

    /// OpenBLAS starts one thread per core by default; streamd parallelises the products itself, so it sets
    /// OpenBLAS's process-wide count to 1 explicitly.
    package static func keepBLASSingleThreaded() {
        openblas_set_num_threads(1)
    }

    /// Number of styles a multi-style model mixes (0 for a single-style model).
    public var styleCount: Int { plan.styleCount }

    /// Runs the graph on a network input [C, H, W] (already transformed) and returns the network output.
    public func run(_ input: Tensor, styleWeights: [Float]? = nil) throws -> Tensor {
        guard input.shape.count == 3 else {
            throw StylizeError(.invalidArgument, "network input must be [C, H, W], got \(input.shape)")
        }
        let buf = workspace.take(input.count)
        input.data.withUnsafeBufferPointer { buf.base.update(from: $0.baseAddress!, count: input.count) }
        let out = try execute(Activation(c: input.shape[0], h: input.shape[1], w: input.shape[2], buffer: buf), styleWeights: styleWeights)
        let result = Tensor(shape: [out.c, out.h, out.w], data: Array(UnsafeBufferPointer(start: out.ptr, count: out.count)))
        workspace.give(out.buffer)
        return result
    }

    /// Runs the model on an RGB picture given as HWC floats on the 0..255 scale, with the model's input and
    /// output transforms but no padding or cropping: the raw network output (HWC RGB, 0..255 scale,
    /// unclipped) at whatever size the network produces. This is what reference test vectors hold.
    public func runRaw(rgb: [Float], height: Int, width: Int, styleWeights: [Float]? = nil) throws -> (height: Int, width: Int, rgb: [Float]) {
        guard rgb.count == height * width * 3 else {
            throw StylizeError(.invalidArgument, "expected \(height)x\(width)x3 values, got \(rgb.count)")
        }
        let a = workspace.take(3 * height * width)
        rgb.withUnsafeBufferPointer { src in
            Transforms.packInput(src.baseAddress!, height: height, width: width, rowStride: width * 3,
                                 transform: model.info.input, into: a.base)
        }
        let out = try execute(Activation(c: 3, h: height, w: width, buffer: a), styleWeights: styleWeights)
        defer { workspace.give(out.buffer) }
        guard out.c == 3 else {
            throw StylizeError(.invalidGraph, "model output has \(out.c) channels, expected 3")
        }
        var result = [Float](repeating: 0, count: out.h * out.w * 3)
        result.withUnsafeMutableBufferPointer { dst in
            Transforms.unpackOutput(out.ptr, height: out.h, width: out.w, transform: model.info.output, into: dst.baseAddress!)
        }
        return (out.h, out.w, result)
    }

    /// Per-layer output shapes and convolution cost for an input of `height`×`width`, without computing.
    public func profile(height: Int, width: Int) throws -> (layers: [LayerShape], macs: Int) {
        dryRun = true
        layerShapes = []
        defer { dryRun = false; layerShapes = nil }
        let buf = workspace.take(3 * height * width)
        let out = try execute(Activation(c: 3, h: height, w: width, buffer: buf), styleWeights: nil)
        workspace.give(out.buffer)
        return (layerShapes ?? [], lastRunMACs)
    }

    /// The most bytes one run on a `height`×`width` network input holds at once: its activations (each
    /// buffer recycled after its last reader), the band and scratch buffers of its convolutions, and its
    /// input and output. Weights, shared by every session of a model, are not included. Computed by
    /// walking the plan without allocating or computing anything.
    public func estimatedPeakBytes(height: Int, width: Int, styleWeights: [Float]? = nil) throws -> Int {
        guard height > 0, width > 0 else {
            throw StylizeError(.invalidArgument, "frame size must be positive, got \(height)x\(width)")
        }
        dryRun = true
        defer { dryRun = false }
        let measured = try workspace.count {
            let buf = workspace.take(3 * height * width)
            let out = try execute(Activation(c: 3, h: height, w: width, buffer: buf), styleWeights: styleWeights)
            workspace.give(out.buffer)
        }
        return (measured.peakLive + measured.scratch.reduce(0, +)) * MemoryLayout<Float>.stride
    }

    public struct LayerShape: Sendable, Equatable {
        public var name: String, kind: String
        public var channels: Int, height: Int, width: Int
        public var macs: Int
    }

    private var layerShapes: [LayerShape]?

    /// When true, each run records the wall time of every layer in `layerTimings` (for `bench --layers`).
    public var recordTimings = false
    public private(set) var layerTimings: [(name: String, kind: String, milliseconds: Double)] = []

    /// The style-weight vector used when a multi-style model is run without one: style 0.
    func resolvedStyle(_ weights: [Float]?) throws -> [Float] {
        let n = plan.styleCount
        guard n > 0 else { return [] }
        if weights == nil, model.info.styleEmbeddingSize != nil {
            // Shapes and costs do not depend on the embedding.
            if dryRun { return Array(repeating: 0, count: n) }
            throw StylizeError(.invalidArgument, "model \(model.info.name) takes any painting as its style and needs a style picture's embedding")
        }
        guard let weights else { return [1] + Array(repeating: 0, count: n - 1) }
        guard weights.count == n else {
            throw StylizeError(.invalidArgument, "model \(model.info.name) has \(n) styles, got a style vector of \(weights.count)")
        }
        return weights
    }

    /// Executes the plan; the input activation's buffer is owned (and recycled) by the run.
    func execute(_ input: Activation, styleWeights: [Float]?) throws -> Activation {
        try pool.pinningCaller { try executeOnPool(input, styleWeights: styleWeights) }
    }

    private func executeOnPool(_ input: Activation, styleWeights: [Float]?) throws -> Activation {
        let style = try resolvedStyle(styleWeights)
        lastRunMACs = 0
        layerTimings.removeAll(keepingCapacity: true)
        slots[plan.inputSlot] = input
        defer {
            for i in slots.indices where i != plan.outputSlot {
                if let a = slots[i] { workspace.give(a.buffer) }
                slots[i] = nil
            }
        }
        for ins in plan.instructions {
            let x = slots[ins.inputs[0]]!
            let inPlace = ins.releases.contains(ins.inputs[0]) && ins.inputs.count == 1
            let before = lastRunMACs
            let t0 = recordTimings ? DispatchTime.now().uptimeNanoseconds : 0
            let y = try perform(ins, x, style: style, inPlace: inPlace)
            if recordTimings {
                layerTimings.append((ins.name, ins.kind, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6))
            }
            layerShapes?.append(LayerShape(name: ins.name, kind: ins.kind, channels: y.c, height: y.h, width: y.w, macs: lastRunMACs - before))
            for r in ins.releases {
                // Ops that ran in place hand their input's buffer on as the output; the rest return it here.
                if let a = slots[r], a.buffer !== y.buffer { workspace.give(a.buffer) }
                slots[r] = nil
            }
            slots[ins.output] = y
        }
        guard let out = slots[plan.outputSlot] else {
            throw StylizeError(.invalidGraph, "graph output was not computed")
        }
        slots[plan.outputSlot] = nil
        return out
    }

    /// Floats of padded input one band of a padded or upsampled convolution reads at most: whole frames
    /// up to about 640×480 at 64 channels, bands of rows beyond (64 MB). Tests lower it to get many bands.
    var convBandBudget = 1 << 24

    /// Output rows per band for a convolution that builds its padded input band by band (`g` is the whole
    /// padded geometry). Winograd bands are whole tile rows so no tile is computed twice.
    static func convBandRows(_ c: Plan.ConvStep, _ g: Convolution.Geometry, budget: Int) -> Int {
        var rows = Convolution.balancedBand(g.ho, budget: budget, perRow: c.cin * c.sh * g.wp)
        let tile = c.strategy == .winograd4 ? 4 : c.strategy == .winograd2 ? 2 : 1
        rows = (rows + tile - 1) / tile * tile
        // col2im recomputes the kh−1 halo rows of every band: keep bands several kernels tall.
        if c.strategy == .col2im { rows = max(rows, 8 * c.kh) }
        return min(rows, g.ho)
    }

    /// Runs the convolution kernel of `c` on an already padded input of geometry `g`.
    private func convolve(_ c: Plan.ConvStep, _ xp: UnsafePointer<Float>, _ g: Convolution.Geometry,
                          into y: UnsafeMutablePointer<Float>, yPlane: Int) {
        switch c.strategy {
        case .im2col:
            Convolution.forwardIm2col(xp, g, weight: c.weight, into: y, yPlane: yPlane, workspace: workspace, pool: pool)
        case .col2im:
            Convolution.forwardCol2im(xp, g, packedWeight: c.packed!, into: y, yPlane: yPlane, workspace: workspace, pool: pool)
        case .rowShift:
            Convolution.forwardRowShift(xp, g, packedWeight: c.packed!, into: y, yPlane: yPlane, workspace: workspace, pool: pool)
        case .winograd2, .winograd4:
            Winograd.forward(xp, cin: c.cin, hp: g.hp, wp: g.wp, packed: c.packed!, cout: c.cout,
                             transform: c.strategy == .winograd4 ? Winograd.f4 : Winograd.f2,
                             into: y, yPlane: yPlane, workspace: workspace, pool: pool)
        case .depthwise:
            Convolution.forwardDepthwise(xp, g, weight: c.weight, bias: c.bias, into: y, yPlane: yPlane, pool: pool)
        case .direct:
            let rows = g.ho, parts = max(1, min(pool.threads, rows))
            pool.parallelFor(parts) { i in
                _ = streamd_conv_direct(xp, g.cin, g.hp, g.wp, c.weight, g.cout, g.kh, g.kw, c.bias, y, yPlane,
                                        rows * i / parts, rows * (i + 1) / parts)
            }
        }
    }

    /// Records (in a counting run) the scratch the kernel of `c` would ask for on geometry `g`.
    private func noteScratch(_ c: Plan.ConvStep, _ g: Convolution.Geometry) {
        switch c.strategy {
        case .im2col: noteScratch(Convolution.im2colScratch(g))
        case .col2im: noteScratch(Convolution.col2imScratch(g))
        case .rowShift: noteScratch(Convolution.rowShiftScratch(g))
        case .winograd2, .winograd4:
            noteScratch(Winograd.bands(cin: c.cin, hp: g.hp, wp: g.wp, cout: c.cout,
                                       transform: c.strategy == .winograd4 ? Winograd.f4 : Winograd.f2).scratch)
        case .depthwise, .direct: break
        }
    }

    private func noteScratch(_ sizes: [Int]) {
        guard workspace.counting else { return }
        for (slot, n) in sizes.enumerated() where n > 0 { _ = workspace.scratch(slot, n) }
    }

    /// A normalisation's scale and shift for this frame: a conditional one mixes its styles' rows by `style`.
    private func normParameters(_ n: Plan.FoldedNorm, channels: Int, _ ins: Plan.Instruction, style: [Float]) throws -> NormParameters {
        switch n {
        case .plain(let n):
            if let ch = n.channels, ch != channels { throw fail(ins, "input has \(channels) channels, normalisation parameters have \(ch)") }
            return NormParameters(scale: n.scale.map { Array(UnsafeBufferPointer(start: $0, count: channels)) },
                                  shift: n.shift.map { Array(UnsafeBufferPointer(start: $0, count: channels)) },
                                  epsilon: n.epsilon, relu: n.relu)
        case .conditional(let n):
            guard n.channels == channels else { throw fail(ins, "input has \(channels) channels, normalisation parameters have \(n.channels)") }
            var scale = n.gammaBias.map { Array(UnsafeBufferPointer(start: $0, count: n.channels)) } ?? [Float](repeating: 0, count: n.channels)
            var shift = n.betaBias.map { Array(UnsafeBufferPointer(start: $0, count: n.channels)) } ?? [Float](repeating: 0, count: n.channels)
            for s in 0..<n.styles where style[s] != 0 {
                for c in 0..<n.channels {
                    scale[c] += style[s] * n.gamma[s * n.channels + c]
                    shift[c] += style[s] * n.beta[s * n.channels + c]
                }
            }
            return NormParameters(scale: scale, shift: shift, epsilon: n.epsilon, relu: n.relu)
        }
    }

    private func fail(_ ins: Plan.Instruction, _ why: String) -> StylizeError {
        StylizeError(.shapeMismatch, "node \(ins.name) (\(ins.kind)): \(why)")
    }

    private func alloc(_ c: Int, _ h: Int, _ w: Int) -> Activation {
        Activation(c: c, h: h, w: w, buffer: workspace.take(c * h * w))
    }

    /// Runs `body(start, count)` over 0..<n in equal chunks, one per thread (for element-wise passes, where
    /// splitting by channel would leave a thread idle on 3-channel tensors).
    static func chunked(_ n: Int, pool: ComputePool, _ body: (Int, Int) -> Void) {
        let parts = max(1, min(pool.threads, n / 4096))
        let size = (n + parts - 1) / parts
        pool.parallelFor(parts) { i in
            let start = i * size
            if start < n { body(start, min(size, n - start)) }
        }
    }

    /// TensorFlow SAME amounts for one axis.
    static func tfSame(_ n: Int, k: Int, s: Int) -> (Int, Int) {
        let out = (n + s - 1) / s
        let p = max((out - 1) * s + k - n, 0)
        return (p / 2, p - p / 2)
    }

    /// Floats of one thread's depthwise band in `runSeparable` (256 KB: with the 1×1 weights and output rows, a
    /// band stays in the core's 1 MB L2 cache).
    static let separableBandFloats = 1 << 16

    /// A depthwise 3×3 convolution (stride 1 or 2, or after a nearest 2× upsample) and the 1×1 convolution that
    /// alone reads it, in bands of output rows: for each band a thread pads (and normalises) the input rows the
    /// band reads, one channel at a time, runs the depthwise kernel on them into its own scratch, and multiplies
    /// that by the 1×1 weights, so neither the padded input nor the depthwise tensor (up to 64×240×320 floats,
    /// 20 MB, in a light network's decoder) is ever written to memory and read back. Other depthwise shapes run
    /// as two convolutions.
    private func runSeparable(_ dw: Plan.ConvStep, _ pw: Plan.ConvStep, _ x: Activation, _ ins: Plan.Instruction,
                              style: [Float]) throws -> Activation {
        var single = pw
        single.depthwise = nil
        let f = dw.upsample, stride = dw.sh
        guard Elementwise.vectorizedKernels, dw.kh == 3, dw.kw == 3, dw.sw == stride, case .explicit(let pads) = dw.padding, !pads.isZero,
              (f == 1 && (stride == 1 || stride == 2)) || (f == 2 && stride == 1 && pads == .uniform(1)), x.c == dw.cin else {
            let middle = try runConv(dw, x, ins, style: style)
            defer { workspace.give(middle.buffer) }
            return try runConv(single, middle, ins, style: style)
        }
        // The depthwise kernel's input: the picture padded, or (upsampled) the small picture padded by one pixel,
        // edge-padded standing in for the upsampled picture's reflection (as in `runConv`).
        let padPads = f == 2 ? Pads.uniform(1) : pads
        let mode: PadMode = f == 2 ? (dw.padMode == .zero ? .zero : .edge) : dw.padMode
        let hp = x.h + padPads.top + padPads.bottom, wp = x.w + padPads.left + padPads.right
        guard hp >= 3, wp >= 3 else { throw fail(ins, "input \(hp)x\(wp) (padded) is smaller than the 3x3 kernel") }
        let ho = f == 2 ? 2 * x.h : (hp - 3) / stride + 1, wo = f == 2 ? 2 * x.w : (wp - 3) / stride + 1
        let c = x.c, (cin, cout) = (pw.cin, pw.cout)
        let norm = try dw.inputNorm.map { try normParameters($0, channels: c, ins, style: style) }
        var band = max(1, min(ho, Session.separableBandFloats / max(1, c * wo)))
        if f == 2 { band = max(2, band & ~1) }  // whole pairs of upsampled rows
        let bands = (ho + band - 1) / band, parts = max(1, min(pool.threads, bands))
        // Padded rows one channel's band reads: the small picture's (f = 2) or the picture's.
        let bandIn = f == 2 ? band / 2 + 2 : (band - 1) * stride + 3
        let perPart = c * band * wo + bandIn * wp
        let scratch = workspace.take(parts * perPart)
        defer { workspace.give(scratch) }
        let y = alloc(cout, ho, wo)
        lastRunMACs += c * 9 * ho * wo + cout * cin * ho * wo
        if dryRun { return y }
        // A folded normalisation needs each channel's moments before any band.
        let affines = norm.map { Normalization.affines(x.ptr, channels: c, plane: x.plane, $0, pool: pool) }
        let (h, w, plane, yPlane) = (x.h, x.w, x.plane, y.plane)
        Elementwise.padColumns(w: w, pads: padPads, mode: mode).withUnsafeBufferPointer { cmap in
            pool.parallelFor(parts) { part in
                let mid = scratch.base + part * perPart, rowsIn = mid + c * band * wo
                for b in (bands * part / parts)..<(bands * (part + 1) / parts) {
                    let r0 = b * band, rows = min(band, ho - r0)
                    for ch in 0..<c {
                        let k = dw.weight + ch * 9, bias = dw.bias?[ch] ?? 0
                        let (first, count) = f == 2 ? (r0 / 2, rows / 2 + 2) : (r0 * stride, (rows - 1) * stride + 3)
                        Elementwise.padUpsampleRows(x.ptr + ch * plane, h: h, w: w, factor: 1, pads: padPads, mode: mode, columns: cmap,
                                                    affine: affines?[ch], rowStart: first, rows: count, into: rowsIn)
                        if f == 2 {
                            _ = streamd_upsample2_depthwise3x3(rowsIn, rows / 2, w, k, bias, mid + ch * rows * wo)
                        } else {
                            _ = streamd_depthwise3x3(rowsIn, wp, k, bias, Int32(stride), mid + ch * rows * wo, rows, wo)
                        }
                    }
                    let out = y.ptr + r0 * wo, n = rows * wo
                    if pw.strategy == .direct {
                        _ = streamd_conv_direct(mid, cin, rows, wo, pw.weight, cout, 1, 1, pw.bias, out, yPlane, 0, rows)
                    } else {
                        GEMM.multiply(m: cout, n: n, k: cin, a: pw.weight, lda: cin, b: mid, ldb: n, c: out, ldc: yPlane, pool: nil)
                        if let bias = pw.bias { Convolution.addBias(out, channels: cout, plane: n, stride: yPlane, bias: bias) }
                    }
                }
            }
        }
        return y
    }

    /// Floats of one thread's patch matrix in `runIm2colBands` (512 KB: with the padded rows it is built from,
    /// it stays in the core's 1 MB L2 cache).
    static let im2colBandFloats = 1 << 17

    /// A padded (upsampled, normalised) convolution lowered to im2col + GEMM, in bands of output rows small
    /// enough for each thread's cache: a thread pads the input rows of its band, builds the band's patch matrix
    /// from them and multiplies it by the weights with a single-threaded GEMM. The padded input and the patch
    /// matrix (for multistyle26's stride-2 3×3 32→32 at 640×480, 39 MB and 88 MB) never go to memory.
    private func runIm2colBands(_ c: Plan.ConvStep, _ x: Activation, _ g: Convolution.Geometry, pads: Pads, norm: NormParameters?,
                                into y: Activation) throws -> Activation {
        let (k, wo, ho) = (g.k, g.wo, g.ho)
        let band = Convolution.balancedBand(ho, budget: Session.im2colBandFloats, perRow: k * wo)
        let bands = (ho + band - 1) / band, parts = max(1, min(pool.threads, bands))
        let inRows = (band - 1) * c.sh + c.kh
        let perPart = c.cin * inRows * g.wp + k * band * wo
        let scratch = workspace.take(parts * perPart)
        defer { workspace.give(scratch) }
        if dryRun { return y }
        let affines = norm.map { Normalization.affines(x.ptr, channels: x.c, plane: x.plane, $0, pool: pool) }
        let (h, w, plane, f, yPlane) = (x.h, x.w, x.plane, c.upsample, y.plane)
        Elementwise.padColumns(w: w, factor: f, pads: pads, mode: c.padMode).withUnsafeBufferPointer { cmap in
            pool.parallelFor(parts) { part in
                let padded = scratch.base + part * perPart, col = padded + c.cin * inRows * g.wp
                for b in (bands * part / parts)..<(bands * (part + 1) / parts) {
                    let r0 = b * band, rows = min(band, ho - r0), n = rows * wo
                    var gb = g
                    gb.hp = (rows - 1) * c.sh + c.kh
                    for ch in 0..<c.cin {
                        Elementwise.padUpsampleRows(x.ptr + ch * plane, h: h, w: w, factor: f, pads: pads, mode: c.padMode, columns: cmap,
                                                    affine: affines?[ch], rowStart: r0 * c.sh, rows: gb.hp, into: padded + ch * gb.hp * g.wp)
                    }
                    for r in 0..<k { Convolution.im2colRow(r, padded, gb, rows: 0..<rows, into: col) }
                    let out = y.ptr + r0 * wo
                    GEMM.multiply(m: c.cout, n: n, k: k, a: c.weight, lda: k, b: col, ldb: n, c: out, ldc: yPlane, pool: nil)
                    if let bias = c.bias { Convolution.addBias(out, channels: c.cout, plane: n, stride: yPlane, bias: bias) }
                }
            }
        }
        return y
    }

    /// One convolution step on `x`: the padded (upsampled, normalised) input built the way its kernel wants it.
    /// Runs one convolution step: works out its padding and geometry, picks its path (`ConvPath.choose`),
    /// normalises the input first when the path reads it in place, and runs the path.
    private func runConv(_ c: Plan.ConvStep, _ x: Activation, _ ins: Plan.Instruction, style: [Float]) throws -> Activation {
        if let dw = c.depthwise?.step {
            count(.separable, kernel: .depthwise)
            return try runSeparable(dw, c, x, ins, style: style)
        }
        guard x.c == c.cin else { throw fail(ins, "input has \(x.c) channels, weights expect \(c.cin)") }
        // The convolution reads pad(upsample(x)): `vh`×`vw` after upsampling, `g.hp`×`g.wp` after padding.
        let f = c.upsample
        let vh = x.h * f, vw = x.w * f
        let pads: Pads
        switch c.padding {
        case .explicit(let p): pads = p
        case .tfSame:
            let (t0, b0) = Session.tfSame(vh, k: c.kh, s: c.sh)
            let (l0, r0) = Session.tfSame(vw, k: c.kw, s: c.sw)
            pads = Pads(top: t0, left: l0, bottom: b0, right: r0)
        }
        let g = Convolution.Geometry(cin: c.cin, hp: vh + pads.top + pads.bottom, wp: vw + pads.left + pads.right,
                                     cout: c.cout, kh: c.kh, kw: c.kw, sh: c.sh, sw: c.sw)
        guard g.hp >= c.kh, g.wp >= c.kw else {
            throw fail(ins, "input \(g.hp)x\(g.wp) (padded) is smaller than the \(c.kh)x\(c.kw) kernel")
        }
        let path = ConvPath.choose(c, pads: pads, vectorized: Elementwise.vectorizedKernels)
        // A folded normalisation is applied where the input is copied anyway; the paths that read the input
        // in place get it normalised into a scratch tensor first.
        var x = x, norm = try c.inputNorm.map { try normParameters($0, channels: x.c, ins, style: style) }
        var normalized: FloatBuffer? = nil
        defer { if let normalized { workspace.give(normalized) } }
        if let params = norm, path.readsInputInPlace {
            let t = workspace.take(x.count)
            normalized = t
            if !dryRun { Normalization.instanceNorm(x.ptr, channels: x.c, plane: x.plane, params, into: t.base, pool: pool) }
            x = Activation(c: x.c, h: x.h, w: x.w, buffer: t)
            norm = nil
        }
        let y = alloc(c.cout, g.ho, g.wo)
        lastRunMACs += c.cout * (c.strategy == .depthwise ? c.kh * c.kw : g.k) * g.ho * g.wo
        count(path, kernel: path.kernel ?? c.strategy)
        switch path {
        case .separable: preconditionFailure("chosen above")
        case .upsampledDepthwise3x3: upsampledDepthwise3x3(c, x, norm: norm, into: y)
        case .upsampledSubpixel: upsampledSubpixel(c, x, norm: norm, into: y)
        case .strideTwoPhases: strideTwoPhases(c, x, g, pads: pads, into: y)
        case .depthwise3x3: depthwise3x3(c, x, g, pads: pads, norm: norm, into: y)
        case .unpadded: unpadded(c, x, g, into: y)
        case .im2colBands: return try runIm2colBands(c, x, g, pads: pads, norm: norm, into: y)
        case .paddedBands: paddedBands(c, x, g, pads: pads, norm: norm, into: y)
        }
        return y
    }

    /// Counts a convolution a real run computes (not a counting run), for the tests that every path is reached.
    private func count(_ path: ConvPath, kernel: Plan.ConvStrategy) {
        guard !dryRun else { return }
        convolutionsRun.paths[path, default: 0] += 1
        convolutionsRun.kernels[kernel, default: 0] += 1
    }

    /// A decoder's upsample + depthwise 3×3, fused: 2×2 sub-kernels on the small picture padded by one pixel,
    /// never the upsampled one. Upsampled-then-reflect-padded equals small-then-edge-padded.
    private func upsampledDepthwise3x3(_ c: Plan.ConvStep, _ x: Activation, norm: NormParameters?, into y: Activation) {
        let small = workspace.take(x.c * (x.h + 2) * (x.w + 2))
        defer { workspace.give(small) }
        if dryRun { return }
        Elementwise.pad(x.ptr, c: x.c, h: x.h, w: x.w, pads: .uniform(1), mode: c.padMode == .zero ? .zero : .edge,
                        affines: norm.map { Normalization.affines(x.ptr, channels: x.c, plane: x.plane, $0, pool: pool) },
                        into: small.base, pool: pool)
        let (h, w) = (x.h, x.w)
        pool.parallelFor(x.c) { ch in
            _ = streamd_upsample2_depthwise3x3(small.base + ch * (h + 2) * (w + 2), h, w, c.weight + ch * 9,
                                               c.bias?[ch] ?? 0, y.ptr + ch * y.plane)
        }
    }

    /// Upsample + direct 3×3, fused: each output parity is a 2×2 convolution of the small picture padded by one
    /// pixel (edge-padded stands in for the upsampled picture's reflection, as above), written to its own
    /// half-size planes and interleaved into the output.
    private func upsampledSubpixel(_ c: Plan.ConvStep, _ x: Activation, norm: NormParameters?, into y: Activation) {
        guard let sub = c.subpixel else { preconditionFailure("the subpixel path needs the plan's subpixel kernels") }
        let (h, w) = (x.h, x.w)
        let hp = h + 2, wp = w + 2, pw = w + 1, phasePlane = h * pw
        // The (·, 1) parities' last column reads one float past its row: slack after the last one.
        let small = workspace.take(x.c * hp * wp + 8)
        let phases = workspace.take(4 * c.cout * phasePlane)
        defer { workspace.give(small); workspace.give(phases) }
        if dryRun { return }
        Elementwise.pad(x.ptr, c: x.c, h: h, w: w, pads: .uniform(1), mode: c.padMode == .zero ? .zero : .edge,
                        affines: norm.map { Normalization.affines(x.ptr, channels: x.c, plane: x.plane, $0, pool: pool) },
                        into: small.base, pool: pool)
        let parts = max(1, min(pool.threads, h)), (cin, cout) = (c.cin, c.cout)
        pool.parallelFor(4 * parts) { t in
            let parity = t / parts, part = t % parts
            _ = streamd_conv_direct(small.base + (parity / 2) * wp + parity % 2, cin, hp, wp, sub + parity * cout * cin * 4, cout, 2, 2,
                                    c.bias, phases.base + parity * cout * phasePlane, phasePlane, h * part / parts, h * (part + 1) / parts)
        }
        let outW = 2 * w, plane = y.plane
        pool.parallelFor(cout * h) { r in
            let co = r / h, i = r % h
            for a in 0..<2 {
                let even = phases.base + ((a * 2) * cout + co) * phasePlane + i * pw
                let odd = phases.base + ((a * 2 + 1) * cout + co) * phasePlane + i * pw
                let dst = y.ptr + co * plane + (2 * i + a) * outW
                for j in 0..<w {
                    dst[2 * j] = even[j]
                    dst[2 * j + 1] = odd[j]
                }
            }
        }
    }

    /// Stride-2 3×3 with few channels: the padded input's four phases (even/odd rows × columns) as 4·cin planes
    /// of (ho+1)×(wo+1), then a stride-1 2×2 direct convolution over them.
    private func strideTwoPhases(_ c: Plan.ConvStep, _ x: Activation, _ g: Convolution.Geometry, pads: Pads, into y: Activation) {
        guard let phasedWeight = c.phased else { preconditionFailure("the phased path needs the plan's phase kernels") }
        let (ho, wo, cin) = (g.ho, g.wo, c.cin)
        let hq = ho + 1, wq = wo + 1, cq = 4 * cin
        let planes = workspace.take(cq * hq * wq + 8)
        defer { workspace.give(planes) }
        if dryRun { return }
        let (h, w, plane, mode) = (x.h, x.w, x.plane, c.padMode)
        Elementwise.padColumns(w: x.w, pads: pads, mode: mode).withUnsafeBufferPointer { cmap in
            pool.parallelFor(cq) { k in
                let phase = k / cin, ci = k % cin, p = phase / 2, q = phase % 2
                let src = x.ptr + ci * plane, dst = planes.base + k * hq * wq
                for i in 0..<hq {
                    let drow = dst + i * wq
                    let r = 2 * i + p, sy = r - pads.top
                    if r >= g.hp || (mode == .zero && (sy < 0 || sy >= h)) {
                        drow.update(repeating: 0, count: wq)
                        continue
                    }
                    let srow = src + Elementwise.sourceIndex(sy, h, mode) * w
                    // Columns inside the picture are a plain stride-2 gather; the padded ones at either end go
                    // through the column map.
                    let first = min(wq, max(0, (pads.left - q + 1) / 2)), last = min(wq, max(first, (pads.left + w - q + 1) / 2))
                    let inside = srow + (2 * first + q - pads.left)
                    for j in 0..<(last - first) { drow[first + j] = inside[2 * j] }
                    func padded(_ j: Int) -> Float {
                        let col = 2 * j + q, sx = col - pads.left
                        return col >= g.wp || (mode == .zero && (sx < 0 || sx >= w)) ? 0 : srow[cmap[col]]
                    }
                    for j in 0..<first { drow[j] = padded(j) }
                    for j in last..<wq { drow[j] = padded(j) }
                }
            }
        }
        let parts = max(1, min(pool.threads, ho))
        pool.parallelFor(parts) { i in
            _ = streamd_conv_direct(planes.base, cq, hq, wq, phasedWeight, c.cout, 2, 2, c.bias, y.ptr, ho * wo,
                                    ho * i / parts, ho * (i + 1) / parts)
        }
    }

    /// Depthwise 3×3: each channel padded just before its kernel reads it, in one parallel pass, so the padded
    /// plane is read from cache rather than memory (a separate padding pass doubled the traffic). A folded
    /// normalisation's moments are taken in the same pass, just before the plane is padded.
    private func depthwise3x3(_ c: Plan.ConvStep, _ x: Activation, _ g: Convolution.Geometry, pads: Pads, norm: NormParameters?,
                              into y: Activation) {
        let padded = workspace.take(x.c * g.hp * g.wp)
        defer { workspace.give(padded) }
        if dryRun { return }
        let (h, w, plane, paddedPlane, params) = (x.h, x.w, x.plane, g.hp * g.wp, norm)
        Elementwise.padColumns(w: x.w, pads: pads, mode: c.padMode).withUnsafeBufferPointer { cmap in
            pool.parallelFor(x.c) { ch in
                let p = padded.base + ch * paddedPlane, src = x.ptr + ch * plane
                Elementwise.padPlane(src, h: h, w: w, pads: pads, mode: c.padMode, columns: cmap,
                                     affine: params?.affine(channel: ch, of: src, count: plane), into: p)
                _ = streamd_depthwise3x3(p, g.wp, c.weight + ch * 9, c.bias?[ch] ?? 0, Int32(c.sh), y.ptr + ch * y.plane, g.ho, g.wo)
            }
        }
    }

    /// No padding, no upsampling: the kernel reads the input where it is.
    private func unpadded(_ c: Plan.ConvStep, _ x: Activation, _ g: Convolution.Geometry, into y: Activation) {
        if dryRun { noteScratch(c, g); return }
        convolve(c, x.ptr, g, into: y.ptr, yPlane: g.ho * g.wo)
        addBias(c, y)
    }

    /// Bands of output rows, each from just the padded (and upsampled, and normalised) rows it reads, halo
    /// included, then the strategy's kernel on the band.
    private func paddedBands(_ c: Plan.ConvStep, _ x: Activation, _ g: Convolution.Geometry, pads: Pads, norm: NormParameters?,
                             into y: Activation) {
        let band = Session.convBandRows(c, g, budget: convBandBudget)
        let bandIn = workspace.take(c.cin * ((band - 1) * c.sh + c.kh) * g.wp)
        defer { workspace.give(bandIn) }
        let affines = dryRun ? nil : norm.map { Normalization.affines(x.ptr, channels: x.c, plane: x.plane, $0, pool: pool) }
        var oy0 = 0
        while oy0 < g.ho {
            let rows = min(band, g.ho - oy0)
            var gb = g
            gb.hp = (rows - 1) * c.sh + c.kh
            if dryRun { noteScratch(c, gb); oy0 += rows; continue }
            Elementwise.padUpsampleRows(x.ptr, c: x.c, h: x.h, w: x.w, factor: c.upsample, pads: pads, mode: c.padMode,
                                        affines: affines, rowStart: oy0 * c.sh, rows: gb.hp, into: bandIn.base, pool: pool)
            convolve(c, bandIn.base, gb, into: y.ptr + oy0 * g.wo, yPlane: g.ho * g.wo)
            oy0 += rows
        }
        if !dryRun { addBias(c, y) }
    }

    /// The depthwise and direct kernels add the bias in their own pass; the matrix-product kernels do not.
    private func addBias(_ c: Plan.ConvStep, _ y: Activation) {
        if let b = c.bias, c.strategy != .depthwise && c.strategy != .direct { Convolution.addBias(y.ptr, channels: y.c, plane: y.plane, bias: b) }
    }

    private func perform(_ ins: Plan.Instruction, _ x: Activation, style: [Float], inPlace: Bool) throws -> Activation {
        switch ins.step {
        case .conv(let c):
            return try runConv(c, x, ins, style: style)
        case .convT(let c):
            guard x.c == c.cin else { throw fail(ins, "input has \(x.c) channels, weights expect \(c.cin)") }
            let ho: Int, wo: Int, pt: Int, pl: Int
            switch c.padding {
            case .tfSame:
                ho = x.h * c.sh; wo = x.w * c.sw
                pt = Session.tfSame(ho, k: c.kh, s: c.sh).0
                pl = Session.tfSame(wo, k: c.kw, s: c.sw).0
            case .explicit(let p):
                ho = (x.h - 1) * c.sh + c.kh + c.outputPaddingH - p.top - p.bottom
                wo = (x.w - 1) * c.sw + c.kw + c.outputPaddingW - p.left - p.right
                pt = p.top; pl = p.left
            }
            guard ho > 0, wo > 0 else { throw fail(ins, "output would be empty for input \(x.h)x\(x.w)") }
            let g = Convolution.TransposeGeometry(cin: c.cin, hin: x.h, win: x.w, cout: c.cout, kh: c.kh, kw: c.kw,
                                                  sh: c.sh, sw: c.sw, padTop: pt, padLeft: pl, ho: ho, wo: wo)
            let y = alloc(c.cout, ho, wo)
            lastRunMACs += c.cin * c.cout * c.kh * c.kw * x.h * x.w
            if dryRun { noteScratch(Convolution.transposedScratch(g)); return y }
            Convolution.transposed(x.ptr, g, weight: c.weight, into: y.ptr, workspace: workspace, pool: pool)
            if let b = c.bias { Convolution.addBias(y.ptr, channels: y.c, plane: y.plane, bias: b) }
            return y
        case .norm(let n):
            let params = try normParameters(.plain(n), channels: x.c, ins, style: style)
            let y = inPlace ? x : alloc(x.c, x.h, x.w)
            if dryRun { return y }
            Normalization.instanceNorm(x.ptr, channels: x.c, plane: x.plane, params, into: y.ptr, pool: pool)
            return y
        case .condNorm(let n):
            let params = try normParameters(.conditional(n), channels: x.c, ins, style: style)
            let y = inPlace ? x : alloc(x.c, x.h, x.w)
            if dryRun { return y }
            Normalization.instanceNorm(x.ptr, channels: x.c, plane: x.plane, params, into: y.ptr, pool: pool)
            return y
        case .relu:
            let y = inPlace ? x : alloc(x.c, x.h, x.w)
            if dryRun { return y }
            if !inPlace { y.ptr.update(from: x.ptr, count: x.count) }
            Elementwise.relu(y.ptr, y.count)
            return y
        case .add(let norm):
            let b = slots[ins.inputs[1]]!
            guard b.c == x.c, b.h == x.h, b.w == x.w else {
                throw fail(ins, "adds \(x.c)x\(x.h)x\(x.w) to \(b.c)x\(b.h)x\(b.w)")
            }
            let reuse = ins.releases.contains(ins.inputs[0]) && ins.inputs[0] != ins.inputs[1]
            let y = reuse ? x : alloc(x.c, x.h, x.w)
            if !dryRun {
                if let n = norm {
                    // The branch's moments first (they need all of it), then normalise-and-add per channel.
                    let params = try normParameters(n, channels: x.c, ins, style: style)
                    let plane = x.plane
                    pool.parallelFor(x.c) { ch in
                        let o = ch * plane
                        Elementwise.add(x.ptr + o, mappedBy: params.affine(channel: ch, of: x.ptr + o, count: plane), b.ptr + o,
                                        into: y.ptr + o, plane)
                    }
                } else {
                    Session.chunked(x.count, pool: pool) { Elementwise.add(x.ptr + $0, b.ptr + $0, into: y.ptr + $0, $1) }
                }
            }
            if reuse { slots[ins.inputs[0]] = nil }
            return y
        case .crop(let p):
            let ho = x.h - p.top - p.bottom, wo = x.w - p.left - p.right
            guard ho > 0, wo > 0 else { throw fail(ins, "crops all of a \(x.h)x\(x.w) input") }
            let y = alloc(x.c, ho, wo)
            if dryRun { return y }
            Elementwise.crop(x.ptr, c: x.c, h: x.h, w: x.w, pads: p, into: y.ptr)
            return y
        case .pad(let p, let m):
            let y = alloc(x.c, x.h + p.top + p.bottom, x.w + p.left + p.right)
            if dryRun { return y }
            Elementwise.pad(x.ptr, c: x.c, h: x.h, w: x.w, pads: p, mode: m, into: y.ptr, pool: pool)
            return y
        case .upsample(let f):
            let y = alloc(x.c, x.h * f, x.w * f)
            if dryRun { return y }
            Elementwise.upsampleNearest(x.ptr, c: x.c, h: x.h, w: x.w, factor: f, into: y.ptr)
            return y
        case .scalarAffine(let a, let b):
            let y = inPlace ? x : alloc(x.c, x.h, x.w)
            if dryRun { return y }
            Elementwise.scalarAffine(x.ptr, into: y.ptr, x.count, alpha: a, beta: b)
            return y
        case .channelAffine(let scale, let shift):
            let n = max(scale?.count ?? 0, shift?.count ?? 0)
            guard n == x.c || n == 1 else { throw fail(ins, "has \(n) channel values for a \(x.c)-channel input") }
            let y = inPlace ? x : alloc(x.c, x.h, x.w)
            if dryRun { return y }
            for c in 0..<x.c {
                let a = scale.map { $0[$0.count == 1 ? 0 : c] } ?? 1
                let b = shift.map { $0[$0.count == 1 ? 0 : c] } ?? 0
                Elementwise.scalarAffine(x.ptr + c * x.plane, into: y.ptr + c * x.plane, x.plane, alpha: a, beta: b)
            }
            return y
        case .tanh(let scale, let shift):
            let y = inPlace ? x : alloc(x.c, x.h, x.w)
            if dryRun { return y }
            Session.chunked(x.count, pool: pool) { Elementwise.tanh(x.ptr + $0, into: y.ptr + $0, $1, scale: scale, shift: shift) }
            return y
        case .sigmoid:
            let y = inPlace ? x : alloc(x.c, x.h, x.w)
            if dryRun { return y }
            Session.chunked(x.count, pool: pool) { Elementwise.sigmoid(x.ptr + $0, into: y.ptr + $0, $1) }
            return y
        case .maxPool(let k, let s):
            guard x.h >= k, x.w >= k else { throw fail(ins, "input \(x.h)x\(x.w) is smaller than the \(k)x\(k) window") }
            let y = alloc(x.c, (x.h - k) / s + 1, (x.w - k) / s + 1)
            if dryRun { return y }
            pool.parallelFor(x.c) { c in
                Elementwise.maxPool(x.ptr + c * x.plane, h: x.h, w: x.w, kernel: k, stride: s, into: y.ptr + c * y.plane)
            }
            return y
        case .clip(let lo, let hi):
            let y = inPlace ? x : alloc(x.c, x.h, x.w)
            if dryRun { return y }
            Session.chunked(x.count, pool: pool) { Elementwise.clip(x.ptr + $0, into: y.ptr + $0, $1, min: lo, max: hi) }
            return y
        case .globalAveragePool:
            let y = alloc(x.c, 1, 1)
            if dryRun { return y }
            let plane = x.plane
            pool.parallelFor(x.c) { c in
                var sum = 0.0
                let p = x.ptr + c * plane
                for i in 0..<plane { sum += Double(p[i]) }
                y.ptr[c] = Float(sum / Double(plane))
            }
            return y
        }
    }
}
