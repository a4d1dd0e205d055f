import CFFmpeg
import FFmpegSupport
public import Pipeline

/// Resizes RGB pictures with libswscale: area averaging when shrinking in both directions (no aliasing, the
/// right filter for `--max-size`), bicubic otherwise.
///
/// Building a swscale context computes filter tables, which costs more than scaling a small frame; a stage that
/// resizes every frame keeps one resizer per thread and the context is rebuilt only when the source or target
/// size changes. Not thread-safe: one owner at a time.
public final class PictureResizer {
    private struct Sizes: Equatable {
        var sourceWidth: Int, sourceHeight: Int, width: Int, height: Int
    }

    private var scaler: Scaler?
    private var sizes: Sizes?

    public init() {}

    /// `image` scaled to `width`×`height`; the image itself when it already has that size. With a `pool`,
    /// the result's pixels come from it.
    ///
    /// - Throws: `MediaError.Code.invalidArgument` for a size of zero or beyond FFmpeg's limits.
    public func resize(_ image: RGBImage, width: Int, height: Int, pool: FramePool? = nil) throws -> RGBImage {
        guard width > 0, height > 0, width <= Int(Int32.max), height <= Int(Int32.max),
              av_image_check_size(UInt32(width), UInt32(height), 0, nil) >= 0 else {
            throw MediaError(.invalidArgument, path: nil, "cannot resize a picture to \(width)x\(height)")
        }
        if width == image.width && height == image.height { return image }
        let scaler = try scaler(for: Sizes(sourceWidth: image.width, sourceHeight: image.height, width: width, height: height))
        var output = pool?.take(count: width * height * 3) ?? [UInt8](repeating: 0, count: width * height * 3)
        let result = image.pixels.withUnsafeBufferPointer { src in
            output.withUnsafeMutableBufferPointer { dst in
                var srcPlanes: [UnsafePointer<UInt8>?] = [src.baseAddress, nil, nil, nil]
                var srcStrides: [Int32] = [Int32(image.width * 3), 0, 0, 0]
                var dstPlanes: [UnsafeMutablePointer<UInt8>?] = [dst.baseAddress, nil, nil, nil]
                var dstStrides: [Int32] = [Int32(width * 3), 0, 0, 0]
                return sws_scale(scaler.pointer, &srcPlanes, &srcStrides, 0, Int32(image.height), &dstPlanes, &dstStrides)
            }
        }
        guard result == Int32(height) else {
            pool?.recycle(output)
            throw MediaError(.invalidArgument, path: nil, "cannot resize \(image.width)x\(image.height) to \(width)x\(height)",
                             detail: "sws_scale returned \(result)")
        }
        return RGBImage(width: width, height: height, pixels: output)
    }

    /// How many swscale contexts this resizer has built (one per change of size), for tests.
    public private(set) var scalersBuilt = 0

    private func scaler(for wanted: Sizes) throws -> Scaler {
        if let scaler, sizes == wanted { return scaler }
        let shrinking = wanted.width <= wanted.sourceWidth && wanted.height <= wanted.sourceHeight
        let flags = (shrinking ? SWS_AREA : SWS_BICUBIC) | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT | SWS_FULL_CHR_H_INP
            | SWS_BITEXACT
        guard let built = Scaler(srcWidth: Int32(wanted.sourceWidth), srcHeight: Int32(wanted.sourceHeight), srcFormat: AV_PIX_FMT_RGB24,
                                 dstWidth: Int32(wanted.width), dstHeight: Int32(wanted.height), dstFormat: AV_PIX_FMT_RGB24,
                                 flags: flags, noDither: true)
        else {
            throw MediaError(.invalidArgument, path: nil,
                             "cannot resize \(wanted.sourceWidth)x\(wanted.sourceHeight) to \(wanted.width)x\(wanted.height)",
                             detail: "sws_init_context failed")
        }
        // The old context is freed here, by its owner's deinit, exactly once.
        scaler = built
        sizes = wanted
        scalersBuilt += 1
        return built
    }
}
