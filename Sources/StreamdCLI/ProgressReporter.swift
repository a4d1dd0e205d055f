import Foundation

/// Progress of a long run: a bar on a terminal, a log line every few seconds otherwise.
final class ProgressReporter: @unchecked Sendable {
    private let lock = NSLock()
    private let total: Int?
    private let frameRate: Double
    private let started = Date()
    private var done = 0
    private var lastPrint = Date.distantPast
    private let terminal = standardErrorIsTerminal

    init(total: Int?, frameRate: Double) {
        self.total = total
        self.frameRate = frameRate
    }

    func frameDone() {
        lock.lock()
        defer { lock.unlock() }
        done += 1
        let now = Date()
        let interval = terminal ? 0.2 : 5
        guard now.timeIntervalSince(lastPrint) >= interval else { return }
        lastPrint = now
        FileHandle.standardError.write(Data(line(now).utf8))
    }

    func finish() {
        lock.lock()
        defer { lock.unlock() }
        if terminal && done > 0 { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }

    private func line(_ now: Date) -> String {
        let elapsed = max(now.timeIntervalSince(started), 1e-6)
        let fps = Double(done) / elapsed
        let speed = frameRate > 0 ? fps / frameRate : 0
        var text = String(format: "%d", done)
        if let total, total > 0 {
            let fraction = min(1, Double(done) / Double(total))
            let eta = fps > 0 ? Double(max(total - done, 0)) / fps : 0
            text += String(format: "/%d frames %3.0f%%  %.2f fps  %.2fx  ETA %@", total, fraction * 100, fps, speed, formatDuration(eta))
            if terminal {
                let width = 24, filled = Int(fraction * Double(width))
                text = "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] " + text
            }
        } else {
            text += String(format: " frames  %.2f fps  %.2fx", fps, speed)
        }
        return terminal ? "\r" + text + "\u{1B}[K" : "streamd: " + text + "\n"
    }
}

func formatDuration(_ s: Double) -> String {
    let t = Int(s.rounded())
    return t >= 3600 ? String(format: "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60) : String(format: "%d:%02d", t / 60, t % 60)
}
