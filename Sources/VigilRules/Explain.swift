import VigilCore
import VigilStream
import VigilYAML

/// One node of a rule's match expression, evaluated on one event: its result and, for a field
/// test, the value the field held (`nil`: missing).
public struct ExplainNode: Sendable {
    public enum Kind: Sendable {
        case all, any, not
        case constant(Bool)
        case predicate(Predicate)
    }

    public var kind: Kind
    public var result: Bool
    public var children: [ExplainNode]
    /// A predicate's field value in the event; nil when the field is missing.
    public var observed: FieldValue?
}

/// Why a rule did or did not act on one event (`vigil rules explain`): the match expression
/// tree with every node's result, and for aggregated rules the key the event is grouped under
/// and what the aggregation needs. Built by ``RuleExplainer``.
public struct RuleExplanation: Sendable {
    /// What the engine does with the event.
    public enum Verdict: Sendable, Equatable {
        /// A single-event rule: the event raises an alert.
        case alerts
        /// An aggregated rule: the event counts towards the aggregation under ``RuleExplanation/key``.
        case counted
        /// The rule requires `event.dataset` values the event does not have: it is not tried.
        case notConsidered
        /// The match expression does not hold.
        case notMatched
        /// The match holds but a group-by field is missing (or not a scalar): the event is not counted.
        case missingGroupBy([String])
        /// The match holds but the aggregation's field is missing or unusable (`distinct`,
        /// `new_value`: a scalar; `anomaly`: a number).
        case missingField(String)
        /// A sequence: the match holds but none of its steps does.
        case noStep

        /// Whether the engine acts on the event (alerts or counts it).
        public var acts: Bool { self == .alerts || self == .counted }

        public var name: String {
            switch self {
            case .alerts: "alerts"
            case .counted: "counted"
            case .notConsidered: "not_considered"
            case .notMatched: "not_matched"
            case .missingGroupBy: "missing_group_by"
            case .missingField: "missing_field"
            case .noStep: "no_step"
            }
        }
    }

    /// One step of a sequence rule, evaluated on the event.
    public struct Step: Sendable {
        public var name: String
        public var minimum: Int64
        public var tree: ExplainNode
    }

    public var rule: Rule
    public var verdict: Verdict
    /// The match expression, evaluated.
    public var tree: ExplainNode
    /// The `event.dataset` values the rule is restricted to (nil: every event), and the event's.
    public var datasets: [String]?
    public var eventDataset: FieldValue?
    /// The group-by fields and their values in the event (nil: missing).
    public var groupBy: [(field: String, value: FieldValue?)]
    /// The key the event is grouped under (nil when a group-by field is missing).
    public var key: String?
    /// The aggregation in words (nil for single-event rules).
    public var aggregation: String?
    /// The windows the event falls in (threshold and distinct rules).
    public var windows: [WindowBounds]
    /// The aggregation's field (`distinct`, `new_value`, `anomaly`) and its value in the event.
    public var aggregatedField: (field: String, value: FieldValue?)?
    public var steps: [Step]
    /// The engine's compiled program's verdict on the match expression; always equal to
    /// `tree.result` (the leaves are the same compiled tests), kept as a self-check.
    public var engineMatch: Bool
}

/// Explains rules on events, walking the rule's ``Expression`` and evaluating each leaf with the
/// engine's own compiled test (a ``CompiledExpression`` of that predicate), so an explanation
/// cannot disagree with what the engine does.
public struct RuleExplainer: Sendable {
    public let compiled: CompiledRule
    /// The leaves of the match expression, in depth-first order.
    let leaves: [CompiledExpression]
    /// Per sequence step: its leaves.
    let stepLeaves: [[CompiledExpression]]
    let index: RuleIndex

    /// - Throws: ``RuleError`` when a leaf does not compile (it compiled in `compiled`, so only
    ///   with other `lists`).
    public init(_ compiled: CompiledRule, lists: (any RuleLists)? = nil) throws(RuleError) {
        self.compiled = compiled
        let origin = compiled.rule.origin
        leaves = try Self.compileLeaves(compiled.rule.match, lists: lists, origin: origin)
        var steps: [[CompiledExpression]] = []
        if case .sequence(let list, _, _, _)? = compiled.rule.aggregation {
            for step in list { steps.append(try Self.compileLeaves(step.match, lists: lists, origin: origin)) }
        }
        stepLeaves = steps
        index = RuleIndex([compiled])
    }

    static func compileLeaves(_ e: Expression, lists: (any RuleLists)?, origin: Origin) throws(RuleError) -> [CompiledExpression] {
        var out: [CompiledExpression] = []
        func walk(_ e: Expression) throws(RuleError) {
            switch e {
            case .all(let items), .any(let items): for item in items { try walk(item) }
            case .not(let inner): try walk(inner)
            case .constant: break
            case .predicate(let p): out.append(try CompiledExpression(.predicate(p), lists: lists, origin: origin))
            }
        }
        try walk(e)
        return out
    }

    static func evaluate(_ e: Expression, _ event: Event, _ leaves: [CompiledExpression], _ next: inout Int) -> ExplainNode {
        switch e {
        case .all(let items):
            let children = items.map { evaluate($0, event, leaves, &next) }
            return ExplainNode(kind: .all, result: children.allSatisfy(\.result), children: children)
        case .any(let items):
            let children = items.map { evaluate($0, event, leaves, &next) }
            return ExplainNode(kind: .any, result: children.contains { $0.result }, children: children)
        case .not(let inner):
            let child = evaluate(inner, event, leaves, &next)
            return ExplainNode(kind: .not, result: !child.result, children: [child])
        case .constant(let b):
            return ExplainNode(kind: .constant(b), result: b, children: [])
        case .predicate(let p):
            let leaf = leaves[next]
            next += 1
            return ExplainNode(kind: .predicate(p), result: leaf.matches(event), children: [], observed: event[p.field])
        }
    }

    /// Explains the rule on `event`.
    /// - Complexity: O(size of the rule's expressions).
    public func explain(_ event: Event) -> RuleExplanation {
        let rule = compiled.rule
        var next = 0
        let tree = Self.evaluate(rule.match, event, leaves, &next)
        let considered = !index.candidates(event).isEmpty
        let groupFields = compiled.groupFields(event)
        let groupBy = groupFields.map { (field: $0, value: event[$0]) }
        let key = RulesState.key(event, groupFields)
        var windows: [WindowBounds] = []
        var aggregatedField: (field: String, value: FieldValue?)?
        var steps: [RuleExplanation.Step] = []
        var fieldUsable = true
        let time = event[.timestamp]?.timestampValue?.nanoseconds
        switch rule.aggregation {
        case .threshold(_, let window, _)?:
            if let time { window.forEachWindow(containing: time) { windows.append($0) } }
        case .distinct(var field, _, let window, _)?:
            if !compiled.aliases.isEmpty, let aliased = compiled.aliased(event).field { field = aliased }
            if let time { window.forEachWindow(containing: time) { windows.append($0) } }
            aggregatedField = (field, event[field])
            fieldUsable = event[field]?.scalarText != nil
        case .newValue(let field, _, _)?:
            aggregatedField = (field, event[field])
            fieldUsable = event[field]?.scalarText != nil
        case .anomaly(let field, _, _, _)?:
            aggregatedField = (field, event[field])
            fieldUsable = RulesState.number(event[field]) != nil
        case .sequence(let list, _, _, _)?:
            for (j, step) in list.enumerated() {
                var n = 0
                steps.append(.init(name: step.name, minimum: step.minimum, tree: Self.evaluate(step.match, event, stepLeaves[j], &n)))
            }
        case .beacon?, nil:
            break
        }
        let verdict: RuleExplanation.Verdict
        if !considered {
            verdict = .notConsidered
        } else if !tree.result {
            verdict = .notMatched
        } else if key == nil {
            verdict = .missingGroupBy(groupBy.filter { $0.value?.scalarText == nil }.map(\.field))
        } else if rule.aggregation == nil {
            verdict = .alerts
        } else if !fieldUsable, let field = aggregatedField?.field {
            verdict = .missingField(field)
        } else if !steps.isEmpty, !steps.contains(where: { $0.tree.result }) {
            verdict = .noStep
        } else {
            verdict = .counted
        }
        return RuleExplanation(rule: rule, verdict: verdict, tree: tree, datasets: compiled.datasets, eventDataset: event[.eventDataset],
                               groupBy: groupBy, key: key, aggregation: rule.aggregation.map(Self.describe),
                               windows: windows, aggregatedField: aggregatedField, steps: steps,
                               engineMatch: compiled.match.matches(event))
    }

    /// An aggregation in words: what it counts, per which key, over what time, and when it alerts.
    public static func describe(_ a: Aggregation) -> String {
        func per(_ g: [String]) -> String { g.isEmpty ? "over all events" : "per " + g.joined(separator: " + ") }
        func d(_ ns: Int64) -> String { Units.formatDuration(ns) }
        func window(_ w: WindowKind) -> String {
            switch w {
            case .tumbling(let size): "\(d(size)) tumbling windows"
            case .hopping(let size, let advance): "\(d(size)) hopping windows every \(d(advance))"
            case .session(let gap): "session windows (gap \(d(gap)))"
            }
        }
        switch a {
        case .threshold(let g, let w, let minimum):
            return "threshold: counts events \(per(g)) in \(window(w)), alerts at ≥ \(minimum)"
        case .distinct(let field, let g, let w, let minimum):
            return "distinct: counts distinct \(field) values \(per(g)) in \(window(w)), alerts at ≥ \(minimum)"
        case .sequence(let steps, let g, let within, let ordered):
            let list = steps.map { "\($0.name) (≥ \($0.minimum))" }.joined(separator: ordered ? " then " : ", ")
            return "sequence: \(per(g)), \(list)\(ordered ? "" : " in any order") within \(d(within)), alerts when all steps happened"
        case .newValue(let field, let g, let lookback):
            return "new_value: alerts on a \(field) value not seen \(per(g)) within \(d(lookback))"
        case .anomaly(let field, let g, let z, let minimum):
            return "anomaly: alerts when \(field) is ≥ \(z) standard deviations from its mean \(per(g)), after \(minimum) values"
        case .beacon(let g, let minimum, let jitter, let window):
            return "beacon: measures the intervals between events \(per(g)), alerts at ≥ \(minimum) events whose intervals' coefficient of variation is ≤ \(jitter); a key idle for \(d(window)) starts afresh"
        }
    }
}

extension RuleExplanation {
    static func valueText(_ v: FieldValue?) -> String {
        guard let v else { return "missing" }
        var bytes: [UInt8] = []
        EventJSON.encode(v, into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// An operator as rule files spell it (`startswith`, `re`, `gte`, …).
    static func operatorName(_ op: Operator) -> String {
        RuleFile.operators.first { $0.value == op }?.key ?? op.rawValue
    }

    static func predicateText(_ p: Predicate) -> String {
        var modifiers: [String] = []
        if p.caseInsensitive { modifiers.append("i") }
        if p.matchAll { modifiers.append("all") }
        let values = p.values.map { v -> String in
            if case .string(let s) = v { return jsonQuote(s) }
            return v.description
        }
        var text = "\(p.field) \(operatorName(p.op))"
        if !values.isEmpty { text += " " + (values.count == 1 ? values[0] : "[" + values.joined(separator: ", ") + "]") }
        if !modifiers.isEmpty { text += " (\(modifiers.joined(separator: ", ")))" }
        if values.count > 1 { text += p.matchAll ? " — every value" : " — any value" }
        return text
    }

    static func render(_ node: ExplainNode, depth: Int, into lines: inout [String]) {
        let pad = String(repeating: "  ", count: depth) + (node.result ? "[true]  " : "[false] ")
        switch node.kind {
        case .all: lines.append(pad + "all of")
        case .any: lines.append(pad + "any of")
        case .not: lines.append(pad + "not")
        case .constant(let b): lines.append(pad + "constant \(b)")
        case .predicate(let p): lines.append(pad + predicateText(p) + "    ← \(p.field) = " + valueText(node.observed))
        }
        for child in node.children { render(child, depth: depth + 1, into: &lines) }
    }

    static func windowText(_ b: WindowBounds) -> String {
        "[\(Timestamp(nanoseconds: b.start).rfc3339), \(Timestamp(nanoseconds: b.end).rfc3339))"
    }

    /// The explanation for people: the tree with each node's result, then the aggregation.
    public var text: String {
        var lines: [String] = []
        let headline: String
        switch verdict {
        case .alerts: headline = "MATCHES: the event raises an alert"
        case .counted: headline = "MATCHES: the event counts towards the aggregation under key \(jsonQuote(key ?? ""))"
        case .notConsidered: headline = "NOT MATCHED: the rule only runs on event.dataset \((datasets ?? []).joined(separator: ", ")); the event's is \(Self.valueText(eventDataset))"
        case .notMatched: headline = "NOT MATCHED: the match expression is false"
        case .missingGroupBy(let fields): headline = "NOT COUNTED: the match holds but group-by field \(fields.joined(separator: ", ")) is missing"
        case .missingField(let f): headline = "NOT COUNTED: the match holds but \(f) is missing or unusable"
        case .noStep: headline = "NOT COUNTED: the match holds but no step of the sequence does"
        }
        lines.append("rule \(rule.id) (\(rule.title)) at \(rule.origin): \(headline)")
        lines.append("match:")
        Self.render(tree, depth: 1, into: &lines)
        if let aggregation {
            lines.append("aggregation: \(aggregation)")
            if !groupBy.isEmpty {
                lines.append("group by: " + groupBy.map { "\($0.field) = \(Self.valueText($0.value))" }.joined(separator: ", ")
                             + (key.map { " → key \(jsonQuote($0))" } ?? " → no key"))
            }
            if let f = aggregatedField { lines.append("field: \(f.field) = \(Self.valueText(f.value))") }
            if !windows.isEmpty { lines.append("windows: " + windows.map(Self.windowText).joined(separator: ", ")) }
            for step in steps {
                lines.append("step \(step.name) (≥ \(step.minimum)): \(step.tree.result)")
                Self.render(step.tree, depth: 1, into: &lines)
            }
        }
        if engineMatch != tree.result { lines.append("warning: the compiled program says \(engineMatch); please report this") }
        return lines.joined(separator: "\n")
    }

    static func json(_ node: ExplainNode) -> String {
        var fields: [String] = []
        switch node.kind {
        case .all: fields.append("\"node\":\"all\"")
        case .any: fields.append("\"node\":\"any\"")
        case .not: fields.append("\"node\":\"not\"")
        case .constant(let b): fields.append("\"node\":\"constant\",\"value\":\(b)")
        case .predicate(let p):
            fields.append("\"node\":\"predicate\",\"field\":\(jsonQuote(p.field)),\"operator\":\"\(operatorName(p.op))\"")
            var modifiers: [String] = []
            if p.caseInsensitive { modifiers.append("\"i\"") }
            if p.matchAll { modifiers.append("\"all\"") }
            fields.append("\"modifiers\":[\(modifiers.joined(separator: ","))]")
            fields.append("\"values\":[" + p.values.map(jsonValue).joined(separator: ",") + "]")
            fields.append("\"observed\":" + (node.observed.map { valueText($0) } ?? "null"))
            fields.append("\"missing\":\(node.observed == nil)")
        }
        fields.append("\"result\":\(node.result)")
        if !node.children.isEmpty { fields.append("\"children\":[" + node.children.map(json).joined(separator: ",") + "]") }
        return "{" + fields.joined(separator: ",") + "}"
    }

    static func jsonValue(_ v: Value) -> String {
        switch v {
        case .string(let s): jsonQuote(s)
        case .number(let n): n.isFinite ? v.description : "null"
        case .bool(let b): b ? "true" : "false"
        case .null: "null"
        }
    }

    /// The explanation as one JSON object (for programs): `rule`, `verdict`, `matched`, `tree`,
    /// and for aggregated rules `aggregation`, `group_by`, `key`, `windows`, `field`, `steps`.
    public var json: String {
        var f: [String] = []
        f.append("\"rule\":\(jsonQuote(rule.id))")
        f.append("\"title\":\(jsonQuote(rule.title))")
        f.append("\"verdict\":\"\(verdict.name)\"")
        f.append("\"acts\":\(verdict.acts)")
        f.append("\"matched\":\(tree.result && verdict != .notConsidered)")
        if let datasets { f.append("\"datasets\":[" + datasets.map(jsonQuote).joined(separator: ",") + "]") }
        if case .missingGroupBy(let fields) = verdict { f.append("\"missing\":[" + fields.map(jsonQuote).joined(separator: ",") + "]") }
        f.append("\"tree\":" + Self.json(tree))
        if let aggregation {
            f.append("\"aggregation\":\(jsonQuote(aggregation))")
            f.append("\"group_by\":[" + groupBy.map { "{\"field\":\(jsonQuote($0.field)),\"value\":\($0.value.map { Self.valueText($0) } ?? "null")}" }.joined(separator: ",") + "]")
            f.append("\"key\":" + (key.map(jsonQuote) ?? "null"))
            if !windows.isEmpty {
                f.append("\"windows\":[" + windows.map { "{\"start\":\"\(Timestamp(nanoseconds: $0.start).rfc3339)\",\"end\":\"\(Timestamp(nanoseconds: $0.end).rfc3339)\"}" }.joined(separator: ",") + "]")
            }
            if let a = aggregatedField {
                f.append("\"field\":{\"name\":\(jsonQuote(a.field)),\"value\":\(a.value.map { Self.valueText($0) } ?? "null")}")
            }
            if !steps.isEmpty {
                f.append("\"steps\":[" + steps.map { "{\"name\":\(jsonQuote($0.name)),\"count\":\($0.minimum),\"result\":\($0.tree.result),\"tree\":\(Self.json($0.tree))}" }.joined(separator: ",") + "]")
            }
        }
        return "{" + f.joined(separator: ",") + "}"
    }
}

/// `s` as a JSON string literal (quotes, backslashes and control characters escaped; `/` and
/// non-ASCII text as they are).
func jsonQuote(_ s: String) -> String { JSONWriter.quoted(s) }
