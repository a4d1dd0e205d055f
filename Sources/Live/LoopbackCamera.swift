import CV4L2
import Foundation
public import Pipeline

/// A `camera: /dev/videoN` output: a v4l2loopback device, written YUYV (4:2:2, BT.601 limited range, what
/// webcams send and every V4L2 reader takes) with plain `write`. The device must exist and be a video output
/// (v4l2loopback's are); otherwise opening fails with a message that says what is missing.
///
/// Not run against a device here: this machine's kernel has no module support (no v4l2loopback, no `/dev/video*`),
/// so only the refusals and the YUYV packing are tested. PipeWire cameras (`camera: NAME`) are, fully.
public final class LoopbackCamera: CameraSink {
    let path: String
    let width: Int
    let height: Int
    private var fd: Int32
    private var packed: [UInt8]

    init(path: String, width: Int, height: Int) throws {
        self.path = path
        self.width = width & ~1
        self.height = height
        guard FileManager.default.fileExists(atPath: path) else {
            throw CameraError("camera '\(path)': no such device: load v4l2loopback (modprobe v4l2loopback video_nr=N) or name a PipeWire camera instead")
        }
        fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw CameraError("camera '\(path)': cannot open: \(String(cString: strerror(errno)))") }
        packed = []
        var capability = v4l2_capability()
        guard streamd_v4l2_querycap(fd, &capability) == 0 else {
            Glibc.close(fd)
            throw CameraError("camera '\(path)': not a V4L2 device")
        }
        let caps = capability.capabilities & UInt32(V4L2_CAP_DEVICE_CAPS) != 0 ? capability.device_caps : capability.capabilities
        guard caps & UInt32(V4L2_CAP_VIDEO_OUTPUT) != 0 else {
            Glibc.close(fd)
            throw CameraError("camera '\(path)': not a video output device (a v4l2loopback device is one; a webcam is not)")
        }
        var format = v4l2_format()
        format.type = V4L2_BUF_TYPE_VIDEO_OUTPUT.rawValue
        format.fmt.pix.width = UInt32(self.width)
        format.fmt.pix.height = UInt32(height)
        format.fmt.pix.pixelformat = Self.fourcc("YUYV")
        format.fmt.pix.field = V4L2_FIELD_NONE.rawValue
        format.fmt.pix.bytesperline = UInt32(self.width * 2)
        format.fmt.pix.sizeimage = UInt32(self.width * 2 * height)
        format.fmt.pix.colorspace = V4L2_COLORSPACE_SMPTE170M.rawValue
        guard streamd_v4l2_s_fmt(fd, &format) == 0 else {
            let why = String(cString: strerror(errno))
            Glibc.close(fd)
            throw CameraError("camera '\(path)': the device refuses \(self.width)x\(height) YUYV: \(why)")
        }
    }

    deinit { close() }

    func fits(_ image: RGBImage) -> Bool { image.width & ~1 == width && image.height == height }

    func write(_ image: RGBImage) throws {
        guard fd >= 0 else { throw CameraError("camera '\(path)': closed") }
        guard fits(image) else { throw CameraError("camera '\(path)': the picture size changed") }
        Self.packYUYV(image, into: &packed)
        let written = packed.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        // A reader that is not keeping up: this picture is dropped, as a webcam would drop it.
        if written < 0 && errno != EAGAIN {
            throw CameraError("camera '\(path)': \(String(cString: strerror(errno)))")
        }
    }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    static func fourcc(_ code: String) -> UInt32 {
        code.utf8.enumerated().reduce(0) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) }
    }

    /// RGB to YUYV 4:2:2 (BT.601, limited range), two pixels per four bytes (Y0 U Y1 V, chroma averaged over the
    /// pair); an odd last column is left out. The one conversion of this output, checked against FFmpeg's.
    public static func packYUYV(_ image: RGBImage, into out: inout [UInt8]) {
        let w = image.width & ~1, h = image.height
        if out.count != w * 2 * h { out = [UInt8](repeating: 0, count: w * 2 * h) }
        func clamp(_ v: Double) -> UInt8 { UInt8(max(0, min(255, v.rounded()))) }
        image.pixels.withUnsafeBufferPointer { rgb in
            out.withUnsafeMutableBufferPointer { yuyv in
                for y in 0..<h {
                    for x in stride(from: 0, to: w, by: 2) {
                        let a = (y * image.width + x) * 3, b = a + 3
                        let (r0, g0, b0) = (Double(rgb[a]), Double(rgb[a + 1]), Double(rgb[a + 2]))
                        let (r1, g1, b1) = (Double(rgb[b]), Double(rgb[b + 1]), Double(rgb[b + 2]))
                        let y0 = 16 + (65.481 * r0 + 128.553 * g0 + 24.966 * b0) / 255
                        let y1 = 16 + (65.481 * r1 + 128.553 * g1 + 24.966 * b1) / 255
                        let (r, g, bl) = ((r0 + r1) / 2, (g0 + g1) / 2, (b0 + b1) / 2)
                        let u = 128 + (-37.797 * r - 74.203 * g + 112.0 * bl) / 255
                        let v = 128 + (112.0 * r - 93.786 * g - 18.214 * bl) / 255
                        let o = (y * w + x) * 2
                        yuyv[o] = clamp(y0); yuyv[o + 1] = clamp(u); yuyv[o + 2] = clamp(y1); yuyv[o + 3] = clamp(v)
                    }
                }
            }
        }
    }
}
