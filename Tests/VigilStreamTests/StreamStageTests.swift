import Foundation
import Testing
import VigilBroker
import VigilCore
@testable import VigilStream
import VigilTestSupport

/// The stage over a real embedded log: two workers, exact final counts per key and window, late
/// events to the error callback with their reason, results keyed and partitioned like their input,
/// and a second run that resumes from the checkpoints without counting anything twice.
@Suite struct StreamStageTests {
    static let s: Int64 = 1_000_000_000
    static let base: Int64 = 1_773_480_000 * s

    func produce(_ log: EmbeddedLog, _ events: [(ip: String, seconds: Int64)]) throws {
        let producer = try log.producer(topic: "events")
        for (ip, t) in events {
            var e = Event()
            e[.timestamp] = .timestamp(Timestamp(nanoseconds: Self.base + t * Self.s))
            e[.sourceIP] = .ip(IPAddress(ip)!)
            e[.eventOutcome] = .string(t % 2 == 0 ? "failure" : "success")
            _ = try producer.send(key: Array(ip.utf8), value: EventBinaryCodec.encode(e), timestamp: 0)
        }
        _ = try producer.flush()
        try producer.close()
    }

    func results(_ log: EmbeddedLog) throws -> [String] {
        var out: [String] = []
        for p in 0..<(try log.topic("profiles").partitions) {
            let reader = try log.openReader(topic: "profiles", partition: p)
            while try reader.read(maxRecords: 1000, { r in
                let e = try! EventBinaryCodec.decode(r.value)
                let start = (e[.eventStart]!.timestampValue!.nanoseconds - Self.base) / Self.s
                out.append("\(e["vigil.profile.name"]!.stringValue!) \(e[.sourceIP]!.ipValue!) \(start) \(e["vigil.profile.firing"]!.stringValue!) \(e["vigil.profile.count"]!.intValue!)")
            }) > 0 {}
        }
        return out.sorted()
    }

    func configuration(_ dir: TemporaryDirectory) -> StreamStageConfiguration {
        var c = StreamStageConfiguration(checkpointDirectory: dir.file("state"))
        c.workers = 2
        c.checkpointInterval = 10_000_000
        c.profiles = [
            ProfileDefinition(name: "all", groupBy: ["source.ip"],
                              window: WindowOptions(kind: .tumbling(size: 10 * Self.s), allowedLateness: 2 * Self.s)),
            ProfileDefinition(name: "failures", conditions: [("event.outcome", ["failure"])], groupBy: ["source.ip"],
                              window: WindowOptions(kind: .tumbling(size: 10 * Self.s))),
        ]
        return c
    }

    /// Two addresses on different partitions of a 3-partition topic (windows are per partition).
    static let (ip1, ip2): (String, String) = {
        let first = "10.0.0.1"
        let p = Partitioner.partition(for: Array(first.utf8), count: 3)
        let second = (2...250).map { "10.0.0.\($0)" }.first { Partitioner.partition(for: Array($0.utf8), count: 3) != p }!
        return (first, second)
    }()

    @Test func exactCountsLateEventsAndResume() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let log = try EmbeddedLog(dataDirectory: dir.file("data"))
        defer { log.close() }
        try log.createTopic("events", partitions: 3)
        let (a, b) = (Self.ip1, Self.ip2)
        // a: 1 2 4 12 3 — 12 moves "all"'s watermark to 10 (lateness 2 s), firing [0,10) with 3
        // events; 3 is then late. b: 5 11 9 — 9 is on time (watermark 9).
        try produce(log, [(a, 1), (a, 2), (a, 4), (a, 12), (a, 3), (b, 5), (b, 11), (b, 9)])
        let late = LockedList()
        let stage = try StreamStage(log: log, configuration: configuration(dir), onError: { reason, record in
            late.append("\(record.partition)@\(record.offset) \(reason)")
        })
        let c = try stage.run(stop: .whenCaughtUp, shouldStop: { false })
        #expect(c.eventsProcessed == 8)
        #expect(c.lateRejected == 1)
        #expect(late.items.count == 1 && late.items.first?.contains("profile all: late event") == true, "\(late.items)")
        // Only windows the watermark passed have results; the rest stay open in the checkpoints.
        #expect(try results(log) == ["all \(a) 0 final 3", "failures \(a) 0 final 2"])

        // A second stage resumes from the checkpoints. a: 25 fires [10,20). b: 26 fires [0,10) and
        // [10,20); 8 is then late for both profiles (even: a failure). The drain closes the rest.
        try produce(log, [(a, 25), (b, 26), (b, 8)])
        let second = try StreamStage(log: log, configuration: configuration(dir), onError: { _, _ in })
        let c2 = try second.run(stop: .drain, shouldStop: { false })
        #expect(c2.eventsProcessed == 3)
        #expect(c2.statesRestored >= 3)
        #expect(c2.lateRejected == 2)
        #expect(try results(log) == [
            "all \(a) 0 final 3", "all \(a) 10 final 1", "all \(a) 20 final 1",
            "all \(b) 0 final 2", "all \(b) 10 final 1", "all \(b) 20 final 1",
            "failures \(a) 0 final 2", "failures \(a) 10 final 1", "failures \(b) 20 final 1",
        ].sorted())
    }

    @Test func profilesChangedBetweenRunsStartAfresh() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let log = try EmbeddedLog(dataDirectory: dir.file("data"))
        defer { log.close() }
        try log.createTopic("events", partitions: 1)
        try produce(log, [("10.0.0.9", 1), ("10.0.0.9", 2)])
        let first = try StreamStage(log: log, configuration: configuration(dir), onError: { _, _ in })
        _ = try first.run(stop: .whenCaughtUp, shouldStop: { false })
        #expect(try results(log).isEmpty)
        var changed = configuration(dir)
        changed.profiles[0].window = WindowOptions(kind: .tumbling(size: 20 * Self.s), allowedLateness: 2 * Self.s)
        let reports = LockedList()
        try produce(log, [("10.0.0.9", 3), ("10.0.0.9", 30)])
        let second = try StreamStage(log: log, configuration: changed, onError: { _, _ in }, onReport: { reports.append($0) })
        _ = try second.run(stop: .drain, shouldStop: { false })
        #expect(reports.items.contains { $0.contains("profile all changed") })
        let r = try results(log)
        // "all" restarted: only 3 and 30 counted; "failures" kept 2 and counted 30.
        #expect(r.contains("all 10.0.0.9 0 final 1") && r.contains("all 10.0.0.9 20 final 1"))
        #expect(r.contains("failures 10.0.0.9 0 final 1") && r.contains("failures 10.0.0.9 30 final 1"))
    }
}

final class LockedList: @unchecked Sendable {
    // `values` is guarded by `lock`.
    private let lock = NSLock()
    private var values: [String] = []
    func append(_ s: String) { lock.withLock { values.append(s) } }
    var items: [String] { lock.withLock { values } }
}
