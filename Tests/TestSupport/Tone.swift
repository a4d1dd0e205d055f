import Foundation

/// How a stretch of sound measures to a listener: its loudness and, for a tone, its pitch, both over the parts
/// that are not silent (so a beep measures as the tone it is).
public struct Tone: Sendable, CustomStringConvertible {
    public var seconds: Double
    /// Root mean square over the loud parts, as a fraction of full scale.
    public var rms: Double
    /// From the zero crossings in the loud parts (a pure tone's frequency); nil for silence.
    public var hertz: Double?
    /// The share of the time that is not silent (10 ms windows above 2% of full scale).
    public var loud: Double

    public var description: String {
        String(format: "%.2f s, %.0f%% loud, rms %.3f, %@", seconds, loud * 100, rms, hertz.map { String(format: "%.1f Hz", $0) } ?? "no pitch")
    }

    /// Measures mono 16-bit samples at `rate`.
    public init(samples: [Int16], rate: Int) {
        seconds = Double(samples.count) / Double(rate)
        let window = rate / 100
        var energy = 0.0, crossings = 0, loudSamples = 0
        var start = 0
        while start + window <= samples.count {
            let part = samples[start..<start + window]
            let e = part.reduce(0.0) { $0 + Double($1) * Double($1) }
            if (e / Double(window)).squareRoot() / 32768 >= 0.02 {
                loudSamples += window
                energy += e
                crossings += zip(part, part.dropFirst()).filter { ($0 < 0) != ($1 < 0) }.count
            }
            start += window
        }
        loud = samples.isEmpty ? 0 : Double(loudSamples) / Double(samples.count)
        rms = loudSamples == 0 ? 0 : (energy / Double(loudSamples)).squareRoot() / 32768
        hertz = loudSamples == 0 ? nil : Double(crossings) / 2 / (Double(loudSamples) / Double(rate))
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
