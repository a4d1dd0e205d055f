import Decode
import Foundation
import TestSupport
import XCTest

final class DevicesCommandTests: XCTestCase {
    /// `/dev/videoN` nodes as the test sees them (independently of the code under test).
    var videoNodes: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/dev")) ?? [])
            .filter { $0.hasPrefix("video") && Int($0.dropFirst(5)) != nil }.map { "/dev/" + $0 }
    }

    func testListsCapturesDevicesOrSaysPlainlyThereAreNone() throws {
        let r = try CLI.run(["devices"], timeout: 60)
        XCTAssertEqual(r.status, 0, r.stderr)
        if videoNodes.isEmpty {
            XCTAssertEqual(r.stdout, "no video capture devices found\n")
            XCTAssertEqual(r.stderr, "")
        } else {
            // Each device line names one of the nodes; each is followed by its formats, indented.
            let deviceLines = r.stdout.split(separator: "\n").filter { !$0.hasPrefix("  ") }
            for line in deviceLines where line != "no video capture devices found" {
                let path = String(line.prefix { $0 != ":" })
                XCTAssertTrue(videoNodes.contains(path), "\(line) names a /dev/video node")
            }
            XCTAssertFalse(r.stdout.isEmpty)
        }
    }

    func testAPathThatIsNotACameraIsAnErrorNamingIt() throws {
        CLI.assertFails(try CLI.run(["devices", "/dev/null"]), mentioning: ["/dev/null: not a V4L2 device"])
        let missing = "/dev/video\(9000 + Int.random(in: 0..<999))"
        CLI.assertFails(try CLI.run(["devices", missing]), mentioning: ["\(missing): no such file"])
    }

    /// The real ioctl path against PipeWire's userspace V4L2 emulation. It answers QUERYCAP, ENUM_FMT and
    /// ENUM_FRAMESIZES but not ENUM_FRAMEINTERVALS, so no frame rates are listed for it. `pw-v4l2` intercepts
    /// `open`, not directory listings, so the device is named explicitly.
    func testInspectsAFakeCameraThroughPipeWire() throws {
        for (format, line) in [(FakeCamera.Format.yuyv, "  YUYV (YUYV 4:2:2): 640x480"),
                               (.mjpeg, "  MJPG (Motion-JPEG, compressed): 640x480")] {
            let camera = try FakeCamera(format: format)
            defer { camera.stop() }
            var last: CLI.Result?
            try camera.waitFor("the fake camera's node", seconds: 20) {
                let r = try CLI.run(["devices", "/dev/video0"], environment: camera.environment, timeout: 20, launcher: FakeCamera.launcher)
                last = r
                return r.status == 0 && r.stdout.contains(line)
            }
            let r = try XCTUnwrap(last)
            let lines = r.stdout.split(separator: "\n").map(String.init)
            XCTAssertEqual(lines.count, 2, r.stdout)
            XCTAssertTrue(lines.first?.hasPrefix("/dev/video0: ") ?? false, r.stdout)
            XCTAssertTrue(lines.first?.contains("(PipeWire, ") ?? false, "driver named: \(r.stdout)")
            XCTAssertEqual(lines.last, line)
        }
    }

    func testListingShowsFormatsSizesAndRates() {
        let camera = VideoDevice(path: "/dev/video0", card: "HD Webcam", driver: "uvcvideo", busInfo: "usb-0000:00:14.0-1", formats: [
            .init(fourcc: VideoDevices.fourccString(0x4750_4A4D), description: "Motion-JPEG", compressed: true, sizes: [
                .init(width: 1280, height: 720, frameRates: [30, 15]),
                .init(width: 640, height: 480, frameRates: [30000.0 / 1001]),
            ]),
            .init(fourcc: VideoDevices.fourccString(0x5659_5559), description: "YUYV 4:2:2", compressed: false, sizes: [
                .init(width: 320, height: 240, frameRates: [], frameRateRange: 1...60),
            ]),
            .init(fourcc: "GREY", description: "8-bit Greyscale", compressed: false, sizes: [],
                  sizeRange: .init(minWidth: 16, maxWidth: 1920, stepWidth: 16, minHeight: 16, maxHeight: 1080, stepHeight: 8)),
        ])
        XCTAssertEqual(camera.listing, """
        /dev/video0: HD Webcam (uvcvideo, usb-0000:00:14.0-1)
          MJPG (Motion-JPEG, compressed): 1280x720 @ 30, 15 fps; 640x480 @ 29.97 fps
          YUYV (YUYV 4:2:2): 320x240 @ 1-60 fps
          GREY (8-bit Greyscale): 16x16 to 1920x1080 in steps of 16x8

        """)
    }

    func testFourCCNames() {
        XCTAssertEqual(VideoDevices.fourccString(0x4750_4A4D), "MJPG")
        XCTAssertEqual(VideoDevices.fourccString(0x2020_3859), "Y8", "trailing spaces are dropped")
        XCTAssertEqual(VideoDevices.fourccString(0x5659_5559 | 1 << 31), "YUYV-BE")
    }
}
