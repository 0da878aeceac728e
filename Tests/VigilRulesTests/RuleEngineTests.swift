import Foundation
import Testing
import VigilBroker
import VigilCore
import VigilRules
import VigilStream
import VigilTestSupport

/// Rules running in the stream stage over a real log: exact alerts for single-event, threshold
/// and distinct rules, suppression that counts up under one alert id, and a restart that neither
/// repeats nor loses an alert.
@Suite struct RuleEngineTests {
    static let s: Int64 = 1_000_000_000
    static let base: Int64 = 1_773_480_000 * s

    static let rules = """
    rules:
      - id: t.fail
        title: Any failure
        match: { event.outcome: failure }
        suppress: 1m
      - id: t.brute
        title: Many failures
        severity: high
        match: { event.outcome: failure }
        threshold: { group_by: [source.ip], window: 1m, count: 3 }
      - id: t.spray
        title: Many users
        match: { event.outcome: failure }
        distinct: { field: user.name, group_by: [source.ip], window: 1m, count: 3 }
      - id: t.admin
        title: Admin login
        severity: critical
        match: { user.name|i: ADMIN, event.outcome: success }
    """

    func produce(_ log: EmbeddedLog, _ events: [(String, String, String, Int64)]) throws {
        let producer = try log.producer(topic: "events")
        for (ip, user, outcome, t) in events {
            var e = Event()
            e[.timestamp] = .timestamp(Timestamp(nanoseconds: Self.base + t * Self.s))
            e[.sourceIP] = .ip(IPAddress(ip)!)
            e[.userName] = .string(user)
            e[.eventOutcome] = .string(outcome)
            _ = try producer.send(key: Array(ip.utf8), value: EventBinaryCodec.encode(e), timestamp: 0)
        }
        _ = try producer.flush()
        try producer.close()
    }

    func alerts(_ log: EmbeddedLog) throws -> [String] {
        var out: [String] = []
        let reader = try log.openReader(topic: "alerts", partition: 0)
        while try reader.read(maxRecords: 1000, { r in
            let e = try! EventBinaryCodec.decode(r.value)
            let t = (e[.timestamp]!.timestampValue!.nanoseconds - Self.base) / Self.s
            out.append("\(e["rule.id"]!.stringValue!) \(e["vigil.alert.key"]!.stringValue!) t=\(t) count=\(e["vigil.alert.count"]!.intValue!)\(e["vigil.alert.distinct"].map { " distinct=\($0.intValue!)" } ?? "")")
        }) > 0 {}
        return out
    }

    func stage(_ dir: TemporaryDirectory, _ log: EmbeddedLog) throws -> StreamStage {
        var c = StreamStageConfiguration(checkpointDirectory: dir.file("state"))
        c.workers = 1
        c.checkpointInterval = 1_000_000
        let rules = try RuleFile.parse(yaml: Self.rules, file: "t.yaml").map { try CompiledRule($0) }
        c.plugins = [RulesPlugin(rules: rules)]
        return try StreamStage(log: log, configuration: c, onError: { _, _ in })
    }

    @Test func exactAlertsAndResume() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let log = try EmbeddedLog(dataDirectory: dir.file("data"))
        defer { log.close() }
        try log.createTopic("events", partitions: 1)
        let a = "198.51.100.7"
        // Failures by a (users u1 u2 u2 u3) in the first minute; admin success; a fourth failure
        // at 70 s opens a new minute.
        try produce(log, [(a, "u1", "failure", 1), (a, "u2", "failure", 2), (a, "u2", "failure", 3),
                          (a, "admin", "success", 4), (a, "u3", "failure", 5), (a, "u4", "failure", 70)])
        _ = try stage(dir, log).run(stop: .whenCaughtUp, shouldStop: { false })
        #expect(try alerts(log) == [
            "t.fail  t=1 count=1", "t.fail  t=2 count=2", "t.fail  t=3 count=3",
            "t.brute \(a) t=3 count=1",                 // the third failure within [0,60)
            "t.admin  t=4 count=1",
            "t.fail  t=5 count=4", "t.spray \(a) t=5 count=1 distinct=3",
            "t.fail  t=70 count=1",                      // a new suppression minute
        ])
        // More events: the restored state continues (the brute-force window [60,120) had one).
        try produce(log, [(a, "u5", "failure", 71), (a, "u6", "failure", 72)])
        _ = try stage(dir, log).run(stop: .whenCaughtUp, shouldStop: { false })
        let all = try alerts(log)
        #expect(all.count == 12)
        #expect(Array(all.suffix(4)) == ["t.fail  t=71 count=2", "t.fail  t=72 count=3", "t.brute \(a) t=72 count=1",
                                        "t.spray \(a) t=72 count=1 distinct=3"])
    }
}
