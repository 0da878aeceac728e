/// "Did you mean …?" for misspelled keys, enum values, units and names that loaders check themselves.
public enum Suggestion {
    /// The candidate closest to `word` by edit distance (insertions, deletions, substitutions and
    /// transpositions of adjacent characters, ignoring case), if it is close enough to be a plausible
    /// typo: at most one edit per three characters of the candidate, and at least one. Ties go to the
    /// candidate closest in length (`MeB` suggests `MiB`, not `MB`), then to the earlier one.
    /// - Complexity: O(*k* · *m* · *n*) for *k* candidates of length *n* and a word of length *m*.
    public static func closest(to word: String, in candidates: [String]) -> String? {
        var best: (candidate: String, distance: Int, lengthDifference: Int)?
        for candidate in candidates where candidate != word {
            let distance = editDistance(word.lowercased(), candidate.lowercased())
            guard distance <= max(1, candidate.count / 3) else { continue }
            let lengthDifference = abs(candidate.count - word.count)
            if let best, (best.distance, best.lengthDifference) <= (distance, lengthDifference) { continue }
            best = (candidate, distance, lengthDifference)
        }
        return best?.candidate
    }

    /// Optimal string alignment distance (restricted Damerau–Levenshtein) between Unicode scalar sequences.
    /// - Complexity: O(*m* · *n*).
    public static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.unicodeScalars), b = Array(b.unicodeScalars)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        // Three rows: two back (for transpositions), previous, current.
        var twoBack = [Int](repeating: 0, count: b.count + 1)
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                var value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    value = min(value, twoBack[j - 2] + 1)
                }
                current[j] = value
            }
            (twoBack, previous, current) = (previous, current, twoBack)
        }
        return previous[b.count]
    }
}
