import Testing
import VigilCore
import VigilRules
import VigilStream
import VigilYAML

/// Vigil's rule files: every field, every aggregation, expressions that evaluate as written, and
/// mistakes reported at file:line:column.
@Suite struct RuleFileTests {
    static let yaml = """
    rules:
      - id: vigil.ssh.brute_force
        title: SSH brute force
        description: Many failed logins from one source
        severity: high
        tags: [attack.t1110.001]
        match:
          event.dataset: [system.auth, zeek.ssh]
          event.outcome: failure
          not: { source.ip|cidr: [10.0.0.0/8, 192.168.0.0/16] }
        threshold: { group_by: [source.ip], window: 5m, count: 20 }
        suppress: 30m
      - id: vigil.scan.ports
        title: Port scan
        severity: medium
        score: 45
        match: { event.dataset: network.conn }
        distinct: { field: destination.port, group_by: [source.ip], window: { type: hopping, size: 1m, advance: 10s }, count: 50 }
      - id: vigil.ssh.success_after_failures
        title: SSH success after failures
        match: { event.dataset: system.auth }
        sequence:
          group_by: [source.ip]
          within: 10m
          steps:
            - { name: failures, match: { event.outcome: failure }, count: 5 }
            - { name: success, match: { event.outcome: success } }
      - id: vigil.new.ja3
        title: New JA3 for a host
        severity: low
        match: { tls.client.ja3|exists: true }
        new_value: { field: tls.client.ja3, group_by: source.ip, lookback: 7d }
      - id: vigil.volume.out
        title: Unusual outbound volume
        match: { any: [ { network.direction: outbound }, { destination.ip|cidr: 0.0.0.0/0 } ] }
        anomaly: { field: network.bytes, group_by: [source.ip], z: 4, min_samples: 50 }
      - id: vigil.web.sqlmap
        title: sqlmap user agent
        severity: critical
        match:
          user_agent.original|contains|i: sqlmap
          url.original|contains|all: ["'", "--"]
      - id: disabled.one
        title: Off
        enabled: false
        match: { all: [] }
    """

    @Test func everyKindLoads() throws {
        let rules = try RuleFile.parse(yaml: Self.yaml, file: "rules/demo.yaml")
        #expect(rules.map(\.id) == ["vigil.ssh.brute_force", "vigil.scan.ports", "vigil.ssh.success_after_failures",
                                    "vigil.new.ja3", "vigil.volume.out", "vigil.web.sqlmap"])
        let brute = rules[0]
        #expect(brute.severity == .high && brute.score == 70 && brute.tags == ["attack.t1110.001"])
        #expect(brute.aggregation == .threshold(groupBy: ["source.ip"], window: .tumbling(size: 300_000_000_000), minimum: 20))
        #expect(brute.suppression == 1_800_000_000_000)
        #expect(brute.origin.file == "rules/demo.yaml" && brute.origin.line == 2)
        #expect(rules[1].score == 45)
        #expect(rules[1].aggregation == .distinct(field: "destination.port", groupBy: ["source.ip"],
                                                  window: .hopping(size: 60_000_000_000, advance: 10_000_000_000), minimum: 50))
        guard case .sequence(let steps, let groupBy, let within, let ordered)? = rules[2].aggregation else {
            Issue.record("not a sequence")
            return
        }
        #expect(steps.map(\.name) == ["failures", "success"] && steps[0].minimum == 5 && steps[1].minimum == 1)
        #expect(groupBy == ["source.ip"] && within == 600_000_000_000 && ordered)
        #expect(rules[3].aggregation == .newValue(field: "tls.client.ja3", groupBy: ["source.ip"], lookback: 7 * 86_400_000_000_000))
        #expect(rules[4].aggregation == .anomaly(field: "network.bytes", groupBy: ["source.ip"], zScore: 4, minimumSamples: 50))
        #expect(rules[5].severity == .critical && rules[5].score == 90)
    }

    @Test func matchExpressionsEvaluateAsWritten() throws {
        let rules = try RuleFile.parse(yaml: Self.yaml, file: "r.yaml")
        var e = Event()
        e[.eventDataset] = "system.auth"
        e[.eventOutcome] = "failure"
        e[.sourceIP] = .ip(IPAddress("203.0.113.9")!)
        let brute = try CompiledExpression(rules[0].match)
        #expect(brute.matches(e))
        e[.sourceIP] = .ip(IPAddress("10.9.9.9")!)
        #expect(!brute.matches(e))
        var web = Event()
        web["user_agent.original"] = "sqlmap/1.7 (https://SQLMAP.org)"
        web[.urlOriginal] = "/item?id=1' OR 1=1 --"
        let sqlmap = try CompiledExpression(rules[5].match)
        #expect(sqlmap.matches(web))
        web[.urlOriginal] = "/item?id=1' OR 1=1"
        #expect(!sqlmap.matches(web))
    }

    @Test(arguments: [
        ("rules:\n  - id: x\n    title: t\n    match: { a|sometimes: 1 }", "unknown modifier sometimes", 4),
        ("rules:\n  - id: x\n    title: t\n    match: { a: 1 }\n    threshold: { window: 1m, count: 0 }", "below the minimum of 1", 5),
        ("rules:\n  - id: x\n    title: t\n    severity: dire\n    match: { a: 1 }", "severity is one of", 4),
        ("rules:\n  - id: 'x y'\n    title: t\n    match: { a: 1 }", "a rule id is", 2),
        ("rules:\n  - id: x\n    title: t\n    match: { a: 1 }\n    threshold: { window: 1m, count: 3 }\n    distinct: { field: f, window: 1m, count: 3 }", "at most one aggregation", 6),
        ("rules:\n  - id: x\n    title: t\n    match: {}", "an empty match", 4),
        ("rules:\n  - id: x\n    title: t\n    match: { a: 1 }\n  - id: x\n    title: u\n    match: { b: 2 }", "a second rule with id x", 5),
        ("rules:\n  - id: x\n    title: t\n    match: { a: 1 }\n    colour: red", "colour", 5),
        ("rules:\n  - id: x\n    title: t\n    match: { a: 1 }\n    sequence: { within: 1m, steps: [ { name: a, match: { a: 1 } } ] }", "at least two steps", 5),
    ])
    func mistakesAreReportedWhereTheyAre(yaml: String, message: String, line: Int) {
        do {
            _ = try RuleFile.parse(yaml: yaml, file: "bad.yaml")
            Issue.record("accepted: \(yaml)")
        } catch {
            #expect(error.description.contains(message), "\(error)")
            #expect(error.description.contains("bad.yaml:\(line):"), "\(error)")
        }
    }
}
