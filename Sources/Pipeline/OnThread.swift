import Foundation

/// Runs a blocking call on a dedicated thread (never on Swift's cooperative pool) and awaits its result: the
/// commands' and the service's way into FFmpeg, BLAS and file work from async code.
public func onThread<T: Sendable>(_ name: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.name = name
        thread.start()
    }
}
