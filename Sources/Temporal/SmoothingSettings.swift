/// How the smoothing stage finds what to keep from the previous frame.
public enum SmoothingMode: String, Sendable, CaseIterable, Codable {
    /// Optical flow of the input frames (OpenCV DIS): the previous output follows the motion, so moving
    /// scenes and camera pans are steadied too.
    case flow
    /// No flow, for weak machines: the previous output is blended in only where the input did not change.
    /// Steadies a fixed camera's background, leaves anything that moves as it is.
    case still
}

/// How much and how the smoothing stage steadies the stylized frames.
public struct SmoothingSettings: Sendable, Equatable, Codable {
    /// 0 = off (frames pass untouched, bit for bit), 1 = the most: the share of the previous output blended in
    /// where it is trusted is `strength × maxBlend`.
    public var strength: Double
    public var mode: SmoothingMode

    /// The blend weight at strength 1. Below 1 so that even the strongest setting follows the picture (at 1 a
    /// still area would keep its first frame forever).
    public static let maxBlend = 0.9
    /// What `--smooth` with no value and `smoothing: {mode: …}` without a strength mean.
    public static let defaultStrength = 0.5

    public init(strength: Double = SmoothingSettings.defaultStrength, mode: SmoothingMode = .flow) {
        self.strength = strength
        self.mode = mode
    }

    /// True when frames pass through untouched.
    public var isOff: Bool { strength <= 0 }

    /// A strength as a user wrote it, checked: a number from 0 to 1. `key` names the option or key in the
    /// one-line error (`--smooth`, `smoothing`, `smoothing.strength`).
    public static func strength(parsing text: String, key: String) throws -> Double {
        guard let value = Double(text) else {
            throw SmoothingSettingsError("\(key) must be a number from 0 to 1, got '\(text)'")
        }
        return try strength(value, key: key)
    }

    /// `value` if it is a strength from 0 to 1.
    public static func strength(_ value: Double, key: String) throws -> Double {
        guard value.isFinite, value >= 0, value <= 1 else {
            throw SmoothingSettingsError("\(key) must be a number from 0 to 1, got \(value)")
        }
        return value
    }

    /// A mode name, checked, with the names there are in the error.
    public static func mode(parsing text: String, key: String) throws -> SmoothingMode {
        guard let mode = SmoothingMode(rawValue: text.lowercased()) else {
            throw SmoothingSettingsError("\(key) must be one of \(SmoothingMode.allCases.map(\.rawValue).joined(separator: ", ")), got '\(text)'")
        }
        return mode
    }
}

/// A smoothing value that cannot be used, in one line naming the key.
public struct SmoothingSettingsError: Error, CustomStringConvertible, Sendable, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
