import ArgumentParser
import Decode
import Foundation
import Pipeline
import Temporal

/// `streamd eval`: measures of stylized video that anyone can repeat.
struct EvalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Measure stylized video and pictures.",
        subcommands: [EvalTemporalCommand.self, EvalLossesCommand.self, EvalQualityCommand.self]
    )
}

/// `streamd eval temporal ORIGINAL STYLIZED [--reference UNSMOOTHED]`: the warping error of Lai et al. 2018
/// (how much the stylization flickers against the motion of the original) and, with a reference, how far the
/// video is from it in PSNR. Both videos are decoded frame by frame side by side; the original is scaled to the
/// stylized size when they differ.
struct EvalTemporalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "temporal",
        abstract: "Temporal consistency of a stylized video: warping error (Lai et al. 2018), and PSNR against a reference.",
        discussion: """
        Flow is DIS (OpenCV, medium preset) on the full-size grey ORIGINAL frames; pixels failing the \
        forward-backward check are masked out; the error is the masked mean squared RGB distance (0..1, channels \
        summed) between each stylized frame and the previous one warped to it, averaged over frame pairs. Lower \
        is steadier.
        """
    )

    @Option(help: "An unsmoothed stylization of ORIGINAL: also print the PSNR of STYLIZED against it.")
    var reference: String?

    @Option(name: .customLong("max-frames"), help: "Measure at most this many frames.")
    var maxFrames: Int?

    @Argument(help: "The original video (or image sequence) that was stylized.")
    var original: String

    @Argument(help: "The stylized video (or image sequence), frame for frame the original's.")
    var stylized: String

    func run() async throws {
        try await runReportingErrors {
            FFmpegLog.setQuiet()
            if let maxFrames, maxFrames < 2 { throw TemporalError("--max-frames must be at least 2") }
            let result = try Self.measure(original: original, stylized: stylized, reference: reference, maxFrames: maxFrames)
            var lines = [
                "frames: \(result.frames)",
                String(format: "warping error: %.6f", result.warpingError),
                String(format: "mask: %.1f%% of pixels kept on average", 100 * result.coverage),
            ]
            if let psnr = result.psnr, let worst = result.worstPSNR {
                lines.append(String(format: "psnr vs reference: %.2f dB (worst frame %.2f dB)", psnr, worst))
            }
            print(lines.joined(separator: "\n"))
        }
    }

    struct Result {
        var frames: Int
        var warpingError: Double
        var coverage: Double
        var psnr: Double?
        var worstPSNR: Double?
    }

    /// Reads the videos in step and measures them. Throws when they do not pair up frame for frame.
    static func measure(original: String, stylized: String, reference: String?, maxFrames: Int?) throws -> Result {
        let originalReader = try VideoReader(path: original)
        let stylizedReader = try VideoReader(path: stylized)
        let referenceReader = try reference.map { try VideoReader(path: $0) }
        let meter = try WarpingErrorMeter()
        var psnr = PSNRMeter()
        let resizer = PictureResizer()
        var frames = 0
        while maxFrames.map({ frames < $0 }) ?? true {
            let o = try originalReader.nextFrame(), s = try stylizedReader.nextFrame()
            let r = try referenceReader?.nextFrame()
            guard let o, let s else {
                if o != nil || s != nil || (referenceReader != nil && r != nil) {
                    throw TemporalError("\(o == nil ? original : stylized) ends after \(frames) frames but the other video goes on: they must pair up frame for frame")
                }
                break
            }
            let scaled = try resizer.resize(o.image, width: s.image.width, height: s.image.height)
            try meter.add(original: scaled, stylized: s.image)
            if let reference {
                guard let r else { throw TemporalError("\(reference) ends after \(frames) frames, before \(stylized)") }
                try psnr.add(s.image, r.image)
            }
            frames += 1
        }
        guard frames >= 2 else { throw TemporalError("\(stylized): needs at least 2 frames, has \(frames)") }
        let coverage = meter.pairCoverage.reduce(0, +) / Double(max(meter.pairCoverage.count, 1))
        return Result(frames: frames, warpingError: meter.meanError, coverage: coverage,
                      psnr: reference == nil ? nil : psnr.psnr, worstPSNR: reference == nil ? nil : psnr.worstFrame)
    }
}
