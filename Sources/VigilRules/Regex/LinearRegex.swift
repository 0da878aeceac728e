/// A regular expression matched in time linear in the input, for detection rules: no pattern can
/// stall the pipeline.
///
/// The pattern is PCRE syntax without the constructs that need backtracking (see docs/regex.md):
/// those throw a `RegexError` naming the construct, so a rule using one is reported, never run
/// differently. Matching is a search: true when the pattern matches anywhere in the input unless
/// anchored (`^`, `$`, `\A`, `\z`, `\Z`). Captures are not reported.
///
/// The subject is UTF-8: `.` and classes consume a whole code point; a byte that is not valid
/// UTF-8 is matched, as one unit, only by `.` and negated classes. `\d`, `\w`, `\s`, `\b` and the
/// POSIX classes are ASCII. Case-insensitive matching covers ASCII, Latin-1, Latin Extended-A,
/// Greek and Cyrillic (`RegexCaseFolding`).
///
/// Built by Thompson's construction into at most 20,000 instructions and run by a Pike VM (NFA
/// simulation over sparse sets) behind literal prefilters: a literal every match contains is
/// searched for first (memmem), and the VM skips ahead to where a match can start.
public struct LinearRegex: Sendable {
    /// Patterns longer than this (UTF-8 bytes) are refused (`too large`).
    public static let maxPatternLength = 65_536
    /// Counted repetitions (`{n,m}`) above this are refused (`too large`).
    public static let maxRepeatCount = RegexParser.maxRepeat
    /// Compiled programs above this many instructions are refused (`too large`).
    public static let maxInstructions = RegexCompiler.maxInstructions

    /// The pattern as given.
    public let pattern: String
    let program: RegexProgram
    /// Literals (ASCII-folded) every match contains one of, for multi-pattern prefilters; nil
    /// when the pattern has no such set (see `RegexLiteralSet`).
    let literalSet: [[UInt8]]?

    /// Compiles `pattern`.
    ///
    /// - Parameters:
    ///   - caseInsensitive: as `(?i)` at the start.
    ///   - dotMatchesNewline: as `(?s)`: `.` also matches `\n`.
    ///   - multiline: as `(?m)`: `^` and `$` also match at line starts and ends.
    /// - Throws: `RegexError`: `isUnsupported` for constructs this engine does not run (with
    ///   their name in `construct`), `syntax` for malformed patterns, `too large` past the limits.
    /// - Complexity: O(p) for a pattern of p characters, plus O(m) for the m instructions the
    ///   counted repetitions expand to (m ≤ 20,000).
    public init(_ pattern: String, caseInsensitive: Bool = false, dotMatchesNewline: Bool = false,
                multiline: Bool = false) throws(RegexError) {
        self.pattern = pattern
        guard pattern.utf8.count <= Self.maxPatternLength else {
            throw RegexError(kind: .tooLarge, construct: "too large", offset: 0,
                             message: "patterns longer than \(Self.maxPatternLength) bytes are not supported")
        }
        var parser = RegexParser(pattern, flags: .init(caseless: caseInsensitive, dotAll: dotMatchesNewline,
                                                       multiline: multiline, extended: false))
        let node = try parser.parse()
        program = try RegexCompiler.compile(node)
        literalSet = RegexLiteralSet.literals(of: node)
    }

    /// Whether the pattern matches anywhere in `bytes` (UTF-8; invalid bytes never trap).
    ///
    /// - Complexity: O(n·m) for n bytes and m instructions, with no backtracking: every input
    ///   position is visited once with at most m live NFA states. Inputs without the pattern's
    ///   required literal are rejected in a memmem pass, without running the NFA.
    public func matches(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var steps = 0
        return program.run(bytes, usePrefilter: true, steps: &steps)
    }

    /// Whether the pattern matches anywhere in `string` (its UTF-8, read in place when native).
    ///
    /// - Complexity: O(n·m), as `matches(_:)` on bytes.
    public func matches(_ string: String) -> Bool {
        if let result = string.utf8.withContiguousStorageIfAvailable({ matches(UnsafeRawBufferPointer($0)) }) {
            return result
        }
        var copy = string
        return copy.withUTF8 { matches(UnsafeRawBufferPointer($0)) }
    }

    /// The number of compiled instructions (m in the complexity bounds).
    public var instructionCount: Int { program.instructions.count }

    /// Matches and reports the NFA work done (thread insertions plus thread steps), which never
    /// exceeds 2·m·(n + 1) for n bytes and m instructions; `prefilter: false` runs the NFA alone.
    package func matchCountingSteps(_ bytes: UnsafeRawBufferPointer, prefilter: Bool = true) -> (matched: Bool, steps: Int) {
        var steps = 0
        let matched = program.run(bytes, usePrefilter: prefilter, steps: &steps)
        return (matched, steps)
    }

    /// What the prefilters know, for tests and benchmarks.
    package var prefilterSummary: String {
        var parts: [String] = []
        if program.anchoredStart { parts.append("anchored") }
        if let required = program.required {
            let text = String(decoding: required.bytes, as: UTF8.self)
            parts.append("literal \(required.caseless ? "(?i)" : "")\"\(text)\"\(program.requiredIsPrefix ? " prefix" : "")\(program.requiredIsWhole ? " whole" : "")")
        }
        if !program.firstBytes.isEmpty { parts.append("first bytes \(program.firstBytes.filter { $0 }.count)") }
        return parts.isEmpty ? "none" : parts.joined(separator: ", ")
    }
}

/// Why a pattern cannot be compiled: a construct the linear-time engine does not run, malformed
/// syntax, or a limit. Descriptions never include the subject, only the construct and offset.
public struct RegexError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// Valid PCRE that this engine does not run (backreferences, lookaround, …).
        case unsupported
        /// Not a valid pattern.
        case syntax
        /// Past a limit: pattern length, repetition count, program size, nesting.
        case tooLarge
    }

    public let kind: Kind
    /// A short name: `backreference`, `lookahead`, `lookbehind`, `atomic group`, `possessive
    /// quantifier`, `conditional`, `recursion`, `branch reset`, `callout`, `backtracking verb`,
    /// `\G`, `\X`, `\C`, `\N{name}`, `\Q in brackets`, `collating element`, `unicode property`;
    /// or `syntax`, or `too large`.
    public let construct: String
    /// Where in the pattern, in Unicode scalars from its start.
    public let offset: Int
    public let message: String

    public init(kind: Kind, construct: String, offset: Int, message: String) {
        self.kind = kind
        self.construct = construct
        self.offset = offset
        self.message = message
    }

    /// A construct this engine does not run (rather than a malformed or too large pattern).
    public var isUnsupported: Bool { kind == .unsupported }

    public var description: String {
        switch kind {
        case .unsupported: "regex \(construct) is not supported (offset \(offset)): \(message)"
        case .syntax: "regex syntax error at offset \(offset): \(message)"
        case .tooLarge: "regex too large (offset \(offset)): \(message)"
        }
    }
}
