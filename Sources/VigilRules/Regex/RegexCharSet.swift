/// A set of Unicode code points as sorted, disjoint, non-adjacent ranges, plus whether it also
/// matches a byte that is not valid UTF-8 (only `.` and negated classes do).
struct CodePointSet: Hashable, Sendable {
    /// Sorted, disjoint and non-adjacent after `normalize()`.
    private(set) var ranges: [ClosedRange<UInt32>] = []
    var matchesInvalid = false

    static let maxCodePoint: UInt32 = 0x10FFFF

    init() {}
    init(_ ranges: [ClosedRange<UInt32>], matchesInvalid: Bool = false) {
        self.ranges = ranges
        self.matchesInvalid = matchesInvalid
        normalize()
    }

    var isEmpty: Bool { ranges.isEmpty && !matchesInvalid }

    mutating func insert(_ c: UInt32) { ranges.append(c...c); normalize() }
    mutating func insert(_ r: ClosedRange<UInt32>) { ranges.append(r); normalize() }
    mutating func formUnion(_ other: CodePointSet) {
        ranges += other.ranges
        matchesInvalid = matchesInvalid || other.matchesInvalid
        normalize()
    }

    func contains(_ c: UInt32) -> Bool {
        var lo = 0, hi = ranges.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if ranges[mid].upperBound < c { lo = mid + 1 } else { hi = mid }
        }
        return lo < ranges.count && ranges[lo].contains(c)
    }

    /// Every code point not in the set, and invalid bytes toggled.
    func inverted() -> CodePointSet {
        var out: [ClosedRange<UInt32>] = []
        var next: UInt32 = 0
        for r in ranges {
            if r.lowerBound > next { out.append(next...(r.lowerBound - 1)) }
            next = r.upperBound + 1
        }
        if next <= Self.maxCodePoint { out.append(next...Self.maxCodePoint) }
        var set = CodePointSet()
        set.ranges = out
        set.matchesInvalid = !matchesInvalid
        return set
    }

    /// Adds the other cases of every member (see `RegexCaseFolding`).
    func caseFolded() -> CodePointSet {
        var extra: [ClosedRange<UInt32>] = []
        let keys = RegexCaseFolding.foldable
        for r in ranges {
            // First foldable key ≥ r.lowerBound.
            var lo = 0, hi = keys.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if keys[mid] < r.lowerBound { lo = mid + 1 } else { hi = mid }
            }
            while lo < keys.count, keys[lo] <= r.upperBound {
                for c in RegexCaseFolding.orbit(of: keys[lo]) where !r.contains(c) { extra.append(c...c) }
                lo += 1
            }
        }
        if extra.isEmpty { return self }
        var set = self
        set.ranges += extra
        set.normalize()
        return set
    }

    private mutating func normalize() {
        guard ranges.count > 1 else { return }
        ranges.sort { $0.lowerBound < $1.lowerBound }
        var merged: [ClosedRange<UInt32>] = []
        merged.reserveCapacity(ranges.count)
        for r in ranges {
            if let last = merged.last, r.lowerBound <= last.upperBound &+ 1 {
                merged[merged.count - 1] = last.lowerBound...max(last.upperBound, r.upperBound)
            } else {
                merged.append(r)
            }
        }
        ranges = merged
    }

    // MARK: Named classes (ASCII, as in PCRE without UCP and RE2)

    static let digit = CodePointSet([0x30...0x39])
    static let word = CodePointSet([0x30...0x39, 0x41...0x5A, 0x5F...0x5F, 0x61...0x7A])
    /// `\s`: tab, newline, vertical tab, form feed, carriage return, space.
    static let space = CodePointSet([0x09...0x0D, 0x20...0x20])
    /// `\h`: horizontal white space (PCRE's list).
    static let horizontalSpace = CodePointSet([0x09...0x09, 0x20...0x20, 0xA0...0xA0, 0x1680...0x1680, 0x180E...0x180E,
                                               0x2000...0x200A, 0x202F...0x202F, 0x205F...0x205F, 0x3000...0x3000])
    static let newline = CodePointSet([0x0A...0x0A])

    /// `[:name:]` inside a bracket expression (ASCII).
    static func posix(_ name: String) -> CodePointSet? {
        switch name {
        case "alpha": CodePointSet([0x41...0x5A, 0x61...0x7A])
        case "digit": digit
        case "alnum": CodePointSet([0x30...0x39, 0x41...0x5A, 0x61...0x7A])
        case "upper": CodePointSet([0x41...0x5A])
        case "lower": CodePointSet([0x61...0x7A])
        case "space": space
        case "blank": CodePointSet([0x09...0x09, 0x20...0x20])
        case "punct": CodePointSet([0x21...0x2F, 0x3A...0x40, 0x5B...0x60, 0x7B...0x7E])
        case "print": CodePointSet([0x20...0x7E])
        case "graph": CodePointSet([0x21...0x7E])
        case "cntrl": CodePointSet([0x00...0x1F, 0x7F...0x7F])
        case "xdigit": CodePointSet([0x30...0x39, 0x41...0x46, 0x61...0x66])
        case "word": word
        case "ascii": CodePointSet([0x00...0x7F])
        default: nil
        }
    }
}
