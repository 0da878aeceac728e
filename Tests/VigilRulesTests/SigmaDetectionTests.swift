import Testing
import VigilRules

/// A mapping for crafted rules: product `test` means dataset `test`, and fields map to themselves
/// (`unmapped_prefix: ""`) except `src` → `source.ip` and `both` → [a, b].
let testMapping = """
keywords: [message]
logsources:
  - product: test
    condition: { event.dataset: test }
    unmapped_prefix: ""
    fields: { src: source.ip, both: [a, b] }
"""

func sigma(_ detection: String, logsource: String = "product: test", extra: String = "",
           file: String = "test.yml") throws -> SigmaLoadResult {
    let mapping = try SigmaFieldMapping.parse(yaml: testMapping, file: "mapping.yaml")
    let text = """
    title: Test rule
    id: r1
    level: high
    tags: [attack.t1110]
    logsource:
      \(logsource)
    detection:
    \(detection.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }.joined(separator: "\n"))
    \(extra)
    """
    return SigmaLoader(mapping: mapping).load(yaml: text, file: file)
}

/// The detection part of the single compiled rule (the logsource condition removed).
func detection(_ text: String) throws -> Expression? {
    let result = try sigma(text)
    #expect(result.errors.isEmpty, "\(result.errors)")
    #expect(result.unsupported.isEmpty, "\(result.unsupported)")
    guard let rule = result.rules.first else { return nil }
    guard case .all(let parts) = rule.match, parts.first == dataset else { Issue.record("no logsource condition: \(rule.match)"); return nil }
    let rest = Array(parts.dropFirst())
    return rest.count == 1 ? rest[0] : .all(rest)
}

let dataset = Expression.predicate(Predicate(field: "event.dataset", op: .equals, values: [.string("test")], caseInsensitive: true))

func p(_ field: String, _ op: Operator, _ values: [Value], all: Bool = false, ci: Bool = true) -> Expression {
    .predicate(Predicate(field: field, op: op, values: values, matchAll: all, caseInsensitive: ci))
}

func s(_ values: String...) -> [Value] { values.map { .string($0) } }

@Suite struct SigmaDetectionTests {
    @Test func plainValuesAreCaseInsensitiveEqualsAndListsAreAnyOf() throws {
        #expect(try detection("sel:\n  f: Abc\ncondition: sel") == p("f", .equals, s("Abc")))
        #expect(try detection("sel:\n  f: [a, b]\ncondition: sel") == p("f", .equals, s("a", "b")))
        #expect(try detection("sel:\n  f: 5\n  g: true\ncondition: sel")
                == .all([p("f", .equals, [.number(5)], ci: false), p("g", .equals, [.bool(true)], ci: false)]))
        #expect(try detection("sel:\n  f: null\ncondition: sel") == .not(p("f", .exists, [], ci: false)))
        #expect(try detection("sel:\n  f: ''\ncondition: sel") == p("f", .equals, s("")))
    }

    @Test func wildcardsBecomePrefixSuffixContainsOrAnchoredRegex() throws {
        #expect(try detection("sel:\n  f: 'abc*'\ncondition: sel") == p("f", .prefix, s("abc")))
        #expect(try detection("sel:\n  f: '*abc'\ncondition: sel") == p("f", .suffix, s("abc")))
        #expect(try detection("sel:\n  f: '*abc*'\ncondition: sel") == p("f", .contains, s("abc")))
        #expect(try detection("sel:\n  f: '*'\ncondition: sel") == p("f", .exists, [], ci: false))
        #expect(try detection("sel:\n  f: 'a*b?c.d'\ncondition: sel") == p("f", .regex, s("^a.*b.c\\.d$")))
        #expect(try detection("sel:\n  f: 'a\\*b'\ncondition: sel") == p("f", .equals, s("a*b")))
        #expect(try detection("sel:\n  f: 'C:\\\\Windows\\x'\ncondition: sel") == p("f", .equals, s("C:\\Windows\\x")))
        // A list mixing forms: one predicate per operator.
        #expect(try detection("sel:\n  f: ['a*', 'b*', c]\ncondition: sel")
                == .any([p("f", .prefix, s("a", "b")), p("f", .equals, s("c"))]))
    }

    @Test func stringModifiers() throws {
        #expect(try detection("sel:\n  f|contains: x\ncondition: sel") == p("f", .contains, s("x")))
        #expect(try detection("sel:\n  f|startswith: x\ncondition: sel") == p("f", .prefix, s("x")))
        #expect(try detection("sel:\n  f|endswith: x\ncondition: sel") == p("f", .suffix, s("x")))
        #expect(try detection("sel:\n  f|contains: 'a*b'\ncondition: sel") == p("f", .regex, s("a.*b")))
        #expect(try detection("sel:\n  f|endswith: 'a?b'\ncondition: sel") == p("f", .regex, s("a.b$")))
        #expect(try detection("sel:\n  f|contains|all: [x, y]\ncondition: sel") == p("f", .contains, s("x", "y"), all: true))
        #expect(try detection("sel:\n  f|contains|cased: X\ncondition: sel") == p("f", .contains, s("X"), ci: false))
        #expect(try detection("sel:\n  f|cased: X\ncondition: sel") == p("f", .equals, s("X"), ci: false))
    }

    @Test func regexCidrNumericExists() throws {
        #expect(try detection("sel:\n  f|re: '^a+$'\ncondition: sel") == p("f", .regex, s("^a+$"), ci: false))
        #expect(try detection("sel:\n  f|re|i: 'a'\ncondition: sel") == p("f", .regex, s("a"), ci: true))
        #expect(try detection("sel:\n  f|re|m|s: 'a'\ncondition: sel") == p("f", .regex, s("(?ms)a"), ci: false))
        #expect(try detection("sel:\n  f|cidr: ['10.0.0.0/8', 'fe80::/10']\ncondition: sel")
                == p("f", .cidr, s("10.0.0.0/8", "fe80::/10"), ci: false))
        #expect(try detection("sel:\n  f|gt: 5\ncondition: sel") == p("f", .greaterThan, [.number(5)], ci: false))
        #expect(try detection("sel:\n  f|gte: 5\ncondition: sel") == p("f", .greaterOrEqual, [.number(5)], ci: false))
        #expect(try detection("sel:\n  f|lt: 5\ncondition: sel") == p("f", .lessThan, [.number(5)], ci: false))
        #expect(try detection("sel:\n  f|lte: 5\ncondition: sel") == p("f", .lessOrEqual, [.number(5)], ci: false))
        #expect(try detection("sel:\n  f|exists: true\ncondition: sel") == p("f", .exists, [], ci: false))
        #expect(try detection("sel:\n  f|exists: false\ncondition: sel") == .not(p("f", .exists, [], ci: false)))
    }

    @Test func base64AndWindash() throws {
        #expect(try detection("sel:\n  f|base64: 'abc'\ncondition: sel") == p("f", .equals, s("YWJj")))
        // "abc" at offsets 0, 1, 2 of the encoded data.
        #expect(try detection("sel:\n  f|base64offset|contains: 'abc'\ncondition: sel")
                == p("f", .contains, s("YWJj", "FiY", "hYm")))
        #expect(try detection("sel:\n  f|windash|contains: ' -x'\ncondition: sel")
                == p("f", .contains, s(" -x", " /x", " \u{2013}x", " \u{2014}x", " \u{2015}x")))
        // With `all`, every value needs one of its variants.
        #expect(try detection("sel:\n  f|windash|contains|all: ['-a', '-b']\ncondition: sel")
                == .all([p("f", .contains, s("-a", "/a", "\u{2013}a", "\u{2014}a", "\u{2015}a")),
                         p("f", .contains, s("-b", "/b", "\u{2013}b", "\u{2014}b", "\u{2015}b"))]))
    }

    @Test func mappedFieldsKeywordsAndListsOfMaps() throws {
        #expect(try detection("sel:\n  src: 1.2.3.4\ncondition: sel") == p("source.ip", .equals, s("1.2.3.4")))
        #expect(try detection("sel:\n  both: x\ncondition: sel") == .any([p("a", .equals, s("x")), p("b", .equals, s("x"))]))
        #expect(try detection("kw:\n  - foo\n  - 'ba*r'\ncondition: kw")
                == .any([p("message", .contains, s("foo")), p("message", .regex, s("ba.*r"))]))
        #expect(try detection("kw:\n  '|all':\n    - foo\n    - bar\ncondition: kw") == p("message", .contains, s("foo", "bar"), all: true))
        #expect(try detection("sel:\n  - f: 1\n  - g: x\ncondition: sel")
                == .any([p("f", .equals, [.number(1)], ci: false), p("g", .equals, s("x"))]))
    }

    @Test func unsupportedModifiersAreReportedPerRule() throws {
        for (modifier, construct) in [("utf16le", "modifier utf16le"), ("wide", "modifier wide"), ("expand", "modifier expand"),
                                      ("fieldref", "modifier fieldref"), ("bogus", "modifier bogus")] {
            let result = try sigma("sel:\n  f|\(modifier): x\ncondition: sel")
            #expect(result.rules.isEmpty)
            #expect(result.unsupported.map(\.construct) == [construct])
            #expect(result.unsupported.first?.rule == "r1")
            #expect(result.unsupported.first?.origin.line == 9)
        }
        let wildBase64 = try sigma("sel:\n  f|base64: 'a*'\ncondition: sel")
        #expect(wildBase64.unsupported.map(\.construct) == ["modifier base64 with wildcards"])
    }

    @Test func metadata() throws {
        let rule = try #require(try sigma("sel:\n  f: x\ncondition: sel").rules.first)
        #expect(rule.id == "r1")
        #expect(rule.title == "Test rule")
        #expect(rule.severity == .high)
        #expect(rule.score == 75)
        #expect(rule.tags == ["attack.t1110"])
        #expect(rule.origin.file == "test.yml")
        #expect(rule.origin.line == 1)
    }
}
