public import Pipeline

/// Which frames belong to one continuous shot as the pipeline knows it: frames whose keys differ are never
/// blended, whatever the pictures look like. `segment` changes on a source reconnect or a seek, `style` on a
/// style switch.
public struct Continuity: Hashable, Sendable {
    public var segment: Int
    public var style: Int

    public init(segment: Int = 0, style: Int = 0) {
        self.segment = segment
        self.style = style
    }
}

/// What a stylized frame carries to the smoothing stage: the guide of its input, where it belongs, and the
/// settings in force when it was stylized (so a live switch of smoothing applies from the same frame as a
/// style switch would). A frame without a tag is passed on untouched and clears the history.
public struct TemporalTag: Sendable {
    public var guide: TemporalGuide
    public var continuity: Continuity
    public var settings: SmoothingSettings

    public init(guide: TemporalGuide, continuity: Continuity, settings: SmoothingSettings) {
        self.guide = guide
        self.continuity = continuity
        self.settings = settings
    }
}

/// Why the smoother started a new history instead of blending.
public enum SmoothingReset: String, Sendable, CaseIterable {
    /// The first frame, or the first after frames without smoothing.
    case first
    /// The pipeline said so: a source reconnect, a seek, a file that starts over.
    case discontinuity
    /// The stylized picture changed its look: another model, style, strength or colour setting.
    case style
    /// The pictures say so: too little of the frame could be followed from the previous one.
    case sceneCut
    /// The picture size or the mode changed.
    case changed
}

/// What happened to one frame.
public enum SmoothingStep: Equatable, Sendable {
    /// Smoothing is off for this frame: untouched.
    case passedThrough
    /// Kept as it was and remembered as the start of a new history.
    case reset(SmoothingReset)
    /// Blended with the previous output; `trusted` is the share of the picture (0…1) where it was.
    case blended(trusted: Double)
}

/// Temporal smoothing of one stream of stylized frames: the per-frame algorithm and its history. Used by
/// `SmoothingStage` on its own thread, and directly by tests and the evaluator; not thread-safe.
///
/// Flow mode, for frame t with input guide Gₜ and stylized picture Sₜ:
/// 1. flows Gₜ→Gₜ₋₁ (backward, b) and Gₜ₋₁→Gₜ (forward, f) with DIS;
/// 2. trust per guide pixel x: zero where x + b(x) leaves the picture or the forward–backward check fails
///    (|b + f(x+b)|² > 0.01 (|b|² + |f|²) + 0.5, Sundaram et al. 2010: occlusions and flow errors), else falling
///    linearly from 1 to 0 as the inputs' warp residual |Gₜ(x) − Gₜ₋₁(x+b)| grows from `Tuning.residualTrusted` to
///    `Tuning.residualRejected` grey levels (lighting changes, flow that found the wrong match);
/// 3. a scene cut when less than `Tuning.cutTrust` of the picture is trusted: the history starts over;
/// 4. output Oₜ = Sₜ + a·trust·(W(Oₜ₋₁) − Sₜ), with W the previous *output* warped along b (bilinear, scaled
///    from guide to picture size) and a = strength × `SmoothingSettings.maxBlend`. Blending the previous
///    output, not the previous stylization, makes it a recursive filter along motion paths: strokes settle.
///
/// Still mode replaces 1–2 by trust from the unwarped inputs' largest difference |Gₜ − Gₜ₋₁| within
/// `Tuning.stillRadius` guide pixels of x, and blends the
/// unwarped previous output; a cut when the inputs differ by more than `Tuning.stillCutDifference` on average.
public final class TemporalSmoother {
    /// The thresholds, in grey levels of the guides and shares of the picture.
    public struct Tuning: Sendable, Equatable {
        public var residualTrusted: Float = 16, residualRejected: Float = 48
        public var stillTrusted: Float = 3, stillRejected: Float = 10
        /// Still mode looks at the largest change within this many guide pixels around each pixel, so the edge
        /// of something moving is not taken for a place where nothing changed.
        public var stillRadius = 1
        public var cutTrust = 0.25
        public var stillCutDifference = 30.0
        public init() {}
    }

    public let tuning: Tuning
    /// Pictures whose guide is smaller than this on a side pass through unsmoothed.
    public static let minimumGuideSide = 16
    private let flowPreset: DISFlow.Preset
    private var dis: DISFlow?
    // History: the previous output (own copy, buffer reused), its input guide, its key and settings.
    private var previousGuide: TemporalGuide?
    private var previousOutput: [UInt8] = []
    private var previousSize = (width: 0, height: 0)
    private var previousContinuity: Continuity?
    private var previousMode: SmoothingMode?
    // Scratch, reused across frames.
    private var backward = FlowField(width: 0, height: 0, vectors: [])
    private var forward = FlowField(width: 0, height: 0, vectors: [])
    private var trust: [Float] = []
    private var change: [UInt8] = []

    /// `flowPreset`: DIS's speed/accuracy preset on the guides (fast by default: measured well within budget).
    public init(flowPreset: DISFlow.Preset = .fast, tuning: Tuning = Tuning()) {
        self.flowPreset = flowPreset
        self.tuning = tuning
    }

    /// Forgets the history: the next frame starts a new one.
    public func reset() {
        previousGuide = nil
        previousContinuity = nil
        previousMode = nil
    }

    /// Smooths `image` in place (the stylized frame whose input is described by `tag`) and remembers it.
    @discardableResult
    public func process(_ image: inout RGBImage, tag: TemporalTag?) throws -> SmoothingStep {
        // Below `minimumGuideSide` there is too little picture for DIS's 8-pixel patches to say anything.
        guard let tag, !tag.settings.isOff, min(tag.guide.width, tag.guide.height) >= Self.minimumGuideSide else {
            reset()
            return .passedThrough
        }
        let reason: SmoothingReset?
        if previousGuide == nil { reason = .first }
        else if previousContinuity!.segment != tag.continuity.segment { reason = .discontinuity }
        else if previousContinuity!.style != tag.continuity.style { reason = .style }
        else if previousMode != tag.settings.mode || previousSize != (image.width, image.height)
                    || previousGuide!.width != tag.guide.width || previousGuide!.height != tag.guide.height { reason = .changed }
        else { reason = nil }

        var step: SmoothingStep
        if let reason {
            step = .reset(reason)
        } else {
            let previous = previousGuide!
            let trusted: Double
            let cut: Bool
            switch tag.settings.mode {
            case .flow:
                trusted = try flowTrust(current: tag.guide, previous: previous)
                cut = trusted < tuning.cutTrust
            case .still:
                let (t, difference) = stillTrust(current: tag.guide, previous: previous)
                trusted = t
                cut = difference > tuning.stillCutDifference
            }
            if cut {
                step = .reset(.sceneCut)
            } else {
                blend(&image, guideWidth: tag.guide.width, guideHeight: tag.guide.height,
                      alpha: Float(tag.settings.strength * SmoothingSettings.maxBlend), warp: tag.settings.mode == .flow)
                step = .blended(trusted: trusted)
            }
        }
        remember(image, tag: tag)
        return step
    }

    private func remember(_ image: RGBImage, tag: TemporalTag) {
        if previousOutput.count != image.pixels.count {
            previousOutput = image.pixels
        } else {
            previousOutput.withUnsafeMutableBufferPointer { dst in
                image.pixels.withUnsafeBufferPointer { src in dst.baseAddress!.update(from: src.baseAddress!, count: src.count) }
            }
        }
        previousSize = (image.width, image.height)
        previousGuide = tag.guide
        previousContinuity = tag.continuity
        previousMode = tag.settings.mode
    }

    // MARK: Trust

    /// Fills `trust` from the flows between the guides; returns the trusted share of the picture.
    private func flowTrust(current: TemporalGuide, previous: TemporalGuide) throws -> Double {
        if dis == nil { dis = try DISFlow(preset: flowPreset) }
        try dis!.flow(from: current, to: previous, into: &backward)
        try dis!.flow(from: previous, to: current, into: &forward)
        let w = current.width, h = current.height
        if trust.count != w * h { trust = [Float](repeating: 0, count: w * h) }
        let r0 = tuning.residualTrusted, span = tuning.residualRejected - tuning.residualTrusted
        var total: Double = 0
        current.pixels.withUnsafeBufferPointer { cur in
            previous.pixels.withUnsafeBufferPointer { prev in
                backward.vectors.withUnsafeBufferPointer { b in
                    forward.vectors.withUnsafeBufferPointer { f in
                        trust.withUnsafeMutableBufferPointer { t in
                            for y in 0..<h {
                                var rowTotal: Float = 0
                                for x in 0..<w {
                                    let i = y * w + x
                                    let bx = b[2 * i], by = b[2 * i + 1]
                                    let px = Float(x) + bx, py = Float(y) + by
                                    guard px >= 0, py >= 0, px <= Float(w - 1), py <= Float(h - 1) else { t[i] = 0; continue }
                                    let (fx, fy) = FlowField.sample(f, width: w, height: h, px, py)
                                    let ex = bx + fx, ey = by + fy
                                    guard ex * ex + ey * ey <= 0.01 * (bx * bx + by * by + fx * fx + fy * fy) + 0.5 else { t[i] = 0; continue }
                                    let residual = abs(Float(cur[i]) - Self.sampleGrey(prev, width: w, height: h, px, py))
                                    let value = min(max((r0 + span - residual) / span, 0), 1)
                                    t[i] = value
                                    rowTotal += value
                                }
                                total += Double(rowTotal)
                            }
                        }
                    }
                }
            }
        }
        return total / Double(w * h)
    }

    /// Fills `trust` from the unwarped difference of the guides; returns the trusted share and the mean
    /// difference in grey levels.
    private func stillTrust(current: TemporalGuide, previous: TemporalGuide) -> (Double, Double) {
        let w = current.width, h = current.height, n = w * h, radius = tuning.stillRadius
        if trust.count != n { trust = [Float](repeating: 0, count: n) }
        if change.count != n { change = [UInt8](repeating: 0, count: n) }
        let r0 = tuning.stillTrusted, span = tuning.stillRejected - tuning.stillTrusted
        var total: Double = 0, difference = 0
        current.pixels.withUnsafeBufferPointer { cur in
            previous.pixels.withUnsafeBufferPointer { prev in
                change.withUnsafeMutableBufferPointer { d in
                    for i in 0..<n {
                        let v = abs(Int(cur[i]) - Int(prev[i]))
                        difference += v
                        d[i] = UInt8(v)
                    }
                    trust.withUnsafeMutableBufferPointer { t in
                        for y in 0..<h {
                            for x in 0..<w {
                                var largest: UInt8 = 0
                                for yy in max(0, y - radius)...min(h - 1, y + radius) {
                                    for xx in max(0, x - radius)...min(w - 1, x + radius) { largest = max(largest, d[yy * w + xx]) }
                                }
                                let value = min(max((r0 + span - Float(largest)) / span, 0), 1)
                                t[y * w + x] = value
                                total += Double(value)
                            }
                        }
                    }
                }
            }
        }
        return (total / Double(n), Double(difference) / Double(n))
    }

    @inline(__always)
    static func sampleGrey(_ p: UnsafeBufferPointer<UInt8>, width: Int, height: Int, _ x: Float, _ y: Float) -> Float {
        let x0 = min(Int(x), width - 1), y0 = min(Int(y), height - 1)
        let x1 = min(x0 + 1, width - 1), y1 = min(y0 + 1, height - 1)
        let fx = x - Float(x0), fy = y - Float(y0)
        let top = Float(p[y0 * width + x0]) + (Float(p[y0 * width + x1]) - Float(p[y0 * width + x0])) * fx
        let bottom = Float(p[y1 * width + x0]) + (Float(p[y1 * width + x1]) - Float(p[y1 * width + x0])) * fx
        return top + (bottom - top) * fy
    }

    @inline(__always)
    static func sampleTrust(_ t: UnsafeBufferPointer<Float>, width: Int, height: Int, _ x: Float, _ y: Float) -> Float {
        let cx = min(max(x, 0), Float(width - 1)), cy = min(max(y, 0), Float(height - 1))
        let x0 = Int(cx), y0 = Int(cy)
        let x1 = min(x0 + 1, width - 1), y1 = min(y0 + 1, height - 1)
        let fx = cx - Float(x0), fy = cy - Float(y0)
        let top = t[y0 * width + x0] + (t[y0 * width + x1] - t[y0 * width + x0]) * fx
        let bottom = t[y1 * width + x0] + (t[y1 * width + x1] - t[y1 * width + x0]) * fx
        return top + (bottom - top) * fy
    }

    // MARK: Warp and blend

    /// Oₜ = Sₜ + alpha·trust·(W(Oₜ₋₁) − Sₜ) at the picture's size: trust and flow are sampled bilinearly from the
    /// guide grid (guide pixel centres mapped onto picture pixel centres), flow vectors scaled to picture pixels.
    /// Pixels whose source falls outside the previous picture, or whose weight is below half a grey level's
    /// worth, keep the stylized value exactly.
    private func blend(_ image: inout RGBImage, guideWidth gw: Int, guideHeight gh: Int, alpha: Float, warp: Bool) {
        let width = image.width, height = image.height
        let sx = Float(width) / Float(gw), sy = Float(height) / Float(gh)
        let lastX = Float(width - 1), lastY = Float(height - 1)
        previousOutput.withUnsafeBufferPointer { prev in
            trust.withUnsafeBufferPointer { t in
                backward.vectors.withUnsafeBufferPointer { b in
                    image.pixels.withUnsafeMutableBufferPointer { out in
                        for y in 0..<height {
                            let gy = (Float(y) + 0.5) / sy - 0.5
                            for x in 0..<width {
                                let gx = (Float(x) + 0.5) / sx - 0.5
                                let weight = alpha * Self.sampleTrust(t, width: gw, height: gh, gx, gy)
                                if weight < 1.0 / 512 { continue }
                                let o = (y * width + x) * 3
                                var px = Float(x), py = Float(y)
                                if warp {
                                    let (u, v) = FlowField.sample(b, width: gw, height: gh, gx, gy)
                                    px += u * sx
                                    py += v * sy
                                    guard px >= 0, py >= 0, px <= lastX, py <= lastY else { continue }
                                    let x0 = Int(px), y0 = Int(py)
                                    let x1 = min(x0 + 1, width - 1), y1 = min(y0 + 1, height - 1)
                                    let fx = px - Float(x0), fy = py - Float(y0)
                                    let a = (y0 * width + x0) * 3, bb = (y0 * width + x1) * 3
                                    let c = (y1 * width + x0) * 3, d = (y1 * width + x1) * 3
                                    for ch in 0..<3 {
                                        let top = Float(prev[a + ch]) + (Float(prev[bb + ch]) - Float(prev[a + ch])) * fx
                                        let bottom = Float(prev[c + ch]) + (Float(prev[d + ch]) - Float(prev[c + ch])) * fx
                                        let warped = top + (bottom - top) * fy
                                        let s = Float(out[o + ch])
                                        out[o + ch] = UInt8(min(max(s + weight * (warped - s) + 0.5, 0), 255))
                                    }
                                } else {
                                    for ch in 0..<3 {
                                        let s = Float(out[o + ch])
                                        out[o + ch] = UInt8(min(max(s + weight * (Float(prev[o + ch]) - s) + 0.5, 0), 255))
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
