#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A named pthread that can be joined: the data plane's unit of execution.
///
/// Foundation's `Thread` cannot be joined, and a pipeline that says it stopped must have no thread left
/// behind (a blocked avcodec or sgemm call on a forgotten thread keeps memory and file descriptors alive), so
/// stages and workers run on raw pthreads and `join()` really waits for the thread to exit. Public for the few
/// threads outside a stage group (a pipeline's preview encoder), which are named and counted the same way.
public final class StageThread: @unchecked Sendable {
    /// Threads started by this module that have not returned yet, for leak checks and diagnostics.
    public static var liveCount: Int { counter.withLock { live } }

    nonisolated(unsafe) private static var live = 0
    private static let counter = Monitor(conditions: 0)

    public let name: String
    #if canImport(Darwin)
    private var handle: pthread_t?
    #else
    private var handle = pthread_t()
    #endif
    private var joined = false

    /// The closure and name handed across `pthread_create`, which takes one untyped pointer.
    private final class Payload {
        let name: String
        let body: @Sendable () -> Void
        init(name: String, body: @escaping @Sendable () -> Void) {
            self.name = name
            self.body = body
        }
    }

    /// Starts `body` on a new thread named `name` (Linux keeps the first 15 bytes, which `top -H` shows).
    public init(name: String, body: @escaping @Sendable () -> Void) throws {
        self.name = name
        let payload = Unmanaged.passRetained(Payload(name: name, body: body)).toOpaque()
        Self.counter.withLock { Self.live += 1 }
        let result = pthread_create(&handle, nil, { raw in
            #if canImport(Darwin)
            let payload = Unmanaged<Payload>.fromOpaque(raw).takeRetainedValue()
            _ = payload.name.withCString { pthread_setname_np($0) }
            #else
            let payload = Unmanaged<Payload>.fromOpaque(raw!).takeRetainedValue()
            setCurrentThreadName(payload.name)
            #endif
            payload.body()
            StageThread.counter.withLock { StageThread.live -= 1 }
            return nil
        }, payload)
        if result != 0 {
            Unmanaged<Payload>.fromOpaque(payload).release()
            Self.counter.withLock { Self.live -= 1 }
            joined = true
            throw PipelineError(stage: name, message: "cannot start thread (pthread_create returned \(result))")
        }
    }

    /// Waits for the thread to exit. Called once, from one thread (the owner); later calls return at once.
    public func join() {
        if joined { return }
        joined = true
        #if canImport(Darwin)
        pthread_join(handle!, nil)
        #else
        pthread_join(handle, nil)
        #endif
    }

    deinit {
        // An owner that never joined must not leave a zombie thread record behind.
        if !joined {
            #if canImport(Darwin)
            pthread_detach(handle!)
            #else
            pthread_detach(handle)
            #endif
        }
    }
}

#if !canImport(Darwin)
/// glibc's `pthread_setname_np`, looked up at run time: it is a GNU extension the Swift `Glibc` module does not
/// export, and `prctl(PR_SET_NAME)` is variadic, which Swift cannot call. Naming is for `top -H` and debuggers
/// only, so a C library without it simply leaves threads unnamed.
private let setThreadName: (@convention(c) (pthread_t, UnsafePointer<CChar>) -> Int32)? = {
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "pthread_setname_np") else { return nil }
    return unsafeBitCast(symbol, to: (@convention(c) (pthread_t, UnsafePointer<CChar>) -> Int32).self)
}()

/// Names the calling thread; Linux keeps 15 bytes, so the name is cut at a character boundary within them.
private func setCurrentThreadName(_ name: String) {
    guard let setThreadName else { return }
    var bytes = 0
    var cut = ""
    for character in name {
        bytes += character.utf8.count
        if bytes > 15 { break }
        cut.append(character)
    }
    _ = cut.withCString { setThreadName(pthread_self(), $0) }
}
#endif
