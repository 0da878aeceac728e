import VigilYAML

/// A Sigma file or mapping file that is not valid: YAML syntax, a missing `detection`, a condition
/// naming a selection that does not exist, a correlation referring to an unknown rule… Positioned
/// at `file:line:column`. (Valid Sigma that Vigil cannot run is not an error: it is reported as
/// ``Unsupported``.)
public struct SigmaError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, Equatable {
        /// The file cannot be read or is not YAML.
        case syntax
        /// A rule's structure is wrong (a missing key, a value of the wrong type).
        case invalidRule
        /// A condition that cannot be parsed or names an unknown selection.
        case invalidCondition
        /// A correlation or filter refers to a rule that was not loaded.
        case unknownReference
        /// Two rules with the same id or name.
        case duplicateRule
        /// The field mapping file is wrong.
        case invalidMapping
    }

    public var code: Code
    public var file: String
    public var line: Int
    public var column: Int
    public var message: String

    public init(code: Code, file: String, line: Int, column: Int, message: String) {
        self.code = code
        self.file = file
        self.line = line
        self.column = column
        self.message = message
    }

    init(_ error: YAMLError, code: Code = .invalidRule) {
        self.init(code: error.code == .syntax || error.code == .unreadable || error.code == .empty ? .syntax : code,
                  file: error.file, line: error.line, column: error.column, message: error.message)
    }

    init(at value: YAMLValue, _ message: String, code: Code = .invalidRule) {
        self.init(code: code, file: value.file, line: value.line, column: value.column, message: message)
    }

    public var description: String { "\(file):\(line):\(column): \(message)" }
}
