import Foundation

/// How a stretch of sound measures to a listener: its loudness and, for a pure tone, its pitch.
public struct Tone: Sendable, CustomStringConvertible {
    public var seconds: Double
    /// Root mean square, as a fraction of full scale.
    public var rms: Double
    /// From the zero crossings (a pure tone's frequency); nil for silence.
    public var hertz: Double?

    public var description: String { String(format: "%.2f s, rms %.3f, %@", seconds, rms, hertz.map { String(format: "%.1f Hz", $0) } ?? "no pitch") }

    /// Measures mono 16-bit samples at `rate`.
    public init(samples: [Int16], rate: Int) {
        seconds = Double(samples.count) / Double(rate)
        let energy = samples.reduce(0.0) { $0 + Double($1) * Double($1) }
        rms = samples.isEmpty ? 0 : (energy / Double(samples.count)).squareRoot() / 32768
        let crossings = zip(samples, samples.dropFirst()).filter { ($0 < 0) != ($1 < 0) }.count
        hertz = rms > 0.01 && seconds > 0 ? Double(crossings) / 2 / seconds : nil
    }

    /// The first audio stream of `path`, decoded by FFmpeg to mono 48 kHz, from `start` seconds for `duration`.
    public static func of(file path: String, from start: Double = 0, duration: Double? = nil) throws -> Tone {
        var arguments = ["-ss", String(start), "-i", path, "-map", "0:a:0"]
        if let duration { arguments += ["-t", String(duration)] }
        let pcm = try runFFmpeg(arguments + ["-ac", "1", "-ar", "48000", "-f", "s16le", "-"])
        let samples = pcm.withUnsafeBytes { Array($0.bindMemory(to: Int16.self)) }
        return Tone(samples: samples, rate: 48000)
    }
}
