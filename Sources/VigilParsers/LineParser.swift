import VigilCore

/// Why a line could not be parsed: a short reason a person can act on (never the raw line, which
/// travels separately as `event.original`).
public struct ParseFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// A compiled parser for one line format: the bytes of one line (without its newline) in, fields
/// of a normalized event out.
///
/// Implementations are immutable after construction (compiled once at load) and safe to share
/// between threads. They read the line through a cursor, create `String`s only for emitted
/// fields, and throw `ParseFailure` for input that is not valid for their format.
public protocol LineParser: Sendable {
    /// Parses `line` into `event`, adding fields (the event may already hold fields set by an
    /// enclosing parser, e.g. syslog's header before a program's sub-parser runs).
    func parse(_ line: UnsafeRawBufferPointer, into event: inout Event, context: ParseContext) throws(ParseFailure)
}

/// What parsing may depend on besides the line: the clock used to complete partial timestamps
/// (RFC 3164 has no year), so tests and replays are deterministic.
public struct ParseContext: Sendable {
    /// "Now" for completing timestamps without a year. Default: the wall clock at creation.
    public var referenceTime: Timestamp {
        didSet {
            referenceYear = referenceTime.civil.year
            referenceYearStartDays = Timestamp.daysFromCivil(year: Int64(referenceYear), month: 1, day: 1)
        }
    }
    /// The civil (UTC) year of `referenceTime`, computed once rather than per line.
    package private(set) var referenceYear: Int
    /// Days from 1970-01-01 to January 1 of `referenceYear` (RFC 3164 timestamps, which carry no
    /// year, are placed from it without a calendar computation per line).
    package private(set) var referenceYearStartDays: Int64
    /// Whether the bytes handed to the parser along with this context are known to be
    /// well-formed UTF-8: a parser that checked its whole line sets it for the sub-parser it
    /// gives a slice of that line cut next to ASCII delimiters (syslog handing the message to
    /// `sshd`), so the line is checked once, not once per parser. False by default.
    package var lineIsValidUTF8 = false

    public init(referenceTime: Timestamp = .now()) {
        self.referenceTime = referenceTime
        self.referenceYear = referenceTime.civil.year
        self.referenceYearStartDays = Timestamp.daysFromCivil(year: Int64(referenceYear), month: 1, day: 1)
    }
}

/// A reference to another parser by name, resolved once every parser file has been loaded
/// (sub-parsers, e.g. syslog handing `sshd` messages to the `sshd` parser).
///
/// `@unchecked Sendable`: `target` is written once, during `ParserRegistry.load`, before the
/// registry is published to any other thread; afterwards it is only read.
extension Unmanaged {
    /// `_withUnsafeGuaranteedRef` (the instance borrowed, no retain or release) for a body that
    /// throws a ``ParseFailure``: the standard library's closure throws untyped, so the failure
    /// is carried out of it as a value.
    @inline(__always)
    func withGuaranteedRef(_ body: (Instance) throws(ParseFailure) -> Void) throws(ParseFailure) {
        let failure: ParseFailure? = _withUnsafeGuaranteedRef { instance in
            do throws(ParseFailure) {
                try body(instance)
                return nil
            } catch {
                return error
            }
        }
        if let failure { throw failure }
    }
}

public final class ParserReference: @unchecked Sendable {
    public let name: String
    /// The resolved parser, boxed so that running it borrows the parser instead of copying it.
    /// `@exclusivity(unchecked)`: written only while loading (see the type's comment), so reads
    /// on every line need no runtime access check.
    @exclusivity(unchecked) private var resolved: Resolved? {
        didSet { unretained = resolved.map { Unmanaged.passUnretained($0) } }
    }
    /// `resolved` without ownership, so that running the parser on every line borrows the box
    /// instead of retaining and releasing it: `resolved` keeps it alive, and it changes only
    /// while loading.
    @exclusivity(unchecked) private var unretained: Unmanaged<Resolved>?

    private final class Resolved: Sendable {
        let parser: CompiledParser
        init(_ parser: CompiledParser) { self.parser = parser }

        func parse(_ line: UnsafeRawBufferPointer, into event: inout Event, context: ParseContext) throws(ParseFailure) {
            try parser.parse(line, into: &event, context: context)
        }
    }

    init(name: String) { self.name = name }

    package var target: CompiledParser? {
        get { resolved?.parser }
        set { resolved = newValue.map(Resolved.init) }
    }

    /// The resolved parser. Loading guarantees resolution, so this is never nil after `load`.
    public var parser: CompiledParser { resolvedBox.parser }

    /// Runs the resolved parser on `line` (see `CompiledParser.parse(_:into:context:)`).
    public func parse(_ line: UnsafeRawBufferPointer, into event: inout Event, context: ParseContext) throws(ParseFailure) {
        guard let unretained else { preconditionFailure("parser reference \(name) used before resolution") }
        try unretained.withGuaranteedRef { box throws(ParseFailure) in try box.parse(line, into: &event, context: context) }
    }

    private var resolvedBox: Resolved {
        guard let resolved else { preconditionFailure("parser reference \(name) used before resolution") }
        return resolved
    }
}
