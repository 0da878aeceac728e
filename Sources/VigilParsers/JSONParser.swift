import VigilCore
import VigilYAML

/// `type: json`: a JSON object per line decoded into an event (nested objects flatten into dotted
/// keys, known fields are typed by the schema), then fields renamed by `mapping`.
///
/// ```yaml
/// options:
///   mapping: { src_ip: source.ip, dst_port: destination.port }   # renamed after decoding
///   query: "$.records[*]"    # the line is a document holding records: one event per selected object
///   wrap_in: messages        # the line is `{…},{…},` (records separated by commas): read as if it
///                            # were {"messages": [{…},{…}]}; `query` defaults to "$.messages"
/// ```
/// `query` is a JSONPath subset (`JSONRecordQuery`: `$`, `.name`, `['name']`, `[*]`, `.*`,
/// `[n]`); every selected object is one event, a selected array contributes each element (which
/// must be an object). These are Apache Metron's `JSONMapParser` options `jsonpQuery`,
/// `wrapInEntityArray` and `wrapEntityName`. A query that selects nothing yields no event.
///
/// With `query` or `wrap_in` the parser is a `MultiEventParser`: use
/// `CompiledParser.parseEvents` to get every event; `parse(_:into:context:)` accepts only lines
/// that yield exactly one event.
public struct JSONParser: MultiEventParser {
    public let mapping: [(String, String)]
    /// `mapping` with the names looked up in the schema once.
    private let mappingKeys: [(from: Event.Key, to: Event.Key)]
    /// Selects the records of a document; nil: the line is one record.
    public let query: JSONRecordQuery?
    /// The entity name of `wrap_in`; nil: the line is a JSON document.
    public let wrapIn: String?

    public init(mapping: [(String, String)] = [], query: JSONRecordQuery? = nil, wrapIn: String? = nil) {
        self.mapping = mapping
        self.mappingKeys = mapping.map { (Event.Key($0.0), Event.Key($0.1)) }
        self.wrapIn = wrapIn
        if let wrapIn, query == nil {
            self.query = JSONRecordQuery(steps: [.member(wrapIn)], description: "$.\(wrapIn)")
        } else {
            self.query = query
        }
    }

    public static let build: ParserBuilder = { context throws(YAMLError) in
        var mapping: [(String, String)] = []
        var query: JSONRecordQuery?
        var wrapIn: String?
        if let options = try context.options(allowedKeys: ["mapping", "query", "wrap_in"]) {
            if let m = options.optional("mapping") {
                for entry in try m.mapping().entries { mapping.append((entry.key, try entry.value.string())) }
            }
            if let w = options.optional("wrap_in") {
                let name = try w.string()
                guard !name.isEmpty else { throw w.error("wrap_in names the entity holding the records, e.g. messages") }
                wrapIn = name
            }
            if let q = options.optional("query") {
                let text = try q.string()
                do throws(ParseFailure) { query = try JSONRecordQuery(text) } catch { throw q.error("query: \(error.reason)") }
                if let wrapIn, query?.steps.first != .member(wrapIn) {
                    throw q.error("with wrap_in: \(wrapIn) the query must start with $.\(wrapIn)")
                }
            }
        }
        return JSONParser(mapping: mapping, query: query, wrapIn: wrapIn)
    }

    /// Without `query` (and `wrap_in`) a line is one record.
    public var yieldsOneEventPerLine: Bool { query == nil }

    public func parse(_ line: UnsafeRawBufferPointer, into event: inout Event, context: ParseContext) throws(ParseFailure) {
        guard query != nil else {
            try decode(line, into: &event)
            return
        }
        var result: Event?
        var count = 0
        try parseEvents(line, base: event, context: context) { (e: inout Event) throws(ParseFailure) in
            count += 1
            if count == 1 { result = e }
        }
        guard count == 1, let result else {
            throw ParseFailure("the line holds \(count) records; this parser yields one event per record (use parseEvents)")
        }
        event = result
    }

    public func parseEvents(_ line: UnsafeRawBufferPointer, base: Event, context: ParseContext,
                            emit: (inout Event) throws(ParseFailure) -> Void) throws(ParseFailure) {
        guard let query else {
            var event = base
            try decode(line, into: &event)
            try emit(&event)
            return
        }
        var i = 0, end = line.count
        JSONSkim.skipSpace(line, &i, end)
        while end > i, line[end - 1] == 0x20 || line[end - 1] == 0x09 || line[end - 1] == 0x0A || line[end - 1] == 0x0D { end -= 1 }
        guard i < end else { throw ParseFailure("empty line") }
        let start: JSONSelection
        var steps = query
        if wrapIn != nil {
            // The query's first step names the wrapping entity; what follows applies to its list.
            start = .wrapped(i..<end)
            steps = JSONRecordQuery(steps: Array(query.steps.dropFirst()), description: query.description)
        } else {
            let e = try JSONSkim.valueEnd(line, i, end)
            guard e == end else { throw ParseFailure("text after the JSON document") }
            start = .range(i..<end)
        }
        try steps.records(line, start) { (r: Range<Int>) throws(ParseFailure) in
            var event = base
            try decode(UnsafeRawBufferPointer(rebasing: line[r]), into: &event)
            try emit(&event)
        }
    }

    private func decode(_ bytes: UnsafeRawBufferPointer, into event: inout Event) throws(ParseFailure) {
        if event.isEmpty {
            // Decoded straight into the (empty) event, whose storage is reused line after line.
            do { try EventJSON.decode(bytes, reusing: &event) } catch { throw ParseFailure(error.description) }
        } else {
            let decoded: Event
            do { decoded = try EventJSON.decode(bytes) } catch { throw ParseFailure(error.description) }
            for field in decoded.fields { event[field.key] = field.value }
        }
        for (from, to) in mappingKeys {
            if let v = event[from] { event[from] = nil; event[to] = v }
        }
    }
}
