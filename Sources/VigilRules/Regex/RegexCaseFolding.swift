/// Unicode simple case folding for the scripts the regex engine covers, as orbits: every code point
/// of an orbit matches every other one when case-insensitive.
///
/// Covered: ASCII (with U+212A KELVIN SIGN ~ `k` and U+017F LONG S ~ `s`), Latin-1 Supplement
/// (with U+00B5 MICRO SIGN ~ `μ`, U+00FF ~ U+0178, U+00DF ~ U+1E9E, U+00E5 ~ U+212B ANGSTROM SIGN),
/// Latin Extended-A, Greek and Coptic (with the symbol variants ϐ ϑ ϕ ϖ ϰ ϱ ϴ ϵ, final sigma,
/// U+0345 and U+1FBE ~ `ι`, U+2126 OHM SIGN ~ `ω`) and Cyrillic (U+0400–U+052F, U+1C80–U+1C88).
/// Other scripts match case-sensitively. Only one-to-one (simple) folds: `ß` does not match `ss`.
enum RegexCaseFolding {
    /// Code point → every code point of its orbit (itself included); absent: no other case.
    static let orbits: [UInt32: [UInt32]] = build()
    /// The keys of `orbits`, ascending (to fold ranges).
    static let foldable: [UInt32] = orbits.keys.sorted()

    /// The code points equal to `c` ignoring case (`c` itself when it has no other case).
    static func orbit(of c: UInt32) -> [UInt32] { orbits[c] ?? [c] }

    private static func build() -> [UInt32: [UInt32]] {
        // Each pair (variant, canonical): the simple case fold of `variant` is `canonical`.
        var pairs: [(UInt32, UInt32)] = []
        func offset(_ range: ClosedRange<UInt32>, _ delta: UInt32, except: Set<UInt32> = []) {
            for c in range where !except.contains(c) { pairs.append((c, c + delta)) }
        }
        func alternating(_ first: UInt32, _ last: UInt32) {
            // Upper case at `first`, `first + 2`, …; its lower case follows it.
            for c in stride(from: first, through: last, by: 2) { pairs.append((c, c + 1)) }
        }
        // ASCII and Latin-1 Supplement.
        offset(0x41...0x5A, 0x20)
        pairs += [(0x212A, 0x6B), (0x017F, 0x73)]
        offset(0xC0...0xDE, 0x20, except: [0xD7])
        pairs += [(0xB5, 0x3BC), (0x1E9E, 0xDF), (0x212B, 0xE5), (0x178, 0xFF)]
        // Latin Extended-A.
        alternating(0x100, 0x12E)
        alternating(0x132, 0x136)
        alternating(0x139, 0x147)
        alternating(0x14A, 0x176)
        alternating(0x179, 0x17D)
        // Greek and Coptic.
        pairs += [(0x370, 0x371), (0x372, 0x373), (0x376, 0x377), (0x37F, 0x3F3),
                  (0x386, 0x3AC), (0x388, 0x3AD), (0x389, 0x3AE), (0x38A, 0x3AF),
                  (0x38C, 0x3CC), (0x38E, 0x3CD), (0x38F, 0x3CE)]
        offset(0x391...0x3AB, 0x20, except: [0x3A2])
        pairs += [(0x3C2, 0x3C3), (0x3CF, 0x3D7), (0x3D0, 0x3B2), (0x3D1, 0x3B8), (0x3D5, 0x3C6),
                  (0x3D6, 0x3C0), (0x3F0, 0x3BA), (0x3F1, 0x3C1), (0x3F4, 0x3B8), (0x3F5, 0x3B5),
                  (0x3F7, 0x3F8), (0x3F9, 0x3F2), (0x3FA, 0x3FB), (0x3FD, 0x37B), (0x3FE, 0x37C),
                  (0x3FF, 0x37D), (0x345, 0x3B9), (0x1FBE, 0x3B9), (0x2126, 0x3C9)]
        alternating(0x3D8, 0x3EE)
        // Cyrillic.
        offset(0x400...0x40F, 0x50)
        offset(0x410...0x42F, 0x20)
        alternating(0x460, 0x480)
        alternating(0x48A, 0x4BE)
        pairs.append((0x4C0, 0x4CF))
        alternating(0x4C1, 0x4CD)
        alternating(0x4D0, 0x52E)
        pairs += [(0x1C80, 0x432), (0x1C81, 0x434), (0x1C82, 0x43E), (0x1C83, 0x441), (0x1C84, 0x442),
                  (0x1C85, 0x442), (0x1C86, 0x44A), (0x1C87, 0x463), (0x1C88, 0xA64B), (0xA64A, 0xA64B)]

        // Follow folds to a canonical member, then group.
        var fold: [UInt32: UInt32] = [:]
        for (variant, canonical) in pairs { fold[variant] = canonical }
        func canonical(_ c: UInt32) -> UInt32 {
            var c = c
            while let next = fold[c], next != c { c = next }
            return c
        }
        var groups: [UInt32: Set<UInt32>] = [:]
        for (variant, target) in pairs {
            let root = canonical(target)
            groups[root, default: [root]].insert(variant)
            groups[root, default: [root]].insert(target)
        }
        var result: [UInt32: [UInt32]] = [:]
        for (_, members) in groups {
            let sorted = members.sorted()
            for c in sorted { result[c] = sorted }
        }
        return result
    }
}
