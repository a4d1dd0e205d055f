internal import CDISFlow

/// A dense motion field: for every pixel of the picture it was computed *from*, where that pixel is in the
/// picture it was computed *to*, as (dx, dy) in pixels.
public struct FlowField: Sendable {
    public var width: Int
    public var height: Int
    /// `width * height` pairs (dx, dy), row-major.
    public var vectors: [Float]

    public init(width: Int, height: Int, vectors: [Float]) {
        precondition(vectors.count == width * height * 2)
        self.width = width
        self.height = height
        self.vectors = vectors
    }

    /// The vector at (x, y) interpolated bilinearly, coordinates clamped to the field.
    @inline(__always)
    func sample(_ x: Float, _ y: Float) -> (Float, Float) {
        vectors.withUnsafeBufferPointer { FlowField.sample($0, width: width, height: height, x, y) }
    }

    @inline(__always)
    static func sample(_ v: UnsafeBufferPointer<Float>, width: Int, height: Int, _ x: Float, _ y: Float) -> (Float, Float) {
        let cx = min(max(x, 0), Float(width - 1)), cy = min(max(y, 0), Float(height - 1))
        let x0 = Int(cx), y0 = Int(cy)
        let x1 = min(x0 + 1, width - 1), y1 = min(y0 + 1, height - 1)
        let fx = cx - Float(x0), fy = cy - Float(y0)
        let a = (y0 * width + x0) * 2, b = (y0 * width + x1) * 2, c = (y1 * width + x0) * 2, d = (y1 * width + x1) * 2
        let top0 = v[a] + (v[b] - v[a]) * fx, bottom0 = v[c] + (v[d] - v[c]) * fx
        let top1 = v[a + 1] + (v[b + 1] - v[a + 1]) * fx, bottom1 = v[c + 1] + (v[d + 1] - v[c + 1]) * fx
        return (top0 + (bottom0 - top0) * fy, top1 + (bottom1 - top1) * fy)
    }
}

/// Why a flow could not be computed, in one line.
public struct TemporalError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// OpenCV's DIS optical flow (dense inverse search, Kroeger et al. 2016) through the `CDISFlow` shim: fast
/// enough for video on a CPU, which is why it was chosen over Farnebäck or TV-L1. One instance per thread;
/// the C object is freed exactly once, in `deinit`.
public final class DISFlow {
    /// Speed against accuracy, OpenCV's presets.
    public enum Preset: Int32, Sendable {
        case ultrafast = 0, fast = 1, medium = 2
    }

    private let handle: OpaquePointer
    public let preset: Preset

    public init(preset: Preset = .fast) throws {
        var message = [CChar](repeating: 0, count: 256)
        guard let handle = streamd_dis_create(preset.rawValue, &message, message.count) else {
            throw TemporalError("optical flow: cannot create DIS: \(String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))")
        }
        self.handle = handle
        self.preset = preset
    }

    deinit { streamd_dis_destroy(handle) }

    /// The flow from `from` to `to` (same size): from(x) ≈ to(x + flow(x)). `into` is reused when it already
    /// has the right size, so a running stage allocates no flow buffers per frame.
    public func flow(from: TemporalGuide, to: TemporalGuide, into field: inout FlowField) throws {
        precondition(from.width == to.width && from.height == to.height, "flow between pictures of different sizes")
        try flow(from: from.pixels, to: to.pixels, width: from.width, height: from.height, into: &field)
    }

    /// The same for raw grey pictures of `width`×`height` bytes (the evaluator's full-size frames).
    public func flow(from: [UInt8], to: [UInt8], width: Int, height: Int, into field: inout FlowField) throws {
        precondition(from.count == width * height && to.count == width * height, "flow between pictures of different sizes")
        if field.width != width || field.height != height {
            field = FlowField(width: width, height: height, vectors: [Float](repeating: 0, count: width * height * 2))
        }
        var message = [CChar](repeating: 0, count: 256)
        let status = from.withUnsafeBufferPointer { a in
            to.withUnsafeBufferPointer { b in
                field.vectors.withUnsafeMutableBufferPointer { out in
                    streamd_dis_calc(handle, a.baseAddress, b.baseAddress, Int32(width), Int32(height), Int32(width),
                                     out.baseAddress, &message, message.count)
                }
            }
        }
        guard status == 0 else {
            throw TemporalError("optical flow on \(width)x\(height): \(String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))")
        }
    }

    public func flow(from: TemporalGuide, to: TemporalGuide) throws -> FlowField {
        var field = FlowField(width: from.width, height: from.height, vectors: [Float](repeating: 0, count: from.width * from.height * 2))
        try flow(from: from, to: to, into: &field)
        return field
    }
}
