import VigilYAML

/// Every error of the enrichment area: a configuration mistake, a data file that cannot be read
/// or parsed, a GeoIP database libmaxminddb rejects, a changelog topic that cannot be read.
///
/// The description is `file:line:column: message` (or `file:line: message`, or `file: message`
/// when the error concerns the whole file), the form editors turn into links. Messages never
/// contain raw data lines; they name the column or the value's position instead.
public struct EnrichmentError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of mistake the error reports.
    public enum Code: String, Sendable, Equatable {
        /// An enrichment YAML file is invalid (unknown key, wrong type, bad value).
        case configuration
        /// A file (table, feed, database) does not exist or cannot be read.
        case unreadable
        /// A table or feed has a line that cannot be parsed.
        case data
        /// libmaxminddb could not open a database or failed a lookup.
        case geoip
        /// A changelog or indicator topic could not be read.
        case broker
    }

    public var code: Code
    /// The file the error concerns (as configured, made absolute against the config's directory).
    public var file: String
    /// 1-based line, or 0 when the error concerns the whole file.
    public var line: Int
    /// 1-based column, or 0 when unknown.
    public var column: Int
    /// What is wrong and, where it helps, what to do.
    public var message: String

    public init(_ code: Code, file: String, line: Int = 0, column: Int = 0, _ message: String) {
        self.code = code
        self.file = file
        self.line = line
        self.column = column
        self.message = message
    }

    /// Wraps a YAML error (its position kept).
    public init(_ error: YAMLError) {
        self.init(.configuration, file: error.file, line: error.line, column: error.column, error.message)
    }

    public var description: String {
        if line == 0 { return "\(file): \(message)" }
        if column == 0 { return "\(file):\(line): \(message)" }
        return "\(file):\(line):\(column): \(message)"
    }
}
