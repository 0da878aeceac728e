import Foundation
import VigilCore
import VigilParsers
import VigilTestSupport

// Reusable comparison of Vigil parser output with Apache Metron's expected parser output
// (/work/shared/data/metron, see its PROVENANCE.md). A case names the parser, the raw lines, the
// Metron messages and an explicit table from each Metron field name to how Vigil represents it.
// Every Metron field must be in the table (or be skipped with a reason), so nothing is compared
// implicitly. Differences that are understood are listed per line and field with the reason.

/// How one Metron field is found and compared in Vigil's event.
enum MetronValue: Sendable {
    /// The Vigil field's text (`FieldValue.plainText`) equals Metron's string.
    case string(String)
    /// Both are IP addresses with the same canonical text.
    case ip(String)
    /// Both are integers with the same value (Metron may write numbers as strings).
    case int(String)
    /// Metron's milliseconds since the epoch equal Vigil's timestamp, truncated to milliseconds.
    case millis(String)
    /// Any JSON value: numbers numerically, strings exactly, arrays element by element.
    case value(String)
    /// Metron's value, transformed (e.g. a severity name to its code), equals the Vigil field's text.
    case converted(String, @Sendable (Any) -> String?)
    /// A value computed from the event equals Metron's text (fields Vigil splits, such as a tag).
    case derived(String, @Sendable (Event) -> String?)
    /// Not compared, with the reason.
    case skip(String)
}

/// A mismatch that is understood: the Metron line (1-based, counting messages), the Metron field
/// and why Vigil differs.
struct MetronKnownDifference: Sendable {
    var message: Int
    var field: String
    var reason: String
}

/// One sensor's parity case.
struct MetronParityCase {
    var sensor: String
    var parser: CompiledParser
    /// Raw input lines (blank lines already removed, as Metron's test reader does).
    var rawLines: [String]
    /// Metron's output messages in order (several per raw line for multi-event sensors).
    var expected: [[String: Any]]
    /// Metron field name → Vigil representation. Fields missing here count as unmapped mismatches.
    var table: [String: MetronValue]
    var context: ParseContext
    var knownDifferences: [MetronKnownDifference] = []
}

/// A field that did not compare equal.
struct MetronMismatch: CustomStringConvertible {
    var message: Int
    var field: String
    var expected: String
    var actual: String
    var reason: String?
    var description: String {
        "message \(message) \(field): Metron \(expected) Vigil \(actual)" + (reason.map { " — known: \($0)" } ?? "")
    }
}

struct MetronParityReport: CustomStringConvertible {
    var sensor: String
    var lines = 0
    var linesParsed = 0
    var lineFailures: [String] = []
    var events = 0
    var expectedMessages = 0
    var compared = 0
    var matched = 0
    var skipped = 0
    /// Mismatches listed as known differences.
    var explained: [MetronMismatch] = []
    /// Mismatches nobody explained: a parity test fails on these.
    var unexplained: [MetronMismatch] = []

    var matchRate: Double { compared == 0 ? 1 : Double(matched) / Double(compared) }

    var description: String {
        let rate = String(format: "%.1f", matchRate * 100)
        return "metron parity \(sensor): lines \(linesParsed)/\(lines) parsed (\(lineFailures.count) failed), "
            + "events \(events)/\(expectedMessages), fields \(matched)/\(compared) matched (\(rate)%), "
            + "\(explained.count) known differences, \(unexplained.count) unexplained, \(skipped) skipped"
    }
}

enum MetronParity {
    /// Fields every Metron parser adds that Vigil represents elsewhere or not at all.
    static let commonSkips: [String: MetronValue] = [
        "original_string": .skip("the raw line; Vigil's pipeline keeps it as event.original"),
        "guid": .skip("a random UUID per message (placeholder in the expected files)"),
        "source.type": .skip("the sensor name; Vigil's pipeline sets vigil.sensor"),
    ]

    /// The `path` lines that are not blank.
    static func lines(_ path: String) throws -> [String] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return text.split(separator: "\n", omittingEmptySubsequences: true)
            .map { $0.hasSuffix("\r") ? String($0.dropLast()) : String($0) }
            .filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
    }

    /// Metron's expected messages, one JSON object per non-blank line.
    static func messages(_ path: String) throws -> [[String: Any]] {
        try lines(path).map { line in
            guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                throw CocoaError(.propertyListReadCorrupt)
            }
            return object
        }
    }

    static func run(_ c: MetronParityCase) -> MetronParityReport {
        var report = MetronParityReport(sensor: c.sensor)
        report.lines = c.rawLines.count
        report.expectedMessages = c.expected.count
        var events: [Event] = []
        for (index, line) in c.rawLines.enumerated() {
            do {
                let produced = try c.parser.parseEvents(line, context: c.context)
                events += produced
                report.linesParsed += 1
            } catch {
                report.lineFailures.append("line \(index + 1): \(error.reason)")
            }
        }
        report.events = events.count
        let table = commonSkips.merging(c.table) { _, mine in mine }
        for (index, expected) in c.expected.enumerated() {
            let number = index + 1
            guard index < events.count else {
                report.unexplained.append(MetronMismatch(message: number, field: "*", expected: "a message", actual: "no event", reason: nil))
                continue
            }
            let event = events[index]
            for (field, metronValue) in expected.sorted(by: { $0.key < $1.key }) {
                guard let rule = table[field] else {
                    report.compared += 1
                    report.unexplained.append(MetronMismatch(message: number, field: field, expected: render(metronValue),
                                                             actual: "(no mapping in the table)", reason: nil))
                    continue
                }
                if case .skip = rule { report.skipped += 1; continue }
                report.compared += 1
                let (equal, actual) = compare(metronValue, rule, event)
                if equal { report.matched += 1; continue }
                let known = c.knownDifferences.first { $0.message == number && $0.field == field }
                let mismatch = MetronMismatch(message: number, field: field, expected: render(metronValue), actual: actual, reason: known?.reason)
                if known != nil { report.explained.append(mismatch) } else { report.unexplained.append(mismatch) }
            }
        }
        return report
    }

    /// Whether Metron's `value` matches the event under `rule`, and what Vigil had.
    static func compare(_ value: Any, _ rule: MetronValue, _ event: Event) -> (Bool, String) {
        switch rule {
        case .skip: return (true, "")
        case .string(let key):
            guard let v = event[key] else { return (false, "(missing \(key))") }
            return (v.plainText == text(value), v.plainText)
        case .ip(let key):
            guard let v = event[key] else { return (false, "(missing \(key))") }
            guard let a = IPAddress(text(value)), let b = IPAddress(v.plainText) else { return (false, v.plainText) }
            return (a == b, v.plainText)
        case .int(let key):
            guard let v = event[key] else { return (false, "(missing \(key))") }
            guard let a = integer(value), let b = integer(v) else { return (false, v.plainText) }
            return (a == b, v.plainText)
        case .millis(let key):
            guard let v = event[key] else { return (false, "(missing \(key))") }
            guard case .timestamp(let t) = v, let ms = integer(value) else { return (false, v.plainText) }
            let vigilMillis = t.nanoseconds >= 0 ? t.nanoseconds / 1_000_000 : (t.nanoseconds - 999_999) / 1_000_000
            return (vigilMillis == ms, "\(vigilMillis) (\(t.rfc3339))")
        case .value(let key):
            guard let v = event[key] else { return (false, "(missing \(key))") }
            return (canonical(value) == canonical(v), v.plainText)
        case .converted(let key, let transform):
            guard let v = event[key] else { return (false, "(missing \(key))") }
            return (transform(value) == v.plainText, v.plainText)
        case .derived(_, let compute):
            guard let computed = compute(event) else { return (false, "(cannot derive)") }
            return (computed == text(value), computed)
        }
    }

    static func text(_ value: Any) -> String {
        if let s = value as? String { return s }
        if let n = value as? NSNumber { return n.stringValue }
        return render(value)
    }

    static func integer(_ value: Any) -> Int64? {
        if let n = value as? NSNumber {
            let d = n.doubleValue
            return d.rounded() == d ? n.int64Value : nil
        }
        if let s = value as? String { return Int64(s) }
        if let v = value as? FieldValue {
            switch v {
            case .int(let i): return i
            case .string(let s): return Int64(s)
            case .float(let d): return d.rounded() == d && abs(d) < 9e18 ? Int64(d) : nil
            default: return nil
            }
        }
        return nil
    }

    /// A canonical text for comparing JSON-like values from either side: numbers by value.
    static func canonical(_ value: Any) -> String {
        switch value {
        case let v as FieldValue:
            switch v {
            case .string(let s): return "s:" + s
            case .int(let i): return "n:" + String(Double(i))
            case .float(let d): return "n:" + String(d)
            case .bool(let b): return "b:\(b)"
            case .null: return "null"
            case .array(let items): return "[" + items.map { canonical($0) }.joined(separator: ",") + "]"
            case .object(let o): return "{" + o.members.map { "\($0.key)=" + canonical($0.value) }.sorted().joined(separator: ",") + "}"
            case .ip, .timestamp: return "s:" + v.plainText
            }
        case let s as String: return "s:" + s
        case let n as NSNumber: return "n:" + String(n.doubleValue)  // the samples hold no booleans
        case let a as [Any]: return "[" + a.map { canonical($0) }.joined(separator: ",") + "]"
        case let d as [String: Any]: return "{" + d.map { "\($0.key)=" + canonical($0.value) }.sorted().joined(separator: ",") + "}"
        case is NSNull: return "null"
        default: return "?\(value)"
        }
    }

    static func render(_ value: Any) -> String {
        if let s = value as? String { return "\"\(s)\"" }
        if let data = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys]),
           let s = String(data: data, encoding: .utf8) { return s }
        return "\(value)"
    }

    /// Metron's syslog severity names (`SyslogUtils`) as codes.
    static func severityCode(_ value: Any) -> String? {
        let names = ["emerg": 0, "alert": 1, "crit": 2, "err": 3, "warn": 4, "warning": 4, "notice": 5, "info": 6, "debug": 7]
        return names[text(value)].map(String.init)
    }

    /// A CEF/LEEF JSON Schema's required fields, checked for presence and JSON type through
    /// `table` (Metron's parsers validate their CEF/LEEF samples this way).
    static func schemaCheck(schemaPath: String, event: Event, table: [String: MetronValue]) throws -> (checked: Int, failures: [String]) {
        let data = try Data(contentsOf: URL(fileURLWithPath: schemaPath))
        guard let schema = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let required = schema["required"] as? [String],
              let properties = schema["properties"] as? [String: [String: Any]] else { return (0, ["unreadable schema"]) }
        var failures: [String] = []
        var checked = 0
        for field in required {
            let rule = table[field] ?? commonSkips[field]
            guard let rule else { failures.append("\(field): no mapping"); continue }
            let key: String
            switch rule {
            case .skip: continue
            case .string(let k), .ip(let k), .int(let k), .millis(let k), .value(let k), .converted(let k, _), .derived(let k, _): key = k
            }
            checked += 1
            guard let value = event[key] else { failures.append("\(field) → \(key): missing"); continue }
            let type = properties[field]?["type"] as? String ?? "string"
            let ok: Bool
            switch (type, value) {
            case ("integer", .int), ("integer", .timestamp): ok = true
            case ("string", .string), ("string", .ip): ok = true
            default: ok = false
            }
            if !ok { failures.append("\(field) → \(key): \(value.typeName) is not a JSON \(type)") }
        }
        return (checked, failures)
    }
}
