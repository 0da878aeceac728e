import Testing
import VigilRules

/// A case of the pattern table: `flags` among i, s, m passed to the initializer.
struct RegexCase: CustomStringConvertible, Sendable {
    let pattern: String
    let subject: String
    let expected: Bool
    let flags: String
    init(_ pattern: String, _ subject: String, _ expected: Bool, flags: String = "") {
        self.pattern = pattern
        self.subject = subject
        self.expected = expected
        self.flags = flags
    }
    var description: String { "/\(pattern)/\(flags) ~ \(subject.debugDescription)" }
}

let regexTable: [RegexCase] = [
    // Literals, search semantics, escapes of metacharacters.
    .init("abc", "xxabcxx", true), .init("abc", "xxabxcx", false), .init("", "", true), .init("", "abc", true),
    .init("a\\.b", "a.b", true), .init("a\\.b", "axb", false), .init("\\(\\)\\[\\]\\{\\}\\*\\+\\?\\|\\^\\$\\\\", "()[]{}*+?|^$\\", true),
    .init("a{", "a{", true), .init("a{x}", "a{x}", true), .init("a{1,2", "a{1,2", true), .init("{", "{", true),
    // Dot.
    .init("a.c", "abc", true), .init("a.c", "a\nc", false), .init("a.c", "a\nc", true, flags: "s"), .init("(?s)a.c", "a\nc", true),
    .init("^.$", "é", true), .init("^..$", "é", false), .init("^.$", "😀", true), .init("^.$", "\r", true),
    .init("a\\Nc", "abc", true), .init("a\\Nc", "a\nc", false, flags: "s"),
    // Alternation, groups.
    .init("cat|dog", "hotdog", true), .init("cat|dog", "cow", false), .init("^(cat|dog)s?$", "cats", true),
    .init("^(?:cat|dog)s?$", "catss", false), .init("(?<name>ab)+c", "ababc", true), .init("(?P<n>x)(?'m'y)", "xy", true),
    .init("a(|b)c", "ac", true), .init("a()c", "ac", true), .init("(a|)+b", "b", true),
    // Quantifiers, lazy forms.
    .init("^a*$", "", true), .init("^a+$", "", false), .init("^a?b$", "b", true), .init("^a{3}$", "aaa", true),
    .init("^a{3}$", "aa", false), .init("^a{2,}$", "aaaaa", true), .init("^a{2,3}$", "aaaa", false), .init("^a{0}$", "", true),
    .init("^a{0,1}b$", "ab", true), .init("^a*?b+?c??$", "aabb", true), .init("^a{2,3}?$", "aaa", true),
    .init("^(ab){2}$", "abab", true), .init("^(a|b)*c$", "abbac", true),
    // Classes.
    .init("[abc]", "xxbxx", true), .init("[abc]", "xyz", false), .init("[^abc]", "abc", false), .init("[^abc]", "abcd", true),
    .init("^[a-c]+$", "abcabc", true), .init("^[a-c]+$", "abcd", false), .init("[]a]", "]", true), .init("[^]a]", "]", false),
    .init("[a-]", "-", true), .init("[-a]", "-", true), .init("[\\d-z]", "-", true), .init("[\\]]", "]", true),
    .init("[\\\\]", "\\", true), .init("[.]", "x", false), .init("[\\n]", "\n", true), .init("[\\x41-\\x43]", "B", true),
    .init("^[[:alpha:]]+$", "abcXYZ", true), .init("^[[:digit:][:space:]]+$", "1 2\t3", true), .init("[[:^alpha:]]", "abc", false),
    .init("[[:punct:]]", "a!", true), .init("^[[:xdigit:]]+$", "deadBEEF09", true), .init("[[:upper:]]", "abc", false),
    .init("[[:upper:]]", "abc", true, flags: "i"), .init("[^a]", "é", true), .init("^[^a]$", "é", true), .init("^[é]$", "é", true),
    .init("^[à-ÿ]+$", "éèü", true), .init("[ж-я]", "ы", true), .init("[[]", "[", true), .init("[a[]", "[", true),
    // Class escapes.
    .init("\\d+", "abc123", true), .init("^\\d+$", "12a", false), .init("\\D", "123", false), .init("\\w+", "!!a!!", true),
    .init("^\\W+$", "!@#", true), .init("\\s", "a b", true), .init("^\\S+$", "ab c", false), .init("\\d", "٣", false),
    .init("\\w", "é", false), .init("\\W", "é", true), .init("^\\h$", "\t", true), .init("\\H", " ", false),
    .init("^\\R$", "\r\n", true), .init("^\\R$", "\n", true),
    // Character escapes.
    .init("\\t\\n\\r\\f\\v", "\t\n\r\u{0C}\u{0B}", true), .init("\\x41\\x{42}\\u0043", "ABC", true), .init("\\x{e9}", "é", true),
    .init("\\u00e9", "é", true), .init("\\0", "\u{0}", true), .init("\\x{1F600}", "😀", true), .init("\\cA", "\u{01}", true),
    .init("\\e", "\u{1B}", true), .init("\\Qa.b\\E+", "a.bbb", true), .init("\\Qa.b*\\E+", "a.b**", true), .init("\\Qa.b*\\E+", "a.bbb", false), .init("\\Qa.b\\E", "axb", false), .init("a\\Kb", "ab", true),
    .init("\\/", "/", true), .init("\\-", "-", true), .init("\\:", ":", true),
    // Anchors.
    .init("^abc", "abcd", true), .init("^abc", "xabc", false), .init("abc$", "xabc", true), .init("abc$", "abc\n", true),
    .init("abc$", "abc\nx", false), .init("abc$", "abc\nx", true, flags: "m"), .init("^x", "abc\nx", true, flags: "m"),
    .init("(?m)^x", "abc\nx", true), .init("(?m)\\n^", "a\n", false), .init("(?m)$\\n", "a\n", true), .init("\\Aabc", "abc", true),
    .init("\\Aabc", "a\nabc", false, flags: "m"), .init("abc\\z", "abc\n", false), .init("abc\\Z", "abc\n", true),
    .init("abc\\Z", "abc\n\n", false), .init("^$", "", true), .init("^$", "\n", true), .init("x^", "x", false), .init("$x", "x", false),
    .init("a|^b", "cb", false), .init("a|^b", "bc", true),
    // Word boundaries.
    .init("\\bfoo\\b", "a foo b", true), .init("\\bfoo\\b", "afoob", false), .init("\\Bfoo\\B", "afoob", true),
    .init("\\bfoo", "foo", true), .init("foo\\b", "foo", true), .init("\\b", "", false), .init("\\B", "", true),
    .init("\\bé", " é", false), .init("a\\b", "aé", true),
    // Case-insensitive.
    .init("abc", "ABC", true, flags: "i"), .init("(?i)abc", "aBc", true), .init("a(?i)bc", "aBC", true), .init("a(?i)bc", "ABC", false),
    .init("(?i:a)b", "Ab", true), .init("(?i:a)b", "AB", false), .init("(?i)a(?-i:b)", "AB", false), .init("(?i)a(?-i)b", "Ab", true),
    .init("(?i)[a-c]+", "ABC", true), .init("(?i)[^a]", "A", false), .init("(?i)é", "É", true), .init("(?i)ÿ", "Ÿ", true),
    .init("(?i)straße", "STRASSE", false), .init("(?i)ā", "Ā", true), .init("(?i)ő", "Ő", true), .init("(?i)ΣΑΣ", "σας", true),
    .init("(?i)ω", "Ω", true), .init("(?i)привет", "ПРИВЕТ", true), .init("(?i)ё", "Ё", true), .init("(?i)ѣ", "Ѣ", true),
    .init("(?i)k", "\u{212A}", true), .init("(?i)s", "ſ", true), .init("(?i)µ", "Μ", true), .init("(?i)[k-m]", "\u{212A}", true),
    .init("(?i)x(?i)y|z", "XYZ", true), .init("(?i)[\\W]", "K", false), .init("(?i)[\\W]", "\u{212A}", true), .init("(?i)\\W", "k", false), .init("(a(?i)b)c", "aBC", false), .init("(?i)a|b", "B", true),
    .init("(?i)powershell.*-enc", "POWERSHELL.EXE -EncodedCommand", true), .init("(?i)cmd\\.exe", "C:\\WINDOWS\\CMD.EXE /c", true),
    .init("(?i)cmd\\.exe", "cmd_exe", false), .init("(?i)\\x{e9}", "É", true),
    // Extended mode.
    .init("(?x) a b c # comment\n d", "abcd", true), .init("(?x)a\\ b", "a b", true), .init("(?x)[ ]", " ", true),
    .init("(?x)a +", "aaa", true), .init("(?x)a#b\nc", "ac", true), .init("(?#note)abc", "abc", true),
    // Flags at the start and scoped.
    .init("(?s:.)", "\n", true), .init("(?s-i:a.)", "a\n", true), .init("(?im)^B$", "a\nb\nc", true), .init("(?^:a)", "a", true),
    // UTF-8 and invalid bytes are exercised in RegexBytesTests.
]

@Suite struct RegexTableTests {
    @Test(arguments: regexTable)
    func matchesAsExpected(_ c: RegexCase) throws {
        let re = try LinearRegex(c.pattern, caseInsensitive: c.flags.contains("i"), dotMatchesNewline: c.flags.contains("s"),
                                 multiline: c.flags.contains("m"))
        #expect(re.matches(c.subject) == c.expected, "\(c)")
        // The NFA alone agrees with the prefiltered search.
        let nfaOnly = Array(c.subject.utf8).withUnsafeBytes { re.matchCountingSteps($0, prefilter: false).matched }
        #expect(nfaOnly == c.expected, "\(c) without prefilter")
        #expect(re.pattern == c.pattern)
    }
}

@Suite struct RegexErrorTests {
    static let unsupported: [(String, String)] = [
        ("(a)\\1", "backreference"), ("\\k<n>", "backreference"), ("(?P=n)", "backreference"), ("\\g{1}", "backreference"),
        ("\\g1", "backreference"), ("\\k'n'", "backreference"),
        ("(?=a)", "lookahead"), ("a(?!b)", "lookahead"), ("(?<=a)b", "lookbehind"), ("(?<!a)b", "lookbehind"),
        ("(?>a+)b", "atomic group"), ("a*+", "possessive quantifier"), ("a++b", "possessive quantifier"),
        ("a?+", "possessive quantifier"), ("a{2}+", "possessive quantifier"), ("(?(1)a|b)", "conditional"),
        ("(?(<n>)a)", "conditional"), ("(?R)", "recursion"), ("(a)(?1)", "recursion"), ("(?&n)", "recursion"),
        ("(?P>n)", "recursion"), ("\\g<1>", "recursion"), ("(?-1)", "recursion"), ("(?+1)", "recursion"),
        ("\\Ga", "\\G"), ("\\p{L}", "unicode property"), ("\\P{Lu}", "unicode property"), ("\\pL", "unicode property"),
        ("[\\p{L}a]", "unicode property"), ("(?|a)", "branch reset"), ("(?C1)a", "callout"), ("(*SKIP)a", "backtracking verb"),
        ("(*UTF)a", "backtracking verb"), ("\\X", "\\X"), ("\\C", "\\C"), ("[[.a.]]", "collating element"),
        ("\\N{U+0041}", "\\N{name}"), ("[\\Qa\\E]", "\\Q in brackets"),
    ]

    @Test func unsupportedConstructsAreNamed() {
        for (pattern, construct) in Self.unsupported {
            #expect(throws: RegexError.self, "\(pattern)") { try LinearRegex(pattern) }
            do {
                _ = try LinearRegex(pattern)
            } catch {
                #expect(error.construct == construct, "\(pattern): \(error)")
                #expect(error.isUnsupported, "\(pattern)")
                #expect(error.description.contains(construct), "\(pattern)")
            }
        }
    }

    @Test func offsetsPointAtTheConstruct() {
        #expect(throws: RegexError(kind: .unsupported, construct: "lookbehind", offset: 3,
                                   message: "lookbehind assertions (?<= and (?<! are not supported")) {
            try LinearRegex("abc(?<=x)")
        }
        do { _ = try LinearRegex("é(a)\\1") } catch { #expect(error.offset == 4) }
    }

    static let syntaxErrors = ["(", ")", "a)", "[a", "[", "a**", "*a", "+", "?", "a{3,2}", "\\", "(?<1a>x)", "(?<>x)",
                               "[z-a]", "\\y", "(?z)", "(?", "(?i", "(?#x", "a|*", "[a-\\d]", "[[:nope:]]", "\\x{110000}",
                               "\\x{D800}", "\\u12", "\\c", "(?i-)-s)", "x{2}{3}", "a?*", "\\o{9}", "(?P<n"]

    @Test func syntaxErrorsAreNotUnsupported() {
        for pattern in Self.syntaxErrors {
            do {
                _ = try LinearRegex(pattern)
                Issue.record("\(pattern.debugDescription) compiled")
            } catch {
                #expect(error.kind == .syntax, "\(pattern.debugDescription): \(error)")
                #expect(!error.isUnsupported)
                #expect(error.construct == "syntax")
            }
        }
    }

    @Test func limitsAreEnforced() {
        for pattern in ["a{1001}", "a{0,1001}", "(a{1000}){1000}", "((a{100}){100}){100}", "[a-z]{1000}[a-z]{1000}[a-z]{1000}"
                        + String(repeating: "x{1000}", count: 20)] {
            do {
                _ = try LinearRegex(pattern)
                Issue.record("\(pattern) compiled")
            } catch {
                #expect(error.kind == .tooLarge && error.construct == "too large", "\(pattern): \(error)")
            }
        }
        #expect(throws: RegexError.self) { try LinearRegex(String(repeating: "a", count: 65_537)) }
        #expect(throws: RegexError.self) {
            try LinearRegex(String(repeating: "(", count: 300) + String(repeating: ")", count: 300))
        }
        // Just inside the limits.
        #expect(throws: Never.self) { try LinearRegex("a{1000}") }
        #expect(throws: Never.self) { try LinearRegex(String(repeating: "a", count: 19_000)) }
        #expect(throws: Never.self) { try LinearRegex(String(repeating: "(", count: 150) + "a" + String(repeating: ")", count: 150)) }
        let longLiteral = String(repeating: "ab", count: 9000)
        let re = try? LinearRegex(longLiteral)
        #expect(re?.matches("x" + longLiteral + "y") == true)
    }
}

/// Deterministic pseudo-random numbers (SplitMix64) so failures reproduce.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite struct RegexBytesTests {
    func match(_ re: LinearRegex, _ bytes: [UInt8]) -> Bool { bytes.withUnsafeBytes { re.matches($0) } }

    @Test func invalidBytesMatchOnlyDotAndNegatedClasses() throws {
        let invalid: [[UInt8]] = [[0xFF], [0x80], [0xC0, 0x80], [0xE2, 0x28], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82]]
        for bytes in invalid {
            // Every byte is one unit.
            let dots = "^" + String(repeating: ".", count: bytes.count) + "$"
            #expect(match(try LinearRegex(dots), bytes), "\(bytes)")
            #expect(match(try LinearRegex("^[^a]+$"), bytes), "\(bytes)")
            #expect(match(try LinearRegex("^\\D+$"), bytes), "\(bytes)")
            #expect(!match(try LinearRegex("^[\\x{0}-\\x{10FFFF}]*$"), bytes), "\(bytes)")
            #expect(!match(try LinearRegex("\\w|\\d|\\s"), bytes), "\(bytes)")
        }
        // A valid sequence after an invalid byte is still a code point.
        #expect(match(try LinearRegex("^.é$"), [0xFF, 0xC3, 0xA9]))
        #expect(match(try LinearRegex("é"), [0xE2, 0xC3, 0xA9]))
        #expect(match(try LinearRegex("a.b"), [0x61, 0xF0, 0x62]))
        #expect(!match(try LinearRegex("^.$"), [0xC3, 0xA9, 0xA9]))
    }

    @Test func randomBytesAsPatternsNeverTrap() {
        var rng = SplitMix(state: 7)
        let alphabet = Array("()[]{}|*+?.^$\\-:,<>=!#'PpgkQEdDwWsSbBAzZxu0123456789aéiIsmx-".utf8) + [0xFF, 0x00, 0x0A]
        var compiled = 0
        for _ in 0..<4000 {
            let length = Int.random(in: 0...24, using: &rng)
            let bytes = (0..<length).map { _ in Bool.random(using: &rng) ? alphabet.randomElement(using: &rng)! : UInt8.random(in: 0...255, using: &rng) }
            let pattern = String(decoding: bytes, as: UTF8.self)
            guard let re = try? LinearRegex(pattern, caseInsensitive: Bool.random(using: &rng)) else { continue }
            compiled += 1
            let subject = (0..<Int.random(in: 0...40, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let (matched, steps) = subject.withUnsafeBytes { re.matchCountingSteps($0, prefilter: false) }
            #expect(steps <= 2 * re.instructionCount * (subject.count + 1))
            #expect(subject.withUnsafeBytes { re.matches($0) } == matched, "\(pattern.debugDescription)")
        }
        #expect(compiled > 100)
    }
}

@Suite struct RegexComplexityTests {
    /// Each pattern on a 10,000+ byte input that makes backtracking engines explode.
    static let adversarial: [(String, String, Bool)] = [
        ("(a?){30}a{30}", String(repeating: String(repeating: "a", count: 29) + "b", count: 400), false),
        ("(a?){30}a{30}", String(repeating: "a", count: 10_000), true),
        ("(a*)*b", String(repeating: "a", count: 12_000), false),
        ("(x+x+)+y", String(repeating: "x", count: 12_000), false),
        ("^(a+)+$", String(repeating: "a", count: 12_000) + "!", false),
        ("(a|aa)*c", String(repeating: "a", count: 12_000), false),
        ("(.*a){20}", String(repeating: "a", count: 19) + String(repeating: "b", count: 12_000), false),
        ("(\\w+\\s?)*$", String(repeating: "word ", count: 2_500) + "!", true),
        ("^(([a-z])+.)+[A-Z]([a-z])+$", String(repeating: "aaaaaaaaaa", count: 1_200) + "!", false),
        ("(?i)(a|b|ab)*(ba){10}x", String(repeating: "ab", count: 6_000), false),
    ]

    @Test func adversarialPatternsStayWithinTheStepBound() throws {
        for (pattern, subject, expected) in Self.adversarial {
            let re = try LinearRegex(pattern)
            for prefilter in [true, false] {
                let (matched, steps) = Array(subject.utf8).withUnsafeBytes { re.matchCountingSteps($0, prefilter: prefilter) }
                #expect(matched == expected, "\(pattern)")
                let bound = 2 * re.instructionCount * (subject.utf8.count + 1)
                #expect(steps <= bound, "\(pattern): \(steps) steps > \(bound)")
            }
        }
    }

    @Test func benchmarkRunsEveryDefaultPattern() {
        let results = RegexBenchmark.run(lineCount: 400, rounds: 1)
        #expect(results.count == RegexBenchmark.defaultPatterns.count)
        #expect(results.first { $0.pattern == "cmd\\.exe" }?.matched == 100)
        for result in results { print("regex bench (debug build, not a figure): \(result)") }
    }

    @Test func prefilterRejectsWithoutRunningTheNFA() throws {
        let subject = Array(String(repeating: "the brown dog sleeps on the mat 123 ", count: 100).utf8)
        for pattern in ["(x+x+)+y", "cmd\\.exe", "(?i)powershell.*-enc", "^abc", "[0-9]{4}-[0-9]{2}"] {
            let re = try LinearRegex(pattern)
            let (matched, steps) = subject.withUnsafeBytes { re.matchCountingSteps($0) }
            #expect(!matched)
            #expect(steps <= 4 * re.instructionCount, "\(pattern): \(steps) steps (\(re.prefilterSummary))")
        }
    }
}
