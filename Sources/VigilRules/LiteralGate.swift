import VigilCore

/// An Aho–Corasick automaton over ASCII-case-folded bytes, compiled to a full DFA over the byte
/// classes its patterns use: one pass over a subject reports every pattern it contains, in
/// O(n + matches) whatever the number of patterns. Read through raw pointers it owns, so a scan
/// does no reference counting and no bounds checks beyond its own.
final class FoldedAhoCorasick: @unchecked Sendable {
    /// Byte → class (0: a byte no pattern contains). Letters and their upper case share a class.
    private let classOf: UnsafeMutablePointer<UInt8>
    private let classCount: Int
    /// `delta[row + class]`, `row` being a state's number times `classCount`: the next state's
    /// row, or its bitwise complement (negative) when that state ends patterns. One load and one
    /// sign test per byte.
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
        var used = [Bool](repeating: false, count: 256)
        for p in patterns { for b in p { used[Int(fold(b))] = true } }
        var next = 1
        for b in 0..<256 where used[b] {
            classes[b] = UInt8(truncatingIfNeeded: next)
            next += 1
        }
        for b in 0x41...0x5A { classes[b] = classes[b | 0x20] }
        // At most 230 distinct folded bytes (26 upper-case letters share their lower case): the
        // classes fit in a byte.
        let k = next
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
        var table = [Int](repeating: 0, count: n * k)
        var merged = own
        var queue: [Int] = []
        for c in 0..<k {
            let child = children[0][c]
            if child >= 0 {
                table[c] = Int(child)
                fail[Int(child)] = 0
                queue.append(Int(child))
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
                    fail[Int(child)] = table[fail[s] * k + c]
                    table[s * k + c] = Int(child)
                    queue.append(Int(child))
                } else {
                    table[s * k + c] = table[fail[s] * k + c]
                }
            }
        }
        // Class 0 (bytes in no pattern) always returns to the root: the root has no class-0
        // child, and every state's class-0 entry follows its failure link there.
        classOf = .allocate(capacity: 256)
        for b in 0..<256 { classOf[b] = classes[b] }
        delta = .allocate(capacity: n * k)
        for i in 0..<(n * k) {
            let target = table[i]
            let row = Int32(target * k)
            delta[i] = merged[target].isEmpty ? row : ~row
        }
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
    /// occurrence. Returns the OR of all bytes (bit 7 set: the subject is not ASCII).
    @inline(__always)
    @discardableResult
    func scan(_ bytes: UnsafeRawBufferPointer, _ found: (Int32) -> Void) -> UInt8 {
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return 0 }
        let classOf = self.classOf, delta = self.delta, k = classCount
        var row = 0
        var seen: UInt8 = 0
        var i = 0
        let n = bytes.count
        while i < n {
            let b = base[i]
            seen |= b
            let t = delta[row &+ Int(classOf[Int(b)])]
            i &+= 1
            if t >= 0 {
                row = Int(t)
                continue
            }
            row = Int(~t)
            let s = row / k
            let start = Int(outStart[s])
            for j in start..<(start &+ Int(outCount[s])) { found(outputs[j]) }
        }
        return seen
    }
}

/// Prefilters over all rules at once, as Suricata's multi-pattern matcher does for its
/// signatures: a rule whose match requires a condition on one field that a shared index can
/// check for all rules together is evaluated only on events that pass it. The other rules are
/// evaluated as before. Every gate is a necessary condition, so gated and ungated evaluation
/// raise the same alerts. Gates, by preference:
///
/// - **number equality** (`destination.port: 445`): one hash lookup of the field's number;
/// - **network** (`cidr`): one lookup per prefix length in use, of the masked address;
/// - **literals**: an `equals`, `prefix`, `suffix` or `contains` value, or the literals every
///   match of a regex contains; one Aho–Corasick pass over the field's case-folded bytes finds
///   them all;
/// - **number range** (`network.bytes > 1000000`): thresholds sorted, a prefix of them passes.
///
/// A field whose value the gate cannot read the way the predicate would (a string where a
/// number is expected, a list, non-ASCII text where case folding applies) lets all of its rules
/// through; an absent field lets none through.
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

    /// Number equality and range gates of one field.
    final class NumberGate: Sendable {
        let key: Event.Key
        /// Equality: the value's bits (−0 as +0) → rules.
        let equal: [UInt64: [Int32]]
        /// `>`/`≥`: thresholds ascending; `<`/`≤`: descending. A prefix passes.
        let above: [(threshold: Double, inclusive: Bool, rule: Int32)]
        let below: [(threshold: Double, inclusive: Bool, rule: Int32)]
        let rules: [Int32]

        init(key: Event.Key, equal: [UInt64: [Int32]], above: [(threshold: Double, inclusive: Bool, rule: Int32)],
             below: [(threshold: Double, inclusive: Bool, rule: Int32)], rules: [Int32]) {
            self.key = key
            self.equal = equal
            self.above = above.sorted { $0.threshold < $1.threshold }
            self.below = below.sorted { $0.threshold > $1.threshold }
            self.rules = rules
        }
    }

    struct MaskedAddress: Hashable, Sendable {
        var high: UInt64
        var low: UInt64
    }

    /// Network gates of one field: per family and prefix length, the masked networks → rules.
    final class NetworkGate: Sendable {
        let key: Event.Key
        let tables: [(v4: Bool, bits: Int, networks: [MaskedAddress: [Int32]])]
        let rules: [Int32]

        init(key: Event.Key, tables: [(v4: Bool, bits: Int, networks: [MaskedAddress: [Int32]])], rules: [Int32]) {
            self.key = key
            self.tables = tables
            self.rules = rules
        }

        static func mask(_ a: IPAddress, bits: Int) -> MaskedAddress {
            if a.isV4 {
                let m: UInt64 = bits <= 0 ? 0 : bits >= 32 ? 0xFFFF_FFFF : (0xFFFF_FFFF << UInt64(32 - bits)) & 0xFFFF_FFFF
                return MaskedAddress(high: 0, low: a.low & m)
            }
            if bits <= 64 {
                let m: UInt64 = bits <= 0 ? 0 : bits == 64 ? ~0 : ~UInt64(0) << UInt64(64 - bits)
                return MaskedAddress(high: a.high & m, low: 0)
            }
            let m: UInt64 = bits >= 128 ? ~0 : ~UInt64(0) << UInt64(128 - bits)
            return MaskedAddress(high: a.high, low: a.low & m)
        }
    }

    /// How a rule is gated.
    enum Gate {
        case literals(field: String, [[UInt8]])
        case numberEquals(field: String, [Double])
        case numberRange(field: String, threshold: Double, inclusive: Bool, above: Bool)
        case networks(field: String, [(IPAddress, Int)])

        var field: String {
            switch self {
            case .literals(let f, _), .numberEquals(let f, _), .numberRange(let f, _, _, _), .networks(let f, _): f
            }
        }

        /// Higher is more selective.
        var score: Int {
            switch self {
            case .numberEquals: 100
            case .networks: 90
            case .literals(_, let l): 10 + min(40, l.map(\.count).min() ?? 0)
            case .numberRange: 5
            }
        }
    }

    let fields: [FieldGate]
    let numbers: [NumberGate]
    let networks: [NetworkGate]
    private let unmanagedFields: [Unmanaged<FieldGate>]
    private let unmanagedNumbers: [Unmanaged<NumberGate>]
    private let unmanagedNetworks: [Unmanaged<NetworkGate>]
    /// Per rule: whether it is gated (evaluated only when marked).
    let gated: [Bool]

    var isEmpty: Bool { fields.isEmpty && numbers.isEmpty && networks.isEmpty }

    /// The gates of `rules[only]` (all rules when nil); `gated` covers every rule index.
    init(_ rules: [CompiledRule], only: [Int]? = nil) {
        var gated = [Bool](repeating: false, count: rules.count)
        var literalGates: [String: [(rule: Int, literals: [[UInt8]])]] = [:]
        var numberGates: [String: (equal: [UInt64: [Int32]], above: [(threshold: Double, inclusive: Bool, rule: Int32)],
                                   below: [(threshold: Double, inclusive: Bool, rule: Int32)], rules: [Int32])] = [:]
        var networkGates: [String: (tables: [String: (v4: Bool, bits: Int, networks: [MaskedAddress: [Int32]])], rules: [Int32])] = [:]
        for i in only ?? Array(rules.indices) {
            let r = rules[i]
            guard let gate = Self.gate(r.rule.match, tests: r.match.program.tests, skipDataset: r.datasets != nil) else { continue }
            gated[i] = true
            let rule = Int32(i)
            switch gate {
            case .literals(let field, let literals):
                literalGates[field, default: []].append((i, literals))
            case .numberEquals(let field, let values):
                var g = numberGates[field] ?? ([:], [], [], [])
                for v in Set(values.map { Self.bits($0) }) { g.equal[v, default: []].append(rule) }
                g.rules.append(rule)
                numberGates[field] = g
            case .numberRange(let field, let threshold, let inclusive, let above):
                var g = numberGates[field] ?? ([:], [], [], [])
                if above { g.above.append((threshold, inclusive, rule)) } else { g.below.append((threshold, inclusive, rule)) }
                g.rules.append(rule)
                numberGates[field] = g
            case .networks(let field, let list):
                var g = networkGates[field] ?? ([:], [])
                for (address, bits) in list {
                    let id = "\(address.isV4 ? 4 : 6)/\(bits)"
                    var t = g.tables[id] ?? (address.isV4, bits, [:])
                    t.networks[NetworkGate.mask(address, bits: bits), default: []].append(rule)
                    g.tables[id] = t
                }
                g.rules.append(rule)
                networkGates[field] = g
            }
        }
        var fields: [FieldGate] = []
        for field in literalGates.keys.sorted() {
            let entries = literalGates[field]!
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
        numbers = numberGates.keys.sorted().map { f in
            let g = numberGates[f]!
            return NumberGate(key: Event.Key(f), equal: g.equal, above: g.above, below: g.below, rules: g.rules)
        }
        networks = networkGates.keys.sorted().map { f in
            let g = networkGates[f]!
            return NetworkGate(key: Event.Key(f), tables: g.tables.keys.sorted().map { g.tables[$0]! }, rules: g.rules)
        }
        self.fields = fields
        unmanagedFields = fields.map { Unmanaged.passUnretained($0) }
        unmanagedNumbers = numbers.map { Unmanaged.passUnretained($0) }
        unmanagedNetworks = networks.map { Unmanaged.passUnretained($0) }
        self.gated = gated
    }

    /// A number's bits for equality lookups (−0 and +0 are equal).
    @inline(__always)
    static func bits(_ v: Double) -> UInt64 { v == 0 ? 0 : v.bitPattern }

    /// Marks (with `epoch`) every gated rule whose gate `event` passes.
    func mark(_ event: Event, marks: UnsafeMutablePointer<UInt32>, epoch: UInt32) {
        unmanagedFields.withUnsafeBufferPointer { fields in
            for f in fields { f._withUnsafeGuaranteedRef { Self.mark(event, $0, marks: marks, epoch: epoch) } }
        }
        unmanagedNumbers.withUnsafeBufferPointer { numbers in
            for n in numbers { n._withUnsafeGuaranteedRef { Self.mark(event, $0, marks: marks, epoch: epoch) } }
        }
        unmanagedNetworks.withUnsafeBufferPointer { networks in
            for n in networks { n._withUnsafeGuaranteedRef { Self.mark(event, $0, marks: marks, epoch: epoch) } }
        }
    }

    @inline(__always)
    private static func markAll(_ rules: [Int32], _ marks: UnsafeMutablePointer<UInt32>, _ epoch: UInt32) {
        for r in rules { marks[Int(r)] = epoch }
    }

    @inline(__always)
    private static func mark(_ event: Event, _ f: FieldGate, marks: UnsafeMutablePointer<UInt32>, epoch: UInt32) {
        let scanned: Bool? = event.withStringValue(f.key) { bytes -> Bool in
            let seen = f.patternStart.withUnsafeBufferPointer { start in
                f.patternRules.withUnsafeBufferPointer { rules in
                    f.automaton.scan(bytes) { p in
                        for j in Int(start[Int(p)])..<Int(start[Int(p) + 1]) { marks[Int(rules[j])] = epoch }
                    }
                }
            }
            // Not ASCII: the scan may have missed case-folded matches; every rule may match.
            return seen < 0x80
        }
        if scanned == true { return }
        // Absent: no rule gated on the field can match. Present but not scannable: all may.
        if scanned == false || event.entry(f.key) != nil { markAll(f.rules, marks, epoch) }
    }

    @inline(__always)
    private static func mark(_ event: Event, _ g: NumberGate, marks: UnsafeMutablePointer<UInt32>, epoch: UInt32) {
        guard let e = event.entry(g.key) else { return }
        let v: Double
        var timestamp = false
        switch e.kind {
        case .int: v = Double(Int64(bitPattern: e.a))
        case .float: v = Double(bitPattern: e.a)
        case .timestamp:
            v = Double(Int64(bitPattern: e.a))
            timestamp = true
        case .null:
            return
        default:
            // Text (compared as text or parsed), lists, and other kinds: evaluated as usual.
            markAll(g.rules, marks, epoch)
            return
        }
        // A time never equals a number (equality compares it as RFC 3339 text).
        if !timestamp, let rules = g.equal[bits(v)] { for r in rules { marks[Int(r)] = epoch } }
        // Thresholds equal to the value pass only where inclusive (`≥`, `≤`); they may come in
        // any order among themselves.
        for t in g.above {
            guard t.threshold <= v else { break }
            if t.threshold < v || t.inclusive { marks[Int(t.rule)] = epoch }
        }
        for t in g.below {
            guard t.threshold >= v else { break }
            if t.threshold > v || t.inclusive { marks[Int(t.rule)] = epoch }
        }
    }

    @inline(__always)
    private static func mark(_ event: Event, _ g: NetworkGate, marks: UnsafeMutablePointer<UInt32>, epoch: UInt32) {
        guard let e = event.entry(g.key) else { return }
        switch e.kind {
        case .ip:
            let a = e.flag == IPAddress.Family.v4.rawValue ? IPAddress(v4: UInt32(truncatingIfNeeded: e.b)) : IPAddress(v6High: e.a, low: e.b)
            for t in g.tables where t.v4 == a.isV4 {
                if let rules = t.networks[NetworkGate.mask(a, bits: t.bits)] { for r in rules { marks[Int(r)] = epoch } }
            }
        case .string, .array:
            markAll(g.rules, marks, epoch)
        default:
            return
        }
    }

    /// The best gate of a rule's match: a conjunct at its top level that one of the shared
    /// indexes can check. `event.dataset` is skipped when the rule index already selects on it.
    static func gate(_ match: Expression, tests: [Test], skipDataset: Bool) -> Gate? {
        var conjuncts: [Expression] = []
        func flatten(_ e: Expression) {
            if case .all(let items) = e { items.forEach(flatten) } else { conjuncts.append(e) }
        }
        flatten(match)
        var best: Gate? = nil
        for case .predicate(let p) in conjuncts {
            if skipDataset && p.field == "event.dataset" { continue }
            guard let g = gate(p, tests: tests) else { continue }
            if let b = best, case .literals(_, let bl) = b, case .literals(_, let gl) = g {
                if RegexLiteralSet.better(gl, than: bl) { best = g }
            } else if g.score > best?.score ?? Int.min {
                best = g
            }
        }
        return best
    }

    static func gate(_ p: Predicate, tests: [Test]) -> Gate? {
        switch p.op {
        case .equals:
            var numbers: [Double] = []
            for v in p.values {
                guard case .number(let n) = v, n.isFinite else { numbers = []; break }
                numbers.append(n)
            }
            if !numbers.isEmpty { return .numberEquals(field: p.field, p.matchAll ? [numbers[0]] : numbers) }
            return literals(p, tests: tests).map { .literals(field: p.field, $0) }
        case .prefix, .suffix, .contains, .regex:
            return literals(p, tests: tests).map { .literals(field: p.field, $0) }
        case .cidr:
            var list: [(IPAddress, Int)] = []
            for v in p.values {
                guard let n = Test.network(v.description) else { return nil }
                list.append(n)
            }
            // All must hold (`|all`): any one of them is necessary.
            return list.isEmpty ? nil : .networks(field: p.field, p.matchAll ? [list[0]] : list)
        case .lessThan, .lessOrEqual, .greaterThan, .greaterOrEqual:
            var numbers: [Double] = []
            for v in p.values {
                guard case .number(let n) = v, n.isFinite else { return nil }
                numbers.append(n)
            }
            guard !numbers.isEmpty else { return nil }
            let above = p.op == .greaterThan || p.op == .greaterOrEqual
            // Whether any or all values must hold, the loosest is necessary.
            return .numberRange(field: p.field, threshold: above ? numbers.min()! : numbers.max()!,
                                inclusive: p.op == .greaterOrEqual || p.op == .lessOrEqual, above: above)
        default:
            return nil
        }
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
