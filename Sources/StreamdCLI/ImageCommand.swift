import ArgumentParser
import Decode
import Encode
import Foundation
import Pipeline
import Stylize

/// `streamd image`: one picture in, its stylized version out.
struct ImageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image",
        abstract: "Stylize one image (JPEG, PNG, WebP or BMP in; PNG or JPEG out, chosen by the extension)."
    )

    @OptionGroup var modelOptions: ModelOptions

    @OptionGroup var style: StyleArguments

    @OptionGroup var paintings: PaintingArguments

    @Option(name: .customLong("max-size"), help: "Resize so the longer side is at most N pixels before stylizing.")
    var maxSize: Int?

    @Option(help: "Stylize in tiles of N×N pixels (for images too large to run at once).")
    var tile: Int?

    @Option(help: "Overlap between tiles in pixels (feathered).")
    var overlap: Int = 64

    @Option(help: "Compute threads for the network (matrix products and the passes between them).")
    var threads: Int = max(1, ProcessInfo.processInfo.activeProcessorCount)

    @Option(help: "JPEG quality 1-100 (for .jpg output).")
    var quality: Int = 92

    @Flag(help: "Replace OUTPUT if it exists.")
    var overwrite = false

    @Argument(help: "Input image.")
    var input: String

    @Argument(help: "Output image (.png, .jpg or .jpeg).")
    var output: String

    func validate() throws {
        if let maxSize, maxSize < 16 { throw ValidationError("--max-size must be at least 16") }
        if threads < 1 { throw ValidationError("--threads must be at least 1") }
        if !(1...100).contains(quality) { throw ValidationError("--quality must be between 1 and 100") }
    }

    func run() async throws {
        try await runReportingErrors {
            FFmpegLog.setQuiet()
            try OutputPath.check(output, overwrite: overwrite, extensions: ["png", "jpg", "jpeg"])
            let library = ModelLibrary.standard(modelsDir: modelOptions.modelsDir)
            let model = try ModelLoader.load(path: try library.resolve(paintings.modelName(modelOptions)))
            var picture = try ImageDecoder.decode(path: input)
            let fitted = FitSize.shrunk(width: picture.width, height: picture.height, maxSide: maxSize)
            if fitted != (picture.width, picture.height) {
                picture = try ImageDecoder.resize(picture, width: fitted.width, height: fitted.height)
            }
            let stylizer = try Stylizer(model: model, threads: threads)
            let original = picture
            let options = try style.options(model: model, paintings: paintings) { original }
            let start = Date()
            let result = try tile.map { try stylizer.stylizeTiled(picture, tile: $0, overlap: overlap, options: options) }
                ?? stylizer.stylize(picture, options: options)
            try ImageEncoder.write(result, to: output, quality: quality)
            note(String(format: "streamd: wrote %@ (%dx%d, %@, %.2f s)", output, result.width, result.height,
                        model.info.name, Date().timeIntervalSince(start)))
        }
    }
}
