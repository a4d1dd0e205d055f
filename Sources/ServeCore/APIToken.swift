import Foundation
package import ServeConfig

/// The API's bearer token, replaceable while the server runs: a reload (SIGHUP or `POST /v1/reload`) re-reads
/// `token`/`token_file`, so a leaked token is rotated without dropping a single live stream.
package final class APIToken: @unchecked Sendable {
    private let lock = NSLock()
    private var token: String?

    package init(_ token: String?) { self.token = token }

    package var current: String? { lock.withLock { token } }

    package func replace(with token: String?) { lock.withLock { self.token = token } }

    /// The token `server` configures: inline (or from STREAMD_SERVER_TOKEN, already folded in by the loader),
    /// else the trimmed contents of `token_file`, else none.
    ///
    /// - Throws: `TokenFileError` naming the file when it cannot be read or is empty.
    package static func resolve(_ server: ServerConfig) throws -> String? {
        if let token = server.token { return token }
        guard let file = server.tokenFile else { return nil }
        let text: String
        do {
            text = try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            throw TokenFileError(description: "\(file): cannot read the API token file (\(error.localizedDescription))")
        }
        let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty else { throw TokenFileError(description: "\(file): the API token file is empty") }
        return token
    }
}

package struct TokenFileError: Error, CustomStringConvertible {
    package var description: String
}
