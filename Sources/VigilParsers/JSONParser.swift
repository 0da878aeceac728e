import VigilCore
import VigilYAML

/// `type: json`: a JSON object per line decoded into an event (nested objects flatten into dotted
/// keys, known fields are typed by the schema), then fields renamed by `mapping`.
///
/// ```yaml
/// options:
///   mapping: { src_ip: source.ip, dst_port: destination.port }   # renamed after decoding
/// ```
public struct JSONParser: LineParser {
    public let mapping: [(String, String)]

    public init(mapping: [(String, String)] = []) { self.mapping = mapping }

    public static let build: ParserBuilder = { context throws(YAMLError) in
        var mapping: [(String, String)] = []
        if let options = try context.options(allowedKeys: ["mapping"]), let m = options.optional("mapping") {
            for entry in try m.mapping().entries { mapping.append((entry.key, try entry.value.string())) }
        }
        return JSONParser(mapping: mapping)
    }

    public func parse(_ line: UnsafeRawBufferPointer, into event: inout Event, context: ParseContext) throws(ParseFailure) {
        let decoded: Event
        do { decoded = try EventJSON.decode(line) } catch { throw ParseFailure(error.description) }
        if event.isEmpty { event = decoded } else { for field in decoded.fields { event[field.key] = field.value } }
        for (from, to) in mapping {
            if let v = event[from] { event[from] = nil; event[to] = v }
        }
    }
}
