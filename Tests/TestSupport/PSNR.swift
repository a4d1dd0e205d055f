public import Foundation

/// Peak signal-to-noise ratio in dB of two 8-bit pictures' samples (equal counts); 99 for identical ones.
public func psnr(samples a: [UInt8], _ b: [UInt8]) -> Double {
    precondition(a.count == b.count && !a.isEmpty, "pictures of different sizes")
    var se = 0.0
    for i in a.indices { let d = Double(a[i]) - Double(b[i]); se += d * d }
    let mse = se / Double(a.count)
    return mse == 0 ? 99 : 10 * log10(255 * 255 / mse)
}
