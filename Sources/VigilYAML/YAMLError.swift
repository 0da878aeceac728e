/// An error in a YAML file, positioned at the node that caused it.
///
/// The description is `file:line:column: message`, the form editors and terminals turn into links.
/// Errors that concern the whole file rather than a position in it (the file cannot be read, is not
/// UTF-8) have `line == 0` and `column == 0` and are described as `file: message`.
public struct YAMLError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What kind of mistake the error reports, for callers that react to some kinds differently.
    public enum Code: String, Sendable, Equatable {
        /// The file could not be read or is not UTF-8.
        case unreadable
        /// The text is not well-formed YAML (from libyaml, through Yams).
        case syntax
        /// The file holds no YAML document.
        case empty
        /// A mapping key that the schema does not know.
        case unknownKey
        /// A key the schema requires is absent.
        case missingKey
        /// The same key appears twice in one mapping.
        case duplicateKey
        /// The node has the wrong kind: a string where an integer belongs, a sequence for a mapping.
        case typeMismatch
        /// The node has the right kind but a value the schema rejects (range, unit, enum, cross-field rule).
        case invalidValue
    }

    /// The file name as given to the reader (not made absolute).
    public var file: String
    /// 1-based line, or 0 when the error concerns the whole file.
    public var line: Int
    /// 1-based column counted in Unicode scalars, or 0 when the error concerns the whole file.
    public var column: Int
    /// What is wrong and, where it helps, what to write instead. Never contains the file name.
    public var message: String
    /// The kind of mistake.
    public var code: Code

    public init(file: String, line: Int, column: Int, message: String, code: Code = .invalidValue) {
        self.file = file
        self.line = line
        self.column = column
        self.message = message
        self.code = code
    }

    /// `file:line:column: message`, or `file: message` when `line` is 0.
    public var description: String {
        line == 0 ? "\(file): \(message)" : "\(file):\(line):\(column): \(message)"
    }
}
