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

    @Option(name: .customLong("style-index"), help: "Style of a multi-style model (0-based).")
    var styleIndex: Int?

    @Option(name: .customLong("style-mix"), help: "Blend of styles of a multi-style model, e.g. 3:0.5,12:0.5.")
    var styleMix: String?

    @Option(help: "Blend with the original: 1 = fully stylized, 0 = the original.")
    var strength: Float = 1

    @Flag(name: .customLong("preserve-color"), help: "Keep the original colours (luminance from the stylized image).")
    var preserveColor = false

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
            let model = try ModelLoader.load(path: try library.resolve(modelOptions.model))
            var picture = try ImageDecoder.decode(path: input)
            if let maxSize, max(picture.width, picture.height) > maxSize {
                let scale = Double(maxSize) / Double(max(picture.width, picture.height))
                picture = try ImageDecoder.resize(picture, width: max(1, Int((Double(picture.width) * scale).rounded())),
                                                  height: max(1, Int((Double(picture.height) * scale).rounded())))
            }
            let stylizer = try Stylizer(model: model, threads: threads)
            let options = StyleOptions(
                styleWeights: try StyleOptions.styleWeights(index: styleIndex, mix: styleMix, styleCount: stylizer.session.styleCount),
                strength: strength, preserveColor: preserveColor)
            let start = Date()
            let result = try tile.map { try stylizer.stylizeTiled(picture, tile: $0, overlap: overlap, options: options) }
                ?? stylizer.stylize(picture, options: options)
            try ImageEncoder.write(result, to: output, quality: quality)
            note(String(format: "streamd: wrote %@ (%dx%d, %@, %.2f s)", output, result.width, result.height,
                        model.info.name, Date().timeIntervalSince(start)))
        }
    }
}
