import VigilCore
import VigilYAML

/// `type: grok`: lines matched against grok expressions (regexes built from named patterns); the
/// first expression that matches sets its captures as fields.
///
/// ```yaml
/// options:
///   patterns:                          # tried in order; the first match wins
///     - "%{IP:source.ip} %{WORD:http.request.method} %{URIPATHPARAM:url.original} %{NUMBER:http.response.body.bytes:int}"
///     - "%{SYSLOGTIMESTAMP:timestamp} %{GREEDYDATA:message}"
///   pattern_definitions:               # extra patterns for this parser (override the library)
///     TICKET: "[A-Z]{2,5}-[0-9]+"
///   anchor: full                       # full (default) | start | none
///   max_line_bytes: 64KiB              # longer lines fail without being matched (default 64 KiB)
/// ```
///
/// - `%{NAME}` matches pattern NAME from `parsers/patterns/*` or `pattern_definitions`;
///   `%{NAME:field}` also captures it into `field`; `%{NAME:field:int}` / `:float` converts the
///   text (a capture that does not convert fails the line). `(?<field>regex)` captures inline.
///   Empty captures set nothing.
/// - `anchor`: `full` requires an expression to match the whole line, `start` a prefix of it,
///   `none` anywhere in it (Logstash's behaviour). Anchored matching is much cheaper on lines that
///   do not match: the regex is tried at one position instead of every position.
/// - Expressions are expanded and compiled once when the parser loads; an unknown pattern name, a
///   reference cycle or an invalid regex is a load error at the option's `file:line:column`.
///
/// **Cost and risk.** Matching uses Swift's `Regex` (a backtracking engine) on a `String` copy of
/// the line; it is slow compared with the hand-written parsers (see the benchmarks in the tests),
/// so prefer a dedicated type for high-volume formats. A regex with nested ambiguous quantifiers
/// (`(a+)+`, `(.*)*`, `(%{DATA} )*`) can take time exponential in the line length on a line that
/// almost matches, and Swift's `Regex` has no time limit. Vigil bounds the damage by refusing lines
/// longer than `max_line_bytes` before matching, so the worst case is bounded per line; write
/// expressions whose repeated parts start with a distinct delimiter, and prefer `anchor: full`.
public struct GrokParser: LineParser {
    /// Where an expression must match.
    public enum Anchor: String, Sendable, CaseIterable {
        case full, start, none
    }

    /// One compiled expression.
    struct Compiled: @unchecked Sendable {
        // `@unchecked`: `Regex` is an immutable value whose lazily built program is published
        // atomically by the standard library, so sharing it between threads for matching is safe;
        // `AnyRegexOutput` is not declared `Sendable`, which is the only reason for the annotation.
        let regex: Regex<AnyRegexOutput>
        let captures: [GrokCapture]
        let source: String
    }

    let expressions: [Compiled]
    public let anchor: Anchor
    public let maxLineBytes: Int
    public static let defaultMaxLineBytes = 64 * 1024

    /// The expanded regex text of each expression (for tools and tests).
    public var expandedPatterns: [String] { expressions.map(\.source) }

    /// Compiles `patterns` against `library` plus `definitions` (which take precedence).
    /// - Throws: `GrokCompileError` naming the expression index (or definition) at fault.
    public init(patterns: [String], definitions: [String: String] = [:], library: GrokPatternLibrary = GrokPatternLibrary(),
                anchor: Anchor = .full, maxLineBytes: Int = GrokParser.defaultMaxLineBytes) throws(GrokCompileError) {
        var all = library.patterns
        for (k, v) in definitions { all[k] = v }
        var compiled: [Compiled] = []
        for (index, pattern) in patterns.enumerated() {
            let expansion: (regex: String, captures: [GrokCapture])
            do {
                expansion = try GrokExpander.expand(pattern, definitions: all)
            } catch {
                let inDefinition = error.definedIn.flatMap { definitions[$0] != nil ? $0 : nil }
                throw GrokCompileError(message: error.message, patternIndex: index, definition: inDefinition)
            }
            let regex: Regex<AnyRegexOutput>
            do {
                regex = try Regex(expansion.regex)
            } catch {
                throw GrokCompileError(message: "invalid regex after expanding the grok patterns: \(error)", patternIndex: index, definition: nil)
            }
            compiled.append(Compiled(regex: regex, captures: expansion.captures, source: expansion.regex))
        }
        self.expressions = compiled
        self.anchor = anchor
        self.maxLineBytes = maxLineBytes
    }

    public static let build: ParserBuilder = { context throws(YAMLError) in
        let options = try context.options(allowedKeys: ["patterns", "pattern_definitions", "anchor", "max_line_bytes"])
        guard let options else { throw context.definition.error("grok needs options: { patterns: [ \"%{…}\" ] }") }
        let patternsNode = try options.required("patterns")
        let patternNodes: [YAMLValue] = (try? patternsNode.string()) != nil ? [patternsNode] : try patternsNode.sequence()
        guard !patternNodes.isEmpty else { throw patternsNode.error("grok needs at least one pattern") }
        var patterns: [String] = []
        for node in patternNodes { patterns.append(try node.string()) }
        var definitions: [String: String] = [:]
        var definitionNodes: [String: YAMLValue] = [:]
        if let defs = options.optional("pattern_definitions") {
            for entry in try defs.mapping().entries {
                guard !entry.key.isEmpty, entry.key.utf8.allSatisfy({ $0 == 0x5F || ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) }) else {
                    throw entry.keyValue.error("a grok pattern name is letters, digits and _")
                }
                definitions[entry.key] = try entry.value.string()
                definitionNodes[entry.key] = entry.value
            }
        }
        let anchor = try options.optional("anchor")?.oneOf(Anchor.self) ?? .full
        let maxLineBytes = try options.optional("max_line_bytes").map { node throws(YAMLError) in
            Int(try node.size(range: 1...(64 * 1024 * 1024)))
        } ?? defaultMaxLineBytes
        let library = try context.patterns()
        do throws(GrokCompileError) {
            return try GrokParser(patterns: patterns, definitions: definitions, library: library, anchor: anchor, maxLineBytes: maxLineBytes)
        } catch {
            if let d = error.definition, let node = definitionNodes[d] { throw node.error(error.message) }
            throw patternNodes[error.patternIndex].error(error.message)
        }
    }

    public func parse(_ line: UnsafeRawBufferPointer, into event: inout Event, context: ParseContext) throws(ParseFailure) {
        guard line.count <= maxLineBytes else { throw ParseFailure("line longer than max_line_bytes (\(maxLineBytes))") }
        let text = String(decoding: line, as: UTF8.self)
        for expression in expressions {
            let found: Regex<AnyRegexOutput>.Match?
            switch anchor {
            case .full: found = try? expression.regex.wholeMatch(in: text)
            case .start: found = try? expression.regex.prefixMatch(in: text)
            case .none: found = try? expression.regex.firstMatch(in: text)
            }
            guard let match = found else { continue }
            for capture in expression.captures {
                guard let sub = match.output[capture.group]?.substring, !sub.isEmpty else { continue }
                switch capture.type {
                case .string:
                    event[capture.field] = .string(String(sub))
                case .int:
                    guard let v = Int64(sub) else { throw ParseFailure("field \(capture.field) is not an integer") }
                    event[capture.field] = .int(v)
                case .float:
                    guard let v = Double(sub), v.isFinite else { throw ParseFailure("field \(capture.field) is not a number") }
                    event[capture.field] = .float(v)
                }
            }
            return
        }
        throw ParseFailure(expressions.count == 1 ? "line does not match the grok pattern" : "line matches none of the \(expressions.count) grok patterns")
    }
}

/// Why a grok parser could not be compiled: the message, which expression (by index in
/// `patterns`) and, when the mistake is inside an inline definition, which one.
public struct GrokCompileError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public let patternIndex: Int
    public let definition: String?
    public var description: String { message }
}
