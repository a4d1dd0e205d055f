/// A chain of layers run forward with every output kept, then backward once in reverse, with losses adding
/// their gradients at the outputs they read on the way down: Gatys' losses sit at several depths of VGG
/// (conv1_1 … conv5_1 for style, conv4_2 for content), so the gradient arriving at a layer's output is what
/// the layers above send back plus what the losses at that output add.
///
/// All maps (outputs and their gradients) belong to the tape and are reused from one step to the next.
public final class LayerTape {
    public let layers: [any Layer]
    /// outputs[i] is the output of layers[i] in the last forward.
    public private(set) var outputs: [FeatureMap]
    private var gradients: [FeatureMap]
    private var inputGradient = FeatureMap()

    public init(_ layers: [any Layer]) {
        precondition(!layers.isEmpty, "a tape needs a layer")
        self.layers = layers
        outputs = Array(repeating: FeatureMap(), count: layers.count)
        gradients = outputs
    }

    public func forward(_ x: FeatureMap) {
        var input = x
        for i in layers.indices {
            layers[i].forward(input, into: &outputs[i])
            input = outputs[i]
        }
    }

    /// Runs the chain backward from the last forward and returns dL/d(input). For each output i, deepest first,
    /// `addLossGradients(i, &gradient)` receives dL/d(outputs[i]) as the layers above sent it (zeros at the
    /// last output) and adds the gradients of the losses that read outputs[i]; losses are typically evaluated
    /// there too. Parameter gradients accumulate in the layers.
    public func backward(addLossGradients: (Int, inout FeatureMap) -> Void) -> FeatureMap {
        let last = layers.count - 1
        let top = outputs[last]
        gradients[last].reshape(channels: top.channels, height: top.height, width: top.width)
        for j in gradients[last].values.indices { gradients[last].values[j] = 0 }
        for i in stride(from: last, through: 0, by: -1) {
            addLossGradients(i, &gradients[i])
            let dy = gradients[i]
            if i > 0 {
                layers[i].backward(dy, into: &gradients[i - 1])
            } else {
                layers[0].backward(dy, into: &inputGradient)
            }
        }
        return inputGradient
    }
}
