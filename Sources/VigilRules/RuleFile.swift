import VigilCore
import VigilStream
import VigilYAML

/// Vigil's own rule files (docs/rules.md): YAML under `rules/`, one or more rules per file.
///
/// ```yaml
/// rules:
///   - id: vigil.ssh.brute_force          # unique; A-Z a-z 0-9 . _ -
///     title: SSH brute force
///     severity: high                     # informational | low | medium | high | critical
///     score: 70                          # 0…100; default from the severity
///     tags: [attack.t1110.001]
///     match:                             # a mapping = all of its entries
///       event.dataset: [system.auth, zeek.ssh]        # field: value or [values] = equals any
///       event.outcome: failure
///       url.original|contains|i: [/wp-login, /xmlrpc] # modifiers: contains startswith endswith re
///                                                     # cidr lt lte gt gte exists in_list; i, all
///       not: { source.ip|cidr: 10.0.0.0/8 }           # all: [...], any: [...], not: ...
///     threshold: { group_by: [source.ip], window: 5m, count: 20 }
///     suppress: 30m
/// ```
///
/// Aggregations (at most one): `threshold: {group_by, window, count}`, `distinct: {field,
/// group_by, window, count}`, `sequence: {group_by, within, ordered, steps: [{name, match, count}]}`,
/// `new_value: {field, group_by, lookback}`, `anomaly: {field, group_by, z, min_samples}`,
/// `beacon: {group_by, min_connections, max_jitter, window}`. A
/// `window` is a duration (tumbling) or a window mapping as in profiles (docs/stream.md).
public enum RuleFile {
    static let ruleKeys = ["id", "title", "description", "severity", "score", "tags", "match", "threshold", "distinct",
                           "sequence", "new_value", "anomaly", "beacon", "suppress", "examples", "enabled"]

    /// The rules of one file (examples are read by ``RuleExamples``).
    /// - Throws: ``YAMLError`` at the file:line:column of the first mistake.
    public static func load(path: String) throws(YAMLError) -> [Rule] {
        try rules(try YAMLValue.load(path: path))
    }

    public static func parse(yaml: String, file: String) throws(YAMLError) -> [Rule] {
        try rules(try YAMLValue.parse(yaml: yaml, file: file))
    }

    static func rules(_ root: YAMLValue) throws(YAMLError) -> [Rule] {
        let top = try root.mapping(allowedKeys: ["rules"])
        var out: [Rule] = []
        var ids = Set<String>()
        for entry in try top.required("rules").sequence() {
            let r = try rule(entry)
            guard ids.insert(r.id).inserted else { throw entry.error("a second rule with id \(r.id) in this file") }
            if let enabled = try entry.mapping().optional("enabled"), try !enabled.bool() { continue }
            out.append(r)
        }
        return out
    }

    static func rule(_ value: YAMLValue) throws(YAMLError) -> Rule {
        let m = try value.mapping(allowedKeys: ruleKeys)
        let idValue = try m.required("id")
        let id = try idValue.string()
        guard !id.isEmpty, id.count <= 200, id.utf8.allSatisfy(isNameByte) else {
            throw idValue.error("a rule id is 1 to 200 of A-Z a-z 0-9 . _ -")
        }
        let title = try m.required("title").string()
        let description = try m.optional("description")?.string() ?? ""
        var severity = Severity.medium
        if let v = m.optional("severity") {
            let name = try v.string()
            guard let s = Severity(name: name) else { throw v.error("severity is one of informational, low, medium, high, critical") }
            severity = s
        }
        var score = defaultScore(severity)
        if let v = m.optional("score") { score = try v.int(range: 0...100) }
        var tags: [String] = []
        if let v = m.optional("tags") { for t in try v.sequence() { tags.append(try t.string()) } }
        let matchValue = try m.required("match")
        let match = try expression(matchValue)
        var aggregation: Aggregation?
        var kinds: [String] = []
        for key in ["threshold", "distinct", "sequence", "new_value", "anomaly", "beacon"] {
            guard let v = m.optional(key) else { continue }
            kinds.append(key)
            guard kinds.count == 1 else { throw v.error("a rule has at most one aggregation (also \(kinds[0]))") }
            aggregation = try Self.aggregation(key, v)
        }
        var suppression: Int64?
        if let v = m.optional("suppress") { suppression = try v.duration(range: 1_000_000...Int64.max) }
        return Rule(id: id, title: title, description: description, severity: severity, score: score, tags: tags,
                    match: match, aggregation: aggregation, suppression: suppression,
                    origin: Origin(file: value.file, line: value.line, column: value.column))
    }

    /// Scores by severity when a rule gives none: 10, 30, 50, 70, 90.
    public static func defaultScore(_ s: Severity) -> Int { 10 + 20 * s.rawValue }

    static func isNameByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2E || b == 0x5F || b == 0x2D
    }

    // MARK: Expressions

    /// A mapping (all of its entries), or a sequence (any of its items).
    static func expression(_ value: YAMLValue) throws(YAMLError) -> Expression {
        if let items = try? value.sequence() {
            var out: [Expression] = []
            for item in items { out.append(try expression(item)) }
            return .any(out)
        }
        let m = try value.mapping()
        var parts: [Expression] = []
        for entry in m.entries {
            switch entry.key {
            case "all":
                var items: [Expression] = []
                for item in try entry.value.sequence() { items.append(try expression(item)) }
                parts.append(.all(items))
            case "any":
                var items: [Expression] = []
                for item in try entry.value.sequence() { items.append(try expression(item)) }
                parts.append(.any(items))
            case "not":
                parts.append(.not(try expression(entry.value)))
            default:
                parts.append(.predicate(try predicate(entry.keyValue, entry.key, entry.value)))
            }
        }
        guard !parts.isEmpty else { throw value.error("an empty match; use all: [] to match every event") }
        return parts.count == 1 ? parts[0] : .all(parts)
    }

    static let operators: [String: Operator] = [
        "contains": .contains, "startswith": .prefix, "endswith": .suffix, "re": .regex, "cidr": .cidr,
        "lt": .lessThan, "lte": .lessOrEqual, "gt": .greaterThan, "gte": .greaterOrEqual, "exists": .exists,
        "in_list": .inList, "equals": .equals,
    ]

    /// `field|modifier|…: value or [values]`.
    static func predicate(_ keyValue: YAMLValue, _ key: String, _ value: YAMLValue) throws(YAMLError) -> Predicate {
        let parts = key.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
        let field = parts[0]
        guard !field.isEmpty, !field.hasPrefix("."), !field.hasSuffix("."), !field.contains("..") else {
            throw keyValue.error("\(field) is not a dotted field name")
        }
        var op = Operator.equals
        var ci = false, all = false, opSeen = false
        for modifier in parts.dropFirst() {
            switch modifier {
            case "i": ci = true
            case "all": all = true
            default:
                guard let o = operators[modifier] else {
                    throw keyValue.error("unknown modifier \(modifier); known: \(operators.keys.sorted().joined(separator: ", ")), i, all")
                }
                guard !opSeen else { throw keyValue.error("one operator per field (\(op.rawValue) and \(modifier))") }
                op = o
                opSeen = true
            }
        }
        if op == .exists {
            guard try value.bool() else { throw value.error("exists takes true (use not: for absence)") }
            return Predicate(field: field, op: .exists)
        }
        var values: [Value] = []
        for v in (try? value.sequence()) ?? [value] { values.append(try scalar(v)) }
        guard !values.isEmpty else { throw value.error("give at least one value") }
        return Predicate(field: field, op: op, values: values, matchAll: all, caseInsensitive: ci)
    }

    static func scalar(_ v: YAMLValue) throws(YAMLError) -> Value {
        if v.isNull { return .null }
        if let b = try? v.bool() { return .bool(b) }
        if let i = try? v.int() { return .number(Double(i)) }
        if let s = try? v.string() {
            // Quoted numbers stay strings; the matcher compares numbers numerically either way.
            return .string(s)
        }
        throw v.error("a value is a string, number, boolean or null")
    }

    // MARK: Aggregations

    static func window(_ v: YAMLValue) throws(YAMLError) -> WindowKind {
        if let d = try? v.duration(range: 1...Int64.max / 4) { return .tumbling(size: d) }
        return try ProfileDefinition.windowKind(v)
    }

    static func fields(_ v: YAMLValue) throws(YAMLError) -> [String] {
        var out: [String] = []
        for f in (try? v.sequence()) ?? [v] { out.append(try f.string()) }
        return out
    }

    static func aggregation(_ kind: String, _ v: YAMLValue) throws(YAMLError) -> Aggregation {
        switch kind {
        case "threshold":
            let m = try v.mapping(allowedKeys: ["group_by", "window", "count"])
            return .threshold(groupBy: try m.optional("group_by").map { v throws(YAMLError) in try fields(v) } ?? [],
                              window: try window(try m.required("window")),
                              minimum: Int64(try m.required("count").int(range: 1...Int.max)))
        case "distinct":
            let m = try v.mapping(allowedKeys: ["field", "group_by", "window", "count"])
            return .distinct(field: try m.required("field").string(),
                             groupBy: try m.optional("group_by").map { v throws(YAMLError) in try fields(v) } ?? [],
                             window: try window(try m.required("window")),
                             minimum: Int64(try m.required("count").int(range: 1...Int.max)))
        case "sequence":
            let m = try v.mapping(allowedKeys: ["group_by", "within", "ordered", "steps"])
            var steps: [SequenceStep] = []
            for s in try m.required("steps").sequence() {
                let sm = try s.mapping(allowedKeys: ["name", "match", "count"])
                steps.append(SequenceStep(name: try sm.required("name").string(), match: try expression(try sm.required("match")),
                                          minimum: Int64(try sm.optional("count")?.int(range: 1...Int.max) ?? 1)))
            }
            guard steps.count >= 2 else { throw v.error("a sequence has at least two steps") }
            return .sequence(steps: steps, groupBy: try m.optional("group_by").map { v throws(YAMLError) in try fields(v) } ?? [],
                             within: try m.required("within").duration(range: 1...Int64.max / 4),
                             ordered: try m.optional("ordered")?.bool() ?? true)
        case "new_value":
            let m = try v.mapping(allowedKeys: ["field", "group_by", "lookback"])
            return .newValue(field: try m.required("field").string(),
                             groupBy: try m.optional("group_by").map { v throws(YAMLError) in try fields(v) } ?? [],
                             lookback: try m.required("lookback").duration(range: 1...Int64.max / 4))
        case "beacon":
            return try BeaconTable.aggregation(v)
        default:  // anomaly
            let m = try v.mapping(allowedKeys: ["field", "group_by", "z", "min_samples"])
            let zValue = try m.required("z")
            let z: Double
            if let i = try? zValue.int() { z = Double(i) } else if let d = Double(try zValue.string()) { z = d } else {
                throw zValue.error("z is a number of standard deviations")
            }
            guard z > 0 else { throw zValue.error("z must be positive") }
            return .anomaly(field: try m.required("field").string(),
                            groupBy: try m.optional("group_by").map { v throws(YAMLError) in try fields(v) } ?? [],
                            zScore: z, minimumSamples: try m.optional("min_samples")?.int(range: 2...1_000_000) ?? 30)
        }
    }
}
