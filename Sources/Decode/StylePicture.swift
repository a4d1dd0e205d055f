public import Pipeline

/// How a painting becomes the input of the arbitrary-style predictor, as Magenta prepares it: the largest
/// centred square of the picture, scaled to `size`×`size` (area averaging when shrinking, bicubic when
/// growing; libswscale, as every resize in streamd). The square crop keeps the painting's brush strokes at
/// their own proportions; squeezing a wide painting into a square would stretch them.
public enum StylePicture {
    public static func square(_ picture: RGBImage, size: Int) throws -> RGBImage {
        let side = min(picture.width, picture.height)
        let cropped = picture.width == picture.height ? picture
            : picture.cropped(x: (picture.width - side) / 2, y: (picture.height - side) / 2, width: side, height: side)
        if side == size { return cropped }
        return try ImageDecoder.resize(cropped, width: size, height: size)
    }

    /// A picture file read and made square (errors name the file).
    public static func load(path: String, size: Int) throws -> RGBImage {
        try square(try ImageDecoder.decode(path: path), size: size)
    }
}
