import VigilCore
import VigilYAML

extension ProfileDefinition {
    /// The keys of one entry of `stream.profiles`.
    static let keys = ["name", "where", "group_by", "window", "allowed_lateness", "late", "aggregate", "early"]

    /// Decodes one entry of `stream.profiles`:
    ///
    /// ```yaml
    /// - name: conn_per_source            # required; A-Z a-z 0-9 . _ -
    ///   where: { event.dataset: network.conn }   # field: value or [values]; optional
    ///   group_by: [source.ip]            # required, at least one field
    ///   window: { type: tumbling, size: 1m }     # hopping: size + advance; session: gap
    ///   allowed_lateness: 30s            # default: stream.allowed_lateness
    ///   late: reject                     # or { update: 10m }: late updates for 10m after the end
    ///   aggregate: count
    ///   early: 10s                       # early results every 10s of processing time; optional
    /// ```
    public static func decode(_ value: YAMLValue, defaultLateness: Int64) throws(YAMLError) -> ProfileDefinition {
        let m = try value.mapping(allowedKeys: keys)
        let nameValue = try m.required("name")
        let name = try nameValue.string()
        guard !name.isEmpty, name.count <= 200,
              name.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D })
        else { throw nameValue.error("a profile name is 1 to 200 of A-Z a-z 0-9 . _ -") }

        var conditions: [(field: String, values: [String])] = []
        if let w = m.optional("where") {
            for entry in try w.mapping().entries {
                let values = try ((try? entry.value.sequence()) ?? [entry.value]).map { v throws(YAMLError) in try scalarText(v) }
                guard !values.isEmpty else { throw entry.value.error("give at least one value") }
                conditions.append((try field(entry.keyValue, entry.key), values))
            }
        }

        let groupValue = try m.required("group_by")
        let groupBy = try ((try? groupValue.sequence()) ?? [groupValue]).map { v throws(YAMLError) in try field(v, try v.string()) }
        guard !groupBy.isEmpty else { throw groupValue.error("group_by needs at least one field") }

        let windowValue = try m.required("window")
        let kind = try windowKind(windowValue)

        var lateness = defaultLateness
        if let v = m.optional("allowed_lateness") { lateness = try v.duration() }

        var late = LatePolicy.reject
        if let v = m.optional("late") {
            if let text = try? v.string() {
                guard text == "reject" else { throw v.error("late is reject or { update: DURATION }") }
            } else {
                let lm = try v.mapping(allowedKeys: ["update"])
                late = .update(retention: try lm.required("update").duration())
            }
        }

        var aggregate = AggregateKind.count
        if let v = m.optional("aggregate") {
            aggregate = try Self.aggregate(v)
        }

        var early: Int64?
        if let v = m.optional("early") { early = try v.duration(range: 1_000_000...Int64.max) }

        return ProfileDefinition(name: name, conditions: conditions, groupBy: groupBy,
                                 window: WindowOptions(kind: kind, allowedLateness: lateness, late: late),
                                 aggregate: aggregate, earlyInterval: early)
    }

    /// `count`, `{ distinct: FIELD, precision: 4…18 }` (precision 14 by default) or `{ stats: FIELD }`.
    static func aggregate(_ v: YAMLValue) throws(YAMLError) -> AggregateKind {
        if let text = try? v.string() {
            guard text == "count" else { throw v.error("unknown aggregate \(text); known: count, { distinct: FIELD }, { stats: FIELD }") }
            return .count
        }
        let m = try v.mapping(allowedKeys: ["distinct", "stats", "precision"])
        if let d = m.optional("distinct") {
            guard m.optional("stats") == nil else { throw v.error("an aggregate is one of count, distinct, stats") }
            var precision = 14
            if let p = m.optional("precision") { precision = try p.int(range: 4...18) }
            return .distinct(field: try field(d, try d.string()), precision: precision)
        }
        if let st = m.optional("stats") {
            guard m.optional("precision") == nil else { throw v.error("precision belongs to distinct") }
            return .stats(field: try field(st, try st.string()))
        }
        throw v.error("an aggregate is count, { distinct: FIELD } or { stats: FIELD }")
    }

    package static func windowKind(_ value: YAMLValue) throws(YAMLError) -> WindowKind {
        let m = try value.mapping(allowedKeys: ["type", "size", "advance", "gap"])
        let typeValue = try m.required("type")
        let positive: ClosedRange<Int64> = 1...Int64.max / 4
        switch try typeValue.string() {
        case "tumbling":
            guard m.optional("advance") == nil, m.optional("gap") == nil else { throw value.error("a tumbling window takes size only") }
            return .tumbling(size: try m.required("size").duration(range: positive))
        case "hopping", "sliding":
            guard m.optional("gap") == nil else { throw value.error("a hopping window takes size and advance") }
            let size = try m.required("size").duration(range: positive)
            let advanceValue = try m.required("advance")
            let advance = try advanceValue.duration(range: positive)
            guard advance <= size else { throw advanceValue.error("advance must not exceed size") }
            guard size / advance <= 1000 else { throw advanceValue.error("at most 1000 windows per event (size / advance)") }
            return .hopping(size: size, advance: advance)
        case "session":
            guard m.optional("size") == nil, m.optional("advance") == nil else { throw value.error("a session window takes gap only") }
            return .session(gap: try m.required("gap").duration(range: positive))
        case let other:
            throw typeValue.error("unknown window type \(other); known: tumbling, hopping, session")
        }
    }

    static func field(_ value: YAMLValue, _ name: String) throws(YAMLError) -> String {
        guard !name.isEmpty, !name.hasPrefix("."), !name.hasSuffix("."), !name.contains("..") else {
            throw value.error("\(name) is not a dotted field name")
        }
        return name
    }

    static func scalarText(_ value: YAMLValue) throws(YAMLError) -> String {
        if let s = try? value.string() { return s }
        if let i = try? value.int() { return String(i) }
        if let b = try? value.bool() { return b ? "true" : "false" }
        throw value.error("a condition value is a string, number or boolean")
    }
}
