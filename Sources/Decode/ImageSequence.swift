import Pipeline

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A numbered or globbed series of pictures read as one video (FFmpeg's image2 demuxer), like the PNG frames
/// `streamd transcode` and the seed project's frame export write.
///
/// Two spellings: a printf-style pattern with one frame number (`frames/f_%04d.png`, numbering starting
/// anywhere from 0 to 4, as image2 searches) or a shell glob (`frames/*.png`, files in name order). A path that
/// names an existing file is always that file, even if it contains `%` or `*`.
public struct ImageSequence: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// The `%d` pattern; `digits` is its zero-padding width (0 for plain `%d`).
        case numbered(prefix: String, digits: Int, suffix: String)
        case glob
    }

    public let path: String
    public let kind: Kind

    /// The sequence `path` spells, or nil for a path that is (or would be) one ordinary file.
    public init?(path: String) {
        var info = stat()
        if stat(path, &info) == 0 { return nil }
        if let numbered = Self.numbered(path) {
            self.path = path
            kind = numbered
        } else if path.contains(where: { "*?[".contains($0) }) {
            self.path = path
            kind = .glob
        } else {
            return nil
        }
    }

    /// The picture files that exist, in the order they will be read (at most `limit`).
    public func files(limit: Int = 100_000) -> [String] {
        switch kind {
        case let .numbered(prefix, digits, suffix):
            // image2 starts at the first number in 0…4 that exists and stops at the first gap.
            guard let first = (0...4).first(where: { exists(Self.name(prefix, $0, digits, suffix)) }) else { return [] }
            var found: [String] = []
            var n = first
            while found.count < limit, exists(Self.name(prefix, n, digits, suffix)) {
                found.append(Self.name(prefix, n, digits, suffix))
                n += 1
            }
            return found
        case .glob:
            var result = glob_t()
            defer { globfree(&result) }
            guard glob(path, 0, nil, &result) == 0 else { return [] }
            return (0..<min(Int(result.gl_pathc), limit)).compactMap { i in result.gl_pathv[i].map { String(cString: $0) } }
        }
    }

    /// The file name of picture `number` for a path with one `%d`/`%0Nd` (as image2 and the PNG writer number
    /// them), or nil when the path has no such pattern.
    public static func pictureName(pattern path: String, number: Int) -> String? {
        guard case let .numbered(prefix, digits, suffix)? = numbered(path) else { return nil }
        return name(prefix, number, digits, suffix)
    }

    /// image2's private options for this sequence at `frameRate` pictures per second.
    func demuxerOptions(frameRate: Rational) -> [(String, String)] {
        let rate = ("framerate", "\(frameRate.numerator)/\(frameRate.denominator)")
        switch kind {
        case .numbered: return [("pattern_type", "sequence"), rate]
        case .glob: return [("pattern_type", "glob"), rate]
        }
    }

    /// Splits `path` around its one `%d`/`%0Nd` (a `%%` is a literal percent sign), or nil.
    static func numbered(_ path: String) -> Kind? {
        let chars = Array(path)
        var prefix = "", suffix = "", digits = 0, found = false
        var i = 0
        while i < chars.count {
            if chars[i] == "%" {
                if i + 1 < chars.count && chars[i + 1] == "%" {
                    if found { suffix.append("%") } else { prefix.append("%") }
                    i += 2
                    continue
                }
                var j = i + 1
                var width = ""
                while j < chars.count, chars[j].isNumber { width.append(chars[j]); j += 1 }
                // image2 zero-pads to the width whether or not it starts with 0, as this does.
                guard !found, j < chars.count, chars[j] == "d" else {
                    return nil
                }
                digits = Int(width) ?? 0
                found = true
                i = j + 1
                continue
            }
            if found { suffix.append(chars[i]) } else { prefix.append(chars[i]) }
            i += 1
        }
        return found ? .numbered(prefix: prefix, digits: digits, suffix: suffix) : nil
    }

    private static func name(_ prefix: String, _ n: Int, _ digits: Int, _ suffix: String) -> String {
        let number = String(n)
        return prefix + String(repeating: "0", count: max(0, digits - number.count)) + number + suffix
    }

    private func exists(_ file: String) -> Bool {
        var info = stat()
        return stat(file, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
    }
}
