import VigilCore

/// A format whose lines depend on earlier lines of the same source (Zeek's TSV logs: `#fields`
/// headers set the columns). A `ParserSession` per source (file, connection) keeps the state.
public protocol StatefulLineParser: LineParser {
    associatedtype SessionState
    func makeSessionState() -> SessionState
    /// Parses one line with the source's state: false when the line only updated the state (a
    /// header) and holds no event.
    func parseLine(_ line: UnsafeRawBufferPointer, state: inout SessionState, into event: inout Event,
                   context: ParseContext) throws(ParseFailure) -> Bool
}

extension ZeekParser: StatefulLineParser {
    public func makeSessionState() -> ZeekLogState { makeState() }

    public func parseLine(_ line: UnsafeRawBufferPointer, state: inout ZeekLogState, into event: inout Event,
                          context: ParseContext) throws(ParseFailure) -> Bool {
        let kind: LineKind = try parse(line, state: &state, into: &event, context: context)
        return kind == .event
    }
}

/// Reads the lines of one source with one parser: keeps the state of stateful formats, expands
/// multi-event lines, and applies the parser's failure policy, post steps and schema types to
/// every event. Sensors and tools create one session per file or connection.
///
/// Not thread-safe: one session per source, used from one thread.
public final class ParserSession {
    public let parser: CompiledParser
    private let stateful: StatefulStep?
    /// Whether the parser may yield several events per line (decided once, not per line).
    private let multiEvent: Bool
    /// The event every line is parsed into, cleared (keeping its buffers) between lines.
    /// `@exclusivity(unchecked)`: the session is used from one thread and `scratch` is only
    /// accessed inside `parse`, one access at a time, so the runtime check (three per line) finds
    /// nothing.
    @exclusivity(unchecked) private var scratch = Event()

    /// Type-erased state and step of a `StatefulLineParser`.
    final class StatefulStep {
        let run: (UnsafeRawBufferPointer, inout Event, ParseContext) throws(ParseFailure) -> Bool
        init<P: StatefulLineParser>(_ parser: P) {
            var state = parser.makeSessionState()
            run = { (line, event, context) throws(ParseFailure) -> Bool in
                try parser.parseLine(line, state: &state, into: &event, context: context)
            }
        }
    }

    public init(parser: CompiledParser) {
        self.parser = parser
        if let s = parser.base as? any StatefulLineParser {
            stateful = Self.open(s)
        } else {
            stateful = nil
        }
        if let multi = parser.base as? any MultiEventParser {
            multiEvent = !multi.yieldsOneEventPerLine
        } else {
            multiEvent = false
        }
    }

    private static func open<P: StatefulLineParser>(_ p: P) -> StatefulStep { StatefulStep(p) }

    /// Parses one line and calls `emit` for each event it holds (none for a header line, several
    /// for a multi-event line). Throws when the line is rejected.
    public func parse(_ line: UnsafeRawBufferPointer, context: ParseContext,
                      emit: (inout Event) throws -> Void) throws {
        if let stateful {
            scratch.removeAll(keepingCapacity: true)
            let hasEvent: Bool
            do {
                hasEvent = try stateful.run(line, &scratch, context)
            } catch {
                guard parser.onFailure == .keep else { throw ParseFailure("\(parser.name): \(error.reason)") }
                if scratch["message"] == nil { scratch["message"] = .string(String(decoding: line, as: UTF8.self)) }
                scratch.appendVigilError("\(parser.name): \(error.reason)")
                hasEvent = true
            }
            guard hasEvent else { return }
            try parser.finish(&scratch, context: context)
            try emit(&scratch)
            return
        }
        if multiEvent {
            for var event in try parser.parseEvents(line, context: context) { try emit(&event) }
            return
        }
        scratch.removeAll(keepingCapacity: true)
        try parser.parse(line, into: &scratch, context: context)
        try emit(&scratch)
    }
}
