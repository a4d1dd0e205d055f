internal import CV4L2
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A V4L2 video capture device (a webcam or capture card) and what it can deliver.
public struct VideoDevice: Sendable, Equatable {
    public var path: String
    /// The device's name (`card`), driver and bus (e.g. `HD Webcam`, `uvcvideo`, `usb-0000:00:14.0-1`).
    public var card: String
    public var driver: String
    public var busInfo: String
    public var formats: [Format]

    public init(path: String, card: String, driver: String, busInfo: String, formats: [Format]) {
        self.path = path
        self.card = card
        self.driver = driver
        self.busInfo = busInfo
        self.formats = formats
    }

    public struct Format: Sendable, Equatable {
        /// Four-character code, e.g. `MJPG`, `YUYV`.
        public var fourcc: String
        /// The driver's description, e.g. `Motion-JPEG`.
        public var description: String
        public var compressed: Bool
        /// Discrete sizes the device lists, in its order.
        public var sizes: [FrameSize]
        /// For devices that take any size in a range (stepwise or continuous) instead.
        public var sizeRange: SizeRange?

        public init(fourcc: String, description: String, compressed: Bool, sizes: [FrameSize], sizeRange: SizeRange? = nil) {
            self.fourcc = fourcc
            self.description = description
            self.compressed = compressed
            self.sizes = sizes
            self.sizeRange = sizeRange
        }
    }

    public struct FrameSize: Sendable, Equatable {
        public var width: Int
        public var height: Int
        /// Discrete frame rates (frames per second) the device lists for this size, in its order.
        public var frameRates: [Double]
        /// For a continuous or stepwise range of frame intervals instead: slowest and fastest rate.
        public var frameRateRange: ClosedRange<Double>?

        public init(width: Int, height: Int, frameRates: [Double], frameRateRange: ClosedRange<Double>? = nil) {
            self.width = width
            self.height = height
            self.frameRates = frameRates
            self.frameRateRange = frameRateRange
        }
    }

    public struct SizeRange: Sendable, Equatable {
        public var minWidth: Int, maxWidth: Int, stepWidth: Int
        public var minHeight: Int, maxHeight: Int, stepHeight: Int

        public init(minWidth: Int, maxWidth: Int, stepWidth: Int, minHeight: Int, maxHeight: Int, stepHeight: Int) {
            (self.minWidth, self.maxWidth, self.stepWidth) = (minWidth, maxWidth, stepWidth)
            (self.minHeight, self.maxHeight, self.stepHeight) = (minHeight, maxHeight, stepHeight)
        }
    }
}

extension VideoDevice {
    /// What `streamd devices` prints for the device, one line for it and one per format:
    /// ```
    /// /dev/video0: HD Webcam (uvcvideo, usb-0000:00:14.0-1)
    ///   MJPG (Motion-JPEG, compressed): 1280x720 @ 30, 15 fps; 640x480 @ 30, 15 fps
    ///   YUYV (YUYV 4:2:2): 640x480 @ 30 fps
    /// ```
    public var listing: String {
        var s = "\(path): \(card) (\(driver), \(busInfo))\n"
        if formats.isEmpty { s += "  no capture formats listed\n" }
        for f in formats {
            var sizes = f.sizes.map { size -> String in
                var t = "\(size.width)x\(size.height)"
                if !size.frameRates.isEmpty { t += " @ " + size.frameRates.map(Self.rate).joined(separator: ", ") + " fps" }
                if let r = size.frameRateRange { t += " @ \(Self.rate(r.lowerBound))-\(Self.rate(r.upperBound)) fps" }
                return t
            }
            if let r = f.sizeRange {
                sizes.append("\(r.minWidth)x\(r.minHeight) to \(r.maxWidth)x\(r.maxHeight) in steps of \(r.stepWidth)x\(r.stepHeight)")
            }
            let what = f.compressed ? "\(f.description), compressed" : f.description
            s += "  \(f.fourcc) (\(what)): \(sizes.isEmpty ? "no sizes listed" : sizes.joined(separator: "; "))\n"
        }
        return s
    }

    /// 30 → "30", 30000/1001 → "29.97".
    static func rate(_ fps: Double) -> String {
        fps == fps.rounded() ? String(Int(fps)) : String(format: "%.2f", fps)
    }
}

/// Why a device could not be inspected, naming it.
public struct VideoDeviceError: Error, Sendable, CustomStringConvertible {
    public var path: String
    public var reason: String
    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }
    public var description: String { "\(path): \(reason)" }
}

/// Finds and inspects V4L2 capture devices with the kernel's ioctls (`VIDIOC_QUERYCAP`, `VIDIOC_ENUM_FMT`,
/// `VIDIOC_ENUM_FRAMESIZES`, `VIDIOC_ENUM_FRAMEINTERVALS`) through libc, so userspace fakes that interpose
/// `open`/`ioctl` (PipeWire's `pw-v4l2`) are seen too.
public enum VideoDevices {
    /// `/dev/videoN` nodes in `directory`, in numeric order.
    public static func nodes(in directory: String = "/dev") -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.compactMap { name -> (Int, String)? in
            guard name.hasPrefix("video"), let n = Int(name.dropFirst(5)) else { return nil }
            return (n, directory + "/" + name)
        }.sorted { $0.0 < $1.0 }.map(\.1)
    }

    /// The capture device at `path`, or nil when it is a V4L2 node that does not capture video (UVC cameras
    /// also expose a metadata node). Throws for a path that cannot be opened or is not a V4L2 device.
    public static func inspect(_ path: String) throws -> VideoDevice? {
        let fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw VideoDeviceError(path: path, reason: openFailure(errno)) }
        defer { close(fd) }

        var cap = v4l2_capability()
        guard ioctlRetrying({ streamd_v4l2_querycap(fd, &cap) }) == 0 else {
            let e = errno
            throw VideoDeviceError(path: path, reason: e == ENOTTY || e == EINVAL
                ? "not a V4L2 device" : "VIDIOC_QUERYCAP failed: \(String(cString: strerror(e)))")
        }
        let caps = cap.capabilities & UInt32(V4L2_CAP_DEVICE_CAPS) != 0 ? cap.device_caps : cap.capabilities
        guard caps & UInt32(V4L2_CAP_VIDEO_CAPTURE) != 0 else { return nil }

        var formats: [VideoDevice.Format] = []
        for index in 0..<UInt32(256) {
            var desc = v4l2_fmtdesc()
            desc.index = index
            desc.type = V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue
            guard ioctlRetrying({ streamd_v4l2_enum_fmt(fd, &desc) }) == 0 else { break }
            var format = VideoDevice.Format(fourcc: fourccString(desc.pixelformat), description: cString(desc.description),
                                            compressed: desc.flags & UInt32(V4L2_FMT_FLAG_COMPRESSED) != 0,
                                            sizes: [], sizeRange: nil)
            enumerateSizes(fd, desc.pixelformat, into: &format)
            formats.append(format)
        }
        return VideoDevice(path: path, card: cString(cap.card), driver: cString(cap.driver),
                           busInfo: cString(cap.bus_info), formats: formats)
    }

    private static func enumerateSizes(_ fd: Int32, _ pixelFormat: UInt32, into format: inout VideoDevice.Format) {
        for index in 0..<UInt32(1024) {
            var s = v4l2_frmsizeenum()
            s.index = index
            s.pixel_format = pixelFormat
            guard ioctlRetrying({ streamd_v4l2_enum_framesizes(fd, &s) }) == 0 else { break }
            if s.type == V4L2_FRMSIZE_TYPE_DISCRETE.rawValue {
                let d = streamd_v4l2_frmsize_discrete(&s)
                var size = VideoDevice.FrameSize(width: Int(d.width), height: Int(d.height), frameRates: [], frameRateRange: nil)
                enumerateRates(fd, pixelFormat, d.width, d.height, into: &size)
                format.sizes.append(size)
            } else {
                let w = streamd_v4l2_frmsize_stepwise(&s)
                format.sizeRange = VideoDevice.SizeRange(
                    minWidth: Int(w.min_width), maxWidth: Int(w.max_width), stepWidth: Int(w.step_width),
                    minHeight: Int(w.min_height), maxHeight: Int(w.max_height), stepHeight: Int(w.step_height))
                break   // stepwise and continuous are reported once, at index 0
            }
        }
    }

    private static func enumerateRates(_ fd: Int32, _ pixelFormat: UInt32, _ width: UInt32, _ height: UInt32,
                                       into size: inout VideoDevice.FrameSize) {
        for index in 0..<UInt32(256) {
            var i = v4l2_frmivalenum()
            i.index = index
            i.pixel_format = pixelFormat
            i.width = width
            i.height = height
            guard ioctlRetrying({ streamd_v4l2_enum_frameintervals(fd, &i) }) == 0 else { break }
            if i.type == V4L2_FRMIVAL_TYPE_DISCRETE.rawValue {
                if let fps = framesPerSecond(streamd_v4l2_frmival_discrete(&i)) { size.frameRates.append(fps) }
            } else {
                let w = streamd_v4l2_frmival_stepwise(&i)
                // The longest interval is the slowest rate.
                if let slow = framesPerSecond(w.max), let fast = framesPerSecond(w.min), slow <= fast {
                    size.frameRateRange = slow...fast
                }
                break
            }
        }
    }

    private static func framesPerSecond(_ interval: v4l2_fract) -> Double? {
        interval.numerator == 0 ? nil : Double(interval.denominator) / Double(interval.numerator)
    }

    /// `V4L2_PIX_FMT_MJPEG` → `MJPG`; formats with the big-endian flag get `-BE`.
    public static func fourccString(_ code: UInt32) -> String {
        let bigEndian = code & (1 << 31) != 0
        let base = code & ~(UInt32(1) << 31)
        let chars = (0..<4).map { UInt8((base >> (8 * UInt32($0))) & 0xFF) }
        var s = String(decoding: chars.map { (32...126).contains($0) ? $0 : UInt8(ascii: "?") }, as: UTF8.self)
        while s.hasSuffix(" ") { s.removeLast() }
        return bigEndian ? s + "-BE" : s
    }

    private static func ioctlRetrying(_ call: () -> Int32) -> Int32 {
        var r: Int32
        repeat { r = call() } while r == -1 && errno == EINTR
        return r
    }

    private static func openFailure(_ e: Int32) -> String {
        switch e {
        case ENOENT: "no such file"
        case EACCES, EPERM: "permission denied (is this user in the 'video' group?)"
        case EBUSY: "busy (another program is using it)"
        default: "cannot open: \(String(cString: strerror(e)))"
        }
    }

    private static func cString<T>(_ tuple: T) -> String {
        withUnsafeBytes(of: tuple) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }
}
