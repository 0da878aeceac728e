import Foundation
import VigilCore
import VigilStream
import VigilYAML

/// Examples kept next to a rule in its file: events, and whether the rule must raise an alert on
/// them (`raises: N` distinct alerts — updates of one suppressed alert count once — or
/// `raises: false`).
///
/// ```yaml
///     examples:
///       - raises: 1
///         events:                      # in order; without @timestamp they are 1 s apart
///           - { event: { outcome: failure }, source: { ip: 198.51.100.7 } }
///       - raises: false
///         events: [ { event: { outcome: success } } ]
/// ```
public struct RuleExample: Sendable {
    public var rule: String
    public var origin: Origin
    public var events: [Event]
    public var expectedAlerts: Int

    /// The examples of every rule in a file.
    public static func load(path: String) throws -> [RuleExample] {
        let root = try YAMLValue.load(path: path)
        var out: [RuleExample] = []
        for entry in try root.mapping().required("rules").sequence() {
            let m = try entry.mapping()
            let id = try m.required("id").string()
            guard let examples = m.optional("examples") else { continue }
            for example in try examples.sequence() {
                let em = try example.mapping(allowedKeys: ["raises", "events"])
                let raisesValue = try em.required("raises")
                let expected: Int
                if let b = try? raisesValue.bool() { expected = b ? 1 : 0 } else { expected = try raisesValue.int(range: 0...1_000_000) }
                var events: [Event] = []
                for (i, e) in try em.required("events").sequence().enumerated() {
                    var text = ""
                    try json(e, into: &text)
                    var event: Event
                    do { event = try EventJSON.decode(text) } catch { throw e.error("not an event: \(error)") }
                    if event[.timestamp] == nil {
                        event[.timestamp] = .timestamp(Timestamp(nanoseconds: 1_700_000_000_000_000_000 + Int64(i) * 1_000_000_000))
                    }
                    events.append(event)
                }
                out.append(RuleExample(rule: id, origin: Origin(file: example.file, line: example.line, column: example.column),
                                       events: events, expectedAlerts: expected))
            }
        }
        return out
    }

    /// YAML as JSON text.
    static func json(_ v: YAMLValue, into out: inout String) throws {
        if let m = try? v.mapping() {
            out += "{"
            for (i, entry) in m.entries.enumerated() {
                if i > 0 { out += "," }
                out += quote(entry.key) + ":"
                try json(entry.value, into: &out)
            }
            out += "}"
        } else if let items = try? v.sequence() {
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                try json(item, into: &out)
            }
            out += "]"
        } else if v.isNull {
            out += "null"
        } else if let b = try? v.bool() {
            out += b ? "true" : "false"
        } else if let i = try? v.int() {
            out += String(i)
        } else if let d = try? v.double() {
            out += String(d)
        } else {
            out += quote(try v.string())
        }
    }

    static func quote(_ s: String) -> String {
        let data = try! JSONSerialization.data(withJSONObject: [s])
        let text = String(decoding: data, as: UTF8.self)
        return String(text.dropFirst().dropLast())
    }

    /// Runs the example through `rule` alone; the number of distinct alerts it raised.
    public func run(_ rule: CompiledRule) -> Int {
        var state = RulesPlugin(rules: [rule]).makeState(partition: 0)
        var alerts = Set<String>()
        for (i, e) in events.enumerated() {
            state.process(e, time: e[.timestamp]?.timestampValue?.nanoseconds ?? 0, offset: Int64(i),
                          emit: { alerts.insert($0["vigil.alert.id"]?.stringValue ?? "") }, late: { _ in })
        }
        return alerts.count
    }
}
