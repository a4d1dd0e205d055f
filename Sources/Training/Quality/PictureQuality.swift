public import Pipeline
import Foundation

/// Two measures of a stylized picture that a person looking at it beside the photo and the painting would agree
/// with, for `streamd eval quality`.
///
/// - **Structure kept**: are the photo's shapes still where they were? The correlation of the two pictures'
///   blurred edge-strength maps. Edges rather than pixels, because a style is meant to change colours and
///   textures; blurred, because brush strokes move an edge by a few pixels without losing it. 1: every edge of
///   the photo is there and nothing else; 0: the result's edges have nothing to do with the photo's (a smear, a
///   flat picture, or a pattern of its own).
/// - **Colour distance**: how far one picture's colours are from another's as distributions (which colours, how
///   much of each), not pixel by pixel: a sliced Wasserstein distance in CIELAB, in its units (about one just
///   noticeable difference each). Measured from the result to the painting, and from the photo to the painting
///   for scale: a style that carries the painting's palette brings the first well below the second.
///
/// Both are plain loops in double precision: a naive reference is all there is, at evaluation sizes.
public enum PictureQuality {
    /// Standard deviation, in pixels, of the Gaussian that blurs the edge maps before they are compared.
    public static let edgeBlurSigma = 2.0

    /// The correlation of the blurred edge-strength maps of `photo` and `result` (same size): luma, Sobel
    /// gradient magnitude, Gaussian blur (σ = `edgeBlurSigma`), Pearson correlation. 0 when either map is flat.
    public static func structure(photo: RGBImage, result: RGBImage) -> Double {
        precondition(photo.width == result.width && photo.height == result.height, "structure: pictures of different sizes")
        let a = blurredEdges(photo), b = blurredEdges(result)
        let n = Double(a.count)
        let meanA = a.reduce(0, +) / n, meanB = b.reduce(0, +) / n
        var covariance = 0.0, varianceA = 0.0, varianceB = 0.0
        for i in a.indices {
            let da = a[i] - meanA, db = b[i] - meanB
            covariance += da * db
            varianceA += da * da
            varianceB += db * db
        }
        guard varianceA > 0, varianceB > 0 else { return 0 }
        return covariance / (varianceA * varianceB).squareRoot()
    }

    /// Luma (BT.601), Sobel gradient magnitude with the border replicated, then a separable Gaussian blur.
    static func blurredEdges(_ image: RGBImage) -> [Double] {
        let w = image.width, h = image.height
        var luma = [Double](repeating: 0, count: w * h)
        for i in 0..<(w * h) {
            luma[i] = 0.299 * Double(image.pixels[3 * i]) + 0.587 * Double(image.pixels[3 * i + 1]) + 0.114 * Double(image.pixels[3 * i + 2])
        }
        func at(_ x: Int, _ y: Int) -> Double { luma[min(max(y, 0), h - 1) * w + min(max(x, 0), w - 1)] }
        var edges = [Double](repeating: 0, count: w * h)
        for y in 0..<h {
            for x in 0..<w {
                let gx = (at(x + 1, y - 1) + 2 * at(x + 1, y) + at(x + 1, y + 1)) - (at(x - 1, y - 1) + 2 * at(x - 1, y) + at(x - 1, y + 1))
                let gy = (at(x - 1, y + 1) + 2 * at(x, y + 1) + at(x + 1, y + 1)) - (at(x - 1, y - 1) + 2 * at(x, y - 1) + at(x + 1, y - 1))
                edges[y * w + x] = (gx * gx + gy * gy).squareRoot()
            }
        }
        return gaussianBlur(edges, width: w, height: h, sigma: edgeBlurSigma)
    }

    static func gaussianBlur(_ plane: [Double], width w: Int, height h: Int, sigma: Double) -> [Double] {
        let radius = Int((3 * sigma).rounded(.up))
        var kernel = (-radius...radius).map { exp(-Double($0 * $0) / (2 * sigma * sigma)) }
        let total = kernel.reduce(0, +)
        kernel = kernel.map { $0 / total }
        var across = [Double](repeating: 0, count: w * h), out = across
        for y in 0..<h {
            for x in 0..<w {
                var s = 0.0
                for k in -radius...radius { s += kernel[k + radius] * plane[y * w + min(max(x + k, 0), w - 1)] }
                across[y * w + x] = s
            }
        }
        for y in 0..<h {
            for x in 0..<w {
                var s = 0.0
                for k in -radius...radius { s += kernel[k + radius] * across[min(max(y + k, 0), h - 1) * w + x] }
                out[y * w + x] = s
            }
        }
        return out
    }

    /// The sliced Wasserstein-1 distance between the colours of `a` and `b` in CIELAB (D65): for each of 16 fixed
    /// directions in Lab, the mean absolute difference of the two pictures' quantile functions of the colours'
    /// projection on it, at 256 levels; averaged over the directions and doubled (a projection keeps on average
    /// half of a difference's length), so that shifting every colour by ΔE reads ΔE: black against white, 100.
    /// Pictures of any sizes; 0 for the same colour distribution.
    public static func colourDistance(_ a: RGBImage, _ b: RGBImage) -> Double {
        let la = lab(a), lb = lab(b)
        var total = 0.0
        for d in directions {
            let qa = quantiles(la, along: d), qb = quantiles(lb, along: d)
            total += zip(qa, qb).map { abs($0 - $1) }.reduce(0, +) / Double(qa.count)
        }
        return 2 * total / Double(directions.count)
    }

    /// 16 unit directions spread over the sphere (a Fibonacci lattice), the same for every call.
    public static let directions: [SIMD3<Double>] = (0..<16).map { i in
        let z = 1 - (2 * Double(i) + 1) / 16
        let r = (1 - z * z).squareRoot(), phi = Double(i) * Double.pi * (3 - 5.0.squareRoot())
        return SIMD3(r * cos(phi), r * sin(phi), z)
    }

    static func quantiles(_ colours: [SIMD3<Double>], along direction: SIMD3<Double>, levels: Int = 256) -> [Double] {
        let sorted = colours.map { ($0 * direction).sum() }.sorted()
        return (0..<levels).map { k in sorted[min(sorted.count - 1, Int((Double(k) + 0.5) / Double(levels) * Double(sorted.count)))] }
    }

    /// CIELAB (D65) colours of at most about 65,536 of the picture's pixels, taken on a regular stride.
    static func lab(_ image: RGBImage) -> [SIMD3<Double>] {
        let count = image.width * image.height
        let stride = max(1, count / 65_536)
        func linear(_ v: UInt8) -> Double {
            let c = Double(v) / 255
            return c <= 0.04045 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4)
        }
        func f(_ t: Double) -> Double { t > 216.0 / 24389 ? cbrt(t) : (24389.0 / 27 * t + 16) / 116 }
        return Swift.stride(from: 0, to: count, by: stride).map { i in
            let r = linear(image.pixels[3 * i]), g = linear(image.pixels[3 * i + 1]), b = linear(image.pixels[3 * i + 2])
            let x = (0.4124564 * r + 0.3575761 * g + 0.1804375 * b) / 0.95047
            let y = 0.2126729 * r + 0.7151522 * g + 0.0721750 * b
            let z = (0.0193339 * r + 0.1191920 * g + 0.9503041 * b) / 1.08883
            return SIMD3(116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z)))
        }
    }
}
