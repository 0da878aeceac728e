import Testing
import VigilRules
import VigilStream

@Suite struct SigmaConditionTests {
    let selections = "a:\n  f: 1\nb:\n  g: 2\nsel_x:\n  h: 3\nsel_y:\n  i: 4\n_hidden:\n  j: 5\n"
    var a: Expression { p("f", .equals, [.number(1)], ci: false) }
    var b: Expression { p("g", .equals, [.number(2)], ci: false) }
    var x: Expression { p("h", .equals, [.number(3)], ci: false) }
    var y: Expression { p("i", .equals, [.number(4)], ci: false) }
    var hidden: Expression { p("j", .equals, [.number(5)], ci: false) }

    func compile(_ condition: String) throws -> Expression? {
        try detection(selections + "condition: \(condition)")
    }

    @Test func precedenceIsNotThenAndThenOr() throws {
        #expect(try compile("a or b and not sel_x") == .any([a, .all([b, .not(x)])]))
        #expect(try compile("(a or b) and sel_x") == .all([.any([a, b]), x]))
        #expect(try compile("not (a and b)") == .not(.all([a, b])))
        #expect(try compile("not not a") == .not(.not(a)))
        #expect(try compile("a AND b") == .all([a, b]))
    }

    @Test func oneOfAndAllOfPatternsAndThem() throws {
        #expect(try compile("1 of sel_*") == .any([x, y]))
        #expect(try compile("all of sel_*") == .all([x, y]))
        #expect(try compile("1 of them") == .any([a, b, x, y]))
        #expect(try compile("all of them") == .all([a, b, x, y]))
        #expect(try compile("a and not 1 of sel*") == .all([a, .not(.any([x, y]))]))
        #expect(try compile("1 of _hid*") == hidden)
    }

    @Test func conditionListsAreAnyOf() throws {
        #expect(try detection(selections + "condition:\n  - a\n  - b") == .any([a, b]))
    }

    @Test func unknownIdentifiersAndSyntaxErrorsArePositioned() throws {
        let result = try sigma(selections + "condition: a and sel_z")
        #expect(result.rules.isEmpty)
        let error = try #require(result.errors.first)
        #expect(error.code == .invalidCondition)
        // `detection:` is line 7; the condition is its 11th line; "sel_z" at offset 6 of the value at column 14.
        #expect(error.line == 18)
        #expect(error.column == 20)
        #expect(error.message.contains("unknown search identifier 'sel_z'"))
        #expect(error.message.contains("did you mean"))
        for bad in ["a and", "(a or b", "a b", "1 of nothing*", "2 of sel_*", "a or )"] {
            let r = try sigma(selections + "condition: '\(bad)'")
            #expect(r.rules.isEmpty && r.errors.first?.code == .invalidCondition, "\(bad)")
        }
    }

    @Test func oldAggregationsBecomeThresholdOrDistinct() throws {
        let threshold = try sigma(selections + "timeframe: 10m\ncondition: a | count() by src > 5")
        let rule = try #require(threshold.rules.first, "\(threshold.errors) \(threshold.unsupported)")
        #expect(rule.aggregation == .threshold(groupBy: ["source.ip"], window: .hopping(size: 600_000_000_000, advance: 120_000_000_000),
                                               minimum: 6))
        let distinct = try sigma(selections + "timeframe: 1m\ncondition: a | count(g) by f >= 3")
        #expect(distinct.rules.first?.aggregation == .distinct(field: "g", groupBy: ["f"],
                                                               window: .hopping(size: 60_000_000_000, advance: 12_000_000_000),
                                                               minimum: 3))
        let less = try sigma(selections + "timeframe: 1m\ncondition: a | count() < 3")
        #expect(less.rules.isEmpty && less.unsupported.map(\.construct) == ["condition aggregation <"])
        let noWindow = try sigma(selections + "condition: a | count() > 3")
        #expect(noWindow.unsupported.map(\.construct) == ["condition aggregation without timeframe"])
        let near = try sigma(selections + "condition: a | near b")
        #expect(near.rules.isEmpty && near.unsupported.map(\.construct) == ["condition aggregation near"])
    }
}
