import BundledModels

/// The public ml5 style-transfer collection (ml5js/ml5-data-and-models, `models/style-transfer/<name>/`):
/// every file of every model with its size and SHA-256, recorded from a verified copy so `streamd models pull`
/// can refuse a tampered or truncated download. The records are data, not code: `ml5-catalog.tsv`, linked into
/// the binary by BundledModels. The weights themselves are not part of streamd; they carry Engstrom's
/// research/non-commercial licence (see README).
package enum ML5Catalog {
    /// Pinned to the commit the checksums were recorded from, so the files cannot change under them.
    package static let defaultBaseURL = "https://raw.githubusercontent.com/ml5js/ml5-data-and-models/0612a3e7c51cbffdc5db701dff49d16d1ac26fa8/models/style-transfer"

    package struct File: Sendable, Equatable {
        package var name: String
        package var size: Int
        package var sha256: String
    }

    /// Every model's files, in the catalogue's order.
    package static let models: [String: [File]] = {
        var length: UInt64 = 0
        guard let start = streamd_bundled_file("ml5-catalog.tsv", &length) else { preconditionFailure("ml5-catalog.tsv is not bundled") }
        let text = String(decoding: UnsafeRawBufferPointer(start: start, count: Int(length)), as: UTF8.self)
        do { return try parse(text) } catch { preconditionFailure("the bundled ml5-catalog.tsv: \(error)") }
    }()

    package struct FormatError: Error, CustomStringConvertible {
        package var description: String
    }

    /// Lines of `model<TAB>file<TAB>size<TAB>sha256`; `#` starts a comment line.
    package static func parse(_ text: String) throws -> [String: [File]] {
        var models: [String: [File]] = [:]
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            guard !line.isEmpty, !line.hasPrefix("#") else { continue }
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard fields.count == 4, let size = Int(fields[2]), size >= 0, fields[3].count == 64,
                  fields[3].allSatisfy({ $0.isHexDigit && !$0.isUppercase }) else {
                throw FormatError(description: "line \(number + 1): expected model, file, size and a lowercase SHA-256, got '\(line)'")
            }
            models[String(fields[0]), default: []].append(File(name: String(fields[1]), size: size, sha256: String(fields[3])))
        }
        return models
    }
}
