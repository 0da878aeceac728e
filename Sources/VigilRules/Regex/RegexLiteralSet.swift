/// Literal sets of a pattern for multi-pattern prefiltering: a set of byte strings such that every
/// match of the pattern contains at least one of them, compared with ASCII letters folded to
/// lower case (so one set serves case-sensitive and case-insensitive patterns: it is a necessary
/// condition either way). Alternations contribute the union of their branches, which the single
/// required literal of ``RegexCompiler/requiredLiteral(_:)`` cannot express: `(sqlmap|nikto)`
/// gives {"sqlmap", "nikto"}.
///
/// Valid only on subjects that are ASCII when the pattern is case-insensitive: simple case
/// folding maps some non-ASCII code points onto ASCII letters (U+212A KELVIN SIGN is `k`).
/// Callers pass such subjects through without the prefilter.
enum RegexLiteralSet {
    /// Finite sets larger than this are not expanded (cross products of alternations).
    static let maxExact = 32
    /// Strings longer than this stop growing exact sets.
    static let maxLength = 64

    struct Info {
        /// Every string the node can match, when that set is small and finite.
        var exact: [[UInt8]]?
        /// A set every match contains one of, when known.
        var required: [[UInt8]]?
    }

    /// The best literal set of `node`, or nil when the pattern has none worth using (every
    /// literal at least `minimumLength` bytes).
    static func literals(of node: RegexNode, minimumLength: Int = 2) -> [[UInt8]]? {
        let info = analyze(node)
        var best: [[UInt8]]? = nil
        for candidate in [info.exact, info.required] {
            guard let c = candidate, !c.isEmpty else { continue }
            if better(c, than: best) { best = c }
        }
        guard let best, let shortest = best.map(\.count).min(), shortest >= minimumLength else { return nil }
        return Array(Set(best)).sorted { $0.lexicographicallyPrecedes($1) }
    }

    /// The weakest literal of a set decides how selective it is: longer is better, then fewer.
    static func better(_ a: [[UInt8]], than b: [[UInt8]]?) -> Bool {
        guard let b, !b.isEmpty else { return true }
        let la = a.map(\.count).min() ?? 0, lb = b.map(\.count).min() ?? 0
        return la != lb ? la > lb : a.count < b.count
    }

    static func fold(_ b: UInt8) -> UInt8 { b >= 0x41 && b <= 0x5A ? b | 0x20 : b }

    static func analyze(_ node: RegexNode) -> Info {
        switch node {
        case .empty, .assertion:
            return Info(exact: [[]], required: nil)
        case .literal(let c, let caseless):
            if c < 0x80 { return Info(exact: [[fold(UInt8(c))]], required: nil) }
            // A caseless non-ASCII letter matches other byte sequences: no literal.
            if caseless { return Info(exact: nil, required: nil) }
            guard let scalar = Unicode.Scalar(c) else { return Info(exact: nil, required: nil) }
            return Info(exact: [Array(String(Character(scalar)).utf8)], required: nil)
        case .set(let set):
            guard !set.matchesInvalid else { return Info(exact: nil, required: nil) }
            var bytes = Set<UInt8>()
            for r in set.ranges {
                guard r.upperBound < 0x80, bytes.count + Int(r.upperBound - r.lowerBound) < 8 else { return Info(exact: nil, required: nil) }
                for c in r { bytes.insert(fold(UInt8(c))) }
            }
            return Info(exact: bytes.sorted().map { [$0] }, required: nil)
        case .any:
            return Info(exact: nil, required: nil)
        case .concat(let items):
            var best: [[UInt8]]? = nil
            var run: [[UInt8]]? = [[]]
            func consider(_ set: [[UInt8]]?) {
                guard let set, !set.isEmpty, set.allSatisfy({ !$0.isEmpty }) else { return }
                if better(set, than: best) { best = set }
            }
            for item in items {
                let info = analyze(item)
                consider(info.required)
                if let exact = info.exact, let current = run, current.count * exact.count <= maxExact {
                    var next: [[UInt8]] = []
                    for a in current { for b in exact { next.append(Array((a + b).prefix(maxLength))) } }
                    run = next
                } else {
                    consider(run)
                    if let exact = info.exact { consider(exact) }
                    run = info.exact.flatMap { $0.count <= maxExact ? $0 : nil } ?? nil
                    if run == nil { run = [[]] }
                }
            }
            consider(run)
            // Exact only when every item was.
            let allExact = items.allSatisfy { analyze($0).exact != nil }
            var exact: [[UInt8]]? = [[]]
            if allExact {
                for item in items {
                    guard let e = analyze(item).exact, let cur = exact, cur.count * e.count <= maxExact else { exact = nil; break }
                    var next: [[UInt8]] = []
                    for a in cur { for b in e { next.append(a + b) } }
                    exact = next
                }
            } else {
                exact = nil
            }
            return Info(exact: exact, required: best)
        case .alternation(let branches):
            var exact: [[UInt8]]? = []
            var required: [[UInt8]]? = []
            for branch in branches {
                let info = analyze(branch)
                if let e = info.exact, let cur = exact, cur.count + e.count <= maxExact { exact = cur + e } else { exact = nil }
                // A branch contributes its own best literal set; a branch without one (or one
                // that can match the empty string) leaves the alternation without a set.
                var own: [[UInt8]]? = nil
                for c in [info.exact, info.required] {
                    guard let c, !c.isEmpty, c.allSatisfy({ !$0.isEmpty }) else { continue }
                    if better(c, than: own) { own = c }
                }
                if let own, let cur = required { required = cur + own } else { required = nil }
            }
            return Info(exact: exact, required: required)
        case .repetition(let body, let lo, let hi):
            let info = analyze(body)
            if hi == 0 { return Info(exact: [[]], required: nil) }
            guard lo >= 1 else { return Info(exact: nil, required: nil) }
            var own: [[UInt8]]? = nil
            for c in [info.exact, info.required] {
                guard let c, !c.isEmpty, c.allSatisfy({ !$0.isEmpty }) else { continue }
                if better(c, than: own) { own = c }
            }
            return Info(exact: lo == 1 && hi == 1 ? info.exact : nil, required: own)
        }
    }
}
