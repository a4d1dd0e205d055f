/// One operator of the loss network, Caffe style: `forward` keeps exactly what `backward` needs, and `backward`
/// (for the last forward) writes the input gradient and adds parameter gradients into the layer's own
/// gradient arrays. Layers hold state between the two calls, so they are classes, one per place in a network.
public protocol Layer: AnyObject {
    func forward(_ x: FeatureMap, into y: inout FeatureMap)
    func backward(_ dy: FeatureMap, into dx: inout FeatureMap)
}

extension Conv2d: Layer {}
extension ReLU: Layer {}
extension MaxPool2x2: Layer {}
extension AvgPool2x2: Layer {}
extension InstanceNorm: Layer {}
extension UpsampleNearest2x: Layer {}
extension ScaledTanh: Layer {}
extension DepthwiseConv2d: Layer {}
extension ConvTranspose2d: Layer {}
extension Sigmoid: Layer {}
