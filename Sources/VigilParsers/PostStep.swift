import VigilCore
import VigilYAML

/// A step applied to every event a parser produced, in order, as configured under `post:`:
///
/// ```yaml
/// post:
///   - rename: { from: src, to: source.ip }           # missing field: nothing happens
///   - remove: [tmp, raw.header]
///   - set: { field: event.dataset, value: sshd }      # value keeps its YAML type; overwrite: false keeps an existing value
///   - convert: { field: source.port, to: int }        # int, float, bool, string, ip, timestamp
///   - timestamp: { field: ts, formats: ["%d/%b/%Y:%H:%M:%S %z", rfc3339], timezone: Europe/Berlin, target: "@timestamp" }
///   - validate_ip: [source.ip, destination.ip]        # text → IP; a value that is not an IP fails the line
/// ```
/// A field that is missing is skipped by every step (use `required: true` on `convert` and
/// `timestamp` to fail the line instead).
public enum PostStep: Sendable {
    case rename(from: String, to: String)
    case remove([String])
    case set(field: String, value: FieldValue, overwrite: Bool)
    case convert(field: String, to: Conversion, required: Bool)
    case timestamp(field: String, formats: [TimestampFormat], zone: TimeZoneRule, target: String, removeSource: Bool, required: Bool)
    case validateIP([String])

    public enum Conversion: String, Sendable, CaseIterable {
        case int, float, bool, string, ip, timestamp
    }

    public func apply(to event: inout Event, context: ParseContext) throws(ParseFailure) {
        switch self {
        case .rename(let from, let to):
            if let value = event[from] {
                event[from] = nil
                event[to] = value
            }
        case .remove(let fields):
            for f in fields { event[f] = nil }
        case .set(let field, let value, let overwrite):
            if overwrite || event[field] == nil { event[field] = value }
        case .convert(let field, let to, let required):
            guard let value = event[field] else {
                if required { throw ParseFailure("missing field \(field)") }
                return
            }
            guard let converted = Self.convert(value, to: to, reference: context.referenceTime) else {
                throw ParseFailure("field \(field): cannot convert \(value.typeName) '\(value.plainText.prefix(64))' to \(to.rawValue)")
            }
            event[field] = converted
        case .timestamp(let field, let formats, let zone, let target, let removeSource, let required):
            guard let value = event[field] else {
                if required { throw ParseFailure("missing timestamp field \(field)") }
                return
            }
            let parsed: Timestamp?
            switch value {
            case .timestamp(let t): parsed = t
            case .int(let i): parsed = formats.lazy.compactMap { f in f.parse(String(i), zone: zone, reference: context.referenceTime) }.first
            default:
                var text = Array(value.plainText.utf8)
                parsed = text.withUnsafeMutableBytes { b in
                    formats.lazy.compactMap { $0.parse(UnsafeRawBufferPointer(b), zone: zone, reference: context.referenceTime) }.first
                }
            }
            guard let parsed else {
                throw ParseFailure("field \(field): '\(value.plainText.prefix(64))' matches none of the timestamp formats \(formats.map(\.spec))")
            }
            if removeSource && field != target { event[field] = nil }
            event[target] = .timestamp(parsed)
        case .validateIP(let fields):
            for f in fields {
                guard let value = event[f] else { continue }
                switch value {
                case .ip: continue
                case .string(let s):
                    guard let ip = IPAddress(s) else { throw ParseFailure("field \(f): '\(s.prefix(64))' is not an IP address") }
                    event[f] = .ip(ip)
                default:
                    throw ParseFailure("field \(f): a \(value.typeName) is not an IP address")
                }
            }
        }
    }

    static func convert(_ value: FieldValue, to: Conversion, reference: Timestamp) -> FieldValue? {
        let text = value.plainText
        switch to {
        case .string: return .string(text)
        case .int:
            if case .int = value { return value }
            if case .float(let d) = value, d.rounded() == d, abs(d) < 9.2e18 { return .int(Int64(d)) }
            return Int64(text.trimmingCharacters(in: .whitespaces)).map(FieldValue.int)
        case .float:
            if case .float = value { return value }
            if case .int(let i) = value { return .float(Double(i)) }
            return Double(text.trimmingCharacters(in: .whitespaces)).flatMap { $0.isFinite ? FieldValue.float($0) : nil }
        case .bool:
            switch text.lowercased() {
            case "true", "yes", "1", "on": return .bool(true)
            case "false", "no", "0", "off": return .bool(false)
            default: return nil
            }
        case .ip:
            if case .ip = value { return value }
            return IPAddress(text).map(FieldValue.ip)
        case .timestamp:
            if case .timestamp = value { return value }
            return Timestamp(rfc3339: text).map(FieldValue.timestamp)
        }
    }

    /// Reads one step from its YAML node (a mapping with exactly one key naming the step).
    public static func load(_ node: YAMLValue) throws(YAMLError) -> PostStep {
        let m = try node.mapping()
        guard m.keys.count == 1, let kind = m.keys.first, let body = m[kind] else {
            throw node.error("a post step is a mapping with one key: rename, remove, set, convert, timestamp or validate_ip")
        }
        switch kind {
        case "rename":
            let b = try body.mapping(allowedKeys: ["from", "to"])
            return .rename(from: try b.required("from").string(), to: try b.required("to").string())
        case "remove":
            return .remove(try stringList(body))
        case "set":
            let b = try body.mapping(allowedKeys: ["field", "value", "overwrite"])
            return .set(field: try b.required("field").string(), value: try scalarValue(try b.required("value")),
                        overwrite: try b.optional("overwrite")?.bool() ?? true)
        case "convert":
            let b = try body.mapping(allowedKeys: ["field", "to", "required"])
            return .convert(field: try b.required("field").string(), to: try b.required("to").oneOf(Conversion.self),
                            required: try b.optional("required")?.bool() ?? false)
        case "timestamp":
            let b = try body.mapping(allowedKeys: ["field", "formats", "format", "timezone", "target", "remove", "required"])
            var specs: [YAMLValue] = []
            if let f = b.optional("format") { specs.append(f) }
            if let fs = b.optional("formats") { specs += try fs.sequence() }
            guard !specs.isEmpty else { throw body.error("timestamp needs format or formats") }
            var formats: [TimestampFormat] = []
            for spec in specs {
                let text = try spec.string()
                do throws(ParseFailure) { formats.append(try TimestampFormat(text)) } catch { throw spec.error(error.reason) }
            }
            let zone = try zoneRule(b.optional("timezone"))
            let field = try b.required("field").string()
            return .timestamp(field: field, formats: formats, zone: zone, target: try b.optional("target")?.string() ?? "@timestamp",
                              removeSource: try b.optional("remove")?.bool() ?? true, required: try b.optional("required")?.bool() ?? false)
        case "validate_ip":
            return .validateIP(try stringList(body))
        default:
            let known = ["rename", "remove", "set", "convert", "timestamp", "validate_ip"]
            let hint = Suggestion.closest(to: kind, in: known).map { " (did you mean '\($0)'?)" } ?? ""
            throw m[kind]!.error("unknown post step '\(kind)'\(hint)")
        }
    }

    /// A timezone option: `UTC`, `+02:00` or an IANA name.
    public static func zoneRule(_ node: YAMLValue?) throws(YAMLError) -> TimeZoneRule {
        guard let node else { return .utc }
        let text = try node.string()
        guard let rule = TimeZoneRule(text) else { throw node.error("unknown time zone '\(text)' (use UTC, +hh:mm or an IANA name like Europe/Berlin)") }
        return rule
    }

    static func stringList(_ node: YAMLValue) throws(YAMLError) -> [String] {
        if (try? node.string()) != nil { return [try node.string()] }
        var out: [String] = []
        for item in try node.sequence() { out.append(try item.string()) }
        return out
    }

    /// A YAML scalar as a field value, keeping its type (int, float, bool, string).
    public static func scalarValue(_ node: YAMLValue) throws(YAMLError) -> FieldValue {
        if let b = try? node.bool() { return .bool(b) }
        if let i = try? node.int() { return .int(Int64(i)) }
        if let d = try? node.double() { return .float(d) }
        if let items = try? node.sequence() {
            var values: [FieldValue] = []
            for item in items { values.append(try scalarValue(item)) }
            return .array(values)
        }
        return .string(try node.string())
    }
}
