/// The errors of the stylization engine: a code for programs, a one-line message for people.
///
/// Messages name the file (or node) and the cause, so the command line can print them as they are.
public struct StylizeError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Code: String, Sendable {
        case fileNotFound
        case unreadable
        case unknownFormat
        case corruptFile
        case shapeMismatch
        case unsupportedOperator
        case invalidGraph
        case invalidArgument
        case unwritable
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
