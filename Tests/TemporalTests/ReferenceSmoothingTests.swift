import Pipeline
import Temporal
import XCTest

/// The smoother's unsafe-pointer loops against a naive reference written straight from the formulas in
/// `TemporalSmoother`'s documentation (Double arithmetic, arrays, no shortcuts), on real frames.
final class ReferenceSmoothingTests: XCTestCase {
    /// One smoothing step done the plain way: previous output `previous`, current stylization `current`.
    func reference(previous: RGBImage, current: RGBImage, guides: (TemporalGuide, TemporalGuide), strength: Double) throws -> RGBImage {
        let (g0, g1) = guides
        let dis = try DISFlow(preset: .fast)
        let b = try dis.flow(from: g1, to: g0), f = try dis.flow(from: g0, to: g1)
        let (gw, gh) = (g1.width, g1.height)
        let tuning = TemporalSmoother.Tuning()
        func bilinear(_ value: (Int, Int) -> Double, _ x: Double, _ y: Double) -> Double {
            let cx = min(max(x, 0), Double(gw - 1)), cy = min(max(y, 0), Double(gh - 1))
            let x0 = Int(cx), y0 = Int(cy), x1 = min(x0 + 1, gw - 1), y1 = min(y0 + 1, gh - 1)
            let fx = cx - Double(x0), fy = cy - Double(y0)
            return (value(x0, y0) * (1 - fx) + value(x1, y0) * fx) * (1 - fy) + (value(x0, y1) * (1 - fx) + value(x1, y1) * fx) * fy
        }
        func vector(_ field: FlowField, _ x: Double, _ y: Double) -> (Double, Double) {
            (bilinear({ Double(field.vectors[2 * ($1 * gw + $0)]) }, x, y), bilinear({ Double(field.vectors[2 * ($1 * gw + $0) + 1]) }, x, y))
        }
        var trust = [Double](repeating: 0, count: gw * gh)
        for y in 0..<gh { for x in 0..<gw {
            let (bx, by) = (Double(b.vectors[2 * (y * gw + x)]), Double(b.vectors[2 * (y * gw + x) + 1]))
            let (px, py) = (Double(x) + bx, Double(y) + by)
            guard px >= 0, py >= 0, px <= Double(gw - 1), py <= Double(gh - 1) else { continue }
            let (fx, fy) = vector(f, px, py)
            guard (bx + fx) * (bx + fx) + (by + fy) * (by + fy) <= 0.01 * (bx * bx + by * by + fx * fx + fy * fy) + 0.5 else { continue }
            let residual = abs(Double(g1.pixels[y * gw + x]) - bilinear({ Double(g0.pixels[$1 * gw + $0]) }, px, py))
            let (r0, r1) = (Double(tuning.residualTrusted), Double(tuning.residualRejected))
            trust[y * gw + x] = min(max((r1 - residual) / (r1 - r0), 0), 1)
        } }
        let (w, h) = (current.width, current.height)
        let (sx, sy) = (Double(w) / Double(gw), Double(h) / Double(gh))
        var out = current
        for y in 0..<h { for x in 0..<w {
            let (gx, gy) = ((Double(x) + 0.5) / sx - 0.5, (Double(y) + 0.5) / sy - 0.5)
            let weight = strength * SmoothingSettings.maxBlend * bilinear({ trust[$1 * gw + $0] }, gx, gy)
            guard weight >= 1.0 / 512 else { continue }
            let (u, v) = vector(b, gx, gy)
            let (px, py) = (Double(x) + u * sx, Double(y) + v * sy)
            guard px >= 0, py >= 0, px <= Double(w - 1), py <= Double(h - 1) else { continue }
            let x0 = Int(px), y0 = Int(py), x1 = min(x0 + 1, w - 1), y1 = min(y0 + 1, h - 1)
            let (ax, ay) = (px - Double(x0), py - Double(y0))
            for c in 0..<3 {
                func p(_ x: Int, _ y: Int) -> Double { Double(previous.pixels[(y * w + x) * 3 + c]) }
                let warped = (p(x0, y0) * (1 - ax) + p(x1, y0) * ax) * (1 - ay) + (p(x0, y1) * (1 - ax) + p(x1, y1) * ax) * ay
                let s = Double(current.pixels[(y * w + x) * 3 + c])
                out.pixels[(y * w + x) * 3 + c] = UInt8(min(max((s + weight * (warped - s)).rounded(), 0), 255))
            }
        } }
        return out
    }

    /// At the guide's own size (carphone, 176×144) and with a guide half the picture's size (the webcam-like
    /// clip scaled to 352×264, guide 176×132): every sample within one grey level of the reference, nearly all
    /// equal.
    func testOptimizedBlendMatchesTheNaiveReference() throws {
        for (file, size) in [("carphone_h264_176x144.mp4", nil), ("asl_again_h264_640x480.mkv", (352, 264) as (Int, Int)?)] {
            let clip = try Clips.clip(file, frames: size == nil ? 16 : 2, size: size)
            let guides = (TemporalGuide(reducing: clip.originals[0]), TemporalGuide(reducing: clip.originals[1]))
            XCTAssertEqual(guides.1.width, size.map { $0.0 / 2 } ?? clip.originals[0].width, file)
            let smoother = TemporalSmoother()
            let settings = SmoothingSettings(strength: 0.8)
            var first = clip.stylized[0], second = clip.stylized[1]
            try smoother.process(&first, tag: TemporalTag(guide: guides.0, continuity: Continuity(), settings: settings))
            let step = try smoother.process(&second, tag: TemporalTag(guide: guides.1, continuity: Continuity(), settings: settings))
            guard case .blended = step else { return XCTFail("\(file): \(step)") }
            let expected = try reference(previous: clip.stylized[0], current: clip.stylized[1], guides: guides, strength: 0.8)
            var differing = 0, worst = 0
            for (a, b) in zip(second.pixels, expected.pixels) where a != b {
                differing += 1
                worst = max(worst, abs(Int(a) - Int(b)))
            }
            XCTAssertLessThanOrEqual(worst, 1, file)
            XCTAssertLessThan(Double(differing) / Double(expected.pixels.count), 0.01, file)
            XCTAssertNotEqual(expected, clip.stylized[1], "\(file): the reference blends too")
        }
    }
}
