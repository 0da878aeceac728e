import Foundation
import GRDB
import Testing
import VigilBroker
import VigilCore
import VigilTestSupport
@testable import VigilIndex

/// An alert as the rule engine writes it.
func makeAlert(id: String, rule: String = "ssh-brute", name: String? = nil, time: Int64, severity: Int = 2, count: Int64 = 1,
               source: String? = "10.0.0.1", destination: String? = "192.168.1.10", user: String? = "alice",
               key: String? = nil, extra: [(String, FieldValue)] = [], sample: String? = nil) -> Event {
    var a = Event()
    a[.timestamp] = .timestamp(Timestamp(nanoseconds: time))
    a["event.kind"] = "alert"
    a["event.id"] = .string("\(id)-\(count)")
    a["vigil.alert.id"] = .string(id)
    a["vigil.alert.count"] = .int(count)
    a["vigil.alert.key"] = .string(key ?? source ?? "none")
    a["rule.id"] = .string(rule)
    a["rule.name"] = .string(name ?? "Rule \(rule)")
    a["rule.description"] = .string("Detects \(rule) activity")
    a["event.severity"] = .int(Int64(severity))
    a["vigil.alert.severity"] = .string(AlertSeverity.name(severity))
    a["event.risk_score"] = .float(Double(severity * 20))
    a["tags"] = .array(["attack.credential_access", "attack.t1110"])
    if let source { a["source.ip"] = .ip(IPAddress(source)!) }
    if let destination { a["destination.ip"] = .ip(IPAddress(destination)!) }
    if let user { a["user.name"] = .string(user) }
    for (k, v) in extra { a[k] = v }
    a["vigil.alert.sample"] = .string(sample ?? #"{"message":"Failed password for \#(user ?? "nobody") from \#(source ?? "-")","event":{"outcome":"failure"}}"#)
    return a
}

let hour: Int64 = 3_600_000_000_000
let base: Int64 = 1_773_480_000 * 1_000_000_000  // 2026-03-14T09:20:00Z

func openIndex(_ dir: TemporaryDirectory, retention: Int64? = nil, maxSize: Int64? = nil, layout: AlertIndexLayout = .blocks) throws -> AlertIndex {
    var c = AlertIndexConfiguration(path: dir.file("alerts.db"), retention: retention, maxSize: maxSize)
    c.layout = layout
    let index = try AlertIndex(configuration: c)
    #expect(index.layout == layout)
    return index
}

func rows(_ events: [Event]) throws -> [AlertRow] { try events.map { try AlertRow(event: $0) } }

func ids(_ index: AlertIndex, _ filter: AlertFilter, limit: Int = 1000) throws -> Set<String> {
    var q = AlertQuery(filter: filter)
    q.limit = limit
    return Set(try index.alerts(q).map(\.id))
}

/// A fixed corpus for the filter tests.
func corpus() -> [Event] {
    [
        makeAlert(id: "a1", rule: "ssh-brute", time: base, severity: 2, source: "10.0.0.1", destination: "192.168.1.10", user: "alice",
                  extra: [("destination.port", .int(22)), ("event.outcome", "failure")]),
        makeAlert(id: "a2", rule: "ssh-brute", time: base + hour, severity: 3, source: "10.0.1.7", destination: "192.168.1.11", user: "bob",
                  extra: [("destination.port", .int(2222))]),
        makeAlert(id: "a3", rule: "dns-tunnel", name: "DNS tunnelling", time: base + 2 * hour, severity: 4, source: "172.16.5.5",
                  destination: "8.8.8.8", user: nil, extra: [("dns.question.name", "x1.evil.example.com")],
                  sample: #"{"dns":{"question":{"name":"x1.evil.example.com"}},"source":{"ip":"172.16.5.5"}}"#),
        makeAlert(id: "a4", rule: "port-scan", time: base + 3 * hour, severity: 1, source: "2001:db8::5", destination: "2001:db8:1::1",
                  user: "carol", extra: [("event.outcome", "success"), ("vigil.triage.flag", .bool(true))]),
        makeAlert(id: "a5", rule: "port-scan", time: base + 4 * hour, severity: 0, source: nil, destination: nil, user: "o'reilly"),
    ]
}

@Suite struct AlertIndexTests {
    @Test(arguments: AlertIndexLayout.allCases) func upsertKeepsTheLatestCount(layout: AlertIndexLayout) throws {
        let dir = try TemporaryDirectory("vigil-index"); defer { dir.remove() }
        let index = try openIndex(dir, layout: layout); defer { index.close() }
        var r = try index.write(rows([makeAlert(id: "s1", time: base, count: 1)]))
        #expect(r.inserted == 1)
        r = try index.write(rows([makeAlert(id: "s1", time: base + 1000, count: 2), makeAlert(id: "s1", time: base + 2000, count: 3)]))
        #expect(r.updated == 2)
        // An older version replayed, and the same version again: no change.
        r = try index.write(rows([makeAlert(id: "s1", time: base + 1000, count: 2), makeAlert(id: "s1", time: base + 2000, count: 3)]))
        #expect(r.unchanged == 2 && r.updated == 0 && r.inserted == 0)
        let all = try index.alerts(AlertQuery())
        #expect(all.count == 1)
        #expect(all[0].count == 3 && all[0].time == base + 2000)
        #expect(all[0].json.contains(#""count":3"#))
        // Text index follows the latest version (no stale duplicates).
        var f = AlertFilter()
        f.text = try FullTextQuery("alice", filter: "text")
        #expect(try index.count(f) == 1)
        #expect(try index.stats(AlertFilter()).total == 1)
        #expect(try index.integrityProblems() == [])
        if layout == .rows {
            // The text index holds the latest version only: the earlier versions' entries were deleted.
            let ftsRows = try index.pool.read { db in try Int64.fetchAll(db, sql: "SELECT rowid FROM alerts_fts WHERE alerts_fts MATCH 'alice'") }
            #expect(ftsRows == [all[0].sequence])
        } else {
            // The earlier versions are marked dead; the latest is found by id.
            let dead = try index.pool.read { db in try Int64.fetchAll(db, sql: "SELECT seq FROM alert_dead ORDER BY seq") }
            #expect(dead.count == 2 && !dead.contains(all[0].sequence))
            #expect(try index.alert(id: "s1").alert.count == 3)
            #expect(try index.alert(id: "s1-3").alert.sequence == all[0].sequence)
        }
        // A new writer (a restart) finds the indexed versions on disk.
        index.close()
        let again = try openIndex(dir, layout: layout); defer { again.close() }
        r = try again.write(rows([makeAlert(id: "s1", time: base + 2000, count: 3), makeAlert(id: "s1", time: base + 3000, count: 4)]))
        #expect(r.unchanged == 1 && r.updated == 1 && r.inserted == 0)
        #expect(try again.alerts(AlertQuery()).map(\.count) == [4])
        #expect(try again.integrityProblems() == [])
    }

    @Test(arguments: AlertIndexLayout.allCases) func everyFilter(layout: AlertIndexLayout) throws {
        let dir = try TemporaryDirectory("vigil-index"); defer { dir.remove() }
        let index = try openIndex(dir, layout: layout); defer { index.close() }
        try index.write(rows(corpus()))
        var f = AlertFilter()
        #expect(try ids(index, f) == ["a1", "a2", "a3", "a4", "a5"])
        f.from = base + hour; f.to = base + 3 * hour
        #expect(try ids(index, f) == ["a2", "a3"])
        f = AlertFilter(); f.rules = ["port-scan", "dns-tunnel"]
        #expect(try ids(index, f) == ["a3", "a4", "a5"])
        f = AlertFilter(); f.minSeverity = 3
        #expect(try ids(index, f) == ["a2", "a3"])
        f = AlertFilter(); f.sources = [IPNetwork("10.0.0.0/16")!]
        #expect(try ids(index, f) == ["a1", "a2"])
        f.sources = [IPNetwork("10.0.0.0/24")!, IPNetwork("172.16.0.0/12")!]
        #expect(try ids(index, f) == ["a1", "a3"])
        f.sources = [IPNetwork("2001:db8::/32")!]
        #expect(try ids(index, f) == ["a4"])
        f.sources = [IPNetwork("0.0.0.0/0")!]
        #expect(try ids(index, f) == ["a1", "a2", "a3"])
        f = AlertFilter(); f.destinations = [IPNetwork("8.8.8.8")!]
        #expect(try ids(index, f) == ["a3"])
        f = AlertFilter(); f.fields = [try FilterParser.field("destination.port=22", filter: "--where")]
        #expect(try ids(index, f) == ["a1"])
        f.fields = [try FilterParser.field("event.outcome=failure", filter: "--where")]
        #expect(try ids(index, f) == ["a1"])
        f.fields = [try FilterParser.field("tags=attack.t1110", filter: "--where"), try FilterParser.field("user.name=bob", filter: "--where")]
        #expect(try ids(index, f) == ["a2"])
        f.fields = [try FilterParser.field("vigil.triage.flag=true", filter: "--where")]
        #expect(try ids(index, f) == ["a4"])
        f.fields = [try FilterParser.field("event.risk_score=80", filter: "--where")]
        #expect(try ids(index, f) == ["a3"])
        f.fields = [try FilterParser.field("@timestamp=\(Timestamp(nanoseconds: base).rfc3339)", filter: "--where")]
        #expect(try ids(index, f) == ["a1"])
        f = AlertFilter(); f.text = try FullTextQuery("bob", filter: "--text")
        #expect(try ids(index, f) == ["a2"])
        f.text = try FullTextQuery("evil.example.com", filter: "--text")
        #expect(try ids(index, f) == ["a3"])
        f.text = try FullTextQuery("10.0.1.7", filter: "--text")
        #expect(try ids(index, f) == ["a2"])
        f.text = try FullTextQuery("tunnelling", filter: "--text")  // the rule's name
        #expect(try ids(index, f) == ["a3"])
        f.text = try FullTextQuery("user_name:carol OR user_name:bob", filter: "--text")
        #expect(try ids(index, f) == ["a2", "a4"])
        f.text = try FullTextQuery("fail*", filter: "--text")
        #expect(try ids(index, f) == ["a1", "a2", "a4", "a5"])
        // Combined.
        f = AlertFilter(); f.rules = ["ssh-brute"]; f.minSeverity = 3; f.sources = [IPNetwork("10.0.0.0/8")!]
        #expect(try ids(index, f) == ["a2"])
    }

    @Test(arguments: AlertIndexLayout.allCases) func sortLimitOffsetAndStatus(layout: AlertIndexLayout) throws {
        let dir = try TemporaryDirectory("vigil-index"); defer { dir.remove() }
        let index = try openIndex(dir, layout: layout); defer { index.close() }
        try index.write(rows(corpus()))
        var q = AlertQuery()
        #expect(try index.alerts(q).map(\.id) == ["a5", "a4", "a3", "a2", "a1"])
        q.ascending = true
        #expect(try index.alerts(q).map(\.id) == ["a1", "a2", "a3", "a4", "a5"])
        q = AlertQuery(); q.sort = .severity
        #expect(try index.alerts(q).map(\.id) == ["a3", "a2", "a1", "a4", "a5"])
        q.limit = 2; q.offset = 1
        #expect(try index.alerts(q).map(\.id) == ["a2", "a1"])
        try index.setStatus(id: "a2", .acknowledged, by: "ana", comment: "looking")
        try index.setStatus(id: "a2-1", .closed, by: "ben", comment: nil)  // by event.id
        try index.setStatus(id: "a3", .acknowledged, by: "ana", comment: nil)
        var f = AlertFilter(); f.status = .closed
        #expect(try ids(index, f) == ["a2"])
        f.status = .open
        #expect(try ids(index, f) == ["a1", "a4", "a5"])
        let (alert, history) = try index.alert(id: "a2")
        #expect(alert.status == .closed)
        #expect(history.map(\.status) == [.acknowledged, .closed])
        #expect(history.map(\.actor) == ["ana", "ben"])
        #expect(history[0].comment == "looking")
        #expect(alert.json.contains(#""status":"closed""#))
        #expect(throws: AlertIndexError.self) { try index.setStatus(id: "nope", .closed, by: "x", comment: nil) }
    }

    @Test(arguments: AlertIndexLayout.allCases) func injectionLookingInputIsData(layout: AlertIndexLayout) throws {
        let dir = try TemporaryDirectory("vigil-index"); defer { dir.remove() }
        let index = try openIndex(dir, layout: layout); defer { index.close() }
        try index.write(rows(corpus() + [makeAlert(id: "x'); DROP TABLE alerts; --", rule: "r' OR '1'='1", time: base, user: "'; DELETE FROM alerts; --")]))
        var f = AlertFilter(); f.rules = ["' OR 1=1 --"]
        #expect(try ids(index, f).isEmpty)
        f.rules = ["r' OR '1'='1"]
        #expect(try ids(index, f) == ["x'); DROP TABLE alerts; --"])
        f = AlertFilter(); f.fields = [try FilterParser.field("user.name=' OR '1'='1", filter: "--where")]
        #expect(try ids(index, f).isEmpty)
        f.fields = [try FilterParser.field("user.name=o'reilly", filter: "--where")]
        #expect(try ids(index, f) == ["a5"])
        f = AlertFilter(); f.text = try FullTextQuery("'; DELETE FROM alerts; --", filter: "--text")
        #expect(try ids(index, f) == ["x'); DROP TABLE alerts; --"])
        #expect(try index.alert(id: "x'); DROP TABLE alerts; --").alert.ruleID == "r' OR '1'='1")
        #expect(try index.totalAlerts() == 6)
        #expect(throws: AlertIndexError.self) { try FilterParser.field("user.name') OR 1=1 --=x", filter: "--where") }
    }

    @Test func badFiltersNameTheFilter() throws {
        func message(_ body: () throws -> Void) -> String {
            do {
                try body()
                Issue.record("no error")
                return ""
            } catch let error as AlertIndexError {
                #expect(error.code == .badFilter)
                return error.message
            } catch {
                Issue.record("\(error)")
                return ""
            }
        }
        #expect(message { _ = try FilterParser.age("abc", filter: "--since") }.hasPrefix("--since:"))
        #expect(message { _ = try FilterParser.age("5y", filter: "--since") }.hasPrefix("--since:"))
        #expect(message { _ = try FilterParser.time("yesterday", filter: "--from") }.hasPrefix("--from:"))
        #expect(message { _ = try FilterParser.network("10.0.0.300", filter: "--source") }.hasPrefix("--source:"))
        #expect(message { _ = try FilterParser.network("10.0.0.0/33", filter: "--destination") }.hasPrefix("--destination:"))
        #expect(message { _ = try FilterParser.severity("huge", filter: "--min-severity") }.hasPrefix("--min-severity:"))
        #expect(message { _ = try FilterParser.field("no-equals", filter: "--where") }.hasPrefix("--where:"))
        #expect(message { _ = try FilterParser.field("a..b=1", filter: "--where") }.hasPrefix("--where:"))
        #expect(message { _ = try FilterParser.field("$.x=1", filter: "--where") }.hasPrefix("--where:"))
        #expect(message { _ = try FullTextQuery("\"unterminated", filter: "--text") }.hasPrefix("--text:"))
        #expect(message { _ = try FullTextQuery("(a OR", filter: "--text") }.hasPrefix("--text:"))
        #expect(message { _ = try FullTextQuery("nosuchcolumn:x", filter: "q") }.hasPrefix("q:"))
        #expect(message { _ = try FilterParser.status("done", filter: "--status") }.hasPrefix("--status:"))
        var r = AlertRequest()
        r.from = "2026-03-14T10:00:00Z"; r.to = "2026-03-14T09:00:00Z"
        #expect(message { _ = try r.query(name: { "--" + $0 }) }.hasPrefix("--to:"))
        r = AlertRequest(); r.since = "1h"; r.from = "2026-03-14T10:00:00Z"
        #expect(message { _ = try r.query(name: { "--" + $0 }) }.hasPrefix("--since:"))
        r = AlertRequest(); r.sort = "size"
        #expect(message { _ = try r.query(name: { "--" + $0 }) }.hasPrefix("--sort:"))
        r = AlertRequest(); r.limit = "0"
        #expect(message { _ = try r.query(name: { "--" + $0 }) }.hasPrefix("--limit:"))
    }

    @Test(arguments: AlertIndexLayout.allCases) func statsFromHourlyCountsEqualAScan(layout: AlertIndexLayout) throws {
        let dir = try TemporaryDirectory("vigil-index"); defer { dir.remove() }
        let index = try openIndex(dir, layout: layout); defer { index.close() }
        var random = SplitMix64(seed: 9)
        var events: [Event] = []
        for i in 0..<3000 {
            let t = base + Int64(random.next() % UInt64(100 * hour))
            events.append(makeAlert(id: "st\(i)", rule: "r\(random.next() % 7)", time: t, severity: Int(random.next() % 5),
                                    source: "10.0.\(random.next() % 4).\(random.next() % 250)"))
        }
        // Some updates moving alerts between hours.
        for i in 0..<200 { events.append(makeAlert(id: "st\(i)", rule: "r1", time: base + Int64(i) * 1_000_000_000, severity: 4, count: 2)) }
        try index.write(rows(Array(events.prefix(1700))))
        try index.write(rows(Array(events.dropFirst(1700))))
        var f = AlertFilter()
        f.from = base + 5 * hour + 123_456_789
        f.to = base + 60 * hour + 987_654_321
        f.minSeverity = 1
        let viaCounts = try index.stats(f, buckets: 24)
        #expect(viaCounts.fromHourlyCounts)
        // The same filter, forced through a scan (a filter the counts cannot answer that matches everything).
        var g = f
        g.fields = [try FilterParser.field("event.kind=alert", filter: "--where")]
        let viaScan = try index.stats(g, buckets: 24)
        #expect(!viaScan.fromHourlyCounts)
        #expect(viaCounts.total == viaScan.total)
        #expect(viaCounts.byRule == viaScan.byRule)
        #expect(viaCounts.histogram == viaScan.histogram)
        #expect(viaCounts.total == (try index.count(f)))
        #expect(viaCounts.histogram.reduce(0) { $0 + $1.count } == viaCounts.total)
        let expectedTop = try index.alerts({ var q = AlertQuery(filter: f); q.limit = 100_000; return q }())
            .reduce(into: [String: Int]()) { $0[$1.sourceIP!.description, default: 0] += 1 }
        #expect(viaCounts.topSources.first?.count == expectedTop.values.max())
        // Without a histogram, whole days come from the daily counts.
        for (from, to) in [(f.from, f.to), (nil, f.to), (f.from, nil), (nil, nil)] as [(Int64?, Int64?)] {
            var d = f
            d.from = from; d.to = to; d.minSeverity = nil
            var e = d
            e.fields = g.fields
            let a = try index.stats(d, parts: [.rules, .severities]), b = try index.stats(e, parts: [.rules, .severities])
            #expect(a.fromHourlyCounts && !b.fromHourlyCounts)
            #expect(a.total == b.total && a.byRule == b.byRule, "\(String(describing: from)) \(String(describing: to))")
        }
        #expect(try index.integrityProblems() == [])
    }

    @Test(arguments: AlertIndexLayout.allCases) func offsetsAreWrittenWithTheRows(layout: AlertIndexLayout) throws {
        let dir = try TemporaryDirectory("vigil-index"); defer { dir.remove() }
        let index = try openIndex(dir, layout: layout); defer { index.close() }
        try index.write(rows([makeAlert(id: "o1", time: base)]), offsets: [IndexedOffset(topic: "alerts", partition: 2, next: 41)])
        #expect(try index.nextOffset(topic: "alerts", partition: 2) == 41)
        #expect(try index.nextOffset(topic: "alerts", partition: 1) == nil)
        // A transaction that fails part-way (a trigger rejects the second row) leaves out its rows and its offsets.
        try index.pool.write { db in
            if layout == .rows {
                try db.execute(sql: "CREATE TEMP TRIGGER boom BEFORE INSERT ON alerts WHEN NEW.id = 'boom' BEGIN SELECT RAISE(ABORT, 'boom'); END")
            } else {
                try db.execute(sql: "CREATE TEMP TRIGGER boom BEFORE INSERT ON main.alert_block_rules WHEN NEW.rule_id = 'boom' BEGIN SELECT RAISE(ABORT, 'boom'); END")
            }
        }
        #expect(throws: AlertIndexError.self) {
            try index.write(rows([makeAlert(id: "o2", time: base), makeAlert(id: "boom", rule: "boom", time: base)]),
                            offsets: [IndexedOffset(topic: "alerts", partition: 2, next: 43)])
        }
        let reopened = try openIndex(dir, layout: layout); defer { reopened.close() }
        #expect(try reopened.nextOffset(topic: "alerts", partition: 2) == 41)
        #expect(try reopened.totalAlerts() == 1)
    }

    @Test(arguments: AlertIndexLayout.allCases) func retentionByAgeAndSize(layout: AlertIndexLayout) throws {
        let dir = try TemporaryDirectory("vigil-index"); defer { dir.remove() }
        let now = base + 100 * hour
        do {
            let index = try openIndex(dir, retention: 10 * hour, layout: layout); defer { index.close() }
            var events: [Event] = []
            for i in 0..<100 { events.append(makeAlert(id: "ret\(i)", time: base + Int64(i) * hour + 5)) }
            try index.write(rows(events))
            try index.setStatus(id: "ret5", .closed, by: "x", comment: nil)
            let r = try index.applyRetention(now: now)
            // Hours before the one holding now - 10h are gone: alerts 0...89 (alert 90 is in that hour).
            #expect(r.deletedByAge == 90)
            #expect(try index.totalAlerts() == 10)
            #expect(try index.stats(AlertFilter()).total == 10)
            var f = AlertFilter(); f.text = try FullTextQuery("alice", filter: "t")
            #expect(try index.count(f) == 10)
            if layout == .rows {
                let ftsRows = try index.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM alerts_fts WHERE alerts_fts MATCH 'alice'") }
                #expect(ftsRows == 10)
            }
            #expect(try index.integrityProblems() == [])
        }
        let dir2 = try TemporaryDirectory("vigil-index"); defer { dir2.remove() }
        let index = try openIndex(dir2, maxSize: 2 << 20, layout: layout); defer { index.close() }
        var events: [Event] = []
        // Padding that does not compress (bodies and text are stored compressed).
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        func pad() -> String {
            let letters = Array("abcdefghijklmnopqrstuvwxyz0123456789")
            return String((0..<2000).map { _ in
                seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return letters[Int(seed >> 33) % letters.count]
            })
        }
        for i in 0..<3000 { events.append(makeAlert(id: "big\(i)", time: base + Int64(i) * 60_000_000_000, sample: #"{"pad":"\#(pad())\#(i)"}"#)) }
        try index.write(rows(events))
        #expect(try index.usedBytes() > 2 << 20)
        let r = try index.applyRetention(now: now)
        #expect(r.deletedBySize > 1000 && r.deletedBySize < 3000)
        let left = try index.alerts({ var q = AlertQuery(); q.limit = 5000; q.ascending = true; return q }())
        #expect(left.count == 3000 - r.deletedBySize)
        // The oldest went first.
        #expect(left.first!.id == "big\(r.deletedBySize)")
        let v = try index.vacuum()
        if layout == .blocks {
            // Vacuum wrote the partly deleted block again without its dead alerts.
            #expect(try index.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM alert_dead") } == 0)
        }
        #expect(v.bytes <= 2 << 20)
        #expect(try index.integrityProblems() == [])
    }

    @Test(arguments: AlertIndexLayout.allCases) func queriesRunWhileTheIndexerWrites(layout: AlertIndexLayout) throws {
        let dir = try TemporaryDirectory("vigil-index"); defer { dir.remove() }
        let index = try openIndex(dir, layout: layout); defer { index.close() }
        let batches = 40, perBatch = 500
        let writer = Thread {
            for b in 0..<batches {
                var events: [Event] = []
                for i in 0..<perBatch { events.append(makeAlert(id: "c\(b)-\(i)", rule: "r\(i % 3)", time: base + Int64(b * perBatch + i) * 1_000_000)) }
                _ = try? index.write(try! rows(events))
            }
        }
        writer.start()
        var last = 0
        var reads = 0
        var consistent = true
        let deadline = Date().addingTimeInterval(120)
        while last < batches * perBatch && Date() < deadline {
            let n = try index.totalAlerts()
            // Every snapshot holds whole batches, never fewer than before.
            if n % perBatch != 0 || n < last { consistent = false }
            let s = try index.stats(AlertFilter(), parts: [.rules])
            if s.total < n { consistent = false }
            var f = AlertFilter(); f.rules = ["r1"]
            _ = try index.alerts(AlertQuery(filter: f))
            last = n
            reads += 1
        }
        #expect(consistent)
        #expect(reads > 1)
        #expect(try index.stats(AlertFilter()).total == batches * perBatch)
        try index.optimize(full: false)
        if layout == .rows {
            let stats = try index.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'alerts'") }
            let indexes = try index.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'alerts' AND sql IS NOT NULL") }
            #expect(indexes == 5)
            #expect((stats ?? 0) >= 5, "planner statistics for the alerts indexes")
        } else {
            let blocks = try index.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM alert_blocks") }
            #expect(blocks == batches, "one block per write of 500")
        }
        #expect(try index.integrityProblems() == [])
    }

    func ftsSettings(_ index: AlertIndex, _ table: String) throws -> [String: Int] {
        try index.pool.read { db in
            Dictionary(uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT k, v FROM \(table)_config WHERE k IN ('automerge', 'hashsize')").map { ($0[0], $0[1]) })
        }
    }

    /// A new index's text indexes merge 8 segments at a time and keep 32 MiB of pending terms
    /// (migration v4), and full-text queries find what they found before.
    @Test func theTextIndexesMergeEightSegmentsAtATime() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let index = try openIndex(dir)
        defer { index.close() }
        #expect(try ftsSettings(index, "block_fts") == ["automerge": 8, "hashsize": 33_554_432])
        #expect(try ftsSettings(index, "alerts_fts") == ["automerge": 8, "hashsize": 33_554_432])
        // Many small transactions: segments to merge.
        for b in 0..<40 {
            try index.write(rows((0..<20).map { makeAlert(id: "t\(b)-\($0)", time: base + Int64(b * 20 + $0) * 1_000_000_000, user: "user\(($0 + b) % 30)") }))
        }
        var f = AlertFilter()
        f.text = try FullTextQuery("user7", filter: "text")
        #expect(try index.count(f) == (0..<40).map { b in (0..<20).filter { ($0 + b) % 30 == 7 }.count }.reduce(0, +))
        #expect(try index.integrityProblems() == [])
    }

    @Test func migratesAVersion1IndexAndCheckpointsOffTheWriter() throws {
        let dir = try TemporaryDirectory()
        // A database as the first schema left it, with alerts in it.
        do {
            var config = Configuration()
            config.prepareDatabase { db in try db.execute(sql: "PRAGMA page_size = 16384") }
            let pool = try DatabasePool(path: dir.file("alerts.db"), configuration: config)
            try AlertIndex.migrator.migrate(pool, upTo: "v1")
            try pool.close()
        }
        do {
            let index = try openIndex(dir)
            try index.write(rows([makeAlert(id: "a1", time: base), makeAlert(id: "a2", rule: "port-scan", time: base + hour, severity: 4)]))
            let names = try index.pool.read { db in
                try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'alerts' AND sql IS NOT NULL ORDER BY name")
            }
            #expect(names == ["alerts_destination", "alerts_id", "alerts_rule_time", "alerts_source", "alerts_time"])
            // Migration v4's full-text settings reach the text index of the old schema too.
            #expect(try ftsSettings(index, "alerts_fts") == ["automerge": 8, "hashsize": 33_554_432])
            var f = AlertFilter(); f.minSeverity = 3
            #expect(try ids(index, f) == ["a2"])
            f = AlertFilter(); f.text = try FullTextQuery("alice", filter: "text")
            #expect(try ids(index, f) == ["a1", "a2"])
            index.close()
        }
        // Closing truncated the log: everything is in the database file.
        let wal = (try? FileManager.default.attributesOfItem(atPath: dir.file("alerts.db-wal"))[.size] as? Int) ?? 0
        #expect(wal == 0)
        let reopened = try openIndex(dir)
        #expect(try reopened.stats(AlertFilter()).total == 2)
        #expect(try reopened.integrityProblems().isEmpty)
    }

    @Test func fewAlertsOfLargeBlocksByAddressAndText() throws {
        let dir = try TemporaryDirectory("vigil-index"); defer { dir.remove() }
        let index = try openIndex(dir); defer { index.close() }
        var events: [Event] = []
        for i in 0..<5000 {
            events.append(makeAlert(id: "big\(i)", rule: "r\(i % 7)", time: base + Int64(i) * 1_000_000_000,
                                    source: "10.\(i % 3).\(i % 250).1", user: "u\(i % 400)"))
        }
        try index.write(rows(events))
        func expected(_ keep: (Int) -> Bool, from: Int = 0) -> Set<String> { Set((from..<5000).filter(keep).map { "big\($0)" }) }
        var byAddress = AlertFilter()
        byAddress.sources = [IPNetwork("10.1.7.0/24")!]
        var byText = AlertFilter()
        byText.text = try FullTextQuery("u123", filter: "--text")
        #expect(try ids(index, byAddress, limit: 10_000) == expected { $0 % 3 == 1 && $0 % 250 == 7 })
        #expect(try ids(index, byText, limit: 10_000) == expected { $0 % 400 == 123 })
        var q = AlertQuery(filter: byText)
        q.limit = 3
        #expect(try index.alerts(q).map(\.id) == ["big4923", "big4523", "big4123"])
        // Retention writes the first block again without its deleted alerts: sequence numbers
        // and slots differ from then on.
        #expect(try index.blockDeleteBefore(base + 1500 * 1_000_000_000) == 1500)
        #expect(try ids(index, byAddress, limit: 10_000) == expected({ $0 % 3 == 1 && $0 % 250 == 7 }, from: 1500))
        #expect(try ids(index, byText, limit: 10_000) == expected({ $0 % 400 == 123 }, from: 1500))
        #expect(try index.alert(id: "big1523").alert.userName == "u323")
        #expect(try index.integrityProblems() == [])
    }

    @Test func anIndexKeepsItsLayout() throws {
        let dir = try TemporaryDirectory("vigil-index"); defer { dir.remove() }
        // A version 2 database with alerts (made before layouts existed) keeps them in rows.
        do {
            let pool = try DatabasePool(path: dir.file("alerts.db"))
            try AlertIndex.migrator.migrate(pool, upTo: "v2")
            try pool.write { db in
                try db.execute(sql: "INSERT INTO alerts(seq, id, time, rule_id, severity, count, json) VALUES (1, 'old', ?, 'r', 1, 1, '{}')", arguments: [base])
            }
            try pool.close()
        }
        let index = try AlertIndex(configuration: AlertIndexConfiguration(path: dir.file("alerts.db")))
        #expect(index.layout == .rows)
        #expect(try index.totalAlerts() == 1)
        try index.write(rows([makeAlert(id: "new", time: base + hour)]))
        #expect(try ids(index, AlertFilter()) == ["old", "new"])
        index.close()
        // A new database takes the configured layout and keeps it whatever is configured later.
        let dir2 = try TemporaryDirectory("vigil-index"); defer { dir2.remove() }
        try openIndex(dir2, layout: .rows).close()
        let again = try AlertIndex(configuration: AlertIndexConfiguration(path: dir2.file("alerts.db")))
        #expect(again.layout == .rows)
        again.close()
        let dir3 = try TemporaryDirectory("vigil-index"); defer { dir3.remove() }
        try openIndex(dir3).close()
        var c = AlertIndexConfiguration(path: dir3.file("alerts.db"))
        c.layout = .rows
        let blocks = try AlertIndex(configuration: c)
        #expect(blocks.layout == .blocks)
        blocks.close()
        // With nothing configured, a new database stores blocks.
        let dir4 = try TemporaryDirectory("vigil-index"); defer { dir4.remove() }
        let fresh = try AlertIndex(configuration: AlertIndexConfiguration(path: dir4.file("alerts.db")))
        #expect(fresh.layout == .blocks)
        fresh.close()
    }

    /// A block whose columns are damaged (rule numbers, string ends or a string's length pointing
    /// past its bytes) makes queries fail with an error that says so; nothing reads out of bounds.
    @Test(arguments: ["rule", "ends", "length"]) func aDamagedBlockIsAnErrorNotACrash(damage: String) throws {
        let dir = try TemporaryDirectory("vigil-index"); defer { dir.remove() }
        let index = try openIndex(dir); defer { index.close() }
        try index.write(rows(corpus()))
        try index.pool.write { db in
            var blob = [UInt8](try Data.fetchOne(db, sql: "SELECT columns FROM alert_block_columns")!)
            let n = Int(blob[1]) | Int(blob[2]) << 8
            let endsAt = Int(blob[7]) | Int(blob[8]) << 8 | Int(blob[9]) << 16
            let ruleAt = endsAt - 4 * n - 8 * n - 2 * 17 * n - 2 * n  // offsets, fingerprints, addresses, rules
            switch damage {
            case "rule": blob[ruleAt + 2] = 0xEE                                         // slot 1's rule number
            case "ends": for i in 0..<4 { blob[endsAt + 4 + i] = i == 3 ? 0x7F : 0xFF }  // slot 1's end of strings
            default: blob[endsAt + 4 * n] = 0xF0                                        // slot 0's id length
            }
            try db.execute(sql: "UPDATE alert_block_columns SET columns = ?", arguments: [Data(blob)])
        }
        var f = AlertFilter()
        f.rules = ["ssh-brute"]
        #expect(throws: AlertIndexError.self) { try index.count(f) }
        do {
            _ = try index.alerts(AlertQuery())
            Issue.record("a damaged block was read")
        } catch {
            #expect("\(error)".contains("unreadable alert block"), "\(error)")
        }
    }

    @Test func ipKeysOrderLikeAddresses() throws {
        let net = IPNetwork("10.1.0.0/16")!
        let (lo, hi) = IPKey.range(net)
        for text in ["10.1.0.0", "10.1.255.255", "10.1.7.9"] {
            let k = IPKey.key(IPAddress(text)!)
            #expect(k.lexicographicallyPrecedes(hi) || k == hi)
            #expect(lo.lexicographicallyPrecedes(k) || k == lo)
        }
        for text in ["10.2.0.0", "10.0.255.255", "::a01:0"] {
            let k = IPKey.key(IPAddress(text)!)
            #expect(k.lexicographicallyPrecedes(lo) || hi.lexicographicallyPrecedes(k))
        }
        #expect(IPKey.address(IPKey.key(IPAddress("2001:db8::1")!)) == IPAddress("2001:db8::1"))
    }

    @Test(arguments: AlertIndexLayout.allCases) func textMatchesAlertsAndRulesInTimeOrderWithPaging(layout: AlertIndexLayout) throws {
        let dir = try TemporaryDirectory("vigil-index"); defer { dir.remove() }
        let index = try openIndex(dir, layout: layout); defer { index.close() }
        var events: [Event] = []
        // "watch" is in the name of rule w (every third alert) and the user of every fifth.
        for i in 0..<60 {
            let rule = i % 3 == 0 ? "w" : "r\(i % 3)"
            events.append(makeAlert(id: "t\(i)", rule: rule, name: rule == "w" ? "Night watch" : "Other", time: base + Int64((i * 37) % 60) * 1_000_000_000,
                                    severity: i % 5, user: i % 5 == 0 ? "watch" : "u\(i)"))
        }
        try index.write(rows(events))
        let matching = events.filter { $0["rule.id"]?.stringValue == "w" || $0["user.name"]?.stringValue == "watch" }
        let byTime = matching.sorted { ($0[.timestamp]!.timestampValue!, $0["vigil.alert.id"]!.stringValue!) > ($1[.timestamp]!.timestampValue!, $1["vigil.alert.id"]!.stringValue!) }
            .map { $0["vigil.alert.id"]!.stringValue! }
        var q = AlertQuery()
        q.filter.text = try FullTextQuery("watch", filter: "--text")
        q.limit = 7
        var pages: [String] = []
        for page in 0..<4 {
            q.offset = page * 7
            pages += try index.alerts(q).map(\.id)
        }
        #expect(pages == byTime, "\(pages) vs \(byTime)")
        // With a severity filter too, and ascending.
        q.filter.minSeverity = 3
        q.offset = 0; q.limit = 100; q.ascending = true
        let expected = matching.filter { ($0["event.severity"]?.intValue ?? 0) >= 3 }
            .sorted { $0[.timestamp]!.timestampValue! < $1[.timestamp]!.timestampValue! }.map { $0["vigil.alert.id"]!.stringValue! }
        #expect(try index.alerts(q).map(\.id) == expected)
        #expect(try index.count(q.filter) == expected.count)
    }

    @Test func searchTextKeepsStringValues() {
        let text = AlertRow.searchText(#"{"@timestamp":"2026-03-14T09:20:00.5Z","message":"Failed \"pw\" for bob","source":{"ip":"10.0.0.1","port":22},"tags":["a","b"],"ok":true}"#)
        #expect(text == #"Failed \"pw\" for bob 10.0.0.1 a b"#)
        #expect(AlertRow.searchText("plain text") == "plain text")
        #expect(AlertRow.searchText(#"{"unterminated":"abc"#) == "abc")
    }

    @Test(arguments: AlertIndexLayout.allCases) func renderings(layout: AlertIndexLayout) throws {
        let dir = try TemporaryDirectory("vigil-index"); defer { dir.remove() }
        let index = try openIndex(dir, layout: layout); defer { index.close() }
        try index.write(rows([makeAlert(id: "r1", rule: "a,b", time: base, severity: 4, user: "say \"hi\"")]))
        let alerts = try index.alerts(AlertQuery())
        let csv = AlertRendering.csv(alerts)
        #expect(csv[0] == "time,severity,rule,count,source,destination,user,status,id")
        #expect(csv[1].contains(#""a,b""#) && csv[1].contains(#""say ""hi""""#))
        let plain = AlertRendering.table(alerts, colour: false)
        #expect(!plain.joined().contains("\u{1B}"))
        #expect(plain[0].hasPrefix("TIME"))
        let coloured = AlertRendering.table(alerts, colour: true)
        #expect(coloured[1].contains("\u{1B}[1;31mcritical"))
        let obj = try JSONSerialization.jsonObject(with: Data(alerts[0].json.utf8)) as? [String: Any]
        let vigil = (obj?["vigil"] as? [String: Any])?["alert"] as? [String: Any]
        #expect(vigil?["sample"] is String)
        #expect(vigil?["status"] as? String == "open")
    }
}
