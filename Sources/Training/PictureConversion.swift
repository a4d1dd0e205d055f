public import Pipeline

/// Pictures as the training code sees them: RGB planar, 0…1 (PyTorch's `ToTensor`), to and from the 8-bit
/// interleaved `RGBImage` that decoders and encoders exchange.
extension FeatureMap {
    public init(picture image: RGBImage) {
        let plane = image.width * image.height
        var values = [Float](repeating: 0, count: 3 * plane)
        image.pixels.withUnsafeBufferPointer { p in
            for i in 0..<plane {
                values[i] = Float(p[3 * i]) / 255
                values[plane + i] = Float(p[3 * i + 1]) / 255
                values[2 * plane + i] = Float(p[3 * i + 2]) / 255
            }
        }
        self.init(channels: 3, height: image.height, width: image.width, values: values)
    }

    /// Clamped to 0…1 and rounded to 8 bits.
    public func rgbImage() -> RGBImage {
        precondition(channels == 3, "a picture has 3 channels, this map \(channels)")
        let plane = self.plane
        var pixels = [UInt8](repeating: 0, count: 3 * plane)
        for i in 0..<plane {
            for c in 0..<3 { pixels[3 * i + c] = UInt8(max(0, min(255, (values[c * plane + i] * 255).rounded()))) }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }
}
