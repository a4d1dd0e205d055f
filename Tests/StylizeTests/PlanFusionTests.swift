@testable import Stylize
import XCTest

/// The fusion rules of `PlanBuilder` fire on the networks streamd ships: in the built-in style networks every
/// ReLU, pad, upsample, output rescaling and every normalisation read by one step is folded into a convolution, an addition or the
/// tanh, so none of them costs a pass over a frame of its own (each such pass is a full read and write of a
/// tensor up to 64×480×640 floats). Their outputs are checked against references elsewhere; this checks the
/// passes still reach them.
final class PlanFusionTests: XCTestCase {
    func testTheBuiltInNetworksRunWithEveryElementwiseStepFolded() throws {
        for name in ["default", "arbitrary-fast"] {
            let session = try Session(model: try ModelLoader.load(path: "builtin:" + name))
            let kinds = session.plan.instructions.map(\.kind)
            let standalone = kinds.filter { ["ReLU", "Pad", "UpsampleNearest", "ScalarAffine", "InstanceNorm", "ConditionalInstanceNorm"].contains($0) }
            // One normalisation stays a step of its own: the residual trunk's input, which two steps read (the
            // first block and its skip connection), so it cannot fold into either.
            XCTAssertEqual(standalone, ["ConditionalInstanceNorm"], "\(name): \(kinds)")
            XCTAssertTrue(kinds.contains("Conv2D") && kinds.contains("Tanh"), "\(name): \(kinds)")
            print("\(name): \(kinds.count) steps from \(session.model.graph.nodes.count) nodes: \(kinds.joined(separator: " "))")
        }
    }
}
