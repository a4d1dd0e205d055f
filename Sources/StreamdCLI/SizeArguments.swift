import Pipeline
import ArgumentParser

extension PixelSize {
    /// Parses "WxH" (also "W:H"), each side 2…16384.
    init?(parsing text: String) {
        let parts = text.lowercased().split(whereSeparator: { $0 == "x" || $0 == ":" })
        guard parts.count == 2, let w = Int(parts[0]), let h = Int(parts[1]),
              (2...16384).contains(w), (2...16384).contains(h) else { return nil }
        self.init(width: w, height: h)
    }
}

/// `--width/--height/--scale/--max-size/--output-size`: the size frames are stylized at, and the size they are
/// written at.
///
/// Rules, in order: `--width` and `--height` together give the exact processing size; one of them alone keeps
/// the input's aspect ratio; `--scale` multiplies the input size instead. `--max-size` then caps the longer
/// side (keeping the aspect ratio). A side that is computed rather than given is rounded to an even number, as
/// 4:2:0 video needs (a given odd side is kept and the encoder pads it). The output is written at the processing
/// size unless `--output-size` names another size, or `input` for the input's own size.
struct SizeArguments: ParsableArguments {
    @Option(help: "Stylize at this width (keeps the aspect ratio unless --height is given too).")
    var width: Int?

    @Option(help: "Stylize at this height (keeps the aspect ratio unless --width is given too).")
    var height: Int?

    @Option(help: "Stylize at the input size times this factor (e.g. 0.5).")
    var scale: Double?

    @Option(name: .customLong("max-size"), help: "Scale frames down so the longer side is at most N pixels.")
    var maxSize: Int?

    @Option(name: .customLong("output-size"),
            help: "Write frames at WxH, or 'input' for the input's size (default: the processing size).")
    var outputSize: String?

    func validate() throws {
        if let width, !(16...16384).contains(width) { throw ValidationError("--width must be between 16 and 16384") }
        if let height, !(16...16384).contains(height) { throw ValidationError("--height must be between 16 and 16384") }
        if let scale, !(scale > 0 && scale <= 8) { throw ValidationError("--scale must be greater than 0 and at most 8") }
        if scale != nil && (width != nil || height != nil) {
            throw ValidationError("give --scale or --width/--height, not both")
        }
        if let maxSize, maxSize < 16 { throw ValidationError("--max-size must be at least 16") }
        if let outputSize, outputSize != "input", PixelSize(parsing: outputSize) == nil {
            throw ValidationError("--output-size '\(outputSize)': expected WxH (2 to 16384 each) or 'input'")
        }
    }

    /// The size frames of an `input`-sized video are stylized at.
    func processingSize(input: PixelSize) -> PixelSize {
        let iw = Double(input.width), ih = Double(input.height)
        var size = input
        switch (width, height, scale) {
        case let (w?, h?, _):
            size = PixelSize(width: w, height: h)
        case let (w?, nil, _):
            size = PixelSize(width: w, height: Self.even(Double(w) * ih / iw))
        case let (nil, h?, _):
            size = PixelSize(width: Self.even(Double(h) * iw / ih), height: h)
        case let (nil, nil, s?):
            size = PixelSize(width: Self.even(iw * s), height: Self.even(ih * s))
        case (nil, nil, nil):
            break
        }
        let fitted = FitSize.shrunk(width: size.width, height: size.height, maxSide: maxSize, rounding: .even, minimum: 2)
        size = PixelSize(width: fitted.width, height: fitted.height)
        return size
    }

    /// The size frames are written at.
    func outputSize(input: PixelSize, processing: PixelSize) -> PixelSize {
        guard let outputSize else { return processing }
        return outputSize == "input" ? input : PixelSize(parsing: outputSize) ?? processing
    }

    /// Nearest even number, at least 2.
    static func even(_ v: Double) -> Int { max(2, Int((v / 2).rounded()) * 2) }
}
