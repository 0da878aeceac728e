import Foundation
import VigilCore
import VigilRules
import VigilStream

/// `vigil bench rules`: events per second through the rule engine on one thread, with 100 and
/// with 1,000 rules of mixed kinds (single-event predicates of every operator, thresholds,
/// distinct counts, sequences, new values, anomalies) over a synthetic mix of auth, connection,
/// HTTP and DNS events. The stage's plugin path is measured (matching, keys, windows, alert
/// building); the broker is not.
public struct RulesBenchmark {
    public struct Result: Sendable {
        public var ruleCount: Int
        public var events: Int
        public var seconds: Double
        public var alerts: Int
        public var eventsPerSecond: Double { Double(events) / seconds }
    }

    public init() {}

    /// Rules of every kind, `count` of them; every tenth is aggregated.
    public static func rules(_ count: Int) throws -> [CompiledRule] {
        var rules: [Rule] = []
        for i in 0..<count {
            let dataset: Value = .string(["system.auth", "network.conn", "network.http", "network.dns"][i % 4])
            let base = VigilRules.Expression.predicate(Predicate(field: "event.dataset", op: .equals, values: [dataset]))
            let extra: VigilRules.Expression
            switch i % 8 {
            case 0: extra = .predicate(Predicate(field: "url.original", op: .contains, values: [.string("/admin\(i)"), .string("/wp-\(i)")], caseInsensitive: true))
            case 1: extra = .predicate(Predicate(field: "source.ip", op: .cidr, values: [.string("203.0.\(i % 256).0/24")]))
            case 2: extra = .predicate(Predicate(field: "user_agent.original", op: .regex, values: [.string("(?i)(sqlmap|nikto|scanner\(i))")]))
            case 3: extra = .predicate(Predicate(field: "network.bytes", op: .greaterThan, values: [.number(Double(1_000_000 + i))]))
            case 4: extra = .predicate(Predicate(field: "user.name", op: .equals, values: [.string("svc\(i)"), .string("admin\(i)")], caseInsensitive: true))
            case 5: extra = .predicate(Predicate(field: "dns.question.name", op: .suffix, values: [.string(".evil\(i).example")]))
            case 6: extra = .predicate(Predicate(field: "destination.port", op: .equals, values: [.number(Double(1000 + i % 5000))]))
            default: extra = .all([.predicate(Predicate(field: "event.outcome", op: .equals, values: [.string("failure")])),
                                    .not(.predicate(Predicate(field: "user.name", op: .prefix, values: [.string("user")])))])
            }
            var rule = Rule(id: "bench.\(i)", title: "bench \(i)", match: .all([base, extra]))
            if i % 10 == 9 {
                rule.match = base
                switch (i / 10) % 5 {
                case 0: rule.aggregation = Aggregation.threshold(groupBy: ["source.ip"], window: .tumbling(size: 60_000_000_000), minimum: 50)
                case 1: rule.aggregation = Aggregation.distinct(field: "destination.port", groupBy: ["source.ip"], window: .tumbling(size: 60_000_000_000), minimum: 40)
                case 2: rule.aggregation = Aggregation.newValue(field: "user.name", groupBy: ["source.ip"], lookback: 3_600_000_000_000)
                case 3: rule.aggregation = Aggregation.anomaly(field: "network.bytes", groupBy: ["source.ip"], zScore: 6, minimumSamples: 30)
                default:
                    rule.aggregation = Aggregation.sequence(steps: [
                        SequenceStep(name: "fail", match: .predicate(Predicate(field: "event.outcome", op: .equals, values: [.string("failure")])), minimum: 5),
                        SequenceStep(name: "ok", match: .predicate(Predicate(field: "event.outcome", op: .equals, values: [.string("success")]))),
                    ], groupBy: ["source.ip"], within: 600_000_000_000, ordered: true)
                }
                rule.suppression = 600_000_000_000
            }
            rules.append(rule)
        }
        return try rules.map { try CompiledRule($0) }
    }

    /// A mix of events: auth (with failures), connections (many ports), HTTP and DNS.
    public static func events(_ count: Int) -> [Event] {
        var seed: UInt64 = 42
        func next() -> UInt64 {
            seed &+= 0x9E37_79B9_7F4A_7C15
            var z = seed
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        let base: Int64 = 1_773_480_000_000_000_000
        var out: [Event] = []
        out.reserveCapacity(count)
        for i in 0..<count {
            var e = Event()
            e[.timestamp] = .timestamp(Timestamp(nanoseconds: base + Int64(i) * 1_000_000))
            e[.sourceIP] = .ip(IPAddress(v4: 0xCB00_0000 | UInt32(truncatingIfNeeded: next() % 4096)))
            e[.destinationIP] = .ip(IPAddress(v4: 0x0A00_0000 | UInt32(truncatingIfNeeded: next() % 256)))
            e[.destinationPort] = .int(Int64(next() % 2000))
            switch i % 4 {
            case 0:
                e[.eventDataset] = "system.auth"
                e[.eventOutcome] = next() % 3 == 0 ? "success" : "failure"
                e[.userName] = .string("user\(next() % 50)")
            case 1:
                e[.eventDataset] = "network.conn"
                e["network.bytes"] = .int(Int64(next() % 100_000))
                e[.eventOutcome] = "success"
            case 2:
                e[.eventDataset] = "network.http"
                e[.urlOriginal] = .string("/index\(next() % 100).html?q=\(next() % 1000)")
                e["user_agent.original"] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
            default:
                e[.eventDataset] = "network.dns"
                e["dns.question.name"] = .string("host\(next() % 500).example.com")
            }
            out.append(e)
        }
        return out
    }

    /// Runs `events` through `rules` on one partition state; the time and the alerts raised.
    public static func measure(rules: [CompiledRule], events: [Event]) -> Result {
        let plugin = RulesPlugin(rules: rules)
        var state = plugin.makeState(partition: 0)
        var alerts = 0
        let start = DispatchTime.now().uptimeNanoseconds
        for (i, e) in events.enumerated() {
            let time = e[.timestamp]?.timestampValue?.nanoseconds ?? 0
            state.process(e, time: time, offset: Int64(i), emit: { _ in alerts += 1 }, late: { _ in })
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return Result(ruleCount: rules.count, events: events.count, seconds: seconds, alerts: alerts)
    }
}
