import Testing
import VigilCore
import VigilRules

/// Every operator on every kind of field value, case folding, arrays, absent and null fields,
/// `all` values, and boolean structure.
@Suite struct MatcherTests {
    static let event: Event = {
        var e = Event()
        e[.sourceIP] = .ip(IPAddress("10.1.2.3")!)
        e[.destinationIP] = .ip(IPAddress("2001:db8::7")!)
        e[.destinationPort] = .int(22)
        e[.userName] = "Administrator"
        e[.urlOriginal] = "/Wp-Login.php?x=1"
        e["user_agent.original"] = "Mozilla/5.0 (Ünïcode; SQLMAP)"
        e["network.bytes"] = .int(123_456)
        e["tls.client.ja3"] = "e7d705a3286e19ea42f587b344ee6865"
        e["event.category"] = .array(["network", "authentication"])
        e["process.exit_code"] = .null
        e["vigil.flag"] = .bool(true)
        e["vigil.ratio"] = .float(0.25)
        return e
    }()

    func m(_ field: String, _ op: Operator, _ values: [Value], all: Bool = false, ci: Bool = false) throws -> Bool {
        try CompiledExpression(.predicate(Predicate(field: field, op: op, values: values, matchAll: all, caseInsensitive: ci)))
            .matches(Self.event)
    }

    @Test func equalsOnEveryKind() throws {
        #expect(try m("user.name", .equals, [.string("Administrator")]))
        #expect(try !m("user.name", .equals, [.string("administrator")]))
        #expect(try m("user.name", .equals, [.string("administrator")], ci: true))
        #expect(try m("user.name", .equals, [.string("root"), .string("ADMINISTRATOR")], ci: true))
        #expect(try m("destination.port", .equals, [.number(22)]))
        #expect(try m("destination.port", .equals, [.string("22")]))
        #expect(try !m("destination.port", .equals, [.string("23")]))
        #expect(try m("source.ip", .equals, [.string("10.1.2.3")]))
        #expect(try m("destination.ip", .equals, [.string("2001:DB8:0::7")]))
        #expect(try m("vigil.flag", .equals, [.bool(true)]))
        #expect(try m("vigil.flag", .equals, [.string("true")]))
        #expect(try m("vigil.ratio", .equals, [.number(0.25)]))
        #expect(try m("event.category", .equals, [.string("authentication")]))
        #expect(try m("process.exit_code", .equals, [.null]))
        #expect(try m("no.such.field", .equals, [.null]))
        #expect(try !m("user.name", .equals, [.null]))
    }

    @Test func textOperators() throws {
        #expect(try m("url.original", .prefix, [.string("/wp-")], ci: true))
        #expect(try !m("url.original", .prefix, [.string("/wp-")]))
        #expect(try m("url.original", .suffix, [.string("x=1")]))
        #expect(try m("url.original", .contains, [.string("LOGIN")], ci: true))
        #expect(try m("url.original", .contains, [.string("login"), .string("php")], all: true, ci: true))
        #expect(try !m("url.original", .contains, [.string("login"), .string("admin")], all: true, ci: true))
        // Non-ASCII text folds as Unicode.
        #expect(try m("user_agent.original", .contains, [.string("ÜNÏCODE")], ci: true))
        #expect(try m("user_agent.original", .contains, [.string("sqlmap")], ci: true))
        #expect(try !m("user_agent.original", .contains, [.string("sqlmap")]))
        // Text operators on numbers and addresses compare their text.
        #expect(try m("source.ip", .prefix, [.string("10.1.")]))
        #expect(try m("network.bytes", .suffix, [.string("456")]))
        #expect(try m("event.category", .prefix, [.string("auth")]))
    }

    @Test func numbersNetworksExistence() throws {
        #expect(try m("network.bytes", .greaterThan, [.number(100_000)]))
        #expect(try !m("network.bytes", .lessThan, [.number(100_000)]))
        #expect(try m("destination.port", .lessOrEqual, [.string("22")]))
        #expect(try m("destination.port", .greaterOrEqual, [.number(22)]))
        #expect(try m("source.ip", .cidr, [.string("10.0.0.0/8")]))
        #expect(try !m("source.ip", .cidr, [.string("192.168.0.0/16")]))
        #expect(try m("destination.ip", .cidr, [.string("2001:db8::/32")]))
        #expect(try !m("destination.ip", .cidr, [.string("10.0.0.0/8")]))
        #expect(try m("source.ip", .cidr, [.string("10.1.2.3")]))
        #expect(try m("user.name", .exists, []))
        #expect(try !m("process.exit_code", .exists, []))
        #expect(try !m("no.such.field", .exists, []))
    }

    @Test func regularExpressions() throws {
        #expect(try m("url.original", .regex, [.string(#"login\.php\?x=\d+$"#)], ci: true))
        #expect(try !m("url.original", .regex, [.string(#"^/wp-login"#)]))
        #expect(try m("url.original", .regex, [.string(#"^/wp-login"#)], ci: true))
        #expect(try m("destination.port", .regex, [.string("^2[0-9]$")]))
        #expect(try m("event.category", .regex, [.string("^auth")]))
        #expect(throws: RuleError.self) { try CompiledExpression(.predicate(Predicate(field: "x", op: .regex, values: [.string("(a)\\1")]))) }
    }

    @Test func booleanStructure() throws {
        let admin = Expression.predicate(Predicate(field: "user.name", op: .equals, values: [.string("administrator")], caseInsensitive: true))
        let ssh = Expression.predicate(Predicate(field: "destination.port", op: .equals, values: [.number(22)]))
        let web = Expression.predicate(Predicate(field: "destination.port", op: .equals, values: [.number(80)]))
        #expect(try CompiledExpression(.all([admin, ssh])).matches(Self.event))
        #expect(try !CompiledExpression(.all([admin, web])).matches(Self.event))
        #expect(try CompiledExpression(.any([web, ssh])).matches(Self.event))
        #expect(try CompiledExpression(.not(web)).matches(Self.event))
        #expect(try CompiledExpression(.all([])).matches(Self.event))
        #expect(try !CompiledExpression(.any([])).matches(Self.event))
        #expect(try CompiledExpression(.constant(true)).matches(Event()))
    }

    @Test func badValuesAreCompileErrors() {
        #expect(throws: RuleError.self) { try CompiledExpression(.predicate(Predicate(field: "source.ip", op: .cidr, values: [.string("10.0.0.0/33")]))) }
        #expect(throws: RuleError.self) { try CompiledExpression(.predicate(Predicate(field: "x", op: .greaterThan, values: [.string("many")]))) }
        #expect(throws: RuleError.self) { try CompiledExpression(.predicate(Predicate(field: "x", op: .equals, values: []))) }
        #expect(throws: RuleError.self) { try CompiledExpression(.predicate(Predicate(field: "x", op: .inList, values: [.string("bad-ips")]))) }
    }
}
