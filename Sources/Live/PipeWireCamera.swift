internal import CPipeWireCamera
import Foundation
import Pipeline

/// A `camera:` output: a PipeWire video source node (`media.class = Video/Source`) showing the stylized
/// pictures, which browsers and OBS list as a camera through the camera portal and `pipewiresrc` or `pw-cat`
/// read. Pictures are offered as RGB at the pipeline's size; a reader gets the newest at each of its cycles (a
/// picture nobody reads costs one copy). Needs a PipeWire daemon in the session (`XDG_RUNTIME_DIR`).
final class PipeWireCamera: CameraSink {
    let name: String
    let width: Int
    let height: Int
    private var camera: OpaquePointer?

    /// Blocks until PipeWire accepted the node (milliseconds; at most `timeout`).
    init(name: String, width: Int, height: Int, frameRate: Int, timeout: Duration = .seconds(5)) throws {
        self.name = name
        self.width = width
        self.height = height
        var error = [CChar](repeating: 0, count: 256)
        guard let opened = sd_camera_open(name, Int32(width), Int32(height), Int32(max(1, frameRate)),
                                          Int32(clamping: timeout.nanoseconds / 1_000_000), &error, error.count) else {
            throw CameraError("camera '\(name)': " + String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        camera = opened
    }

    deinit { close() }

    func fits(_ image: RGBImage) -> Bool { image.width == width && image.height == height }

    /// Pictures readers have taken.
    var delivered: UInt64 { camera.map { sd_camera_delivered($0) } ?? 0 }

    func write(_ image: RGBImage) throws {
        guard let camera else { throw CameraError("camera '\(name)': closed") }
        guard image.width == width, image.height == height else { throw CameraError("camera '\(name)': the picture size changed") }
        let result = image.pixels.withUnsafeBufferPointer { sd_camera_push_rgb(camera, $0.baseAddress, width * 3) }
        if result != 0 { throw CameraError("camera '\(name)': " + (sd_camera_failure(camera).map { String(cString: $0) } ?? "failed")) }
    }

    func close() {
        if let camera { sd_camera_close(camera) }
        camera = nil
    }
}

/// Why a camera output cannot show a picture, in one line.
struct CameraError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// What a `camera:` output writes to: a PipeWire node or a v4l2loopback device, opened at one picture size.
protocol CameraSink: AnyObject {
    /// Whether pictures of this size go to this camera as opened (else it is reopened at the new size).
    func fits(_ image: RGBImage) -> Bool
    func write(_ image: RGBImage) throws
    func close()
}
