import Foundation
import VigilBroker
import VigilCore
import VigilIndex

/// `vigil bench index`: indexes N synthetic alerts (50 rules, sources over 10.0.0.0/8, 5,000
/// users, a ~300-byte sample each, spread over 30 days) into a fresh alert index, then measures
/// the latency of four queries over many runs: the last hour of one rule, one source /24, a
/// full-text term (a user name), and stats by rule over the whole index. The alerts are first
/// produced to an alerts topic in the embedded broker (not timed); the timed part is the
/// indexer of `vigil run` draining that topic (reading and decoding records, building rows,
/// SQLite transactions of `index.batch_size` alerts with their offsets). Peer: Python's sqlite3
/// module (WAL, three indexes) inserting rows of the same shape.
public struct IndexBenchmark {
    public struct Options: Sendable {
        public var alerts = 10_000_000
        public var directory: String
        /// Alerts per indexer transaction (`index.batch_size`).
        public var batch = IndexerConfiguration().batchSize
        /// Layout of the index.
        public var layout: AlertIndexLayout = .blocks
        /// Partitions of the alerts topic.
        public var partitions = 4
        /// Days the alerts' times span, evenly, ending now.
        public var days: Double = 30
        public var queryRuns = 100
        /// Rows the Python peer inserts (it is slow): default min(alerts, 1,000,000).
        public var peerAlerts: Int?
        public var python = "python3"
        public var skipPeer = false
        public var keep = false
        public init(directory: String) { self.directory = directory }
    }

    public struct QueryResult: Sendable {
        public var name: String
        public var p50: Double
        public var p99: Double
        /// Rows the query returned, averaged over the runs.
        public var meanRows: Double
    }

    public struct Result: Sendable {
        public var alerts: Int
        public var insertSeconds: Double
        public var insertPerSecond: Double { Double(alerts) / insertSeconds }
        /// CPU time of the process (every thread: decoding, the writer, the checkpointer) while indexing.
        public var insertCPUSeconds: Double
        public var insertPerCPUSecond: Double { Double(alerts) / insertCPUSeconds }
        /// CPU time of the indexer's writer thread (SQLite and the layout's encoding), per alert.
        public var writerCPUMicrosecondsPerAlert: Double
        public var bytes: Int64
        public var analyzeSeconds: Double
        public var queries: [QueryResult]
        public var peerRows: Int
        public var peerPerSecond: Double?
        public var peerGroupByMilliseconds: Double?
        public var peerNote: String?
        public var cores: Int
    }

    public let options: Options
    let progress: (String) -> Void

    public init(options: Options, progress: @escaping (String) -> Void) {
        self.options = options
        self.progress = progress
    }

    static let rules = 50
    static let users = 5000

    /// A deterministic generator (SplitMix64).
    struct Random {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// Alert `i` of `n` spread evenly over the `span` ns ending at `end`.
    static func alert(_ i: Int, of n: Int, end: Int64, span: Int64, random r: inout Random) -> Event {
        let rule = Int(r.next() % UInt64(rules))
        let time = end - span + Int64(Double(i) / Double(max(1, n)) * Double(span)) + Int64(r.next() % 1_000_000_000)
        let src = IPAddress(v4: 0x0A00_0000 | UInt32(truncatingIfNeeded: r.next() & 0xFF_FFFF))
        let dst = IPAddress(v4: 0xC0A8_0000 | UInt32(truncatingIfNeeded: r.next() & 0xFFFF))
        let user = "user\(r.next() % UInt64(users))"
        let port = Int64(1024 + r.next() % 60000)
        let id = String(UInt64(i) &* 0x9E37_79B9_7F4A_7C15 ^ 0x5EED, radix: 16)
        var sample = Event()
        sample[.timestamp] = .timestamp(Timestamp(nanoseconds: time))
        sample["event.action"] = "ssh_login"
        sample["event.outcome"] = "failure"
        sample["source.ip"] = .ip(src)
        sample["source.port"] = .int(port)
        sample["destination.ip"] = .ip(dst)
        sample["destination.port"] = .int(22)
        sample["user.name"] = .string(user)
        sample["host.name"] = .string("web-\(r.next() % 200)")
        sample["message"] = .string("Failed password for \(user) from \(src) port \(port) ssh2")
        var a = Event()
        a[.timestamp] = .timestamp(Timestamp(nanoseconds: time))
        a["event.kind"] = "alert"
        a["event.id"] = .string("\(id)-1")
        a["vigil.alert.id"] = .string(id)
        a["vigil.alert.count"] = .int(1)
        a["vigil.alert.key"] = .string(src.description)
        a["rule.id"] = .string("bench-rule-\(rule)")
        a["rule.name"] = .string("Synthetic detection \(rule)")
        a["rule.description"] = .string("Benchmark rule number \(rule) over authentication failures")
        a["event.severity"] = .int(Int64(rule % 5))
        a["vigil.alert.severity"] = .string(AlertSeverity.name(rule % 5))
        a["event.risk_score"] = .float(Double(rule % 5) * 25)
        a["tags"] = .array(["attack.credential_access", "attack.t1110"])
        a["source.ip"] = .ip(src)
        a["destination.ip"] = .ip(dst)
        a["user.name"] = .string(user)
        a["event.dataset"] = "system.auth"
        a["vigil.alert.sample"] = .string(EventJSON.encodeString(sample))
        return a
    }

    public func run() throws -> Result {
        let fm = FileManager.default
        try? fm.removeItem(atPath: options.directory)
        try fm.createDirectory(atPath: options.directory, withIntermediateDirectories: true)
        defer { if !options.keep { try? fm.removeItem(atPath: options.directory) } }
        let n = options.alerts
        let end = (Timestamp.now().nanoseconds / 3_600_000_000_000) * 3_600_000_000_000
        let span = Int64(options.days * 86_400e9)

        // 1. The alerts topic (not timed): the records the rule engine would have produced, in
        // the embedded broker, keyed by alert id.
        var logConfig = LogConfiguration()
        logConfig.retentionAgeNanoseconds = nil
        logConfig.segmentBytes = 512 << 20
        let log = try EmbeddedLog(dataDirectory: options.directory + "/broker", configuration: logConfig)
        try log.createTopic("alerts", partitions: options.partitions)
        var writers: [PartitionWriter] = []
        for p in 0..<options.partitions { writers.append(try log.openWriter(topic: "alerts", partition: p)) }
        var batches = (0..<options.partitions).map { _ in BatchBuilder(capacity: 1 << 20) }
        var random = Random(state: 42)
        var value: [UInt8] = []
        var lastReport = Date()
        progress("producing \(n) synthetic alerts to the alerts topic (\(options.partitions) partitions; not timed)…")
        for i in 0..<n {
            let event = Self.alert(i, of: n, end: end, span: span, random: &random)
            value.removeAll(keepingCapacity: true)
            EventBinaryCodec.encode(event, into: &value)
            let id = Array((event["vigil.alert.id"]?.stringValue ?? "").utf8)
            let p = id.withUnsafeBytes { Partitioner.partition(for: $0, count: options.partitions) }
            id.withUnsafeBytes { k in value.withUnsafeBytes { v in batches[p].append(key: k, value: v, timestamp: end) } }
            if batches[p].count == 512 { try writers[p].append(&batches[p]) }
            if i % 65_536 == 0 && Date().timeIntervalSince(lastReport) > 10 {
                lastReport = Date()
                progress("produced \(i) of \(n) alerts")
            }
        }
        for p in 0..<options.partitions where !batches[p].isEmpty { try writers[p].append(&batches[p]) }
        for w in writers { try w.close() }
        // The topic's dirty pages go to disk now, not during the timed part: at the default
        // 10,000,000 alerts they are ~7 GB, and the kernel's writeback of them would otherwise
        // take CPU from the indexer for most of its run.
        let s0 = Date()
        sync()
        progress(String(format: "wrote the topic to disk (sync: %.1f s; not timed)", Date().timeIntervalSince(s0)))

        // 2. Timed: the indexer of `vigil run` consumes the topic into a fresh index (decoding,
        // building rows and SQLite), until every partition is indexed.
        let path = options.directory + "/alerts.db"
        var config = AlertIndexConfiguration(path: path)
        // The row layout's five indexes need a large page cache; the block layout runs with
        // `vigil run`'s default.
        if options.layout == .rows { config.cacheKiB = 1_048_576 }
        config.layout = options.layout
        let index = try AlertIndex(configuration: config)
        defer { index.close() }
        var indexerConfig = IndexerConfiguration()
        indexerConfig.batchSize = options.batch
        let indexer = Indexer(broker: log, index: index, configuration: indexerConfig,
                              onReject: { reason, _ in FileHandle.standardError.write(Data("rejected: \(reason)\n".utf8)) })
        let started = Date()
        let progress = self.progress
        var lastCount: Int64 = 0
        indexer.onCommit = { _, written in
            lastCount += written
            if Date().timeIntervalSince(lastReport) > 10 {
                lastReport = Date()
                progress(String(format: "indexed %lld of %d alerts (%.0f alerts/s so far)", lastCount, n, Double(lastCount) / Date().timeIntervalSince(started)))
            }
        }
        let c0 = Self.processCPU()
        let t0 = DispatchTime.now().uptimeNanoseconds
        let counters = try indexer.run(stop: .drain, shouldStop: { false })
        // The checkpointer's last copy belongs to the work: close waits for it.
        let insertSeconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        let cpuSeconds = Self.processCPU() - c0
        guard counters.inserted == Int64(n), counters.rejected == 0 else {
            throw AlertIndexError(.database, "the benchmark indexed \(counters.inserted) of \(n) alerts (\(counters.rejected) rejected)")
        }
        progress(String(format: "indexed %d alerts in %.1f s: %.0f alerts/s (%.1f CPU s, %d transactions; the writer waited %.2f s for %d log restarts)",
                        n, insertSeconds, Double(n) / insertSeconds, cpuSeconds, counters.transactions,
                        index.logRestartWaitSeconds, index.logRestarts))
        let a0 = Date()
        try index.optimize()
        let analyzeSeconds = Date().timeIntervalSince(a0)

        // Queries.
        var queries: [QueryResult] = []
        func measure(_ name: String, _ body: (inout Random) throws -> Int) rethrows {
            var r = Random(state: 7)
            _ = try body(&r)  // warm-up
            var times: [Double] = []
            var rows = 0
            for _ in 0..<options.queryRuns {
                let t0 = DispatchTime.now().uptimeNanoseconds
                rows += try body(&r)
                times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
            }
            times.sort()
            func pct(_ p: Double) -> Double { times[min(times.count - 1, Int((Double(times.count) * p).rounded(.up)) - 1)] }
            let q = QueryResult(name: name, p50: pct(0.5), p99: pct(0.99), meanRows: Double(rows) / Double(options.queryRuns))
            progress(String(format: "%@: p50 %.2f ms, p99 %.2f ms (%.0f rows)", name, q.p50, q.p99, q.meanRows))
            queries.append(q)
        }
        try measure("last_hour_one_rule") { r in
            var f = AlertFilter()
            f.from = end - 3_600_000_000_000
            f.to = end
            f.rules = ["bench-rule-\(r.next() % UInt64(Self.rules))"]
            return try index.alerts(AlertQuery(filter: f)).count
        }
        try measure("source_cidr_24") { r in
            var f = AlertFilter()
            f.sources = [IPNetwork(address: IPAddress(v4: 0x0A00_0000 | UInt32(truncatingIfNeeded: r.next() & 0xFF_FF00)), prefixLength: 24)!]
            return try index.alerts(AlertQuery(filter: f)).count
        }
        try measure("full_text_term") { r in
            var f = AlertFilter()
            f.text = try FullTextQuery("user\(r.next() % UInt64(Self.users))", filter: "text")
            return try index.alerts(AlertQuery(filter: f)).count
        }
        try measure("stats_by_rule") { _ in
            try index.stats(AlertFilter(), parts: [.rules]).byRule.count
        }
        let bytes = (try? fm.attributesOfItem(atPath: path)[.size] as? Int64) ?? 0

        // Peer.
        var peerRate: Double?, peerGroupBy: Double?, note: String?
        let peerRows = options.peerAlerts ?? min(n, 1_000_000)
        if !options.skipPeer {
            progress("python sqlite3 peer: inserting \(peerRows) rows")
            let out = PeerProcess.python(options.python, ["-c", Self.peerScript, options.directory + "/peer.db", String(peerRows), String(options.batch)])
            if out.status == 0, let line = out.output.split(separator: "\n").last,
               let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
               let s = obj["seconds"] as? Double {
                peerRate = Double(peerRows) / s
                peerGroupBy = obj["group_by_ms"] as? Double
                note = obj["sqlite"] as? String
            } else {
                note = "python peer failed: \(out.output.suffix(300))"
            }
        }
        return Result(alerts: n, insertSeconds: insertSeconds, insertCPUSeconds: cpuSeconds,
                      writerCPUMicrosecondsPerAlert: Double(counters.writerCPUNanoseconds) / 1000 / Double(max(1, n)), bytes: bytes, analyzeSeconds: analyzeSeconds, queries: queries,
                      peerRows: peerRows, peerPerSecond: peerRate, peerGroupByMilliseconds: peerGroupBy, peerNote: note,
                      cores: ProcessInfo.processInfo.activeProcessorCount)
    }

    /// CPU seconds used by the process (all threads).
    static func processCPU() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Rows of the same shape (id, time, rule, severity, IPs as text, user, alert JSON with a
    /// sample), executemany per batch in one transaction; generation is not timed.
    static let peerScript = #"""
import sqlite3, sys, time, json, random
path, n, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
con = sqlite3.connect(path, isolation_level=None)
con.execute("PRAGMA journal_mode=WAL")
con.execute("PRAGMA synchronous=NORMAL")
con.execute("CREATE TABLE alerts(id TEXT, time INTEGER, rule_id TEXT, severity INTEGER, source_ip TEXT, destination_ip TEXT, user_name TEXT, json TEXT)")
con.execute("CREATE INDEX alerts_time ON alerts(time)")
con.execute("CREATE INDEX alerts_rule ON alerts(rule_id)")
con.execute("CREATE INDEX alerts_source ON alerts(source_ip)")
rnd = random.Random(42)
end = int(time.time()) * 10**9
span = 30 * 86400 * 10**9
total = 0.0
for start in range(0, n, batch):
    rows = []
    for i in range(start, min(n, start + batch)):
        rule = rnd.randrange(50)
        t = end - span + int(i / n * span)
        src = "10.%d.%d.%d" % (rnd.randrange(256), rnd.randrange(256), rnd.randrange(256))
        dst = "192.168.%d.%d" % (rnd.randrange(256), rnd.randrange(256))
        user = "user%d" % rnd.randrange(5000)
        sample = json.dumps({"@timestamp": t, "event": {"action": "ssh_login", "outcome": "failure"}, "source": {"ip": src, "port": 40000},
                             "destination": {"ip": dst, "port": 22}, "user": {"name": user}, "host": {"name": "web-%d" % rnd.randrange(200)},
                             "message": "Failed password for %s from %s port 40000 ssh2" % (user, src)})
        doc = json.dumps({"@timestamp": t, "event": {"kind": "alert", "severity": rule % 5}, "rule": {"id": "bench-rule-%d" % rule,
                          "name": "Synthetic detection %d" % rule}, "source": {"ip": src}, "destination": {"ip": dst}, "user": {"name": user},
                          "vigil": {"alert": {"id": "%x" % i, "count": 1, "sample": sample}}})
        rows.append(("%x" % i, t, "bench-rule-%d" % rule, rule % 5, src, dst, user, doc))
    t0 = time.perf_counter()
    con.execute("BEGIN")
    con.executemany("INSERT INTO alerts VALUES (?,?,?,?,?,?,?,?)", rows)
    con.execute("COMMIT")
    total += time.perf_counter() - t0
times = []
for _ in range(5):
    t0 = time.perf_counter()
    con.execute("SELECT rule_id, count(*) FROM alerts GROUP BY rule_id").fetchall()
    times.append((time.perf_counter() - t0) * 1000)
times.sort()
print(json.dumps({"rows": n, "seconds": total, "group_by_ms": times[2], "sqlite": sqlite3.sqlite_version}))
"""#
}
