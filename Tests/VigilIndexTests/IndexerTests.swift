import Foundation
import GRDB
import Testing
import VigilBroker
import VigilCore
import VigilTestSupport
@testable import VigilIndex

/// The indexer over a real embedded log: every alert once, non-alerts rejected and counted, a
/// restart resumes at the offsets stored with the rows, queries run while it writes.
@Suite struct IndexerTests {
    func produce(_ log: EmbeddedLog, _ events: [Event]) throws {
        let producer = try log.producer(topic: "alerts")
        for e in events {
            let key = Array((e["vigil.alert.id"]?.stringValue ?? "x").utf8)
            _ = try producer.send(key: key, value: EventBinaryCodec.encode(e), timestamp: e[.timestamp]?.timestampValue?.nanoseconds ?? 0)
        }
        _ = try producer.flush()
        try producer.close()
    }

    @Test func indexesEachAlertOnceAndResumes() throws {
        let dir = try TemporaryDirectory("vigil-indexer"); defer { dir.remove() }
        let log = try EmbeddedLog(dataDirectory: dir.file("data"))
        defer { log.close() }
        _ = try log.createTopic("alerts", partitions: 3)
        var events: [Event] = []
        for i in 0..<3000 { events.append(makeAlert(id: "i\(i)", rule: "r\(i % 4)", time: base + Int64(i) * 1_000_000_000, user: "u\(i % 10)")) }
        // Updates of earlier alerts, and records that are not alerts.
        for i in 0..<300 { events.append(makeAlert(id: "i\(i)", rule: "r\(i % 4)", time: base + Int64(i) * 1_000_000_000, count: 2, user: "u\(i % 10)")) }
        var notAlert = Event()
        notAlert["message"] = "hello"
        events.append(notAlert)
        try produce(log, Array(events.prefix(2000)))

        let index = try openIndex(dir)
        defer { index.close() }
        var config = IndexerConfiguration()
        config.batchSize = 250
        var rejected: [String] = []
        let first = Indexer(broker: log, index: index, configuration: config, onReject: { reason, _ in rejected.append(reason) })
        var c = try first.run(stop: .drain, shouldStop: { false })
        #expect(c.inserted == 2000 && c.rejected == 0)
        #expect(try index.totalAlerts() == 2000)

        // More input; a second indexer resumes where the rows say, while queries run.
        try produce(log, Array(events.dropFirst(2000)))
        let second = Indexer(broker: log, index: index, configuration: config, onReject: { reason, _ in rejected.append(reason) })
        let run = IndexerRun(second)
        let thread = Thread { run.run() }
        thread.start()
        var seen: [Int] = []
        while !run.finished {
            let n = try index.totalAlerts()
            var f = AlertFilter(); f.rules = ["r1"]
            _ = try index.alerts(AlertQuery(filter: f))
            _ = try index.stats(AlertFilter())
            seen.append(n)
        }
        c = run.counters
        #expect(seen == seen.sorted(), "the number of alerts never goes down")
        #expect(c.recordsRead == Int64(events.count - 2000), "nothing read twice")
        #expect(c.inserted == 1000 && c.updated == 300 && c.unchanged == 0 && c.rejected == 1)
        #expect(rejected.count == 1 && rejected[0].contains("no vigil.alert.id"))
        #expect(try index.totalAlerts() == 3000)
        var f = AlertFilter(); f.fields = [try FilterParser.field("vigil.alert.count=2", filter: "--where")]
        #expect(try index.count(f) == 300)
        let ends = try (0..<3).map { p in try log.openReader(topic: "alerts", partition: p).endOffset() }
        #expect(try index.offsets().map(\.next) == ends)
        #expect(try index.integrityProblems() == [])
    }
}

extension IndexerTests {
    /// The indexer drops the alerts topic's pages it has read from the page cache (by default;
    /// `dropsReadPages = false` keeps them), and indexes the same either way.
    @Test(arguments: [true, false]) func readTopicPagesLeaveThePageCache(drop: Bool) throws {
        guard let dir = try PageCache.testDirectory("vigil-indexer") else { return }
        defer { dir.remove() }
        var logConfig = LogConfiguration()
        logConfig.segmentBytes = 1 << 20
        logConfig.retentionAgeNanoseconds = nil
        let log = try EmbeddedLog(dataDirectory: dir.file("data"), configuration: logConfig)
        defer { log.close() }
        _ = try log.createTopic("alerts", partitions: 2)
        let padding = String(repeating: "p", count: 900)
        try produce(log, (0..<6_000).map { i in
            makeAlert(id: "d\(i)", time: base + Int64(i) * 1_000_000_000, user: "u\(i % 10)", sample: "{\"message\":\"\(padding) \(i)\"}")
        })
        let segments = try PageCache.segments(of: log, topic: "alerts", partitions: 2, closedOnly: true)
        let files = try FileManager.default.subpathsOfDirectory(atPath: dir.file("data"))
        #expect(segments.count >= 4, "\(files)")
        for s in segments { try PageCache.writeBack(s) }
        for s in segments { try PageCache.readThrough(s) }
        // Read before the indexer reads the segments: idle at least as long as they are.
        let control = try PageCache.control(in: dir.path)

        let index = try openIndex(dir)
        defer { index.close() }
        var config = IndexerConfiguration()
        config.batchSize = 1_000
        config.dropsReadPages = drop
        #expect(config.dropsReadPages == drop && IndexerConfiguration().dropsReadPages, "on by default")
        let c = try Indexer(broker: log, index: index, configuration: config).run(stop: .drain, shouldStop: { false })
        #expect(c.inserted == 6_000 && c.rejected == 0, "\(c)")
        #expect(try index.totalAlerts() == 6_000)
        // Kept pages are checked only where idle pages stay: under a full parallel test run this
        // test can take over a minute, and this VM pages out memory idle that long.
        let checkKept = try drop || PageCache.keepsIdlePages(control: control, test: "readTopicPagesLeaveThePageCache(drop: false)")
        for s in segments {
            let resident = try PageCache.residentFraction(s)
            if drop {
                #expect(resident < 0.1, "\(s): \(resident) of its pages cached")
            } else if checkKept {
                #expect(resident > 0.9, "\(s): \(resident) of its pages cached")
            }
        }
    }

    /// After a batch whose transaction fails nothing may be written, or the later offsets would
    /// pass the failed batch's alerts, lost for good: not a batch queued behind it (up to two
    /// are in flight), and not the rows read meanwhile, which closing the consumer used to flush
    /// (its revocation hook wrote them with their offsets: this test found 500 alerts and the
    /// offset 1,000 where 250 and 250 were right).
    @Test func aBatchBehindAFailedOneIsNotWritten() throws {
        let dir = try TemporaryDirectory("vigil-indexer-fail"); defer { dir.remove() }
        let log = try EmbeddedLog(dataDirectory: dir.file("data"))
        defer { log.close() }
        _ = try log.createTopic("alerts", partitions: 1)
        let events = (0..<2000).map { i in makeAlert(id: "f\(i)", rule: "r\(i % 4)", time: base + Int64(i) * 1_000_000_000, user: "u\(i % 10)") }
        try produce(log, events)
        let index = try openIndex(dir)
        defer { index.close() }
        var config = IndexerConfiguration()
        config.batchSize = 250
        index.failWrite = { $0 == 2 }
        let failing = Indexer(broker: log, index: index, configuration: config)
        #expect(throws: AlertIndexError.self) { try failing.run(stop: .drain, shouldStop: { false }) }
        // Only the first batch committed, with its offset; nothing after the failed one.
        let total = try index.totalAlerts(), stored = try index.offsets().map(\.next)
        #expect(total == 250, "\(total) alerts, offsets \(stored)")
        #expect(try index.offsets().map(\.next) == [250])
        // A new run resumes from the stored offset: every alert once.
        index.failWrite = nil
        let c = try Indexer(broker: log, index: index, configuration: config).run(stop: .drain, shouldStop: { false })
        #expect(c.inserted == 1750 && c.updated == 0 && c.unchanged == 0)
        #expect(try index.totalAlerts() == 2000)
        #expect(try index.offsets().map(\.next) == [2000])
        #expect(try index.integrityProblems() == [])
    }
}

/// Runs an indexer on another thread.
///
/// `@unchecked Sendable`: the indexer is used by the running thread only; `result` and `done`
/// are guarded by `lock`.
final class IndexerRun: @unchecked Sendable {
    let indexer: Indexer
    private let lock = NSLock()
    private var result = Indexer.Counters()
    private var done = false
    init(_ indexer: Indexer) { self.indexer = indexer }
    func run() {
        let c = (try? indexer.run(stop: .drain, shouldStop: { false })) ?? Indexer.Counters()
        lock.withLock { result = c; done = true }
    }
    var finished: Bool { lock.withLock { done } }
    var counters: Indexer.Counters { lock.withLock { result } }
}

extension IndexerTests {
    /// A rule renamed while alerts flow: rows of one rule share a rule object, and the writer
    /// skips its lookup for an object it knows (by serial, under the current version of the
    /// rule's texts); a row with the other name must still update the rules table (and its text
    /// index), back and forth.
    @Test func aRuleRenamedMidStreamKeepsItsLatestName() throws {
        let dir = try TemporaryDirectory("vigil-indexer-rename"); defer { dir.remove() }
        let log = try EmbeddedLog(dataDirectory: dir.file("data"))
        defer { log.close() }
        _ = try log.createTopic("alerts", partitions: 1)
        var events: [Event] = []
        for i in 0..<900 {
            // Back to the first name: its rule object is one the writer has seen.
            let name = i < 300 || i >= 600 ? "Old Name" : "Fresh Name"
            events.append(makeAlert(id: "a\(i)", rule: "r1", name: name, time: base + Int64(i) * 1_000_000_000))
        }
        try produce(log, events)
        let index = try openIndex(dir)
        defer { index.close() }
        var config = IndexerConfiguration()
        config.batchSize = 200
        let c = try Indexer(broker: log, index: index, configuration: config, onReject: { _, _ in }).run(stop: .drain, shouldStop: { false })
        #expect(c.inserted == 900)
        let stats = try index.stats(AlertFilter())
        #expect(stats.byRule.map(\.ruleName) == ["Old Name"])
        var f = AlertFilter(); f.text = try FullTextQuery("old", filter: "--text")
        #expect(try index.count(f) == 900, "the rule's text index holds its latest name")
        f.text = try FullTextQuery("fresh", filter: "--text")
        #expect(try index.count(f) == 0)
    }
}

extension IndexerTests {
    /// The reading thread sorts a batch's run entries (id hashes, addresses) by row, and the
    /// writer puts in the sequence numbers of the rows it writes: the runs must be those the
    /// writer makes when it sorts them itself, with updates and unchanged rows in the batch.
    @Test func presortedRunsEqualTheWritersOwn() throws {
        let dirA = try TemporaryDirectory("vigil-runs-a"), dirB = try TemporaryDirectory("vigil-runs-b")
        defer { dirA.remove(); dirB.remove() }
        var r = SplitMix64(seed: 11)
        var batches: [[Event]] = []
        for b in 0..<4 {
            var events: [Event] = []
            for i in 0..<700 {
                // Some ids again (updates, and unchanged repeats), addresses v4, v6 and none.
                let again = r.next() % 5 == 0 && b > 0
                let id = again ? "a\(r.next() % UInt64(b * 700))" : "a\(b * 700 + i)"
                let count = again ? Int64(1 + r.next() % 2) : 1
                let source: String? = r.next() % 4 == 0 ? nil : (r.next() % 3 == 0 ? "2001:db8::\(r.next() % 50)" : "10.0.\(r.next() % 4).\(r.next() % 256)")
                events.append(makeAlert(id: id, rule: "r\(i % 3)", time: base + Int64(b * 700 + i) * 1_000_000_000, count: count,
                                        source: source, destination: r.next() % 2 == 0 ? nil : "192.168.\(r.next() % 3).1"))
            }
            batches.append(events)
        }
        var runs: [[[UInt8]]] = []
        for (dir, presort) in [(dirA, true), (dirB, false)] {
            let index = try openIndex(dir)
            defer { index.close() }
            for events in batches {
                let arena = AlertRowArena(), cache = AlertRecordReader.Cache()
                var rows: [AlertRow] = []
                for e in events {
                    let bytes = EventBinaryCodec.encode(e)
                    try bytes.withUnsafeBytes { rows.append(try AlertRow(encoded: $0, fallbackTime: 0, cache: cache, arena: arena)) }
                }
                if presort { arena.presortRuns(rows) }
                #expect((arena.sortedRuns != nil) == presort)
                _ = try index.write(rows, arena: arena)
            }
            runs.append(try index.pool.read { db in
                try Row.fetchAll(db, sql: "SELECT kind, segment, last_key, chunk, first_key, entries FROM alert_runs ORDER BY kind, segment, last_key, chunk")
                    .map { row in
                        let kind: Int = row[0], segment: Int = row[1], chunk: Int = row[3]
                        let last: Data = row[2], first: Data = row[4], entries: Data = row[5]
                        return [UInt8]("\(kind)/\(segment)/\(chunk)".utf8) + [UInt8](last) + [0xFF] + [UInt8](first) + [0xFF] + [UInt8](entries)
                    }
            })
            #expect(try index.integrityProblems() == [])
        }
        #expect(runs[0].count > 3)
        #expect(runs[0] == runs[1])
    }
}
