import Foundation
import VigilYAML

/// Named grok patterns (`NAME regex` lines) from `parsers/patterns/`, loaded once.
///
/// A pattern file holds one definition per line: a name of letters, digits and `_`, whitespace,
/// then the regex (Swift `Regex` syntax) to the end of the line. Blank lines and lines starting
/// with `#` are skipped. Regexes may refer to other patterns as `%{NAME}`, `%{NAME:field}` or
/// `%{NAME:field:int}`; references are resolved when a grok parser compiles, not here.
public struct GrokPatternLibrary: Sendable {
    public var patterns: [String: String]

    public init(patterns: [String: String] = [:]) { self.patterns = patterns }

    /// Loads every file in `directory` (sorted by name; hidden files skipped): lines
    /// `NAME PATTERN`; `#` comments and blank lines skipped. A missing directory is an empty
    /// library.
    /// - Throws: `YAMLError` at `file:line:column` for a malformed line or a name defined twice.
    public static func load(directory: String) throws(YAMLError) -> GrokPatternLibrary {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            return GrokPatternLibrary()
        }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { !$0.hasPrefix(".") }.sorted()
        } catch {
            throw YAMLError(file: directory, line: 0, column: 0, message: "cannot read the grok patterns directory", code: .unreadable)
        }
        var library = GrokPatternLibrary()
        var origins: [String: String] = [:]
        for name in names {
            let path = "\(directory)/\(name)"
            guard let data = FileManager.default.contents(atPath: path) else {
                throw YAMLError(file: path, line: 0, column: 0, message: "cannot read the grok pattern file", code: .unreadable)
            }
            guard let text = String(validating: data, as: UTF8.self) else {
                throw YAMLError(file: path, line: 0, column: 0, message: "the grok pattern file is not UTF-8", code: .unreadable)
            }
            try library.add(text: text, file: path, origins: &origins)
        }
        return library
    }

    /// Adds the definitions in `text` (the pattern-file format) to the library.
    /// - Throws: `YAMLError` positioned in `file` for a malformed line or a duplicate name.
    public mutating func add(text: String, file: String) throws(YAMLError) {
        var origins: [String: String] = [:]
        try add(text: text, file: file, origins: &origins)
    }

    private mutating func add(text: String, file: String, origins: inout [String: String]) throws(YAMLError) {
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = rawLine.hasSuffix("\r") ? rawLine.dropLast() : rawLine
            let trimmed = line.drop(while: { $0 == " " || $0 == "\t" })
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let name = trimmed.prefix(while: { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") })
            let rest = trimmed.dropFirst(name.count)
            let column = line.count - trimmed.count + 1
            guard !name.isEmpty, let first = rest.first, first == " " || first == "\t" else {
                throw YAMLError(file: file, line: lineNumber, column: column,
                                message: "a grok pattern line is NAME (letters, digits, _), whitespace, then the regex")
            }
            let regex = rest.drop(while: { $0 == " " || $0 == "\t" })
            guard !regex.isEmpty else {
                throw YAMLError(file: file, line: lineNumber, column: column, message: "grok pattern \(name) has no regex")
            }
            let key = String(name)
            if let previous = origins[key] {
                throw YAMLError(file: file, line: lineNumber, column: column, message: "grok pattern \(key) is already defined at \(previous)")
            }
            origins[key] = "\(file):\(lineNumber)"
            patterns[key] = String(regex)
        }
    }
}
