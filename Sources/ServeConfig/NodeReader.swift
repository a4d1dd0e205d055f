import Foundation
import Yams

/// Reads typed values out of a composed YAML tree, recording every problem with its key path and location
/// instead of stopping at the first (so `config check` shows them all).
final class NodeReader {
    private(set) var issues: [ConfigIssue] = []
    /// The config file's name as the user gave it, for `FILE:LINE:COLUMN` locations.
    let fileName: String
    /// Directory relative paths are resolved against.
    let baseDirectory: String
    /// Settings that came from the environment or flags: key path → where from.
    var origins: [String: String] = [:]

    init(fileName: String, baseDirectory: String) {
        self.fileName = fileName
        self.baseDirectory = baseDirectory
    }

    func report(_ path: ConfigPath, _ node: Node?, _ message: String) {
        issues.append(ConfigIssue(location: location(path, node), path: path.description, message: message))
    }

    private func location(_ path: ConfigPath, _ node: Node?) -> String {
        // A value set from the environment or a flag (or inside one) is blamed on that setting.
        var p = path
        while true {
            if let origin = origins[p.description] { return origin }
            if p.components.isEmpty { break }
            p.components.removeLast()
        }
        if let mark = node?.mark { return "\(fileName):\(mark.line):\(mark.column)" }
        return fileName
    }

    // MARK: Structure

    /// The fields of a mapping; unknown keys are reported at once, with the closest known key as a hint.
    struct Fields {
        let path: ConfigPath
        private var values: [String: Node] = [:]

        fileprivate init(path: ConfigPath, values: [String: Node]) {
            self.path = path
            self.values = values
        }

        /// The value of `key`, or nil when absent or null (`key:` or `key: ~`).
        subscript(key: String) -> Node? { values[key].flatMap { isNull($0) ? nil : $0 } }

        func has(_ key: String) -> Bool { self[key] != nil }
    }

    func fields(_ node: Node, _ path: ConfigPath, known: [String]) -> Fields? {
        guard let mapping = node.mapping else {
            report(path, node, "expected a mapping of \(known.joined(separator: ", ")), got \(kind(node))")
            return nil
        }
        var values: [String: Node] = [:]
        for (k, v) in mapping {
            guard let key = k.scalar?.string else {
                report(path, k, "keys must be plain names")
                continue
            }
            if known.contains(key) {
                values[key] = v
            } else if let guess = closest(to: key, in: known) {
                report(path + key, k, "unknown key (did you mean '\(guess)'?)")
            } else {
                report(path + key, k, "unknown key (expected one of \(known.joined(separator: ", ")))")
            }
        }
        return Fields(path: path, values: values)
    }

    /// A mapping of names to values, in file order.
    func namedEntries(_ node: Node, _ path: ConfigPath, what: String) -> [(String, Node, Node)]? {
        guard let mapping = node.mapping else {
            report(path, node, "expected a mapping of \(what), got \(kind(node))")
            return nil
        }
        var entries: [(String, Node, Node)] = []
        for (k, v) in mapping {
            guard let key = k.scalar?.string else {
                report(path, k, "keys must be plain names")
                continue
            }
            entries.append((key, k, v))
        }
        return entries
    }

    func list(_ node: Node, _ path: ConfigPath) -> [Node]? {
        guard let sequence = node.sequence else {
            report(path, node, "expected a list, got \(kind(node))")
            return nil
        }
        return Array(sequence)
    }

    func kind(_ node: Node) -> String {
        if node.mapping != nil { return "a mapping" }
        if node.sequence != nil { return "a list" }
        if let s = node.scalar?.string { return "'\(s)'" }
        return "something else"
    }

    // MARK: Scalars

    func scalarText(_ node: Node, _ path: ConfigPath, expected: String) -> String? {
        guard let s = node.scalar?.string else {
            report(path, node, "expected \(expected), got \(kind(node))")
            return nil
        }
        return s
    }

    func string(_ node: Node, _ path: ConfigPath, allowEmpty: Bool = false) -> String? {
        guard let s = scalarText(node, path, expected: "a string") else { return nil }
        if !allowEmpty && s.trimmingCharacters(in: .whitespaces).isEmpty {
            report(path, node, "must not be empty")
            return nil
        }
        return s
    }

    func int(_ node: Node, _ path: ConfigPath, _ range: ClosedRange<Int>) -> Int? {
        guard let s = scalarText(node, path, expected: "a whole number") else { return nil }
        guard let v = Int(s.replacingOccurrences(of: "_", with: "")) else {
            report(path, node, "expected a whole number, got '\(s)'")
            return nil
        }
        return checked(v, range, node, path)
    }

    func number(_ node: Node, _ path: ConfigPath, _ range: ClosedRange<Double>) -> Double? {
        guard let s = scalarText(node, path, expected: "a number") else { return nil }
        guard let v = Double(s), v.isFinite else {
            report(path, node, "expected a number, got '\(s)'")
            return nil
        }
        return checked(v, range, node, path)
    }

    private func checked<T: Comparable>(_ v: T, _ range: ClosedRange<T>, _ node: Node, _ path: ConfigPath) -> T? {
        guard range.contains(v) else {
            report(path, node, "must be between \(range.lowerBound) and \(range.upperBound), got \(v)")
            return nil
        }
        return v
    }

    func bool(_ node: Node, _ path: ConfigPath) -> Bool? {
        guard let s = scalarText(node, path, expected: "true or false") else { return nil }
        switch s.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default:
            report(path, node, "expected true or false, got '\(s)'")
            return nil
        }
    }

    func choice<T: RawRepresentable>(_ node: Node, _ path: ConfigPath, _ cases: [T]) -> T? where T.RawValue == String {
        guard let s = scalarText(node, path, expected: "one of \(cases.map(\.rawValue).joined(separator: ", "))") else { return nil }
        if let v = cases.first(where: { $0.rawValue == s.lowercased() }) { return v }
        reportUnknownValue(s, cases.map(\.rawValue), node, path)
        return nil
    }

    func choice(_ node: Node, _ path: ConfigPath, _ names: [String]) -> String? {
        guard let s = scalarText(node, path, expected: "one of \(names.joined(separator: ", "))") else { return nil }
        if names.contains(s.lowercased()) { return s.lowercased() }
        reportUnknownValue(s, names, node, path)
        return nil
    }

    private func reportUnknownValue(_ s: String, _ names: [String], _ node: Node, _ path: ConfigPath) {
        if let guess = closest(to: s, in: names) {
            report(path, node, "unknown value '\(s)' (did you mean '\(guess)'?)")
        } else {
            report(path, node, "unknown value '\(s)' (expected \(names.joined(separator: ", ")))")
        }
    }

    /// `500ms`, `2s`, `1.5s`, `5m`, `1h`, or a plain number of seconds; must be positive.
    func duration(_ node: Node, _ path: ConfigPath) -> Duration? {
        let expected = "a duration such as 500ms, 2s, 5m or 1h"
        guard let s = scalarText(node, path, expected: expected) else { return nil }
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        var text = s.trimmingCharacters(in: .whitespaces), scale = 1.0
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            text = String(text.dropLast(suffix.count)).trimmingCharacters(in: .whitespaces)
            scale = factor
            break
        }
        guard let v = Double(text), v.isFinite else {
            report(path, node, "expected \(expected), got '\(s)'")
            return nil
        }
        guard v > 0 else {
            report(path, node, "must be more than zero, got '\(s)'")
            return nil
        }
        return .milliseconds(Int64((v * scale * 1000).rounded()))
    }

    /// A count with an optional SI (`k`, `M`, `G`: powers of 1000) or binary (`Ki`, `Mi`, `Gi`: powers of
    /// 1024) prefix and an optional unit letter (`B` for bytes, `b`/`bps` ignored for bit rates); positive.
    func quantity(_ node: Node, _ path: ConfigPath, unit: String, example: String) -> Int64? {
        let expected = "\(unit) such as \(example)"
        guard let s = scalarText(node, path, expected: expected) else { return nil }
        var text = s.trimmingCharacters(in: .whitespaces)
        for suffix in ["bps", "B", "b"] where text.hasSuffix(suffix) {
            text.removeLast(suffix.count)
            break
        }
        let prefixes: [(String, Double)] = [("Ki", 1024), ("Mi", 1_048_576), ("Gi", 1_073_741_824), ("Ti", 1_099_511_627_776),
                                            ("k", 1e3), ("K", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12)]
        var scale = 1.0
        for (p, f) in prefixes where text.hasSuffix(p) {
            text.removeLast(p.count)
            scale = f
            break
        }
        guard let v = Double(text.trimmingCharacters(in: .whitespaces)), v.isFinite, v * scale < 9e18 else {
            report(path, node, "expected \(expected), got '\(s)'")
            return nil
        }
        guard v > 0 else {
            report(path, node, "must be more than zero, got '\(s)'")
            return nil
        }
        return Int64((v * scale).rounded())
    }

    /// An absolute path, relative ones taken from the config file's directory.
    func resolvePath(_ p: String) -> String {
        if p.hasPrefix("/") { return p }
        if p == "~" || p.hasPrefix("~/") { return NSString(string: p).expandingTildeInPath }
        return URL(fileURLWithPath: baseDirectory).appendingPathComponent(p).standardizedFileURL.path
    }
}

/// `key:` and `key: ~` / `null` (plain, untagged) mean "not set".
func isNull(_ node: Node) -> Bool {
    guard let s = node.scalar, s.style == .plain || s.style == .any else { return false }
    return ["", "~", "null", "Null", "NULL"].contains(s.string)
}
