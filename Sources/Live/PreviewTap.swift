import Decode
import Encode
import Foundation
import FrameGraph
import Pipeline

/// One preview picture: a small JPEG of a pipeline's stylized output.
public struct PreviewFrame: Sendable {
    /// Increases by one per picture, so a reader can tell a new picture from the one it already sent.
    public var sequence: Int
    public var jpeg: [UInt8]
    public var width: Int
    public var height: Int
}

/// A pipeline's live preview for the web page: at most `framesPerSecond` of the stylized frames, shrunk to
/// `maxSide` and encoded as JPEG, shared by every viewer (one encode however many watch).
///
/// It costs nothing while nobody watches: `offer` returns after one comparison. While someone watches, the
/// encode thread only copies a frame into a reused buffer (at the preview rate, and only when the previous one
/// is done), and a dedicated thread resizes and encodes it, so a slow JPEG encode can never delay the outputs:
/// it just lowers the preview's rate. That thread exists only while frames come (it ends after `idleExit`
/// without one), so a pipeline that is replaced or stopped leaves no thread behind.
public final class PreviewTap: @unchecked Sendable {
    public let framesPerSecond: Double
    public let maxSide: Int
    public let quality: Int
    /// The preview thread ends after this long without a frame.
    let idleExit: Duration

    private let condition = NSCondition()
    // Guarded by `condition`.
    private var viewers = 0
    private var pending: RGBImage?
    /// A buffer the preview thread is done with, reused for the next copy.
    private var spare: [UInt8] = []
    private var threadRunning = false
    /// The last preview thread, joined before the next one starts (it has returned by then).
    private var thread: StageThread?
    private var lastTaken: ContinuousClock.Instant?
    private var latest: PreviewFrame?
    /// The last sequence number given, kept across viewers and threads so numbers never repeat.
    private var lastSequence = 0
    private var failure: String?

    public init(framesPerSecond: Double = 5, maxSide: Int = 320, quality: Int = 70, idleExit: Duration = .seconds(2)) {
        self.framesPerSecond = framesPerSecond; self.maxSide = maxSide; self.quality = quality; self.idleExit = idleExit
    }

    /// Counts a viewer in; the preview runs while at least one is counted. Pair with `leave`.
    public func join() { condition.withLock { viewers += 1 } }

    public func leave() {
        condition.withLock {
            viewers = max(0, viewers - 1)
            // Nobody watches: a stale picture must not be shown to the next viewer as if it were live.
            if viewers == 0 { latest = nil }
        }
    }

    public var viewerCount: Int { condition.withLock { viewers } }

    /// The newest picture if it is newer than `sequence`, else nil (never blocks).
    public func frame(after sequence: Int) -> PreviewFrame? {
        condition.withLock { latest.flatMap { $0.sequence > sequence ? $0 : nil } }
    }

    /// Why the last preview picture could not be made, if it could not.
    public var lastError: String? { condition.withLock { failure } }

    /// Called by the encode thread for every stylized frame: copies it when a viewer wants one and the previous
    /// copy is done. Never waits for the preview thread.
    func offer(_ image: RGBImage, now: ContinuousClock.Instant = .now) {
        condition.lock()
        guard viewers > 0, pending == nil,
              lastTaken.map({ now - $0 >= .seconds(1 / framesPerSecond) }) ?? true else {
            condition.unlock()
            return
        }
        lastTaken = now
        var buffer = spare
        spare = []
        buffer.removeAll(keepingCapacity: true)
        buffer.append(contentsOf: image.pixels)
        pending = RGBImage(width: image.width, height: image.height, pixels: buffer)
        if threadRunning {
            condition.signal()
            condition.unlock()
            return
        }
        threadRunning = true
        let previous = thread
        condition.unlock()
        previous?.join()
        do {
            let started = try StageThread(name: "preview") { [self] in run() }
            condition.withLock { thread = started }
        } catch {
            condition.withLock { threadRunning = false; pending = nil; failure = "\(error)" }
        }
    }

    /// The preview thread: encodes pending frames until none has come for `idleExit`.
    private func run() {
        let resizer = PictureResizer()
        while true {
            condition.lock()
            let deadline = Date().addingTimeInterval(idleExit.inSeconds)
            while pending == nil {
                if !condition.wait(until: deadline) && pending == nil {
                    threadRunning = false
                    condition.unlock()
                    return
                }
            }
            let image = pending!
            condition.unlock()

            let result = Result { try encode(image, resizer: resizer) }
            condition.lock()
            pending = nil
            spare = image.pixels
            switch result {
            case .success(let (jpeg, width, height)):
                // A picture finished after the last viewer left is not kept.
                if viewers > 0 {
                    lastSequence += 1
                    latest = PreviewFrame(sequence: lastSequence, jpeg: jpeg, width: width, height: height)
                }
                failure = nil
            case .failure(let error):
                failure = "\(error)"
            }
            condition.unlock()
        }
    }

    private func encode(_ image: RGBImage, resizer: PictureResizer) throws -> ([UInt8], Int, Int) {
        let size = FrameSizing.fitted(PixelSize(width: image.width, height: image.height), maxSide: maxSide)
        let small = try resizer.resize(image, width: size.width, height: size.height)
        return (try ImageEncoder.encoded(small, as: .jpeg, quality: quality), size.width, size.height)
    }
}
