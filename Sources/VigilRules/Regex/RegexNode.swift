/// The parsed form of a pattern. Groups are not kept (captures are not reported); flags are
/// already applied to the nodes they scope.
indirect enum RegexNode: Sendable {
    case empty
    /// One code point; `caseless`: any case of it (see `RegexCaseFolding`).
    case literal(UInt32, caseless: Bool)
    /// A bracket expression or class escape, case folding and negation applied.
    case set(CodePointSet)
    /// `.`: any code point or invalid byte, but `\n` unless `dotAll`.
    case any(dotAll: Bool)
    case assertion(RegexAssertion)
    case concat([RegexNode])
    case alternation([RegexNode])
    /// `max == nil`: unbounded.
    case repetition(RegexNode, min: Int, max: Int?)
}

/// Zero-width assertions, evaluated on the bytes around a position.
enum RegexAssertion: Int32, Sendable {
    /// `\A`, and `^` without multiline.
    case textStart = 0
    /// `^` with multiline: the start, or after a `\n` that is not the last byte.
    case lineStart
    /// `\z`.
    case textEnd
    /// `\Z`, and `$` without multiline: the end, or before a final `\n`.
    case textEndOrFinalNewline
    /// `$` with multiline: the end, or before any `\n`.
    case lineEnd
    /// `\b` (ASCII word characters).
    case wordBoundary
    /// `\B`.
    case notWordBoundary
}
