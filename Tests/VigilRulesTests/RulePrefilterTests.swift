import Testing
import VigilCore
import VigilStream
import VigilTestSupport
@testable import VigilRules

/// The literal prefilters (regex literal sets, the folded Aho–Corasick automaton, rule gates)
/// must be necessary conditions: gated evaluation raises exactly what plain evaluation raises.
@Suite struct RulePrefilterTests {
    static func set(_ pattern: String, caseInsensitive: Bool = false) throws -> [String]? {
        try LinearRegex(pattern, caseInsensitive: caseInsensitive).literalSet?.map { String(decoding: $0, as: UTF8.self) }
    }

    @Test func literalSetsOfCommonShapes() throws {
        #expect(try Self.set("(?i)(sqlmap|nikto|scanner1)") == ["nikto", "scanner1", "sqlmap"])
        #expect(try Self.set("(ab|cd)ef") == ["abef", "cdef"])
        #expect(try Self.set("x[ab]yz") == ["xayz", "xbyz"])
        #expect(try Self.set("foo.*barbaz") == ["barbaz"])
        #expect(try Self.set("^/wp-(admin|login)\\.php") == ["/wp-admin.php", "/wp-login.php"])
        #expect(try Self.set("(?:evil)+\\d") == ["evil"])
        #expect(try Self.set("Select", caseInsensitive: true) == ["select"])
        // Nothing every match must contain.
        #expect(try Self.set("a*") == nil)
        #expect(try Self.set("abc|") == nil)
        #expect(try Self.set("(abc)?d") == nil)
        #expect(try Self.set("\\d+\\.\\d+") == nil)
        #expect(try Self.set(".") == nil)
    }

    /// Random patterns over a small alphabet (so that random subjects often match), and the
    /// differential test's full grammar: whenever a pattern matches an ASCII subject, the
    /// case-folded subject contains one of the pattern's literals.
    @Test(arguments: [1, 2, 3] as [UInt64])
    func literalSetsAreNecessary(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        func pick<T>(_ a: [T]) -> T { a[Int.random(in: 0..<a.count, using: &rng)] }
        func atom(_ depth: Int) -> String {
            switch Int.random(in: 0..<(depth > 0 ? 9 : 7), using: &rng) {
            case 0, 1, 2, 3: return pick(["a", "b", "c", "A", "B", "k", "-"])
            case 4: return pick(["[ab]", "[^a]", "[a-c]", "[Bc]"])
            case 5: return pick([".", "\\d", "\\b", "^", "$"])
            case 6: return pick(["ab", "ba", "abc", "cab"])
            default: return "(" + (Bool.random(using: &rng) ? "?:" : "") + alternation(depth - 1) + ")"
            }
        }
        func quantified(_ depth: Int) -> String {
            let a = atom(depth)
            guard Int.random(in: 0..<3, using: &rng) == 0, !["^", "$", "\\b"].contains(a) else { return a }
            return a + pick(["?", "*", "+", "{2}", "{1,2}", "{0,1}"])
        }
        func concat(_ depth: Int) -> String { (0..<Int.random(in: 1...4, using: &rng)).map { _ in quantified(depth) }.joined() }
        func alternation(_ depth: Int) -> String {
            var s = concat(depth)
            while Int.random(in: 0..<4, using: &rng) == 0 { s += "|" + concat(depth) }
            return s
        }
        let pieces = ["a", "b", "c", "A", "B", "k", "K", "0", "1", " ", "-", "ab", "abc", "ba", "cab", "AB"]
        var generator = RegexDifferentialTests.Generator(rng: SplitMix(state: seed))
        var checked = 0, withSets = 0, violations: [String] = []
        for n in 0..<4000 {
            let pattern = n % 4 == 3 ? generator.pattern() : (Bool.random(using: &rng) ? "(?i)" : "") + alternation(2)
            guard let regex = try? LinearRegex(pattern), let literals = regex.literalSet else { continue }
            withSets += 1
            for _ in 0..<24 {
                let subject = (0..<Int.random(in: 0...8, using: &rng)).map { _ in pick(pieces) }.joined()
                guard regex.matches(subject) else { continue }
                checked += 1
                let folded = Array(subject.lowercased().utf8)
                if !literals.contains(where: { lit in folded.firstRange(of: lit) != nil }) {
                    violations.append("\(pattern.debugDescription) ~ \(subject.debugDescription): none of \(literals.map { String(decoding: $0, as: UTF8.self) })")
                }
            }
        }
        #expect(violations.isEmpty, "\(violations.prefix(10).joined(separator: "\n"))")
        #expect(checked > 1000)
        print("regex literal sets (seed \(seed)): \(withSets) patterns with a set, \(checked) matches checked, \(violations.count) violations")
    }

    @Test func automatonFindsEveryOccurrenceIgnoringASCIICase() {
        let patterns = ["he", "she", "his", "hers", "HE", "x"].map { Array($0.utf8) }
        let ac = FoldedAhoCorasick(patterns: patterns)
        var found: [Int32] = []
        Array("uSHErs and HIS x".utf8).withUnsafeBytes { ac.scan($0) { found.append($0) } }
        // "she" (1) and "he" (0) and "HE" (4) end at the same place, then "hers" (3), "his" (2), "x" (5).
        #expect(found.sorted() == [0, 1, 2, 3, 4, 5])
        // Against a naive search over many random subjects and patterns.
        var rng = SplitMix64(seed: 9)
        for _ in 0..<300 {
            let alphabet: [UInt8] = Array("abAB-é".utf8)
            let pats = (0..<Int.random(in: 1...8, using: &rng)).map { _ in (0..<Int.random(in: 1...4, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! } }
            let subject = (0..<Int.random(in: 0...40, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }
            let fold = { (b: UInt8) -> UInt8 in b >= 0x41 && b <= 0x5A ? b | 0x20 : b }
            var expected = 0
            for p in pats where !p.isEmpty {
                let fp = p.map(fold), fs = subject.map(fold)
                if fs.count >= fp.count { for i in 0...(fs.count - fp.count) where Array(fs[i..<(i + fp.count)]) == fp { expected += 1 } }
            }
            let automaton = FoldedAhoCorasick(patterns: pats)
            var got = 0
            subject.withUnsafeBytes { automaton.scan($0) { _ in got += 1 } }
            #expect(got == expected, "\(pats) in \(subject)")
        }
    }

    /// Random rules over text, number and address fields (with and without dataset conditions,
    /// case-sensitive or not), and random events (ASCII and not, strings, numbers, addresses,
    /// lists, times, absent fields): the engine's indexed, gated matching of residual programs
    /// agrees with evaluating every rule's whole match.
    @Test func gatedMatchingAgreesWithPlainEvaluation() throws {
        var rng = SplitMix64(seed: 2026)
        let fields = ["url.original", "user.name", "user_agent.original", "dns.question.name", "custom.text"]
        let words = ["admin", "Admin", "wp-login", "sqlmap", "nikto", "root", "évil", "ÉVIL", "kelvin", "\u{212A}elvin", "42", "x"]
        let datasets = ["network.http", "Network.HTTP", "system.auth", "networ\u{212A}.http", "web.access"]
        func pick<T>(_ a: [T]) -> T { a[Int.random(in: 0..<a.count, using: &rng)] }
        var rules: [CompiledRule] = []
        for i in 0..<240 {
            var p: Predicate
            switch Int.random(in: 0..<10, using: &rng) {
            case 0:
                p = Predicate(field: pick(["destination.port", "network.bytes"]), op: .equals,
                              values: (0..<Int.random(in: 1...2, using: &rng)).map { _ in .number(Double(pick([22, 80, 443, 1000, 0]))) })
            case 1:
                p = Predicate(field: pick(["destination.port", "network.bytes", "@timestamp"]), op: pick([.greaterThan, .greaterOrEqual, .lessThan, .lessOrEqual]),
                              values: [.number(Double(pick([0, 80, 443, 1000, 1_773_480_000_500_000_000])))])
            case 2:
                p = Predicate(field: pick(["source.ip", "destination.ip"]), op: .cidr,
                              values: (0..<Int.random(in: 1...2, using: &rng)).map { _ in .string(pick(["10.0.0.0/8", "10.1.2.0/24", "192.168.1.1", "fe80::/10", "0.0.0.0/0", "2001:db8::/32"])) })
            default:
                let op: Operator = pick([.equals, .prefix, .suffix, .contains, .regex])
                let values: [Value]
                if op == .regex {
                    values = [.string(pick(["(\(pick(words))|\(pick(words)))", "^\(pick(words))", "\(pick(words)).*\(pick(words))", "(?i)\(pick(words))s?", "a*"]))]
                } else {
                    values = (0..<Int.random(in: 1...3, using: &rng)).map { _ in .string(pick(words)) }
                }
                p = Predicate(field: pick(fields), op: op, values: values, caseInsensitive: Bool.random(using: &rng))
            }
            p.matchAll = Int.random(in: 0..<5, using: &rng) == 0
            var conjuncts: [VigilRules.Expression] = [.predicate(p)]
            if Bool.random(using: &rng) {
                conjuncts.append(.predicate(Predicate(field: pick(fields), op: .exists, values: [])))
            }
            if Int.random(in: 0..<3, using: &rng) > 0 {
                let ds = Predicate(field: "event.dataset", op: .equals, values: [.string(pick(datasets))], caseInsensitive: Bool.random(using: &rng))
                conjuncts.insert(.predicate(ds), at: Int.random(in: 0...conjuncts.count, using: &rng))
            }
            var match: VigilRules.Expression = conjuncts.count == 1 ? conjuncts[0] : .all(conjuncts)
            if Int.random(in: 0..<6, using: &rng) == 0 {
                match = .any([match, .predicate(Predicate(field: pick(fields), op: .contains, values: [.string(pick(words))]))])
            }
            rules.append(try CompiledRule(Rule(id: "r\(i)", title: "r\(i)", match: match)))
        }
        let gates = RuleGates(rules)
        #expect(gates.gated.filter { $0 }.count > 100, "most rules have a gate")
        #expect(!gates.numbers.isEmpty && !gates.networks.isEmpty && !gates.fields.isEmpty)
        let plugin = RulesPlugin(rules: rules)
        var state = plugin.makeState(partition: 0)
        var disagreements: [String] = [], matches = 0
        for n in 0..<6000 {
            var e = Event()
            let time = 1_773_480_000_000_000_000 + Int64(n) * 1_000_000
            e[.timestamp] = .timestamp(Timestamp(nanoseconds: time))
            if Int.random(in: 0..<5, using: &rng) > 0 { e[.eventDataset] = .string(pick(datasets + ["NETWORK.HTTP"])) }
            for f in fields where Int.random(in: 0..<3, using: &rng) > 0 {
                switch Int.random(in: 0..<10, using: &rng) {
                case 0: e[f] = .int(42)
                case 1: e[f] = .array([.string(pick(words)), .string(pick(words))])
                default: e[f] = .string((0..<Int.random(in: 1...3, using: &rng)).map { _ in pick(words) }.joined(separator: pick(["", "/", " "])))
                }
            }
            for f in ["destination.port", "network.bytes"] where Bool.random(using: &rng) {
                switch Int.random(in: 0..<6, using: &rng) {
                case 0: e[f] = .string(pick(["80", "443", "x"]))
                case 1: e[f] = .float(pick([80.0, 443.5, -0.0, .nan]))
                case 2: e[f] = .array([.int(80), .int(22)])
                default: e[f] = .int(Int64(pick([22, 80, 443, 1000, 0, 5000])))
                }
            }
            for f in ["source.ip", "destination.ip"] where Bool.random(using: &rng) {
                switch Int.random(in: 0..<5, using: &rng) {
                case 0: e[f] = .string(pick(["10.1.2.3", "not an ip"]))
                case 1: e[f] = .int(7)
                default: e[f] = .ip(IPAddress(pick(["10.1.2.3", "10.9.9.9", "192.168.1.1", "fe80::1", "2001:db8::5", "8.8.8.8"]))!)
                }
            }
            var raised = Set<String>()
            state.process(e, time: time, offset: Int64(n), emit: { a in raised.insert(a["rule.id"]!.stringValue!) }, late: { _ in })
            let expected = Set(rules.filter { $0.match.matches(e) }.map(\.rule.id))
            matches += expected.count
            if raised != expected { disagreements.append("event \(n): engine \(raised.subtracting(expected)) extra, \(expected.subtracting(raised)) missing: \(rules.filter { expected.symmetricDifference(raised).contains($0.rule.id) }.map { "\($0.rule.match)" }) event \(e)") }
        }
        #expect(disagreements.isEmpty, "\(disagreements.prefix(5).joined(separator: "\n"))")
        #expect(matches > 3000)
        print("gated matching: \(matches) rule matches over 6,000 events, \(disagreements.count) disagreements")
    }
}

@Suite struct RuleWindowsTests {
    static let s: Int64 = 1_000_000_000

    @Test func tumblingThresholdAlertsOncePerWindow() {
        var w = RuleWindows(kind: .tumbling(size: 60 * Self.s), distinct: false, minimum: 3)
        var reached: [RuleWindows.Reached] = []
        for t in [1, 2, 3, 4, 5, 61, 62, 63, 64] as [Int64] {
            #expect(w.add(key: "a", time: t * Self.s, hash: 0) { reached.append($0) } == nil)
        }
        #expect(reached.map(\.bounds.start) == [0, 60 * Self.s])
        #expect(reached.map(\.count) == [3, 3])
        // The first window closed when time passed 60 s: an event for it now is late.
        let reason = w.add(key: "b", time: 10 * Self.s, hash: 0) { _ in }
        #expect(reason?.contains("late event") == true)
        #expect(w.windows(of: "a").count == 1, "closed windows are swept")
    }

    @Test func hoppingWindowsCountInEachWindow() {
        var w = RuleWindows(kind: .hopping(size: 60 * Self.s, advance: 20 * Self.s), distinct: false, minimum: 2)
        var starts: [Int64] = []
        for t in [50, 55] as [Int64] { _ = w.add(key: "k", time: t * Self.s, hash: 0) { starts.append($0.bounds.start / Self.s) } }
        // 50 s and 55 s are both in [0,60), [20,80) and [40,100).
        #expect(starts.sorted() == [0, 20, 40])
    }

    @Test func sessionsMergeAndKeepTheirAlert() {
        var w = RuleWindows(kind: .session(gap: 10 * Self.s), distinct: false, minimum: 3)
        var reached: [RuleWindows.Reached] = []
        for t in [0, 5, 9, 30, 35, 38] as [Int64] { _ = w.add(key: "k", time: t * Self.s, hash: 0) { reached.append($0) } }
        #expect(reached.count == 2)
        #expect(reached[0].bounds == WindowBounds(start: 0, end: 19 * Self.s))
        #expect(reached[1].bounds.start == 30 * Self.s)
    }

    @Test func distinctValuesAreExactThenSketched() {
        var v = DistinctValues()
        for i in 0..<200 { v.insert(hash: RuleInput.hasher.hash(UInt64(i % 100)), minimum: 1_000_000) }
        #expect(v.estimate == 100)
        // Past the exact limit: the sketch's estimate reaches the minimum about when the true
        // count does (estimates are paced, never later than the count could have got there).
        var big = DistinctValues()
        var inserted = 0
        while big.estimate < 15_000 && inserted < 30_000 {
            big.insert(hash: RuleInput.hasher.hash(UInt64(inserted)), minimum: 15_000)
            inserted += 1
        }
        #expect(abs(Double(inserted) - 15_000) / 15_000 < 0.06, "reached at \(inserted)")
    }

    /// A checkpoint taken mid-stream and restored gives the same alerts as an uninterrupted run.
    @Test func checkpointRoundTripContinuesTheSame() throws {
        var rng = SplitMix64(seed: 5)
        let events: [(String, Int64, UInt64)] = (0..<5000).map { i in
            ("k\(Int.random(in: 0..<40, using: &rng))", Int64(i) * Self.s / 10 + Int64.random(in: 0..<50_000_000, using: &rng), UInt64.random(in: 0..<30, using: &rng))
        }
        for kind in [WindowKind.tumbling(size: 30 * Self.s), .hopping(size: 30 * Self.s, advance: 10 * Self.s), .session(gap: 5 * Self.s)] {
            for distinct in [false, true] {
                func run(_ w: inout RuleWindows, _ slice: ArraySlice<(String, Int64, UInt64)>) -> [String] {
                    var out: [String] = []
                    for (k, t, h) in slice {
                        let late = w.add(key: RuleKey(k), time: t, hash: h) { out.append("\(k)|\($0.bounds)|\($0.count)|\($0.distinct)") }
                        if late != nil { out.append("late \(k) \(t)") }
                    }
                    return out
                }
                var whole = RuleWindows(kind: kind, distinct: distinct, minimum: 12)
                let expected = run(&whole, events[...])
                var first = RuleWindows(kind: kind, distinct: distinct, minimum: 12)
                var got = run(&first, events[..<2500])
                var writer = StateWriter()
                first.encode(into: &writer)
                var second = RuleWindows(kind: kind, distinct: distinct, minimum: 12)
                try writer.bytes.withUnsafeBytes { raw in
                    var reader = StateReader(raw, context: "test")
                    try second.restore(from: &reader)
                }
                got += run(&second, events[2500...])
                #expect(got == expected, "\(kind) distinct=\(distinct)")
                #expect(!expected.isEmpty)
            }
        }
    }
}
