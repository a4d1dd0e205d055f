import Foundation

/// A heap block of floats, 64-byte aligned for SIMD loads. Owned by exactly one `Workspace` or `Activation`.
final class FloatBuffer: @unchecked Sendable {
    let base: UnsafeMutablePointer<Float>
    let capacity: Int

    init(capacity: Int) {
        self.capacity = max(capacity, 1)
        let raw = UnsafeMutableRawPointer.allocate(byteCount: self.capacity * MemoryLayout<Float>.stride, alignment: 64)
        base = raw.bindMemory(to: Float.self, capacity: self.capacity)
    }

    deinit { UnsafeMutableRawPointer(base).deallocate() }
}

/// Reusable storage for one worker: buffers return here when a value dies and are handed out again for
/// the next value of the same size, so a steady stream of equally sized frames allocates nothing.
final class Workspace {
    private var free: [Int: [FloatBuffer]] = [:]
    /// Scratch areas (im2col columns, GEMM results) grow to the largest request and stay.
    private var scratch: [FloatBuffer?] = [nil, nil]

    func take(_ count: Int) -> FloatBuffer {
        if var list = free[count], let b = list.popLast() {
            free[count] = list
            return b
        }
        return FloatBuffer(capacity: count)
    }

    func give(_ buffer: FloatBuffer) {
        free[buffer.capacity, default: []].append(buffer)
    }

    /// Scratch slot `slot` with room for at least `count` floats; valid until the next call for that slot.
    func scratch(_ slot: Int, _ count: Int) -> UnsafeMutablePointer<Float> {
        if let b = scratch[slot], b.capacity >= count { return b.base }
        let b = FloatBuffer(capacity: count)
        scratch[slot] = b
        return b.base
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
