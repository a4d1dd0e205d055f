/// How `Session` runs one convolution step: a fused path for the shapes the style networks use most, else the
/// generic ones (the step's kernel on the input in place, or on padded bands of rows). One rule picks it, so
/// the session and the tests that every path is reached agree on which runs.
package enum ConvPath: String, CaseIterable, Sendable {
    /// A depthwise 3×3 and the 1×1 convolution that alone reads it, in bands (`Plan` folded the pair).
    case separable
    /// Nearest 2× upsample + depthwise 3×3: 2×2 sub-kernels on the small picture.
    case upsampledDepthwise3x3
    /// Nearest 2× upsample + direct 3×3 with one pixel of padding: each output parity a 2×2 direct convolution.
    case upsampledSubpixel
    /// Stride-2 3×3 with few channels: a 2×2 direct convolution over the input's four phases.
    case strideTwoPhases
    /// Depthwise 3×3 (stride 1 or 2, padded): each channel padded just before the kernel reads it.
    case depthwise3x3
    /// No padding, no upsampling: the step's kernel on the input where it is.
    case unpadded
    /// im2col in bands of output rows, each thread padding its rows and building its own patch matrix.
    case im2colBands
    /// Bands of padded (upsampled, normalised) rows, then the step's kernel on each band.
    case paddedBands

    /// The path of `step` with its padding resolved to `pads`; `vectorized` says whether the AVX2 kernels run
    /// here (the fused depthwise paths need them).
    static func choose(_ step: Plan.ConvStep, pads: Pads, vectorized: Bool) -> ConvPath {
        let f = step.upsample
        let square3x3 = step.kh == 3 && step.kw == 3
        if step.depthwise != nil { return .separable }
        if step.strategy == .depthwise && f == 2 && square3x3 && step.sh == 1 && step.sw == 1 && pads == .uniform(1) && vectorized {
            return .upsampledDepthwise3x3
        }
        if step.subpixel != nil && f == 2 && pads == .uniform(1) { return .upsampledSubpixel }
        if step.phased != nil && f == 1 { return .strideTwoPhases }
        if step.strategy == .depthwise && f == 1 && !pads.isZero && square3x3 && step.sh == step.sw && (step.sh == 1 || step.sh == 2)
            && vectorized {
            return .depthwise3x3
        }
        if pads.isZero && f == 1 { return .unpadded }
        if step.strategy == .im2col { return .im2colBands }
        return .paddedBands
    }

    /// The paths that read the input in place: a folded normalisation is applied to a copy first. The others
    /// apply it as they copy the input into padded rows.
    var readsInputInPlace: Bool { self == .unpadded || self == .strideTwoPhases }

    /// The kernel the path runs whatever the step's own strategy (nil: the step's strategy).
    var kernel: Plan.ConvStrategy? {
        switch self {
        case .separable, .upsampledDepthwise3x3, .depthwise3x3: .depthwise
        case .upsampledSubpixel, .strideTwoPhases: .direct
        case .im2colBands: .im2col
        case .unpadded, .paddedBands: nil
        }
    }
}

/// How many convolutions a session computed by path and by kernel.
package struct ConvolutionCounts: Sendable, Equatable {
    package var paths: [ConvPath: Int] = [:]
    package var kernels: [Plan.ConvStrategy: Int] = [:]
}
