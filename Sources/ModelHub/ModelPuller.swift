import Crypto
package import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Downloads a named model of the ml5 collection into a model directory.
///
/// Every file is checked against the size and SHA-256 recorded in `ML5Catalog` before anything is installed;
/// files land in a hidden temporary folder beside the destination and are renamed into place only when all
/// are good, so a failed or tampered download leaves nothing behind.
package struct ModelPuller {
    package struct Failure: Error, CustomStringConvertible {
        package var description: String
    }

    package var baseURL: String
    package var directory: String
    package var overwrite = false
    /// Per-request time limit: a dead server cannot hang the command.
    package var timeout: TimeInterval = 30
    package var progress: (_ done: Int, _ total: Int, _ bytes: Int, _ totalBytes: Int) -> Void = { _, _, _, _ in }

    package init(baseURL: String, directory: String, overwrite: Bool = false, timeout: TimeInterval = 30,
                 progress: @escaping (_ done: Int, _ total: Int, _ bytes: Int, _ totalBytes: Int) -> Void = { _, _, _, _ in }) {
        self.baseURL = baseURL; self.directory = directory; self.overwrite = overwrite; self.timeout = timeout; self.progress = progress
    }

    package func pull(_ name: String) async throws -> String {
        guard let files = ML5Catalog.models[name] else {
            throw Failure(description: "unknown model '\(name)' (available: \(ML5Catalog.models.keys.sorted().joined(separator: ", ")))")
        }
        let fm = FileManager.default
        let destination = (directory as NSString).appendingPathComponent(name)
        if fm.fileExists(atPath: destination) && !overwrite {
            throw Failure(description: "\(destination): already exists (pass --overwrite to replace it)")
        }
        do {
            try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw Failure(description: "\(directory): cannot create the model directory (\(reason(error)))")
        }
        let staging = (directory as NSString).appendingPathComponent(".pull-\(name)-\(UUID().uuidString.prefix(8))")
        do {
            try fm.createDirectory(atPath: staging, withIntermediateDirectories: false)
        } catch {
            throw Failure(description: "\(directory): not writable (\(reason(error)))")
        }
        var installed = false
        defer { if !installed { try? fm.removeItem(atPath: staging) } }

        let config = URLSessionConfiguration.ephemeral
        config.timeoutIntervalForRequest = timeout
        config.timeoutIntervalForResource = timeout * 4
        let session = URLSession(configuration: config)
        defer { session.finishTasksAndInvalidate() }

        let totalBytes = files.reduce(0) { $0 + $1.size }
        var bytes = 0
        let base = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        for (i, file) in files.enumerated() {
            let urlString = "\(base)/\(name)/\(file.name)"
            guard let url = URL(string: urlString), let scheme = url.scheme, ["http", "https"].contains(scheme) else {
                throw Failure(description: "\(urlString): not an http(s) URL")
            }
            let data: Data
            let response: URLResponse
            do {
                (data, response) = try await session.data(for: URLRequest(url: url, timeoutInterval: timeout))
            } catch {
                throw Failure(description: "\(urlString): download failed (\(reason(error)))")
            }
            if let http = response as? HTTPURLResponse, http.statusCode != 200 {
                throw Failure(description: "\(urlString): server answered HTTP \(http.statusCode)")
            }
            guard data.count == file.size else {
                throw Failure(description: "\(urlString): got \(data.count) bytes, expected \(file.size) (truncated or altered)")
            }
            let digest = SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
            guard digest == file.sha256 else {
                throw Failure(description: "\(urlString): SHA-256 \(digest.prefix(16))… does not match the recorded \(file.sha256.prefix(16))… (tampered or wrong file)")
            }
            do {
                try data.write(to: URL(fileURLWithPath: (staging as NSString).appendingPathComponent(file.name)))
            } catch {
                throw Failure(description: "\(staging): cannot write \(file.name) (\(reason(error)))")
            }
            bytes += data.count
            progress(i + 1, files.count, bytes, totalBytes)
        }
        if fm.fileExists(atPath: destination) {
            do { try fm.removeItem(atPath: destination) } catch {
                throw Failure(description: "\(destination): cannot replace (\(reason(error)))")
            }
        }
        guard rename(staging, destination) == 0 else {
            throw Failure(description: "\(destination): cannot install (\(String(cString: strerror(errno))))")
        }
        installed = true
        return destination
    }

    package func reason(_ error: Error) -> String {
        let ns = error as NSError
        if let u = ns.userInfo[NSUnderlyingErrorKey] as? NSError, u.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(u.code)))
        }
        return ns.localizedDescription
    }
}
