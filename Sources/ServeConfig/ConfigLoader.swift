public import Foundation
import Yams

/// Builds a `ServeConfig` from the layers, lowest precedence first:
/// 1. defaults (the values in `ServeConfig`'s types),
/// 2. the YAML file,
/// 3. `STREAMD_SERVER_<KEY>` environment variables, one per `server:` key (`STREAMD_SERVER_PORT=9000`,
///    `STREAMD_SERVER_TOKEN=…`, `STREAMD_SERVER_MODEL_DIRS=/a:/b`); other `STREAMD_*` variables are not
///    configuration and are ignored here,
/// 4. `--set KEY=VALUE` flags naming any key path (`pipelines.cam1.strength=0.5`,
///    `pipelines.cam1.outputs[0].bitrate=4M`), the value read as YAML.
/// Every problem is collected and thrown together as `ConfigErrors`, one line each.
public enum ConfigLoader {
    public static func load(file: String, environment: [String: String] = ProcessInfo.processInfo.environment,
                            overrides: [String] = []) throws -> ServeConfig {
        let text = try readText(file)
        let base = URL(fileURLWithPath: file).deletingLastPathComponent().path
        return try parse(yaml: text, fileName: file, baseDirectory: base, environment: environment, overrides: overrides)
    }

    public static func parse(yaml: String, fileName: String, baseDirectory: String,
                             environment: [String: String] = [:], overrides: [String] = []) throws -> ServeConfig {
        let reader = NodeReader(fileName: fileName, baseDirectory: baseDirectory)
        var root: Node
        do {
            root = try Yams.compose(yaml: yaml) ?? Node.mapping(Node.Mapping([]))
        } catch {
            throw ConfigErrors([ConfigIssue(location: fileName, path: "", message: "invalid YAML: \(describeYAMLError(error, fileName: fileName))")])
        }
        if isNull(root) { root = Node.mapping(Node.Mapping([])) }

        var layerIssues: [ConfigIssue] = []
        for (name, value) in environment.sorted(by: { $0.key < $1.key }) where name.hasPrefix(environmentPrefix) {
            let key = String(name.dropFirst(environmentPrefix.count)).lowercased()
            let origin = "environment \(name)"
            guard ServerKeys.all.contains(key) else {
                let hint = closest(to: key, in: ServerKeys.all).map { " (did you mean \(environmentPrefix)\($0.uppercased())?)" }
                    ?? " (expected one of \(ServerKeys.all.map { environmentPrefix + $0.uppercased() }.joined(separator: ", ")))"
                layerIssues.append(ConfigIssue(location: origin, path: "", message: "unknown setting\(hint)"))
                continue
            }
            let node: Node = key == "model_dirs"
                ? Node.sequence(Node.Sequence(value.split(separator: ":").map { Node.scalar(Node.Scalar(String($0), .init(.str))) }))
                : Node.scalar(Node.Scalar(value, .init(.str)))
            let path = ConfigPath([.key("server"), .key(key)])
            if let message = set(&root, at: path.components[...], to: node) {
                layerIssues.append(ConfigIssue(location: origin, path: path.description, message: message))
            }
            reader.origins[path.description] = origin
        }
        for assignment in overrides {
            let origin = "--set \(assignment)"
            guard let eq = assignment.firstIndex(of: "="), let path = ConfigPath(parsing: String(assignment[..<eq])) else {
                layerIssues.append(ConfigIssue(location: origin, path: "", message: "expected KEY=VALUE with a key path such as server.port or pipelines.cam1.outputs[0].bitrate"))
                continue
            }
            let valueText = String(assignment[assignment.index(after: eq)...])
            let value: Node
            do {
                value = try Yams.compose(yaml: valueText) ?? Node.scalar(Node.Scalar(""))
            } catch {
                layerIssues.append(ConfigIssue(location: origin, path: path.description, message: "invalid YAML value: \(describeYAMLError(error, fileName: "value"))"))
                continue
            }
            if let message = set(&root, at: path.components[...], to: value) {
                layerIssues.append(ConfigIssue(location: origin, path: path.description, message: message))
            }
            reader.origins[path.description] = origin
        }

        let config = ConfigDecoder(reader).decode(root)
        let issues = layerIssues + reader.issues
        if !issues.isEmpty { throw ConfigErrors(issues) }
        guard let config else { throw ConfigErrors([ConfigIssue(location: fileName, path: "", message: "no configuration")]) }
        return config
    }

    public static let environmentPrefix = "STREAMD_SERVER_"

    /// The file's text, or one line naming the file and why it cannot be read.
    static func readText(_ file: String) throws -> String {
        let fail = { (message: String) in ConfigErrors([ConfigIssue(location: file, path: "", message: message)]) }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory) else { throw fail("no such file") }
        guard !isDirectory.boolValue else { throw fail("is a directory, not a config file") }
        guard FileManager.default.isReadableFile(atPath: file), let data = FileManager.default.contents(atPath: file) else {
            throw fail("cannot read (permission denied)")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw fail("not UTF-8 text") }
        return text
    }

    /// Puts `value` at `path` inside `node`, creating mappings on the way; a message when that is impossible.
    static func set(_ node: inout Node, at path: ArraySlice<ConfigPath.Component>, to value: Node) -> String? {
        guard let first = path.first else {
            node = value
            return nil
        }
        switch first {
        case .key(let key):
            if isNull(node) { node = Node.mapping(Node.Mapping([])) }
            guard let mapping = node.mapping else { return "cannot set a key inside \(describe(node))" }
            var pairs = Array(mapping)
            if let i = pairs.firstIndex(where: { $0.key.scalar?.string == key }) {
                var child = pairs[i].value
                if let m = set(&child, at: path.dropFirst(), to: value) { return m }
                pairs[i] = (key: pairs[i].key, value: child)
            } else {
                var child = Node.scalar(Node.Scalar(""))
                if let m = set(&child, at: path.dropFirst(), to: value) { return m }
                pairs.append((key: Node.scalar(Node.Scalar(key)), value: child))
            }
            node = Node.mapping(Node.Mapping(pairs.map { ($0.key, $0.value) }, mapping.tag, mapping.style, mapping.mark))
            return nil
        case .index(let index):
            guard let sequence = node.sequence else { return "cannot index into \(describe(node))" }
            var items = Array(sequence)
            guard items.indices.contains(index) else { return "no item [\(index)] (the list has \(items.count))" }
            if let m = set(&items[index], at: path.dropFirst(), to: value) { return m }
            node = Node.sequence(Node.Sequence(items, sequence.tag, sequence.style, sequence.mark))
            return nil
        }
    }

    private static func describe(_ node: Node) -> String {
        if node.sequence != nil { return "a list" }
        if let s = node.scalar?.string { return "the value '\(s)'" }
        return "a mapping"
    }

    /// libyaml's problem and position on one line.
    static func describeYAMLError(_ error: Error, fileName: String) -> String {
        if let e = error as? YamlError {
            switch e {
            case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _):
                let where_ = "line \(mark.line) column \(mark.column)"
                if let context { return "\(problem) \(context.text) (\(where_))" }
                return "\(problem) (\(where_))"
            default:
                break
            }
        }
        return String(describing: error).split(whereSeparator: \.isNewline).first.map(String.init) ?? "\(error)"
    }
}

enum ServerKeys {
    static let all = ["listen", "port", "token", "token_file", "model_dirs", "log_level",
                      "header_timeout", "body_timeout", "idle_timeout", "max_connections", "ui", "stylize_jobs",
                      "stylize_queue", "stylize_max_bytes", "webrtc_addresses", "webrtc_viewers", "webrtc_bitrate"]
}
