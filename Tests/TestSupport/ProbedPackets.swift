import Foundation

/// One packet of a media file as ffprobe (an independent reader) lists it: where it starts and how long it lasts
/// in seconds, and its size in bytes (-1 when ffprobe gives none).
public struct ProbedPacket: Sendable {
    public var start: Double
    public var duration: Double
    public var size: Int

    public init(start: Double, duration: Double, size: Int = -1) {
        self.start = start; self.duration = duration; self.size = size
    }
}

/// The packets of the first stream of a kind ("v", "a", "s") of `path`, in file order (those without a timestamp
/// left out).
public func mediaPackets(_ path: String, _ kind: String) throws -> [ProbedPacket] {
    let object = try ffprobeJSON(["-v", "error", "-show_packets", "-select_streams", "\(kind):0", "-show_entries",
                                  "packet=pts_time,duration_time,size", path])
    return ((object["packets"] as? [[String: Any]]) ?? []).compactMap { packet in
        guard let start = (packet["pts_time"] as? String).flatMap(Double.init) else { return nil }
        return ProbedPacket(start: start, duration: (packet["duration_time"] as? String).flatMap(Double.init) ?? 0,
                           size: Int(packet["size"] as? String ?? "") ?? -1)
    }
}

/// From the first packet's start to the last one's end, in seconds (0 without packets): a stream's length from its
/// packets, which every container has (FLV gives no per-stream duration).
public func mediaSpan(_ packets: [ProbedPacket]) -> Double {
    guard let first = packets.map(\.start).min(), let last = packets.map({ $0.start + $0.duration }).max() else { return 0 }
    return last - first
}
