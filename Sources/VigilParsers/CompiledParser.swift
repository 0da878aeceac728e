import VigilCore
import VigilYAML

/// What a parser does when its format does not match a line.
public enum FailurePolicy: String, Sendable, CaseIterable {
    /// The line goes to the error topic with the reason (the default).
    case reject
    /// The event is kept with what was parsed so far, `message` set to the line when missing, and
    /// the reason appended to `vigil.errors` (for sub-parsers of free-text messages).
    case keep
}

/// One parser as configured in a `parsers/*.yaml` file: a base format parser followed by
/// post-processing steps.
public struct CompiledParser: Sendable {
    public let name: String
    public let type: String
    public let description: String
    public let base: any LineParser
    public let post: [PostStep]
    public let onFailure: FailurePolicy
    public let examples: [ParserExample]
    /// Where the definition came from (`file:line:column`).
    public let origin: String

    public init(name: String, type: String, description: String = "", base: any LineParser, post: [PostStep] = [],
                onFailure: FailurePolicy = .reject, examples: [ParserExample] = [], origin: String = "") {
        self.name = name
        self.type = type
        self.description = description
        self.base = base
        self.post = post
        self.onFailure = onFailure
        self.examples = examples
        self.origin = origin
    }

    /// Parses a line into `event`, applies the post-processing steps and gives known fields their
    /// schema types (`SchemaNormalizer`). Under the `keep` policy
    /// a base-format failure is recorded in the event instead of thrown; post-processing failures
    /// (a field that cannot be converted) always throw.
    public func parse(_ line: UnsafeRawBufferPointer, into event: inout Event, context: ParseContext) throws(ParseFailure) {
        do {
            try base.parse(line, into: &event, context: context)
        } catch {
            guard onFailure == .keep else { throw ParseFailure("\(name): \(error.reason)") }
            if event["message"] == nil { event["message"] = .string(String(decoding: line, as: UTF8.self)) }
            event.appendVigilError("\(name): \(error.reason)")
        }
        try finish(&event, context: context)
    }

    /// The post steps, then the schema's types for known fields.
    public func finish(_ event: inout Event, context: ParseContext) throws(ParseFailure) {
        if !post.isEmpty {
            for step in post { try step.apply(to: &event, context: context) }
        }
        try SchemaNormalizer.normalize(&event, context: context)
    }

    /// Parses a whole line into a new event (convenience for tools and tests).
    public func parse(_ line: String, context: ParseContext = ParseContext()) throws(ParseFailure) -> Event {
        var event = Event()
        var bytes = Array(line.utf8)
        let result: Result<Void, ParseFailure> = bytes.withUnsafeMutableBytes { b in
            do throws(ParseFailure) { try parse(UnsafeRawBufferPointer(b), into: &event, context: context); return .success(()) }
            catch { return .failure(error) }
        }
        try result.get()
        return event
    }
}

/// An example line kept next to a parser's configuration, with the fields it must produce (or the
/// failure it must report). `vigil parsers test` runs them all.
public struct ParserExample: Sendable {
    public var line: String
    /// Expected fields: dotted key → expected value (compared as text, see `FieldValue.plainText`).
    public var fields: [(String, String)]
    /// When set, the line must fail with a reason containing this text.
    public var error: String?
    /// `file:line:column` of the example.
    public var origin: String

    public init(line: String, fields: [(String, String)], error: String?, origin: String) {
        self.line = line
        self.fields = fields
        self.error = error
        self.origin = origin
    }
}

extension FieldValue {
    /// The value as plain text: strings unquoted, IPs and timestamps in canonical text, numbers in
    /// decimal, arrays as JSON. Used to compare parser output with expected text.
    public var plainText: String {
        switch self {
        case .string(let s): return s
        case .int(let i): return String(i)
        case .float(let d): return String(d)
        case .bool(let b): return b ? "true" : "false"
        case .timestamp(let t): return t.rfc3339
        case .ip(let ip): return ip.description
        case .null: return "null"
        case .array, .object: return description
        }
    }
}
