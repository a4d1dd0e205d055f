public import Foundation
public import Pipeline

/// Mean squared difference of two 8-bit pictures' samples on the 0…1 scale (1 for samples of different counts,
/// the largest there is).
public func meanSquaredDifference(samples a: [UInt8], _ b: [UInt8]) -> Double {
    guard a.count == b.count, !a.isEmpty else { return 1 }
    var se = 0.0
    for i in a.indices { let d = Double(a[i]) - Double(b[i]); se += d * d }
    return se / Double(a.count) / (255 * 255)
}

/// Peak signal-to-noise ratio in dB of two 8-bit pictures' samples, the one definition every test uses:
/// +∞ for identical samples, 0 for samples of different counts (so an assertion on it fails, naming it, rather
/// than the test process stopping).
public func psnr(samples a: [UInt8], _ b: [UInt8]) -> Double {
    guard a.count == b.count, !a.isEmpty else { return 0 }
    let mse = meanSquaredDifference(samples: a, b)
    return mse == 0 ? .infinity : -10 * log10(mse)
}

/// PSNR of two RGB pictures (0 dB for pictures of different sizes).
public func psnr(_ a: RGBImage, _ b: RGBImage) -> Double {
    guard a.width == b.width, a.height == b.height else { return 0 }
    return psnr(samples: a.pixels, b.pixels)
}

/// Mean squared difference of two RGB pictures on the 0…1 scale (1 for pictures of different sizes).
public func meanSquaredDifference(_ a: RGBImage, _ b: RGBImage) -> Double {
    guard a.width == b.width, a.height == b.height else { return 1 }
    return meanSquaredDifference(samples: a.pixels, b.pixels)
}
