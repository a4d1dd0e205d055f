import ArgumentParser
import Decode
import Foundation

/// `streamd devices`: the V4L2 cameras present and what they deliver.
struct DevicesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devices",
        abstract: "List V4L2 video capture devices with their formats, sizes and frame rates.")

    @Argument(help: "Devices to inspect (default: every /dev/videoN).")
    var devices: [String] = []

    func run() async throws {
        try await runReportingErrors {
            if devices.isEmpty {
                // Every node; nodes that cannot be opened are reported but do not hide the others.
                var found = 0
                for path in VideoDevices.nodes() {
                    do {
                        if let device = try VideoDevices.inspect(path) {
                            print(device.listing, terminator: "")
                            found += 1
                        }
                    } catch {
                        note("streamd: warning: \(error)")
                    }
                }
                if found == 0 { print("no video capture devices found") }
            } else {
                for path in devices {
                    guard let device = try VideoDevices.inspect(path) else {
                        throw VideoDeviceError(path: path, reason: "a V4L2 device that does not capture video")
                    }
                    print(device.listing, terminator: "")
                }
            }
        }
    }
}
