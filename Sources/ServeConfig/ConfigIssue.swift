/// Where a setting lives in the configuration tree, printed the way a user writes it:
/// `pipelines.cam1.outputs[0].url`.
public struct ConfigPath: Sendable, Hashable, CustomStringConvertible {
    public enum Component: Sendable, Hashable {
        case key(String)
        case index(Int)
    }

    public var components: [Component]

    public init(_ components: [Component] = []) { self.components = components }

    public static func + (path: ConfigPath, key: String) -> ConfigPath { ConfigPath(path.components + [.key(key)]) }
    public static func + (path: ConfigPath, index: Int) -> ConfigPath { ConfigPath(path.components + [.index(index)]) }

    public var description: String {
        var s = ""
        for c in components {
            switch c {
            case .key(let k): s += s.isEmpty ? k : ".\(k)"
            case .index(let i): s += "[\(i)]"
            }
        }
        return s
    }

    /// Parses `server.port` or `pipelines.cam1.outputs[0].bitrate`; nil for an empty or malformed path.
    public init?(parsing text: String) {
        var components: [Component] = []
        for part in text.split(separator: ".", omittingEmptySubsequences: false) {
            var rest = Substring(part)
            let keyEnd = rest.firstIndex(of: "[") ?? rest.endIndex
            let key = rest[..<keyEnd]
            guard !key.isEmpty else { return nil }
            components.append(.key(String(key)))
            rest = rest[keyEnd...]
            while !rest.isEmpty {
                guard rest.first == "[", let close = rest.firstIndex(of: "]"),
                      let i = Int(rest[rest.index(after: rest.startIndex)..<close]), i >= 0 else { return nil }
                components.append(.index(i))
                rest = rest[rest.index(after: close)...]
            }
        }
        guard !components.isEmpty else { return nil }
        self.components = components
    }
}

/// One problem in a configuration: where it comes from (`streamd.yml:12:7`, an environment variable or a
/// `--set` flag), the key, and what is wrong, printed on one line.
public struct ConfigIssue: Error, Sendable, Equatable, CustomStringConvertible {
    /// `FILE:LINE:COLUMN`, `FILE`, `environment STREAMD_SERVER_PORT` or `--set server.port=…`.
    public var location: String
    /// The key path, e.g. `pipelines.cam1.outputs[0].url` (empty for a problem with the whole file).
    public var path: String
    public var message: String

    public init(location: String, path: String, message: String) {
        self.location = location
        self.path = path
        self.message = message
    }

    public var description: String {
        let m = message.split(whereSeparator: \.isNewline).joined(separator: " ")
        return path.isEmpty ? "\(location): \(m)" : "\(location): \(path): \(m)"
    }
}

/// Every problem found in a configuration (validation does not stop at the first one).
public struct ConfigErrors: Error, Sendable, CustomStringConvertible {
    public var issues: [ConfigIssue]

    public init(_ issues: [ConfigIssue]) { self.issues = issues }

    /// One line per problem.
    public var description: String { issues.map(\.description).joined(separator: "\n") }
}

/// The closest of `candidates` to `word` if it is a plausible typo (edit distance at most 2, or a third of
/// the word's length for long words), for "did you mean …?" hints.
func closest(to word: String, in candidates: [String]) -> String? {
    let limit = max(2, word.count / 3)
    var best: (String, Int)?
    for c in candidates {
        let d = editDistance(word.lowercased(), c.lowercased())
        if d <= limit, best == nil || d < best!.1 { best = (c, d) }
    }
    return best?.0
}

/// Levenshtein distance.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    var current = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        swap(&previous, &current)
    }
    return previous[b.count]
}
