import VigilCore
import VigilSketch
import VigilStream

/// A rule ready to run: its expression compiled, its key fields resolved.
public struct CompiledRule: Sendable {
    public let rule: Rule
    let match: CompiledExpression
    let groupBy: [String]
    /// The group-by fields as keys (looked up in the schema once).
    let groupByKeys: [Event.Key]
    /// The fields every alert of the rule carries (kind, dataset, rule, severity, score, tags).
    let alertTemplate: Event
    /// Sequence steps, compiled, and how many matches each needs.
    let steps: [CompiledExpression]
    let stepMinimums: [Int64]
    /// The `event.dataset` values the rule requires (as written; compared ignoring case when
    /// `datasetsIgnoreCase`), when its match says so at its top level: rules are only evaluated
    /// on events of those datasets. Nil: every event.
    let datasets: [String]?
    let datasetsIgnoreCase: Bool
    /// What the engine evaluates: the match without its dataset condition when the rule index
    /// already guarantees it (the whole match otherwise).
    let residual: CompiledExpression
    /// A canonical text of everything that shapes the rule's state: state restored from a
    /// checkpoint is kept only when the rule's fingerprint is unchanged.
    let fingerprint: String
    /// A Sigma correlation's per-rule fields (KeyAliases.swift); empty for other rules.
    let aliases: [CompiledKeyAlias]
    /// The aggregation's kind, and its field as a key (distinct, new_value, anomaly), so the
    /// engine dispatches per event without copying the aggregation's lists.
    let kind: Kind
    let fieldKey: Event.Key?
    /// The aggregation's numbers, read per event without copying the aggregation.
    let lookback: Int64
    let zScore: Double
    let minimumSamples: Int
    let within: Int64
    let ordered: Bool

    enum Kind: UInt8, Sendable {
        case single, threshold, distinct, sequence, newValue, anomaly, beacon
    }

    public init(_ rule: Rule, lists: (any RuleLists)? = nil) throws(RuleError) {
        self.rule = rule
        match = try CompiledExpression(rule.match, lists: lists, origin: rule.origin)
        switch rule.aggregation {
        case .threshold(let g, _, _)?, .distinct(_, let g, _, _)?, .sequence(_, let g, _, _)?, .newValue(_, let g, _)?,
             .anomaly(_, let g, _, _)?, .beacon(let g, _, _, _)?:
            groupBy = g
        case nil:
            groupBy = []
        }
        groupByKeys = groupBy.map { Event.Key($0) }
        alertTemplate = Self.template(rule)
        var steps: [CompiledExpression] = []
        if case .sequence(let list, _, _, _)? = rule.aggregation {
            for step in list { steps.append(try CompiledExpression(step.match, lists: lists, origin: rule.origin)) }
        }
        self.steps = steps
        if case .sequence(let list, _, _, _)? = rule.aggregation { stepMinimums = list.map(\.minimum) } else { stepMinimums = [] }
        let required = Self.requiredDatasets(rule.match)
        datasets = required?.values
        datasetsIgnoreCase = required?.ignoreCase ?? false
        if let required, let stripped = required.residual {
            residual = try CompiledExpression(stripped, lists: lists, origin: rule.origin)
        } else {
            residual = match
        }
        fingerprint = "v2|\(rule.id)|\(rule.match)|\(String(describing: rule.aggregation))|\(rule.suppression ?? 0)"
            + (rule.keyAliases.isEmpty ? "" : "|\(rule.keyAliases)")
        aliases = try CompiledKeyAlias.compile(rule.keyAliases, lists: lists, origin: rule.origin)
        var lookback: Int64 = 0, zScore = 0.0, minimumSamples = 0, within: Int64 = 0, ordered = false
        switch rule.aggregation {
        case .newValue(_, _, let l)?: lookback = l
        case .anomaly(_, _, let z, let m)?: zScore = z; minimumSamples = m
        case .sequence(_, _, let w, let o)?: within = w; ordered = o
        default: break
        }
        self.lookback = lookback
        self.zScore = zScore
        self.minimumSamples = minimumSamples
        self.within = within
        self.ordered = ordered
        switch rule.aggregation {
        case nil: kind = .single; fieldKey = nil
        case .threshold?: kind = .threshold; fieldKey = nil
        case .distinct(let f, _, _, _)?: kind = .distinct; fieldKey = Event.Key(f)
        case .sequence?: kind = .sequence; fieldKey = nil
        case .newValue(let f, _, _)?: kind = .newValue; fieldKey = Event.Key(f)
        case .anomaly(let f, _, _, _)?: kind = .anomaly; fieldKey = Event.Key(f)
        case .beacon?: kind = .beacon; fieldKey = nil
        }
    }
}

extension CompiledRule {
    static func template(_ r: Rule) -> Event {
        var a = Event()
        a[.eventKind] = "alert"
        a[.eventModule] = "vigil"
        a[.eventDataset] = "vigil.alert"
        a[AlertKeys.ruleID] = .string(r.id)
        a[AlertKeys.ruleName] = .string(r.title)
        if !r.description.isEmpty { a[AlertKeys.ruleDescription] = .string(r.description) }
        a[AlertKeys.eventSeverity] = .int(Int64(r.severity.rawValue))
        a[AlertKeys.severity] = .string(r.severity.description)
        a[AlertKeys.riskScore] = .float(Double(r.score))
        let techniques = r.tags.compactMap { t -> FieldValue? in
            let lower = t.lowercased()
            guard lower.hasPrefix("attack.t") else { return nil }
            return .string(String(t.dropFirst("attack.".count)).uppercased())
        }
        if !techniques.isEmpty { a["threat.technique.id"] = .array(techniques) }
        if !r.tags.isEmpty { a["tags"] = .array(r.tags.map { .string($0) }) }
        return a
    }

    /// The datasets an expression requires: an `event.dataset` equals predicate at its top level
    /// (alone, or inside a top-level `all`), with the expression left once the index has checked
    /// it (nil when that cannot be relied on: case-insensitive values that are not ASCII).
    static func requiredDatasets(_ e: Expression) -> (values: [String], ignoreCase: Bool, residual: Expression?)? {
        func values(_ p: Predicate) -> [String]? {
            guard p.field == "event.dataset", p.op == .equals, !p.matchAll, !p.values.isEmpty else { return nil }
            var out: [String] = []
            for v in p.values {
                guard case .string(let s) = v else { return nil }
                out.append(s)
            }
            return out
        }
        func strippable(_ p: Predicate, _ v: [String]) -> Bool { !p.caseInsensitive || v.allSatisfy { $0.utf8.allSatisfy { $0 < 0x80 } } }
        switch e {
        case .predicate(let p):
            guard let v = values(p) else { return nil }
            return (v, p.caseInsensitive, strippable(p, v) ? .constant(true) : nil)
        case .all(let items):
            for (n, item) in items.enumerated() {
                guard case .predicate(let p) = item, let v = values(p) else { continue }
                var rest = items
                rest.remove(at: n)
                return (v, p.caseInsensitive, strippable(p, v) ? (rest.count == 1 ? rest[0] : .all(rest)) : nil)
            }
            return nil
        default: return nil
        }
    }
}

/// Which rules can match an event, by its `event.dataset`: rules that require datasets are only
/// tried on events of those datasets; the others on every event. In rule order. A rule in the
/// list of an event's dataset has its dataset condition satisfied (exactly, or ignoring case for
/// rules that say so), so the engine evaluates the rest of its match only. Each list has its own
/// prefilters (``RuleGates``), over the fields its rules test.
struct RuleIndex: Sendable {
    /// A class: the per-event path takes an event's list with one reference, not a copy of
    /// its arrays.
    final class List: Sendable {
        let rules: [Int]
        let gates: RuleGates

        init(rules: [Int], gates: RuleGates) {
            self.rules = rules
            self.gates = gates
        }
    }

    /// The lists: `lists[0]` holds the rules for every event.
    let lists: [List]
    /// By exact dataset: the case-sensitive rules requiring it, the case-insensitive rules
    /// requiring its lowercase, and the rules for every event.
    let byDataset: [RuleKey: Int]
    /// By lowercased dataset, for datasets no case-sensitive rule names: the case-insensitive
    /// rules, and the rules for every event.
    let byFoldedDataset: [String: Int]

    init(_ rules: [CompiledRule]) {
        var always: [Int] = []
        var exact: [String: [Int]] = [:], folded: [String: [Int]] = [:]
        for (i, r) in rules.enumerated() {
            guard let ds = r.datasets else {
                always.append(i)
                continue
            }
            if r.datasetsIgnoreCase {
                for d in Set(ds.map { $0.lowercased() }) { folded[d, default: []].append(i) }
            } else {
                for d in Set(ds) { exact[d, default: []].append(i) }
            }
        }
        var lists = [List(rules: always, gates: RuleGates(rules, only: always))]
        func add(_ members: [Int]) -> Int {
            let sorted = members.sorted()
            lists.append(List(rules: sorted, gates: RuleGates(rules, only: sorted)))
            return lists.count - 1
        }
        var by: [RuleKey: Int] = [:]
        for d in exact.keys.sorted() { by[RuleKey(d)] = add(exact[d]! + (folded[d.lowercased()] ?? []) + always) }
        var byFolded: [String: Int] = [:]
        for d in folded.keys.sorted() { byFolded[d] = add(folded[d]! + always) }
        self.lists = lists
        byDataset = by
        byFoldedDataset = byFolded
    }

    /// The list for `event`.
    @inline(__always)
    func list(_ event: Event) -> Int {
        guard !byDataset.isEmpty || !byFoldedDataset.isEmpty else { return 0 }
        // The dataset's bytes hashed once (datasets are short: small strings, no allocation).
        guard let ds = event.withStringValue(.eventDataset, { RuleKey(String(decoding: $0, as: UTF8.self)) }) else { return 0 }
        if let list = byDataset[ds] { return list }
        guard !byFoldedDataset.isEmpty else { return 0 }
        return byFoldedDataset[ds.text.lowercased()] ?? 0
    }

    /// The rules that can match `event`.
    func candidates(_ event: Event) -> [Int] { lists[list(event)].rules }
}

/// The detection rules as a stream-stage plugin: each partition's events are matched against
/// every rule, aggregations keep their windows per partition, and alerts go to the `alerts`
/// topic. An alert's `vigil.alert.id` is the same in every run over the same events, so the
/// index can upsert by it; alerts of one rule and key within a rule's suppression window share
/// it and count up.
/// How an event's threat score combines the scores of the single-event rules it matched.
public enum TriageAggregation: String, Sendable, Equatable {
    case max, sum, mean

    func combine(_ scores: [Int]) -> Double {
        guard !scores.isEmpty else { return 0 }
        switch self {
        case .max: return Double(scores.max()!)
        case .sum: return Double(scores.reduce(0, +))
        case .mean: return Double(scores.reduce(0, +)) / Double(scores.count)
        }
    }
}

public struct RulesPlugin: StreamPlugin {
    public let name = "rules"
    public let outputTopic: String
    /// The threat score of an event that matched several single-event rules.
    public var triage: TriageAggregation = .max
    /// The rules in force; edits of the rule files take effect through it (hot reload).
    public let book: RuleBook

    public init(rules: [CompiledRule], outputTopic: String = "alerts") {
        self.init(book: RuleBook(rules: rules), outputTopic: outputTopic)
    }

    public init(book: RuleBook, outputTopic: String = "alerts") {
        self.book = book
        self.outputTopic = outputTopic
    }

    public func makeState(partition: Int) -> any PluginState {
        var state = RulesState(partition: partition, book: book)
        state.triage = triage
        return state
    }

    public func restoreState(partition: Int, from reader: inout StateReader, report: (String) -> Void) throws(StreamError) -> any PluginState {
        var state = try RulesState.restore(partition: partition, book: book, from: &reader, report: report)
        state.triage = triage
        return state
    }

    /// Reloads changed rule files (called once a second by one worker).
    public func maintain(report: (String) -> Void) { book.reloadIfChanged(report: report) }
}

/// One partition's rule state.
struct RulesState: PluginState {
    let partition: Int
    let book: RuleBook
    /// The book's version these rules and states are for.
    var version: UInt64
    var rules: [CompiledRule]
    var index: RuleIndex
    var triage: TriageAggregation = .max
    /// The triage of the event being processed (its single-event rules' ids and combined score).
    var eventTriage: (rules: [String], score: Double)?
    /// Per rule: its windows (count or distinct), nil for other rules.
    var windows: [RuleWindows?]
    /// Per rule, the event that last passed its prefilter (``RuleGates``; an epoch, so nothing
    /// is cleared between events), and the rules the event matched: scratch memory of this
    /// partition's state, used within `process` only.
    let scratch: RuleScratch
    var epoch: UInt32 = 0
    /// Per rule: which distinct group-by list its key is built from; per event, each list's key
    /// is built once (`keyEpochs[slot] == epoch`) whatever the number of rules sharing it.
    var keySlot: [Int]
    var keyCache: [RuleKey?]
    var keyEpochs: [UInt32]
    /// Per rule: its residual match is always true (the dataset index decided it).
    var alwaysTrue: [Bool]
    /// What each rule evaluates (its residual match), without reference counting per call
    /// (`rules` owns the programs).
    var programs: [Unmanaged<CompiledExpression.Program>]
    /// Per rule and key: the open suppression bucket (start) and how many alerts it merged.
    var suppressed: [[RuleKey: SuppressionBucket]]
    /// Per rule (new_value): per key, when each value was last seen.
    var seen: [[RuleKey: [String: Int64]]]
    /// Per rule (anomaly): per key, the running moments of the field.
    var moments: [[RuleKey: RunningMoments]]
    /// Per rule (sequence): per key, the progress.
    var progress: [[RuleKey: SequenceProgress]]
    /// Per rule: the largest event time seen (expires new_value and sequence state).
    var ruleTime: [Int64]
    /// Per rule (beacon): per key, the intervals between its events (Beacon.swift).
    var beacons: [BeaconTable]

    struct SuppressionBucket {
        var start: Int64
        var count: Int64
    }

    init(partition: Int, book: RuleBook) {
        let version = book.version.load(ordering: .acquiring)
        self.init(partition: partition, book: book, rules: book.current, version: version)
    }

    init(partition: Int, book: RuleBook, rules: [CompiledRule], version: UInt64) {
        self.partition = partition
        self.book = book
        self.version = version
        self.rules = rules
        index = RuleIndex(rules)
        programs = rules.map { Unmanaged.passUnretained($0.residual.program) }
        alwaysTrue = rules.map { $0.residual.program.isAlwaysTrue }
        scratch = RuleScratch(rules: rules.count, programs: rules.map(\.residual.program))
        windows = rules.map { r in
            switch r.rule.aggregation {
            case .threshold(_, let window, let minimum)?: RuleWindows(kind: window, distinct: false, minimum: minimum)
            case .distinct(_, _, let window, let minimum)?: RuleWindows(kind: window, distinct: true, minimum: minimum)
            default: nil
            }
        }
        var slots: [[String]: Int] = [:]
        keySlot = rules.map { r in
            if let s = slots[r.groupBy] { return s }
            slots[r.groupBy] = slots.count
            return slots.count - 1
        }
        keyCache = Array(repeating: nil, count: slots.count)
        keyEpochs = Array(repeating: 0, count: slots.count)
        suppressed = Array(repeating: [:], count: rules.count)
        seen = Array(repeating: [:], count: rules.count)
        moments = Array(repeating: [:], count: rules.count)
        progress = Array(repeating: [:], count: rules.count)
        ruleTime = Array(repeating: Int64.min, count: rules.count)
        beacons = Array(repeating: BeaconTable(), count: rules.count)
    }

    /// Takes the book's new rules: the state of every rule whose fingerprint is unchanged is
    /// kept (its windows, alerted windows, suppression buckets); changed and new rules start afresh.
    mutating func followBook() {
        let v = book.version.load(ordering: .acquiring)
        guard v != version else { return }
        var next = RulesState(partition: partition, book: book, rules: book.current, version: v)
        next.triage = triage
        for j in next.rules.indices {
            guard let i = rules.firstIndex(where: { $0.fingerprint == next.rules[j].fingerprint }) else { continue }
            next.windows[j] = windows[i]
            next.suppressed[j] = suppressed[i]
            next.seen[j] = seen[i]
            next.moments[j] = moments[i]
            next.progress[j] = progress[i]
            next.ruleTime[j] = ruleTime[i]
            next.beacons[j] = beacons[i]
        }
        self = next
    }

    /// The event's key for rule `i` (its group-by values joined), built once per event and
    /// group-by list; nil when the event lacks one of the fields.
    @inline(__always)
    mutating func key(_ event: Event, rule i: Int) -> RuleKey? {
        // A Sigma correlation with aliases keys each event by the fields of the rule it matched.
        if !rules[i].aliases.isEmpty { return Self.key(event, rules[i].aliased(event).groupBy).map { RuleKey($0) } }
        let slot = keySlot[i]
        if keyEpochs[slot] != epoch {
            keyEpochs[slot] = epoch
            keyCache[slot] = Self.key(event, keys: rules[i].groupByKeys).map { RuleKey($0) }
        }
        return keyCache[slot]
    }

    mutating func process(_ event: Event, time: Int64, offset: Int64, emit: (Event) -> Void, late: (String) -> Void) {
        followBook()
        epoch &+= 1
        if epoch == 0 {
            // Wrapped: clear the stamps once every 2^32 events.
            for i in 0..<scratch.count { scratch.marks[i] = 0 }
            for i in 0..<scratch.sharedCount { scratch.memoEpochs[i] = 0 }
            for i in keyEpochs.indices { keyEpochs[i] = 0 }
            epoch = 1
        }
        let list = index.lists[index.list(event)]
        let candidates = list.rules, gates = list.gates
        let epoch = self.epoch
        let marks = scratch.marks, out = scratch.matched
        // Tests several candidate rules share are evaluated once for this event.
        let memo = TestMemo(epochs: scratch.memoEpochs, results: scratch.memoResults, epoch: epoch)
        // Gates first (one automaton pass per gated field), then each candidate rule that is
        // ungated or passed its gate. Programs are read in place (no copy of a rule per event).
        if !gates.isEmpty { gates.mark(event, marks: marks, epoch: epoch) }
        var n = 0
        gates.gated.withUnsafeBufferPointer { gated in
            programs.withUnsafeBufferPointer { programs in
                alwaysTrue.withUnsafeBufferPointer { alwaysTrue in
                    candidates.withUnsafeBufferPointer { candidates in
                        for i in candidates {
                            if gated[i] && marks[i] != epoch { continue }
                            if alwaysTrue[i] || programs[i]._withUnsafeGuaranteedRef({
                                $0.evaluate(event, shared: scratch.shared + scratch.sharedStart[i], memo: memo)
                            }) {
                                out[n] = i
                                n += 1
                            }
                        }
                    }
                }
            }
        }
        guard n > 0 else { return }
        let matched = UnsafeBufferPointer(start: out, count: n)
        // Triage: the single-event rules this event matched, and their combined score, go on
        // each of its single-event alerts.
        var singles = 0
        for i in matched where rules[i].kind == .single { singles += 1 }
        if singles > 1 {
            let single = matched.filter { rules[$0].kind == .single }
            eventTriage = (single.map { rules[$0].rule.id }, triage.combine(single.map { rules[$0].rule.score }))
        } else {
            eventTriage = nil
        }
        for i in matched {
            // Dispatch on the plain kind first: the aggregation's payload is read only by the
            // kinds that need it.
            if rules[i].kind == .single {
                guard let key = key(event, rule: i) else { continue }
                ruleTime[i] = max(ruleTime[i], time)
                alert(i, key: key, time: time, bounds: nil, count: 1, distinct: nil, event: event, offset: offset, emit: emit)
                continue
            }
            switch rules[i].kind {
            case .newValue:
                let lookback = rules[i].lookback
                guard let v = event[rules[i].fieldKey!], let text = v.scalarText, let key = key(event, rule: i) else { continue }
                ruleTime[i] = max(ruleTime[i], time)
                let last = seen[i][key]?[text]
                seen[i][key, default: [:]][text] = max(last ?? time, time)
                if last.map({ time - $0 > lookback }) ?? true {
                    alert(i, key: key, time: time, bounds: nil, count: 1, distinct: nil, event: event, offset: offset, emit: emit,
                          extra: [("vigil.alert.new_value", .string(text))])
                }
                if seen[i].count > 65_536 { expireSeen(i, lookback: lookback) }
            case .anomaly:
                let z = rules[i].zScore, minimumSamples = rules[i].minimumSamples
                guard let x = Self.number(event[rules[i].fieldKey!]), let key = key(event, rule: i) else { continue }
                ruleTime[i] = max(ruleTime[i], time)
                var m = moments[i][key] ?? RunningMoments()
                if m.count >= UInt64(minimumSamples), let score = m.zScore(of: x), abs(score) >= z {
                    alert(i, key: key, time: time, bounds: nil, count: 1, distinct: nil, event: event, offset: offset, emit: emit,
                          extra: [("vigil.alert.z_score", .float(score)), ("vigil.alert.mean", .float(m.mean)),
                                  ("vigil.alert.stddev", .float(m.standardDeviation)), ("vigil.alert.value", .float(x))])
                }
                m.add(x)
                moments[i][key] = m
            case .sequence:
                let within = rules[i].within, ordered = rules[i].ordered
                // The steps this event matches, without building lists for events that match none.
                var matchedSteps: [Int] = []
                for j in rules[i].steps.indices where rules[i].steps[j].matches(event) { matchedSteps.append(j) }
                guard !matchedSteps.isEmpty, let key = key(event, rule: i) else { continue }
                ruleTime[i] = max(ruleTime[i], time)
                // An ordered sequence only starts with its first step.
                if ordered && progress[i][key] == nil && matchedSteps[0] != 0 { continue }
                var state = progress[i][key] ?? SequenceProgress(steps: rules[i].steps.count)
                if state.advance(time: time, matched: matchedSteps, minimums: rules[i].stepMinimums, within: within, ordered: ordered) {
                    alert(i, key: key, time: time, bounds: WindowBounds(start: state.completedFrom, end: time + 1),
                          count: Int64(rules[i].steps.count), distinct: nil, event: event, offset: offset, emit: emit)
                    state = SequenceProgress(steps: rules[i].steps.count)
                }
                progress[i][key] = state.isEmpty ? nil : state
                if progress[i].count > 65_536 {
                    let horizon = ruleTime[i] - within
                    progress[i] = progress[i].filter { $0.value.latest >= horizon }
                }
            case .beacon:
                guard let key = key(event, rule: i) else { continue }
                ruleTime[i] = max(ruleTime[i], time)
                beacon(i, key: key, time: time, event: event, offset: offset, emit: emit)
            case .threshold, .distinct:
                var hash: UInt64 = 0
                if rules[i].kind == .distinct {
                    // Strings hash from the event's bytes (the same hash as of their text).
                    if rules[i].aliases.isEmpty, let h = event.withStringValue(rules[i].fieldKey!, { RuleInput.hasher.hash($0) }) {
                        hash = h
                    } else {
                        var value = event[rules[i].fieldKey!]
                        if !rules[i].aliases.isEmpty, let aliased = rules[i].aliased(event).field { value = event[aliased] }
                        guard let value, let text = value.scalarText else { continue }
                        hash = RuleInput.hasher.hash(text)
                    }
                }
                guard let key = key(event, rule: i) else { continue }
                ruleTime[i] = max(ruleTime[i], time)
                var reached: [RuleWindows.Reached] = []
                let lateReason = windows[i]!.add(key: key, time: time, hash: hash) { reached.append($0) }
                if let lateReason { late("rule \(rules[i].rule.id): \(lateReason)") }
                for r in reached {
                    alert(i, key: key, time: time, bounds: r.bounds, count: r.count, distinct: r.distinct, event: event, offset: offset, emit: emit)
                }
            case .single:
                guard let key = key(event, rule: i) else { continue }
                ruleTime[i] = max(ruleTime[i], time)
                alert(i, key: key, time: time, bounds: nil, count: 1, distinct: nil, event: event, offset: offset, emit: emit)
            }
        }
    }

    mutating func tick(now: Int64, idleFor: Int64?, offset: Int64, emit: (Event) -> Void) {
        followBook()
        guard let idle = idleFor else { return }
        for i in windows.indices where windows[i] != nil && windows[i]!.maxEventTime > Int64.min {
            windows[i]!.advance(to: windows[i]!.maxEventTime &+ idle)
        }
    }

    mutating func closeAll(offset: Int64, emit: (Event) -> Void) {
        for i in windows.indices where windows[i] != nil { windows[i]!.advance(to: Int64.max) }
    }

    /// Forgets values not seen within the lookback of the rule's latest event time.
    mutating func expireSeen(_ i: Int, lookback: Int64) {
        let horizon = ruleTime[i] - lookback
        for (key, values) in seen[i] {
            let kept = values.filter { $0.value >= horizon }
            seen[i][key] = kept.isEmpty ? nil : kept
        }
    }

    static func number(_ value: FieldValue?) -> Double? {
        switch value {
        case .int(let v)?: Double(v)
        case .float(let v)? where v.isFinite: v
        case .string(let s)?: Double(s).flatMap { $0.isFinite ? $0 : nil }
        default: nil
        }
    }

    /// The group-by fields' values joined (empty for rules without group-by), or nil when the
    /// event lacks one.
    static func key(_ event: Event, keys: [Event.Key]) -> String? {
        if keys.count == 1 { return event[keys[0]]?.scalarText }
        var key = ""
        for (n, field) in keys.enumerated() {
            guard let value = event[field], let text = value.scalarText else { return nil }
            if n > 0 { key += "\u{1F}" }
            key += text
        }
        return key
    }

    static func key(_ event: Event, _ fields: [String]) -> String? {
        var key = ""
        for (n, field) in fields.enumerated() {
            guard let value = event[field], let text = value.scalarText else { return nil }
            if n > 0 { key += "\u{1F}" }
            key += text
        }
        return key
    }

    /// Emits an alert (or, inside the rule's suppression window for this key, an update of the
    /// window's alert with its count).
    mutating func alert(_ i: Int, key: RuleKey, time: Int64, bounds: WindowBounds?, count: Int64, distinct: Int64?,
                        event: Event, offset: Int64, emit: (Event) -> Void, extra: [(String, FieldValue)] = []) {
        let r = rules[i].rule
        var alertStart = bounds?.start ?? time
        var merged: Int64 = 1
        if let window = r.suppression {
            let start = time - ((time % window) + window) % window
            if var bucket = suppressed[i][key], bucket.start == start {
                bucket.count += 1
                suppressed[i][key] = bucket
                merged = bucket.count
            } else {
                suppressed[i][key] = SuppressionBucket(start: start, count: 1)
                // Buckets of other keys that ended long ago are dropped as the rule's time moves on.
                if suppressed[i].count > 4096 { suppressed[i] = suppressed[i].filter { $0.value.start >= start - window } }
            }
            alertStart = start
        }
        let alertID = AlertID.make(rule: r.id, key: key.text, start: alertStart, partition: partition,
                                   offset: r.suppression == nil && bounds == nil ? offset : nil)
        // The rule's fixed fields come from its template (built once): one copy, then the rest.
        var a = rules[i].alertTemplate
        a[.timestamp] = .timestamp(Timestamp(nanoseconds: time))
        a[.eventId] = .string("\(alertID)-\(merged)")
        a[AlertKeys.id] = .string(alertID)
        a[AlertKeys.count] = .int(merged)
        a[AlertKeys.key] = .string(key.text)
        a[AlertKeys.partition] = .int(Int64(partition))
        a[AlertKeys.inputOffset] = .int(offset)
        if let bounds {
            a[.eventStart] = .timestamp(Timestamp(nanoseconds: bounds.start))
            a[.eventEnd] = .timestamp(Timestamp(nanoseconds: bounds.end))
            a["vigil.alert.events"] = .int(count)
            if let distinct, case .distinct? = r.aggregation { a["vigil.alert.distinct"] = .int(distinct) }
        }
        // The group-by fields with their typed values, and the fields that say what happened.
        for (n, field) in rules[i].groupByKeys.enumerated() { if let v = event[field] { a[rules[i].groupBy[n]] = v } }
        for field in rules[i].aliases.flatMap(\.groupBy) { if let v = event[field] { a[field] = v } }
        for key in AlertFields.copiedKeys where a[key] == nil { if let v = event[key] { a[key] = v } }
        for (k, v) in extra { a[k] = v }
        if r.aggregation == nil, let t = eventTriage {
            a["vigil.triage.score"] = .float(t.score)
            a["vigil.triage.rules"] = .array(t.rules.map { .string($0) })
        }
        var json: [UInt8] = []
        EventJSON.encode(event, into: &json)
        a["vigil.alert.sample"] = .string(String(decoding: json, as: UTF8.self))
        emit(a)
    }

    // MARK: Checkpoints

    func encode(into w: inout StateWriter) {
        w.varint(UInt64(rules.count))
        for i in rules.indices {
            w.string(rules[i].fingerprint)
            var inner = StateWriter()
            if let op = windows[i] {
                inner.bool(true)
                op.encode(into: &inner)
            } else {
                inner.bool(false)
            }
            let buckets = suppressed[i].sorted { $0.key < $1.key }
            inner.varint(UInt64(buckets.count))
            for (k, b) in buckets {
                inner.string(k.text)
                inner.int(b.start)
                inner.int(b.count)
            }
            inner.int(ruleTime[i])
            inner.varint(UInt64(seen[i].count))
            for (k, values) in seen[i].sorted(by: { $0.key < $1.key }) {
                inner.string(k.text)
                inner.varint(UInt64(values.count))
                for (v, t) in values.sorted(by: { $0.key < $1.key }) {
                    inner.string(v)
                    inner.int(t)
                }
            }
            inner.varint(UInt64(moments[i].count))
            for (k, m) in moments[i].sorted(by: { $0.key < $1.key }) {
                inner.string(k.text)
                inner.bytes(m.serialized())
            }
            inner.varint(UInt64(progress[i].count))
            for (k, p) in progress[i].sorted(by: { $0.key < $1.key }) {
                inner.string(k.text)
                p.encode(into: &inner)
            }
            if case .beacon? = rules[i].rule.aggregation { beacons[i].encode(into: &inner) }
            w.bytes(inner.bytes)
        }
    }

    static func restore(partition: Int, book: RuleBook, from r: inout StateReader,
                        report: (String) -> Void) throws(StreamError) -> RulesState {
        var state = RulesState(partition: partition, book: book)
        let rules = state.rules
        let n = try r.count()
        var seen = Set<String>()
        for _ in 0..<n {
            let fingerprint = try r.string()
            let blob = try r.bytes()
            guard let i = rules.firstIndex(where: { $0.fingerprint == fingerprint }) else {
                let id = fingerprint.split(separator: "|").dropFirst().first.map(String.init) ?? "?"
                if !seen.contains(id) { report("rule \(id) changed or was removed: its state starts afresh") }
                continue
            }
            seen.insert(rules[i].rule.id)
            var inner = StateReader(blob, context: r.context)
            if try inner.bool() {
                guard state.windows[i] != nil else { throw inner.corrupt("windows for a rule without aggregation") }
                try state.windows[i]!.restore(from: &inner)
            }
            let b = try inner.count()
            for _ in 0..<b {
                let k = RuleKey(try inner.string())
                state.suppressed[i][k] = SuppressionBucket(start: try inner.int(), count: try inner.int())
            }
            state.ruleTime[i] = try inner.int()
            for _ in 0..<(try inner.count()) {
                let k = RuleKey(try inner.string())
                var values: [String: Int64] = [:]
                for _ in 0..<(try inner.count()) {
                    let v = try inner.string()
                    values[v] = try inner.int()
                }
                state.seen[i][k] = values
            }
            for _ in 0..<(try inner.count()) {
                let k = RuleKey(try inner.string())
                let bytes = try inner.bytes()
                do { state.moments[i][k] = try RunningMoments(serialized: bytes) } catch { throw inner.corrupt("moments: \(error)") }
            }
            for _ in 0..<(try inner.count()) {
                let k = RuleKey(try inner.string())
                state.progress[i][k] = try SequenceProgress(decoding: &inner, steps: rules[i].steps.count)
            }
            if case .beacon? = rules[i].rule.aggregation { state.beacons[i] = try BeaconTable(decoding: &inner) }
            guard inner.isAtEnd else { throw inner.corrupt("trailing bytes") }
        }
        return state
    }
}

enum ProfileValueSeed {
    static let seed: UInt64 = 0x5649_4749_4C00_0002
}

/// What one event contributes to a rule's window.
struct RuleInput {
    var hash: UInt64 = 0
    static let hasher = Hash64(seed: ProfileValueSeed.seed)
}

/// The alert fields the engine sets, as keys looked up once.
enum AlertKeys {
    static let id = Event.Key("vigil.alert.id")
    static let count = Event.Key("vigil.alert.count")
    static let key = Event.Key("vigil.alert.key")
    static let partition = Event.Key("vigil.alert.partition")
    static let inputOffset = Event.Key("vigil.profile.input_offset")
    static let ruleID = Event.Key("rule.id")
    static let ruleName = Event.Key("rule.name")
    static let ruleDescription = Event.Key("rule.description")
    static let eventSeverity = Event.Key("event.severity")
    static let severity = Event.Key("vigil.alert.severity")
    static let riskScore = Event.Key("event.risk_score")
}

/// Deterministic alert ids.
enum AlertID {
    /// `rule/partition/key/start[/offset]`, hashed to 16 hex digits (FNV-1a 64).
    static func make(rule: String, key: String, start: Int64, partition: Int, offset: Int64?) -> String {
        StableID.hex([rule, String(partition), key, String(start)] + (offset.map { [String($0)] } ?? []))
    }
}

/// Fields of the triggering event an alert carries, when present.
enum AlertFields {
    static let copiedKeys = copied.map { Event.Key($0) }
    static let copied = ["source.ip", "source.port", "destination.ip", "destination.port", "user.name", "host.name",
                         "url.original", "dns.question.name", "network.transport", "event.dataset", "event.action",
                         "event.outcome", "tls.client.ja3"]
}

/// How far one key got through a sequence's steps.
///
/// Ordered: step 0 keeps the times of its last `minimum` matches; once it has them (the oldest is
/// the sequence's start), each following step counts its matches until its minimum, in order. A
/// step-0 match while later steps are pending keeps the window sliding (the start moves to the
/// oldest of the last `minimum` step-0 matches). Everything must happen within `within` of the
/// start, or the progress falls back to what step 0 still holds. Unordered: every step keeps the
/// times of its last `minimum` matches, and the sequence completes when all of them lie within
/// `within` of the newest.
struct SequenceProgress {
    /// Times of each step's last matches (ordered: step 0 only; later steps count).
    var times: [[Int64]]
    var counts: [Int64]
    /// The next step to complete (ordered).
    var stage = 0
    var latest: Int64 = .min
    /// When the completed sequence began (set by `advance` when it returns true).
    var completedFrom: Int64 = 0

    init(steps: Int) {
        times = Array(repeating: [], count: steps)
        counts = Array(repeating: 0, count: steps)
    }

    var isEmpty: Bool { times.allSatisfy(\.isEmpty) && counts.allSatisfy { $0 == 0 } && stage == 0 }

    /// Applies one event that matched the steps `matched` at `time`; true when the sequence completed.
    mutating func advance(time: Int64, matched: [Int], minimums: [Int64], within: Int64, ordered: Bool) -> Bool {
        guard !matched.isEmpty else { return false }
        latest = max(latest, time)
        if !ordered {
            for j in matched {
                times[j].append(time)
                if times[j].count > Int(minimums[j]) { times[j].removeFirst(times[j].count - Int(minimums[j])) }
            }
            for j in times.indices { times[j].removeAll { $0 < time - within } }
            guard times.indices.allSatisfy({ times[$0].count >= Int(minimums[$0]) }) else { return false }
            completedFrom = times.compactMap(\.first).min() ?? time
            return true
        }
        // Expired: later steps are dropped, step 0 keeps what is still within reach.
        if let start = times[0].first, time - start > within {
            times[0].removeAll { $0 < time - within }
            if times[0].count < Int(minimums[0]) {
                stage = 0
                for j in counts.indices { counts[j] = 0 }
            }
        }
        if stage > 0, matched.contains(stage) {
            counts[stage] += 1
            if counts[stage] >= minimums[stage] {
                stage += 1
                if stage == minimums.count {
                    completedFrom = times[0].first ?? time
                    return true
                }
            }
        } else if matched.contains(0) {
            times[0].append(time)
            if times[0].count > Int(minimums[0]) { times[0].removeFirst(times[0].count - Int(minimums[0])) }
            if stage == 0, times[0].count >= Int(minimums[0]) {
                stage = 1
                if minimums.count == 1 {
                    completedFrom = times[0].first ?? time
                    return true
                }
            }
        }
        return false
    }

    func encode(into w: inout StateWriter) {
        w.varint(UInt64(stage))
        w.int(latest)
        for j in times.indices {
            w.varint(UInt64(times[j].count))
            for t in times[j] { w.int(t) }
            w.int(counts[j])
        }
    }

    init(decoding r: inout StateReader, steps: Int) throws(StreamError) {
        self.init(steps: steps)
        stage = try r.count(limit: steps)
        latest = try r.int()
        for j in 0..<steps {
            for _ in 0..<(try r.count()) { times[j].append(try r.int()) }
            counts[j] = try r.int()
        }
    }
}

/// Scratch memory of one partition's rule state: per rule, the epoch of the last event that
/// passed its prefilter, and the indices of the rules the current event matched; the slots of
/// the tests rules share (per rule and test: its slot, or −1) and their results for the current
/// event. Raw memory, so the per-event loop neither checks uniqueness nor counts references.
final class RuleScratch: @unchecked Sendable {
    let count: Int
    let marks: UnsafeMutablePointer<UInt32>
    let matched: UnsafeMutablePointer<Int>
    /// Rule `i`'s tests' slots are `shared[sharedStart[i] ..< sharedStart[i] + its test count]`.
    let shared: UnsafeMutablePointer<Int32>
    let sharedStart: UnsafeMutablePointer<Int>
    /// Distinct shared tests (slots).
    let sharedCount: Int
    let memoEpochs: UnsafeMutablePointer<UInt32>
    let memoResults: UnsafeMutablePointer<Bool>

    /// `programs`: what each rule evaluates. A test appearing (by ``SharedTestKey``) in two or
    /// more of them gets a slot.
    init(rules: Int, programs: [CompiledExpression.Program] = []) {
        count = rules
        marks = .allocate(capacity: max(rules, 1))
        marks.initialize(repeating: 0, count: max(rules, 1))
        matched = .allocate(capacity: max(rules, 1))
        var uses: [SharedTestKey: Int] = [:]
        for program in programs {
            for t in program.tests { if let k = SharedTestKey(t.predicate) { uses[k, default: 0] += 1 } }
        }
        var slots: [SharedTestKey: Int32] = [:]
        var flat: [Int32] = []
        var starts: [Int] = []
        for program in programs {
            starts.append(flat.count)
            for t in program.tests {
                guard let k = SharedTestKey(t.predicate), uses[k]! >= 2 else {
                    flat.append(-1)
                    continue
                }
                if let s = slots[k] {
                    flat.append(s)
                } else {
                    let s = Int32(slots.count)
                    slots[k] = s
                    flat.append(s)
                }
            }
        }
        while starts.count < rules { starts.append(flat.count) }
        shared = .allocate(capacity: max(flat.count, 1))
        shared.initialize(repeating: -1, count: max(flat.count, 1))
        if !flat.isEmpty { shared.update(from: flat, count: flat.count) }
        sharedStart = .allocate(capacity: max(starts.count, 1))
        sharedStart.initialize(repeating: 0, count: max(starts.count, 1))
        if !starts.isEmpty { sharedStart.update(from: starts, count: starts.count) }
        sharedCount = slots.count
        memoEpochs = .allocate(capacity: max(slots.count, 1))
        memoEpochs.initialize(repeating: 0, count: max(slots.count, 1))
        memoResults = .allocate(capacity: max(slots.count, 1))
        memoResults.initialize(repeating: false, count: max(slots.count, 1))
    }

    deinit {
        marks.deallocate()
        matched.deallocate()
        shared.deallocate()
        sharedStart.deallocate()
        memoEpochs.deallocate()
        memoResults.deallocate()
    }
}
