import Foundation
import Testing
import VigilRules

/// Random patterns from the supported grammar, compared with Foundation's NSRegularExpression
/// (ICU) on random subjects. Where the two differ by design (ICU's Unicode `\w`, `\d`, `\s`, `\b`
/// and POSIX classes), subjects with non-ASCII characters are not compared for those patterns.
@Suite struct RegexDifferentialTests {
    static let letters = ["a", "b", "c", "A", "B", "k", "K", "é", "É", "ж", "Ж", "σ", "Σ", "ς", "0", "1", " ", "-", "\n", "_", "\u{212A}"]
    static let escapedMeta = ["\\.", "\\*", "\\(", "\\)", "\\[", "\\+", "\\?", "\\|", "\\{", "\\$", "\\^", "\\\\", "\\-"]

    struct Generator {
        var rng: SplitMix
        /// Whether the pattern uses a class whose ICU meaning differs outside ASCII.
        var asciiOnlyClasses = false

        mutating func pick<T>(_ items: [T]) -> T { items[Int.random(in: 0..<items.count, using: &rng)] }
        mutating func chance(_ percent: Int) -> Bool { Int.random(in: 0..<100, using: &rng) < percent }

        mutating func classItem() -> String {
            switch Int.random(in: 0..<8, using: &rng) {
            case 0: return pick(["a-c", "A-C", "0-1", "à-ÿ", "а-я", "α-ω", "b-b"])
            case 1:
                asciiOnlyClasses = true
                return pick(["\\d", "\\w", "\\s", "\\D", "\\W", "\\S", "[:alpha:]", "[:digit:]", "[:space:]", "[:upper:]"])
            case 2: return pick(["\\n", "\\-", "\\]", "\\\\", "\\x41", "\\x{e9}", "."])
            default: return pick(["a", "b", "c", "A", "k", "é", "Ж", "σ", "0", " ", "_"])
            }
        }

        mutating func atom(_ depth: Int) -> String {
            let choice = Int.random(in: 0..<(depth > 0 ? 12 : 9), using: &rng)
            switch choice {
            case 0, 1, 2: return pick(RegexDifferentialTests.letters.filter { $0 != "\n" && $0 != " " && $0 != "\u{212A}" })
            case 3: return pick(RegexDifferentialTests.escapedMeta)
            case 4: return "."
            case 5:
                let items = (0..<Int.random(in: 1...3, using: &rng)).map { _ in classItem() }.joined()
                return "[" + (chance(30) ? "^" : "") + items + "]"
            case 6:
                asciiOnlyClasses = true
                return pick(["\\d", "\\w", "\\s", "\\D", "\\W", "\\S", "\\b", "\\B"])
            case 7: return pick(["^", "$", "\\A", "\\z", "\\Z"])
            case 8: return pick(["\\n", "\\x41", "\\u00e9", "\\x{3c3}", " "])
            default:
                let open = pick(["(", "(?:", "(?<g>", "(?i:", "(?-i:", "(?s:", "(?m:", "(?P<h>"])
                return open + alternation(depth - 1) + ")"
            }
        }

        mutating func quantified(_ depth: Int) -> String {
            let a = atom(depth)
            // Anchors and boundaries are not quantified (ICU and PCRE disagree on that).
            if a.hasPrefix("\\b") || a.hasPrefix("\\B") || ["^", "$", "\\A", "\\z", "\\Z"].contains(a) { return a }
            guard chance(35) else { return a }
            let q = pick(["*", "+", "?", "{2}", "{0,2}", "{1,}", "{1,3}", "{0}"])
            // ICU backtracks for minutes on quantified groups of assertions like `(\b)*?`.
            if a.hasPrefix("(") {
                if ["\\b", "\\B", "^", "$", "\\A", "\\z", "\\Z"].contains(where: { a.contains($0) }) { return a }
                return a + q
            }
            return a + q + (chance(20) ? "?" : "")
        }

        mutating func concat(_ depth: Int) -> String {
            (0..<Int.random(in: 0...4, using: &rng)).map { _ in quantified(depth) }.joined()
        }

        mutating func alternation(_ depth: Int) -> String {
            var s = concat(depth)
            while chance(20) { s += "|" + concat(depth) }
            return s
        }

        mutating func pattern() -> String {
            asciiOnlyClasses = false
            var prefix = ""
            if chance(20) { prefix += "(?i)" }
            if chance(10) { prefix += "(?s)" }
            if chance(10) { prefix += "(?m)" }
            return prefix + alternation(2)
        }

        mutating func subject() -> String {
            (0..<(chance(25) ? Int.random(in: 20...60, using: &rng) : Int.random(in: 0...10, using: &rng))).map { _ in pick(RegexDifferentialTests.letters) }.joined()
        }
    }

    @Test(arguments: [2026, 7, 99, 12345] as [UInt64])
    func agreesWithNSRegularExpression(seed: UInt64) throws {
        var generator = Generator(rng: SplitMix(state: seed))
        var compared = 0, mismatches: [String] = []
        for _ in 0..<2000 {
            let pattern = generator.pattern()
            let asciiOnly = generator.asciiOnlyClasses
            let ours: LinearRegex
            do {
                ours = try LinearRegex(pattern)
            } catch {
                mismatches.append("\(pattern.debugDescription): we refused: \(error)")
                continue
            }
            guard let icu = try? NSRegularExpression(pattern: pattern) else { continue }
            for _ in 0..<16 {
                let subject = generator.subject()
                if asciiOnly && !subject.unicodeScalars.allSatisfy(\.isASCII) { continue }
                let expected = icu.firstMatch(in: subject, range: NSRange(subject.startIndex..., in: subject)) != nil
                compared += 1
                if ours.matches(subject) != expected {
                    mismatches.append("\(pattern.debugDescription) ~ \(subject.debugDescription): ICU \(expected)")
                }
                let nfaOnly = Array(subject.utf8).withUnsafeBytes { ours.matchCountingSteps($0, prefilter: false).matched }
                if nfaOnly != expected {
                    mismatches.append("\(pattern.debugDescription) ~ \(subject.debugDescription): ICU \(expected), NFA alone differs")
                }
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) mismatches, e.g.:\n\(mismatches.prefix(15).joined(separator: "\n"))")
        #expect(compared > 15_000)
        print("regex differential (seed \(seed)): \(compared) comparisons, \(mismatches.count) mismatches")
    }

    /// Where this engine differs from ICU on purpose (docs/regex.md), shown with the same harness.
    @Test func documentedDifferencesFromICU() throws {
        let cases: [(String, String, ours: Bool)] = [
            ("\\w", "é", false),          // ASCII classes (PCRE, RE2); ICU's are Unicode
            ("\\d", "٣", false),
            ("^.$", "\r", true),           // only \n ends a line; ICU's `.` also stops at \r
            ("(?i)ß", "SS", false),         // simple case folding only
            ("\\v", "\u{0B}", true),     // \v is vertical tab (PCRE: a class of vertical space)
        ]
        for (pattern, subject, ours) in cases {
            #expect(try LinearRegex(pattern).matches(subject) == ours, "\(pattern)")
            let icu = try NSRegularExpression(pattern: pattern)
            let theirs = icu.firstMatch(in: subject, range: NSRange(subject.startIndex..., in: subject)) != nil
            if pattern != "\\v" { #expect(theirs != ours, "\(pattern): ICU now agrees") }
        }
    }
}
