import Foundation

/// Reading raw little-endian float32 files, the weight format of deeplearn.js/ml5 folders.
enum RawFloats {
    static func read(_ path: String, count expected: Int?) throws -> [Float] {
        let fm = FileManager.default
        guard fm.fileExists(atPath: path) else { throw StylizeError(.fileNotFound, "\(path): no such file") }
        guard let data = fm.contents(atPath: path) else { throw StylizeError(.unreadable, "\(path): cannot be read") }
        guard data.count % 4 == 0 else {
            throw StylizeError(.corruptFile, "\(path): \(data.count) bytes is not a whole number of float32 values")
        }
        let n = data.count / 4
        if let expected, n != expected {
            throw StylizeError(.corruptFile, "\(path): holds \(n) float32 values, the manifest says \(expected) (truncated or wrong file)")
        }
        var out = [Float](repeating: 0, count: n)
        _ = out.withUnsafeMutableBytes { dst in data.copyBytes(to: dst) }
        #if _endian(big)
        for i in out.indices { out[i] = Float(bitPattern: out[i].bitPattern.byteSwapped) }
        #endif
        return out
    }
}
