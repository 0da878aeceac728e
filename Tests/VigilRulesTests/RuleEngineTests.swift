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

extension RuleEngineTests {
    /// Waits up to 20 s for `condition`.
    func eventually(_ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if try condition() { return true }
            usleep(50_000)
        }
        return false
    }

    @Test func editedRuleFilesTakeEffectWithoutLosingWindows() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let rulesDir = dir.file("rules")
        try FileManager.default.createDirectory(atPath: rulesDir, withIntermediateDirectories: true)
        try """
        rules:
          - id: t.brute
            title: Many failures
            match: { event.outcome: failure }
            threshold: { group_by: [source.ip], window: 1h, count: 3 }
        """.write(toFile: rulesDir + "/a.yaml", atomically: true, encoding: .utf8)
        let log = try EmbeddedLog(dataDirectory: dir.file("data"))
        defer { log.close() }
        try log.createTopic("events", partitions: 1)
        let book = RuleBook(rules: try RuleDirectory.load(rulesDir), directory: rulesDir, loader: { try RuleDirectory.load(rulesDir) })
        var c = StreamStageConfiguration(checkpointDirectory: dir.file("state"))
        c.workers = 1
        c.plugins = [RulesPlugin(book: book)]
        let reports = LockedLines()
        let stage = try StreamStage(log: log, configuration: c, onError: { _, _ in }, onReport: { reports.append($0) })
        let stop = StopFlag()
        let done = DispatchSemaphore(value: 0)
        Thread {
            _ = try? stage.run(stop: .whenAsked, shouldStop: { stop.isSet })
            done.signal()
        }.start()
        defer { stop.set(); done.wait() }
        let a = "198.51.100.9"
        try produce(log, [(a, "u1", "failure", 1), (a, "u2", "failure", 2)])
        // A new file: its rule runs; t.brute keeps its window (two failures so far).
        try """
        rules:
          - id: t.any
            title: Any failure
            match: { event.outcome: failure }
        """.write(toFile: rulesDir + "/b.yaml", atomically: true, encoding: .utf8)
        #expect(eventually { reports.items.contains { $0.contains("rules reloaded: 2 rules") } }, "\(reports.items)")
        try produce(log, [(a, "u3", "failure", 3)])
        #expect(try eventually { try alerts(log).contains("t.brute \(a) t=3 count=1") })
        #expect(try eventually { try alerts(log).contains("t.any  t=3 count=1") })
        // A broken file is refused with its place; the rules in force keep running.
        try "rules:\n  - id: t.bad\n    title: x\n    match: { a|nope: 1 }\n".write(toFile: rulesDir + "/c.yaml", atomically: true, encoding: .utf8)
        #expect(eventually { reports.items.contains { $0.contains("rules not reloaded") && $0.contains("c.yaml:4:") } }, "\(reports.items)")
        try produce(log, [(a, "u4", "failure", 4)])
        #expect(try eventually { try alerts(log).contains("t.any  t=4 count=1") })
        // Removing a file removes its rules.
        try FileManager.default.removeItem(atPath: rulesDir + "/c.yaml")
        try FileManager.default.removeItem(atPath: rulesDir + "/b.yaml")
        #expect(eventually { reports.items.contains { $0.contains("rules reloaded: 1 rules") } }, "\(reports.items)")
        try produce(log, [(a, "u5", "failure", 5)])
        usleep(500_000)
        #expect(try !alerts(log).contains("t.any  t=5 count=1"))
    }
}

final class LockedLines: @unchecked Sendable {
    // `values` is guarded by `lock`.
    private let lock = NSLock()
    private var values: [String] = []
    func append(_ s: String) { lock.withLock { values.append(s) } }
    var items: [String] { lock.withLock { values } }
}

final class StopFlag: @unchecked Sendable {
    // `value` is guarded by `lock`.
    private let lock = NSLock()
    private var value = false
    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }
}

extension RuleEngineTests {
    static let statefulRules = """
    rules:
      - id: t.seq
        title: Success after failures
        match: { event.outcome: [failure, success] }
        sequence:
          group_by: [source.ip]
          within: 1m
          steps:
            - { name: failures, match: { event.outcome: failure }, count: 3 }
            - { name: success, match: { event.outcome: success } }
      - id: t.new
        title: New user for a source
        match: { event.outcome: success }
        new_value: { field: user.name, group_by: [source.ip], lookback: 1h }
    """

    func run(_ yaml: String, _ events: [(String, String, String, Int64)]) throws -> [String] {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let log = try EmbeddedLog(dataDirectory: dir.file("data"))
        defer { log.close() }
        try log.createTopic("events", partitions: 1)
        try produce(log, events)
        var c = StreamStageConfiguration(checkpointDirectory: dir.file("state"))
        c.workers = 1
        c.plugins = [RulesPlugin(rules: try RuleFile.parse(yaml: yaml, file: "t.yaml").map { try CompiledRule($0) })]
        _ = try StreamStage(log: log, configuration: c, onError: { _, _ in }).run(stop: .whenCaughtUp, shouldStop: { false })
        return try alerts(log)
    }

    /// Tests several rules share are evaluated once per event: each rule still sees its own
    /// result — under `not`, next to other tests, and apart from a case-insensitive test of the
    /// same value (not the same test).
    @Test func sharedTestsKeepEachRulesResult() throws {
        let yaml = """
        rules:
          - id: t.a
            title: Failure by root
            match: { event.outcome: failure, user.name: root }
          - id: t.b
            title: Failure by someone else
            match: { event.outcome: failure, not: { user.name: root } }
          - id: t.c
            title: Root in any case, any outcome
            match: { user.name|i: ROOT }
          - id: t.d
            title: Root exactly, success
            match: { user.name: root, event.outcome: success }
        """
        let a = "203.0.113.9"
        let got = try run(yaml, [(a, "root", "failure", 0), (a, "alice", "failure", 1), (a, "Root", "success", 2), (a, "root", "success", 3)])
        #expect(got.sorted() == [
            "t.a  t=0 count=1", "t.b  t=1 count=1",
            "t.c  t=0 count=1", "t.c  t=2 count=1", "t.c  t=3 count=1",
            "t.d  t=3 count=1",
        ].sorted())
    }

    @Test func sequencesAndNewValues() throws {
        let a = "203.0.113.5"
        let got = try run(Self.statefulRules, [
            (a, "root", "failure", 0), (a, "root", "failure", 10),
            (a, "alice", "success", 15),                            // only two failures: no sequence
            (a, "root", "failure", 20), (a, "root", "failure", 80), // 10, 20, 80: the last three span 70 s > 1 m
            (a, "bob", "success", 85),                              // 20, 80 + 10? no: 10 fell out; 20..85 > 1 m → none
            (a, "root", "failure", 90), (a, "root", "failure", 95),
            (a, "alice", "success", 100),                           // 80, 90, 95 then success at 100: alert
            (a, "alice", "success", 4000),                          // alice again after the 1 h lookback: new again
        ])
        #expect(got == [
            "t.new \(a) t=15 count=1",
            "t.new \(a) t=85 count=1",
            "t.seq \(a) t=100 count=1",
            "t.new \(a) t=4000 count=1",
        ])
    }

    @Test func anomaliesOnceEnoughSamples() throws {
        let yaml = """
        rules:
          - id: t.z
            title: Unusual volume
            match: { event.outcome: success }
            anomaly: { field: destination.port, group_by: [source.ip], z: 3, min_samples: 10 }
        """
        // The rule reads destination.port as the number; events carry it through the user name field.
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let log = try EmbeddedLog(dataDirectory: dir.file("data"))
        defer { log.close() }
        try log.createTopic("events", partitions: 1)
        let producer = try log.producer(topic: "events")
        for (i, port) in [100, 102, 98, 101, 99, 100, 103, 97, 100, 101, 100, 500, 101].enumerated() {
            var e = Event()
            e[.timestamp] = .timestamp(Timestamp(nanoseconds: Self.base + Int64(i) * Self.s))
            e[.sourceIP] = .ip(IPAddress("10.0.0.1")!)
            e[.eventOutcome] = "success"
            e[.destinationPort] = .int(Int64(port))
            _ = try producer.send(key: nil, value: EventBinaryCodec.encode(e), timestamp: 0)
        }
        _ = try producer.flush()
        try producer.close()
        var c = StreamStageConfiguration(checkpointDirectory: dir.file("state"))
        c.workers = 1
        c.plugins = [RulesPlugin(rules: try RuleFile.parse(yaml: yaml, file: "t.yaml").map { try CompiledRule($0) })]
        _ = try StreamStage(log: log, configuration: c, onError: { _, _ in }).run(stop: .whenCaughtUp, shouldStop: { false })
        #expect(try alerts(log) == ["t.z 10.0.0.1 t=11 count=1"])
    }
}

extension RuleEngineTests {
    @Test(arguments: [(TriageAggregation.max, 90.0), (.sum, 120.0), (.mean, 60.0)])
    func triageCombinesTheScoresOfTheRulesAnEventMatched(triage: TriageAggregation, expected: Double) throws {
        let rules = try RuleFile.parse(yaml: """
        rules:
          - { id: t.low, title: low, severity: low, match: { user.name: admin } }
          - { id: t.crit, title: crit, severity: critical, match: { event.outcome: success } }
          - { id: t.other, title: other, match: { user.name: nobody } }
        """, file: "t.yaml").map { try CompiledRule($0) }
        var plugin = RulesPlugin(rules: rules)
        plugin.triage = triage
        var state = plugin.makeState(partition: 0)
        var e = Event()
        e[.userName] = "admin"
        e[.eventOutcome] = "success"
        var alerts: [Event] = []
        state.process(e, time: 1, offset: 0, emit: { alerts.append($0) }, late: { _ in })
        #expect(alerts.count == 2)
        for a in alerts {
            #expect(a["vigil.triage.score"] == .float(expected))
            #expect(a["vigil.triage.rules"] == .array(["t.low", "t.crit"]))
        }
        // One rule alone: no triage fields.
        var single = Event()
        single[.userName] = "nobody"
        alerts = []
        state.process(single, time: 2, offset: 1, emit: { alerts.append($0) }, late: { _ in })
        #expect(alerts.count == 1 && alerts[0]["vigil.triage.score"] == nil)
    }
}
