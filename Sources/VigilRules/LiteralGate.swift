import VigilCore

/// An Aho–Corasick automaton over ASCII-case-folded bytes, compiled to a full DFA over the byte
/// classes its patterns use: one pass over a subject reports every pattern it contains, in
/// O(n + matches) whatever the number of patterns. Read through raw pointers it owns, so a scan
/// does no reference counting and no bounds checks beyond its own.
final class FoldedAhoCorasick: @unchecked Sendable {
    /// Byte → class (0: a byte no pattern contains). Letters and their upper case share a class.
    private let classOf: UnsafeMutablePointer<UInt8>
    private let classCount: Int
    /// `delta[state * classCount + class]`: the next state.
    private let delta: UnsafeMutablePointer<Int32>
    /// Per state: where its patterns start in `outputs` and how many (its own and its suffixes').
    private let outStart: UnsafeMutablePointer<Int32>
    private let outCount: UnsafeMutablePointer<Int32>
    private let outputs: UnsafeMutablePointer<Int32>
    let stateCount: Int
    let patternCount: Int

    /// - Parameter patterns: non-empty byte strings (folded here).
    init(patterns: [[UInt8]]) {
        patternCount = patterns.count
        let fold = { (b: UInt8) -> UInt8 in b >= 0x41 && b <= 0x5A ? b | 0x20 : b }
        // Byte classes: one per distinct folded byte in the patterns, 0 for the rest.
        var classes = [UInt8](repeating: 0, count: 256)
        var next: UInt8 = 1
        var used = [Bool](repeating: false, count: 256)
        for p in patterns { for b in p { used[Int(fold(b))] = true } }
        for b in 0..<256 where used[b] && next < 255 {
            classes[b] = next
            next += 1
        }
        if next == 255 {
            // More than 254 distinct bytes: each byte its own class (cannot happen with folding
            // alone, kept for safety with arbitrary binary patterns).
            for b in 0..<256 { classes[b] = UInt8(truncatingIfNeeded: b) }
        }
        for b in 0x41...0x5A { classes[b] = classes[b | 0x20] }
        let k = next == 255 ? 256 : Int(next)
        classCount = k
        // The trie.
        var children: [[Int32]] = [[Int32](repeating: -1, count: k)]
        var own: [[Int32]] = [[]]
        for (id, p) in patterns.enumerated() {
            var s = 0
            for b in p {
                let c = Int(classes[Int(fold(b))])
                if children[s][c] < 0 {
                    children[s][c] = Int32(children.count)
                    children.append([Int32](repeating: -1, count: k))
                    own.append([])
                }
                s = Int(children[s][c])
            }
            own[s].append(Int32(id))
        }
        let n = children.count
        stateCount = n
        // Breadth-first: failure links, full transitions, outputs merged along the links.
        var fail = [Int](repeating: 0, count: n)
        var table = [Int32](repeating: 0, count: n * k)
        var merged = own
        var queue: [Int] = []
        for c in 0..<k {
            let child = children[0][c]
            if child >= 0 {
                table[c] = child
                fail[Int(child)] = 0
                queue.append(Int(child))
            } else {
                table[c] = 0
            }
        }
        var head = 0
        while head < queue.count {
            let s = queue[head]
            head += 1
            merged[s] += merged[fail[s]]
            for c in 0..<k {
                let child = children[s][c]
                if child >= 0 {
                    fail[Int(child)] = Int(table[fail[s] * k + c])
                    table[s * k + c] = child
                    queue.append(Int(child))
                } else {
                    table[s * k + c] = table[fail[s] * k + c]
                }
            }
        }
        // Class 0 (bytes in no pattern) always returns to the root: already so, since the root
        // has no class-0 child and every state's class-0 entry follows its failure link there.
        classOf = .allocate(capacity: 256)
        for b in 0..<256 { classOf[b] = classes[b] }
        delta = .allocate(capacity: n * k)
        for i in 0..<(n * k) { delta[i] = table[i] }
        outStart = .allocate(capacity: n)
        outCount = .allocate(capacity: n)
        let total = merged.reduce(0) { $0 + $1.count }
        outputs = .allocate(capacity: max(total, 1))
        var at = 0
        for s in 0..<n {
            outStart[s] = Int32(at)
            outCount[s] = Int32(merged[s].count)
            for p in merged[s] {
                outputs[at] = p
                at += 1
            }
        }
    }

    deinit {
        classOf.deallocate()
        delta.deallocate()
        outStart.deallocate()
        outCount.deallocate()
        outputs.deallocate()
    }

    /// Calls `found` with the id of every pattern `bytes` contains (ASCII case ignored), once per
    /// occurrence.
    @inline(__always)
    func scan(_ bytes: UnsafeRawBufferPointer, _ found: (Int32) -> Void) {
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
        var s = 0
        let k = classCount
        for i in 0..<bytes.count {
            s = Int(delta[s &* k &+ Int(classOf[Int(base[i])])])
            let count = Int(outCount[s])
            if count > 0 {
                let start = Int(outStart[s])
                for j in start..<(start &+ count) { found(outputs[j]) }
            }
        }
    }
}

/// Literal prefilters over all rules at once, as Suricata's multi-pattern matcher does for its
/// signatures: a rule whose match requires that some text field contain one of a few literals
/// (an `equals`, `prefix`, `suffix` or `contains` value, or the literals every match of a regex
/// contains) is only evaluated on events where one automaton pass over that field found one of
/// them. The other rules are evaluated as before. The gate is a necessary condition, so gated
/// and ungated evaluation raise the same alerts.
///
/// A field that is present but not a string (a number, an address, a list), or a string with
/// non-ASCII bytes (Unicode case folding can map those onto ASCII letters), lets all of its rules
/// through.
struct RuleGates: Sendable {
    /// A class, read through an unmanaged reference per event: no copies of its arrays.
    final class FieldGate: Sendable {
        let key: Event.Key
        let automaton: FoldedAhoCorasick
        /// Per pattern: the rules it admits (`patternRules[patternStart[p] ..< patternStart[p + 1]]`).
        let patternStart: [Int32]
        let patternRules: [Int32]
        /// Every rule gated on this field.
        let rules: [Int32]

        init(key: Event.Key, automaton: FoldedAhoCorasick, patternStart: [Int32], patternRules: [Int32], rules: [Int32]) {
            self.key = key
            self.automaton = automaton
            self.patternStart = patternStart
            self.patternRules = patternRules
            self.rules = rules
        }
    }

    let fields: [FieldGate]
    private let unmanagedFields: [Unmanaged<FieldGate>]
    /// Per rule: whether it is gated (evaluated only when marked).
    let gated: [Bool]

    var isEmpty: Bool { fields.isEmpty }

    init(_ rules: [CompiledRule]) {
        var byField: [String: [(rule: Int, literals: [[UInt8]])]] = [:]
        var gated = [Bool](repeating: false, count: rules.count)
        for (i, r) in rules.enumerated() {
            guard let gate = Self.gate(r.rule.match, tests: r.match.program.tests, skipDataset: r.datasets != nil) else { continue }
            byField[gate.field, default: []].append((i, gate.literals))
            gated[i] = true
        }
        var fields: [FieldGate] = []
        for field in byField.keys.sorted() {
            let entries = byField[field]!
            var ids: [[UInt8]: Int] = [:]
            var patterns: [[UInt8]] = []
            var admits: [[Int32]] = []
            for (rule, literals) in entries {
                for lit in Set(literals) {
                    let folded = lit.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }
                    let id: Int
                    if let known = ids[folded] { id = known } else {
                        id = patterns.count
                        ids[folded] = id
                        patterns.append(folded)
                        admits.append([])
                    }
                    admits[id].append(Int32(rule))
                }
            }
            var start: [Int32] = [0], flat: [Int32] = []
            for a in admits {
                flat += a
                start.append(Int32(flat.count))
            }
            fields.append(FieldGate(key: Event.Key(field), automaton: FoldedAhoCorasick(patterns: patterns),
                                    patternStart: start, patternRules: flat, rules: entries.map { Int32($0.rule) }))
        }
        self.fields = fields
        unmanagedFields = fields.map { Unmanaged.passUnretained($0) }
        self.gated = gated
    }

    /// Marks (with `epoch`) every gated rule whose gate `event` passes.
    func mark(_ event: Event, marks: UnsafeMutablePointer<UInt32>, epoch: UInt32) {
        unmanagedFields.withUnsafeBufferPointer { fields in
            for f in fields { f._withUnsafeGuaranteedRef { Self.mark(event, $0, marks: marks, epoch: epoch) } }
        }
    }

    @inline(__always)
    private static func mark(_ event: Event, _ f: FieldGate, marks: UnsafeMutablePointer<UInt32>, epoch: UInt32) {
        do {
            let scanned: Bool? = event.withStringValue(f.key) { bytes -> Bool in
                guard Test.isASCII(bytes) else { return false }
                f.patternStart.withUnsafeBufferPointer { start in
                    f.patternRules.withUnsafeBufferPointer { rules in
                        f.automaton.scan(bytes) { p in
                            for j in Int(start[Int(p)])..<Int(start[Int(p) + 1]) { marks[Int(rules[j])] = epoch }
                        }
                    }
                }
                return true
            }
            if scanned == true { return }
            // Absent: no rule gated on the field can match. Present but not scannable: all may.
            if scanned == false || event[f.key] != nil {
                for r in f.rules { marks[Int(r)] = epoch }
            }
        }
    }

    /// The best literal gate of a rule's match: a conjunct at its top level whose predicate
    /// requires one of a set of literals in a field, preferring the set whose shortest literal
    /// is longest. `event.dataset` is skipped when the rule index already selects on it.
    static func gate(_ match: Expression, tests: [Test], skipDataset: Bool) -> (field: String, literals: [[UInt8]])? {
        var conjuncts: [Expression] = []
        func flatten(_ e: Expression) {
            if case .all(let items) = e { items.forEach(flatten) } else { conjuncts.append(e) }
        }
        flatten(match)
        var best: (field: String, literals: [[UInt8]])? = nil
        for case .predicate(let p) in conjuncts {
            if skipDataset && p.field == "event.dataset" { continue }
            guard let literals = literals(p, tests: tests) else { continue }
            if RegexLiteralSet.better(literals, than: best?.literals) { best = (p.field, literals) }
        }
        return best
    }

    /// Literals one of which a field must contain for `p` to hold, or nil.
    static func literals(_ p: Predicate, tests: [Test]) -> [[UInt8]]? {
        var sets: [[[UInt8]]] = []
        switch p.op {
        case .equals, .prefix, .suffix, .contains:
            for v in p.values {
                guard case .string(let s) = v, s.utf8.count >= 2 else { return nil }
                sets.append([Array(s.utf8)])
            }
        case .regex:
            // The compiled test holds the patterns (with the predicate's case option applied).
            guard let test = tests.first(where: { $0.field == p.field && $0.op == .regex && $0.texts == p.values.map(\.description) }) else { return nil }
            for r in test.regexes {
                guard let set = r.literalSet else { return nil }
                sets.append(set)
            }
        default:
            return nil
        }
        guard !sets.isEmpty else { return nil }
        // Any value may match: their union. All must (`|all`): the most selective one suffices.
        if p.matchAll {
            var best: [[UInt8]]? = nil
            for s in sets where RegexLiteralSet.better(s, than: best) { best = s }
            return best
        }
        return sets.flatMap { $0 }
    }
}
