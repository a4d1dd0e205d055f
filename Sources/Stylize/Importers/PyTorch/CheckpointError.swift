/// What can go wrong inside a checkpoint, before the importer knows which file to name.
///
/// The readers and the unpickler throw this; `PyTorchImporter` turns it into a `StylizeError` whose
/// message starts with the file path, choosing the code by whether the file is damaged or merely of a
/// kind this importer refuses.
enum CheckpointError: Error, Equatable {
    /// The data ends before a read that the format requires.
    case truncated(at: Int)
    /// The bytes are there but contradict the format (bad opcode argument, inconsistent sizes, …).
    case corrupt(String)
    /// The pickle names a global outside the allow-list; it is never imported or called.
    case forbiddenGlobal(module: String, name: String)
    /// A well-formed construct this importer deliberately does not handle (other dtypes, opcodes, …).
    case unsupported(String)

    /// The one-line cause, without the file name.
    var cause: String {
        switch self {
        case .truncated(let offset):
            "truncated: the record at byte \(offset) runs past the end of the data"
        case .corrupt(let message):
            message
        case .forbiddenGlobal(let module, let name):
            "refuses to load global '\(module).\(name)': a checkpoint may only hold tensors and OrderedDicts"
        case .unsupported(let message):
            message
        }
    }

    /// Damage is `.corruptFile`; a refused but well-formed construct is `.unknownFormat`.
    var code: StylizeError.Code {
        switch self {
        case .truncated, .corrupt: .corruptFile
        case .forbiddenGlobal, .unsupported: .unknownFormat
        }
    }

    /// The same error, with `context` ("data.pkl", "storage 3") put in front of a corrupt/unsupported
    /// cause so the message says which part of the file is at fault.
    func within(_ context: String) -> CheckpointError {
        switch self {
        case .truncated: .corrupt("\(context): \(cause)")
        case .corrupt(let message): .corrupt("\(context): \(message)")
        case .unsupported(let message): .unsupported("\(context): \(message)")
        case .forbiddenGlobal: self
        }
    }
}
