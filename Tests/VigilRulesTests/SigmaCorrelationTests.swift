import Testing
import VigilCore
import VigilRules
import VigilStream
import VigilTestSupport

@Suite struct SigmaCorrelationTests {
    let mapping = """
    logsources:
      - product: linux
        service: sshd
        condition: { process.name: sshd }
        fields: { user: user.name, ip: source.ip }
        unmapped_prefix: ""
      - category: webserver
        condition: { event.dataset: apache.access }
        fields: { c-ip: source.ip, cs-method: http.request.method }
    """

    let base = """
    title: Failed SSH login
    id: 11111111-0000-0000-0000-000000000001
    name: ssh_failed
    logsource: { product: linux, service: sshd }
    detection:
      sel: { event.outcome: failure }
      condition: sel
    ---
    title: Successful SSH login
    id: 11111111-0000-0000-0000-000000000002
    name: ssh_ok
    logsource: { product: linux, service: sshd }
    detection:
      sel: { event.outcome: success }
      condition: sel
    ---
    title: Web POST
    name: web_post
    logsource: { category: webserver }
    detection:
      sel: { cs-method: POST }
      condition: sel
    """

    func load(_ correlation: String) throws -> SigmaLoadResult {
        let loader = SigmaLoader(mapping: try SigmaFieldMapping.parse(yaml: mapping, file: "m.yaml"))
        return loader.load(yaml: base + "\n---\n" + correlation, file: "c.yml")
    }

    var failed: Expression {
        .all([p("process.name", .equals, s("sshd")), p("event.outcome", .equals, s("failure"))])
    }
    var succeeded: Expression {
        .all([p("process.name", .equals, s("sshd")), p("event.outcome", .equals, s("success"))])
    }

    @Test func eventCountIsAThresholdAndMutesItsRules() throws {
        let result = try load("""
        title: Brute force
        id: c1
        level: high
        correlation:
          type: event_count
          rules: [ssh_failed]
          group-by: [ip, user]
          timespan: 5m
          condition: { gte: 10 }
        """)
        #expect(result.errors.isEmpty && result.unsupported.isEmpty, "\(result.errors) \(result.unsupported)")
        let rule = try #require(result.rules.first { $0.id == "c1" })
        #expect(rule.match == failed)
        #expect(rule.aggregation == .threshold(groupBy: ["source.ip", "user.name"],
                                               window: .hopping(size: 300_000_000_000, advance: 60_000_000_000), minimum: 10))
        #expect(result.mutedRuleIDs == ["11111111-0000-0000-0000-000000000001"])
        #expect(!result.alertingRules.contains { $0.id == "11111111-0000-0000-0000-000000000001" })
        #expect(result.alertingRules.contains { $0.id == "11111111-0000-0000-0000-000000000002" })
    }

    @Test func valueCountIsDistinctAndGtAddsOne() throws {
        let result = try load("""
        title: Spraying
        id: c2
        correlation:
          type: value_count
          rules: [11111111-0000-0000-0000-000000000001]
          group-by: [ip]
          timespan: 1h
          condition: { gt: 20, field: user }
          generate: true
        """)
        let rule = try #require(result.rules.first { $0.id == "c2" }, "\(result.errors) \(result.unsupported)")
        #expect(rule.aggregation == .distinct(field: "user.name", groupBy: ["source.ip"],
                                              window: .hopping(size: 3_600_000_000_000, advance: 720_000_000_000), minimum: 21))
        #expect(result.mutedRuleIDs.isEmpty)
    }

    @Test func temporalAndOrderedAreSequencesWithAliases() throws {
        for (type, ordered) in [("temporal", false), ("temporal_ordered", true)] {
            let result = try load("""
            title: Success after failures
            id: c3
            correlation:
              type: \(type)
              rules: [ssh_failed, ssh_ok]
              group-by: [address]
              timespan: 10m
              aliases:
                address: { ssh_failed: ip, ssh_ok: ip }
            """)
            let rule = try #require(result.rules.first { $0.id == "c3" }, "\(result.errors) \(result.unsupported)")
            #expect(rule.aggregation == .sequence(steps: [SequenceStep(name: "ssh_failed", match: failed),
                                                          SequenceStep(name: "ssh_ok", match: succeeded)],
                                                  groupBy: ["source.ip"], within: 600_000_000_000, ordered: ordered))
            #expect(rule.match == .any([failed, succeeded]))
        }
    }

    @Test func unsupportedCorrelationsAreReported() throws {
        let differentFields = try load("""
        title: Mixed
        id: c4
        correlation:
          type: temporal
          rules: [ssh_failed, web_post]
          group-by: [who]
          timespan: 10m
          aliases:
            who: { ssh_failed: user, web_post: c-ip }
        """)
        // Aliases to different fields are supported: each referenced rule keeps its own field.
        #expect(differentFields.unsupported.isEmpty, "\(differentFields.unsupported)")
        let mixed = try #require(differentFields.rules.first { $0.id == "c4" })
        #expect(mixed.keyAliases.map(\.groupBy) == [["user.name"], ["source.ip"]])
        let lessThan = try load("""
        title: Too few
        id: c5
        correlation: { type: event_count, rules: [ssh_ok], timespan: 1h, condition: { lt: 3 } }
        """)
        #expect(lessThan.unsupported.map(\.construct) == ["correlation condition lt"])
        let sum = try load("""
        title: Sum
        id: c6
        correlation: { type: value_sum, rules: [ssh_ok], timespan: 1h, condition: { gte: 3, field: user } }
        """)
        #expect(sum.unsupported.map(\.construct) == ["correlation type value_sum"])
        let unknown = try load("""
        title: Unknown
        id: c7
        correlation: { type: event_count, rules: [nope], timespan: 1h, condition: { gte: 3 } }
        """)
        #expect(unknown.errors.first?.code == .unknownReference)
    }

    @Test func filtersAreAndedToTheirRules() throws {
        let result = try load("""
        title: Not the backup user
        id: f1
        logsource: { product: linux, service: sshd }
        filter:
          rules: [ssh_failed]
          selection: { user: backup }
          condition: not selection
        """)
        #expect(result.errors.isEmpty && result.unsupported.isEmpty, "\(result.errors) \(result.unsupported)")
        let rule = try #require(result.rules.first { $0.id == "11111111-0000-0000-0000-000000000001" })
        #expect(rule.match == .all([p("process.name", .equals, s("sshd")), p("event.outcome", .equals, s("failure")),
                                    .not(p("user.name", .equals, s("backup")))]))
        #expect(!result.rules.contains { $0.id == "f1" })
        let unsupportedFilter = try load("""
        title: Odd filter
        id: f2
        logsource: { product: linux, service: sshd }
        filter:
          rules: [ssh_failed]
          selection: { user|utf16le: backup }
          condition: not selection
        """)
        #expect(unsupportedFilter.unsupported.map(\.construct) == ["modifier utf16le"])
        #expect(unsupportedFilter.rules.first { $0.id == "11111111-0000-0000-0000-000000000001" }?.match == failed)
    }

    @Test func logsourcesMapToConditionsOrAreReported() throws {
        let repository = try SigmaFieldMapping.load(path: repositoryRoot() + "/" + SigmaFieldMapping.defaultPath)
        let loader = SigmaLoader(mapping: repository)
        func rule(_ logsource: String, _ selection: String) -> SigmaLoadResult {
            loader.load(yaml: "title: t\nid: x\nlogsource: \(logsource)\ndetection:\n  sel: \(selection)\n  condition: sel\n", file: "l.yml")
        }
        let dns = rule("{ product: zeek, service: dns }", "{ query|endswith: .evil }")
        #expect(dns.rules.first?.match == .all([p("event.dataset", .equals, s("zeek.dns", "network.dns")),
                                                p("dns.question.name", .suffix, s(".evil"))]))
        let web = rule("{ category: webserver }", "{ cs-uri-query|contains: /etc/passwd, sc-status: 200 }")
        #expect(web.rules.first?.match == .all([p("event.dataset", .equals, s("apache.access", "nginx.access")),
                                                p("url.original", .contains, s("/etc/passwd")),
                                                p("http.response.status_code", .equals, [.number(200)], ci: false)]))
        let sshd = rule("{ product: linux, service: sshd }", "[ 'Failed password' ]")
        #expect(sshd.rules.first?.match == .all([p("process.name", .equals, s("sshd")), p("message", .contains, s("Failed password"))]))
        let dce = rule("{ product: zeek, service: dce_rpc }", "{ operation: x }")
        #expect(dce.rules.first?.match == .all([p("event.dataset", .equals, s("zeek.dce_rpc")), p("zeek.dce_rpc.operation", .equals, s("x"))]))
        let windows = rule("{ product: windows, category: process_creation }", "{ Image: x }")
        #expect(windows.unsupported.map(\.construct) == ["logsource product windows", "logsource category process_creation"])
        let unmappedField = rule("{ product: zeek, service: dns }", "{ Z: 0 }")
        #expect(unmappedField.unsupported.map(\.construct) == ["field Z"])
        let unknownService = rule("{ product: linux, service: nosuch }", "{ a: b }")
        #expect(unknownService.unsupported.map(\.construct) == ["logsource service nosuch"])
    }

    /// A web log names the client `c-ip` (client.ip here), sshd `ip` (source.ip): `aliases` key
    /// each referenced rule's events by its own field.
    @Test func aliasesToDifferentFieldsKeyEachRuleByItsOwnField() throws {
        let aliasMapping = mapping.replacingOccurrences(of: "c-ip: source.ip", with: "c-ip: client.ip")
        let loader = SigmaLoader(mapping: try SigmaFieldMapping.parse(yaml: aliasMapping, file: "m.yaml"))
        let result = loader.load(yaml: base + """

        ---
        title: Web POST then SSH login from the same address
        id: c8
        correlation:
          type: temporal_ordered
          rules: [web_post, ssh_ok]
          group-by: [addr]
          timespan: 10m
          aliases:
            addr: { web_post: c-ip, ssh_ok: ip }
        ---
        title: Busy address
        id: c9
        correlation:
          type: event_count
          rules: [web_post, ssh_failed]
          group-by: [addr]
          timespan: 10m
          condition: { gte: 3 }
          aliases:
            addr: { web_post: c-ip, ssh_failed: ip }
        """, file: "c.yml")
        #expect(result.errors.isEmpty && result.unsupported.isEmpty, "\(result.errors) \(result.unsupported)")
        let ordered = try #require(result.rules.first { $0.id == "c8" })
        #expect(ordered.keyAliases.map(\.groupBy) == [["client.ip"], ["source.ip"]])
        guard case .sequence(_, let groupBy, _, true)? = ordered.aggregation else { Issue.record("\(String(describing: ordered.aggregation))"); return }
        #expect(groupBy == ["client.ip"])

        func web(_ ip: String) -> Event {
            var e = Event()
            e["event.dataset"] = "apache.access"
            e["http.request.method"] = "POST"
            e["client.ip"] = .ip(IPAddress(ip)!)
            return e
        }
        func ssh(_ ip: String, _ outcome: String) -> Event {
            var e = Event()
            e["process.name"] = "sshd"
            e["event.outcome"] = .string(outcome)
            e["source.ip"] = .ip(IPAddress(ip)!)
            return e
        }
        func run(_ rule: Rule, _ events: [Event]) throws -> [String] {
            var state = RulesPlugin(rules: [try CompiledRule(rule)]).makeState(partition: 0)
            var keys: [String] = []
            for (i, e) in events.enumerated() {
                state.process(e, time: 1_790_000_000_000_000_000 + Int64(i) * 1_000_000_000, offset: Int64(i),
                              emit: { keys.append($0["vigil.alert.key"]?.stringValue ?? "") }, late: { _ in })
            }
            return keys
        }
        #expect(try run(ordered, [web("198.51.100.9"), ssh("198.51.100.10", "success"), ssh("198.51.100.9", "success")]) == ["198.51.100.9"])
        #expect(try run(ordered, [web("198.51.100.9"), ssh("198.51.100.10", "success")]).isEmpty)
        let busy = try #require(result.rules.first { $0.id == "c9" })
        // (one alert per hopping window that reaches the count)
        #expect(Set(try run(busy, [web("198.51.100.9"), ssh("198.51.100.9", "failure"), web("198.51.100.7"), web("198.51.100.9")])) == ["198.51.100.9"])
        #expect(try run(busy, [web("198.51.100.9"), ssh("198.51.100.8", "failure"), web("198.51.100.7"), web("198.51.100.9")]).isEmpty)
        // Explain keys the event the same way.
        let explainer = try RuleExplainer(try CompiledRule(busy))
        #expect(explainer.explain(web("198.51.100.9")).key == "198.51.100.9")
        #expect(explainer.explain(ssh("198.51.100.9", "failure")).groupBy.map(\.field) == ["source.ip"])
    }
}
