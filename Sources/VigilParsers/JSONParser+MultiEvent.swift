import VigilCore

/// A parser that may turn one line into several events: a JSON document holding a list of
/// records (`type: json` with `query` or `wrap_in`).
///
/// It is still a `LineParser`, so every place that runs parsers keeps working:
/// `parse(_:into:context:)` succeeds when the line yields exactly one event and fails with a
/// reason naming the count otherwise, so no event is ever dropped silently. Code that feeds
/// lines to parsers (the pipeline, `vigil parsers test`) should call
/// `CompiledParser.parseEvents(_:base:context:)`, which checks for this protocol and emits every
/// event, each through the parser's post steps and schema normalization.
public protocol MultiEventParser: LineParser {
    /// Parses `line` and calls `emit` once per event, in order, with a copy of `base` (fields set
    /// before this parser ran) to which the event's fields were added. A failure thrown by `emit`
    /// stops parsing and is rethrown.
    func parseEvents(_ line: UnsafeRawBufferPointer, base: Event, context: ParseContext,
                     emit: (inout Event) throws(ParseFailure) -> Void) throws(ParseFailure)

    /// Whether this configuration always yields exactly one event per line, so that
    /// `parse(_:into:context:)` gives the same result as `parseEvents` (default: false).
    var yieldsOneEventPerLine: Bool { get }
}

extension MultiEventParser {
    public var yieldsOneEventPerLine: Bool { false }
}

extension CompiledParser {
    /// Every event `line` yields: one for a `LineParser`, any number (possibly none) for a
    /// `MultiEventParser`. Each event gets the post steps and schema normalization, and the
    /// `on_failure` policy applies as in `parse(_:into:context:)` (under `keep`, a line whose
    /// format does not match yields one event holding the line and the reason).
    public func parseEvents(_ line: UnsafeRawBufferPointer, base: Event = Event(), context: ParseContext) throws(ParseFailure) -> [Event] {
        guard let multi = self.base as? any MultiEventParser else {
            var event = base
            try parse(line, into: &event, context: context)
            return [event]
        }
        var events: [Event] = []
        do {
            try multi.parseEvents(line, base: base, context: context) { (event: inout Event) throws(ParseFailure) in
                events.append(event)
            }
        } catch {
            guard onFailure == .keep else { throw ParseFailure("\(name): \(error.reason)") }
            var event = base
            if event["message"] == nil { event["message"] = .string(String(decoding: line, as: UTF8.self)) }
            event.appendVigilError("\(name): \(error.reason)")
            events = [event]
        }
        for index in events.indices {
            for step in post { try step.apply(to: &events[index], context: context) }
            try SchemaNormalizer.normalize(&events[index], context: context)
        }
        return events
    }

    /// Every event a whole line yields (convenience for tools and tests).
    public func parseEvents(_ line: String, context: ParseContext = ParseContext()) throws(ParseFailure) -> [Event] {
        var bytes = Array(line.utf8)
        let result: Result<[Event], ParseFailure> = bytes.withUnsafeMutableBytes { b in
            do throws(ParseFailure) { return .success(try parseEvents(UnsafeRawBufferPointer(b), context: context)) }
            catch { return .failure(error) }
        }
        return try result.get()
    }
}
