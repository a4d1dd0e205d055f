/// An error as one line, for logs and the one-line messages streamd prints and answers: its lines joined
/// with spaces, so a log stays greppable and nothing an underlying library said is lost.
public func oneLine(_ error: any Error) -> String {
    oneLine(String(describing: error))
}

public func oneLine(_ text: String) -> String {
    text.split(whereSeparator: \.isNewline).joined(separator: " ")
}
