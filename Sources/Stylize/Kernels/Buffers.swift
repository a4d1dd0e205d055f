import Foundation

/// A heap block of floats, 64-byte aligned for SIMD loads. Owned by exactly one `Workspace` or `Activation`.
final class FloatBuffer: @unchecked Sendable {
    let base: UnsafeMutablePointer<Float>
    let capacity: Int
    private let owned: Bool

    init(capacity: Int) {
        self.capacity = max(capacity, 1)
        let raw = UnsafeMutableRawPointer.allocate(byteCount: self.capacity * MemoryLayout<Float>.stride, alignment: 64)
        base = raw.bindMemory(to: Float.self, capacity: self.capacity)
        owned = true
    }

    /// A buffer that only records its size (for counting runs, which never touch activations).
    private init(phantom capacity: Int) {
        self.capacity = max(capacity, 1)
        base = FloatBuffer.phantomBase
        owned = false
    }

    static func phantom(_ capacity: Int) -> FloatBuffer { FloatBuffer(phantom: capacity) }

    private nonisolated(unsafe) static let phantomBase = UnsafeMutablePointer<Float>.allocate(capacity: 1)

    deinit { if owned { UnsafeMutableRawPointer(base).deallocate() } }
}

/// Reusable storage for one worker: buffers return here when a value dies and are handed out again for
/// the next value of the same or a somewhat smaller size, so a steady stream of equally sized frames
/// allocates nothing.
///
/// Free buffers are kept only while the memory held (live plus free) stays within the highest live total
/// seen so far plus `slack`: when a request finds no free buffer of its size and keeping the free ones
/// would exceed that, the largest free buffers are released first. So a worker never holds much more than
/// the true peak of what one run needs at once, however many distinct sizes a frame goes through.
package final class Workspace {
    private var free: [Int: [FloatBuffer]] = [:]
    /// Scratch areas (im2col columns, GEMM results) grow to the largest request and stay.
    private var scratch: [FloatBuffer?] = [nil, nil]

    package init() {}

    /// Floats in buffers handed out and not yet given back, in free lists, and the most ever handed out at once.
    private(set) var liveFloats = 0
    private(set) var freeFloats = 0
    private(set) var peakLiveFloats = 0
    /// Buffers allocated so far (a steady stream of one frame size stops adding to it).
    private(set) var allocations = 0
    /// Floats the free lists may hold beyond the peak live total (keeps small frames from reallocating).
    var slack = 1 << 24

    /// When true, `take` hands out phantom buffers and `scratch` only records sizes: a run in this mode
    /// measures what a real one would need without allocating it (see `Session.estimatedPeakBytes`).
    private(set) var counting = false
    /// Largest request seen per scratch slot while counting.
    private(set) var scratchPeak = [0, 0]

    func take(_ count: Int) -> FloatBuffer {
        let n = max(count, 1)
        if counting {
            note(live: n)
            return .phantom(n)
        }
        // The free buffer of the nearest size at or up to twice the request: the residual blocks of
        // valid-convolution networks shrink by a row and column per layer, and a frame's layers come in a
        // few sizes that should share buffers rather than each keep their own.
        var fit = free[n] != nil ? n : nil
        if fit == nil {
            for size in free.keys where size > n && size <= 2 * n && size < (fit ?? .max) { fit = size }
        }
        if let fit, var list = free[fit], let b = list.popLast() {
            free[fit] = list.isEmpty ? nil : list
            freeFloats -= fit
            note(live: fit)
            return b
        }
        let limit = max(peakLiveFloats, liveFloats + n) + slack
        while liveFloats + freeFloats + n > limit, let largest = free.keys.max() {
            var list = free[largest]!
            list.removeLast()
            free[largest] = list.isEmpty ? nil : list
            freeFloats -= largest
        }
        note(live: n)
        allocations += 1
        return FloatBuffer(capacity: n)
    }

    func give(_ buffer: FloatBuffer) {
        liveFloats -= buffer.capacity
        if counting { return }
        free[buffer.capacity, default: []].append(buffer)
        freeFloats += buffer.capacity
    }

    private func note(live n: Int) {
        liveFloats += n
        peakLiveFloats = max(peakLiveFloats, liveFloats)
    }

    /// Floats held per scratch slot.
    var scratchCapacity: [Int] { scratch.map { $0?.capacity ?? 0 } }

    /// Scratch slot `slot` with room for at least `count` floats; valid until the next call for that slot.
    package func scratch(_ slot: Int, _ count: Int) -> UnsafeMutablePointer<Float> {
        if counting {
            scratchPeak[slot] = max(scratchPeak[slot], count)
            return FloatBuffer.phantom(1).base
        }
        if let b = scratch[slot], b.capacity >= count { return b.base }
        scratch[slot] = nil
        let b = FloatBuffer(capacity: count)
        scratch[slot] = b
        return b.base
    }

    /// Runs `body` in counting mode and returns the most floats it had live at once and the largest request
    /// per scratch slot. Buffers taken inside must all be given back inside.
    func count(_ body: () throws -> Void) rethrows -> (peakLive: Int, scratch: [Int]) {
        precondition(!counting && liveFloats == 0, "counting needs an idle workspace")
        let savedPeak = peakLiveFloats
        counting = true
        peakLiveFloats = 0
        scratchPeak = [0, 0]
        defer {
            counting = false
            liveFloats = 0
            peakLiveFloats = savedPeak
        }
        try body()
        return (peakLiveFloats, scratchPeak)
    }
}

/// A C×H×W activation (one image, channels planar).
struct Activation {
    var c: Int, h: Int, w: Int
    var buffer: FloatBuffer
    var ptr: UnsafeMutablePointer<Float> { buffer.base }
    var plane: Int { h * w }
    var count: Int { c * h * w }
}
