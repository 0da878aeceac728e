import Foundation
import Testing
import VigilTestSupport

private let kafkaBootstrap = ProcessInfo.processInfo.environment["VIGIL_KAFKA_BOOTSTRAP"].flatMap { $0.isEmpty ? nil : $0 }
private let noKafka = """
    VIGIL_KAFKA_BOOTSTRAP is unset: no Kafka broker to run the pipeline on. \
    Start one with: eval "$(scripts/kafka-test-env.sh start)" (docs/kafka.md)
    """

/// `vigil run --role sensor|stream` in separate processes: on the embedded broker sharing one data
/// directory, and on Kafka (Tansu on loopback). A sensor tails an sshd log through the syslog
/// parser; two stream processes share the events partitions; the starter rules' alerts must be
/// exactly those of one uninterrupted `vigil ingest` + `vigil stream --drain`, each once, also
/// when a stream process is killed with SIGKILL midway and restarted.
@Suite(.serialized) struct PipelineRolesTests {
    let vigil = productsDirectory() + "/vigil"

    /// A crafted sshd log in syslog format: `lines` lines over a few hours, failed logins from
    /// 400 sources, a few of them in bursts (brute force, password spraying), accepted logins
    /// between them.
    static func sshLog(lines: Int, seed: UInt64) -> [String] {
        var random = SplitMix64(seed: seed)
        var out: [String] = []
        var second = 6 * 3600
        let users = ["root", "admin", "oracle", "test", "guest", "ubuntu", "pi", "postgres"]
        for i in 0..<lines {
            if i % 3 == 0 { second += 1 }
            let time = String(format: "Dec 10 %02d:%02d:%02d", (second / 3600) % 24, (second / 60) % 60, second % 60)
            let source = Int(random.next() % 400)
            let ip = "203.0.\(source / 200).\(source % 200 + 1)"
            let user = users[Int(random.next() % UInt64(users.count))]
            let port = 30000 + Int(random.next() % 30000)
            if random.next() % 10 == 0 {
                out.append("\(time) bastion sshd[\(1000 + i % 5000)]: Accepted password for \(user) from \(ip) port \(port) ssh2")
            } else {
                out.append("\(time) bastion sshd[\(1000 + i % 5000)]: Failed password for \(user) from \(ip) port \(port) ssh2")
            }
        }
        return out
    }

    /// `data_dir: data`, a file sensor on `logs/auth.log` (syslog parser), the starter rules.
    func writeConfig(_ dir: TemporaryDirectory, broker: String = "", group: String = "vigil-stream") throws -> String {
        let root = repositoryRoot()
        try FileManager.default.createDirectory(atPath: dir.file("enrichment"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir.file("logs"), withIntermediateDirectories: true)
        try """
        data_dir: data
        \(broker)
        topics:
          events: { partitions: 4 }
          alerts: { partitions: 4 }
        sensors:
          - name: auth
            type: file
            parser: syslog
            paths: [logs/auth.log]
        stream:
          group: \(group)
          workers: 1
          checkpoint_interval: 500ms
          idle_timeout: 3s
        metrics: { listen: null }
        enrichment: { dir: enrichment }
        rules: { dir: \(root)/rules }
        parsers: { dir: \(root)/parsers }
        """.write(toFile: dir.file("vigil.yaml"), atomically: true, encoding: .utf8)
        return dir.file("vigil.yaml")
    }

    /// Alert ids in the alerts topic (`vigil topics tail`, embedded or Kafka), with how often each
    /// appears.
    func alertIDs(config: String) throws -> [String: Int] {
        let tail = try runCommand(vigil, ["topics", "tail", "alerts", "--config", config])
        guard tail.status == 0 else { throw TailFailed(stderr: tail.stderr) }
        var ids: [String: Int] = [:]
        for line in tail.lines {
            guard let r = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
                  let v = r["value"] as? [String: Any], let id = (v["event"] as? [String: Any])?["id"] as? String else { continue }
            ids[id, default: 0] += 1
        }
        return ids
    }

    /// The alerts of one uninterrupted run on the embedded broker: `vigil ingest` then
    /// `vigil stream --drain`.
    func referenceAlerts(_ lines: [String]) throws -> Set<String> {
        let dir = try TemporaryDirectory("vigil-roles-reference"); defer { dir.remove() }
        let config = try writeConfig(dir)
        try (lines.joined(separator: "\n") + "\n").write(toFile: dir.file("input.log"), atomically: true, encoding: .utf8)
        let ingest = try runCommand(vigil, ["ingest", "--parser", "syslog", "--config", config, dir.file("input.log")])
        #expect(ingest.status == 0, "\(ingest.stderr)")
        let stream = try runCommand(vigil, ["stream", "--config", config, "--drain"])
        #expect(stream.status == 0, "\(stream.stderr)")
        let ids = try alertIDs(config: config)
        #expect(ids.values.allSatisfy { $0 == 1 })
        return Set(ids.keys)
    }

    /// Appends `lines` to the sensor's log in `chunks` pieces, calling `between(i)` after piece i.
    func feed(_ lines: [String], to path: String, chunks: Int, between: (Int) throws -> Void) throws {
        FileManager.default.createFile(atPath: path, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        let size = (lines.count + chunks - 1) / chunks
        for i in 0..<chunks {
            let piece = lines[min(lines.count, i * size)..<min(lines.count, (i + 1) * size)]
            if !piece.isEmpty { try handle.write(contentsOf: Data((piece.joined(separator: "\n") + "\n").utf8)) }
            usleep(100_000)
            try between(i)
        }
    }

    /// Waits until the alerts topic holds `expected.count` alerts (or a minute passed), then a
    /// little longer for any duplicate, and returns what it holds.
    func waitForAlerts(config: String, expected: Set<String>, timeout: Double = 90) throws -> [String: Int] {
        let deadline = Date().addingTimeInterval(timeout)
        var ids = try alertIDs(config: config)
        while ids.values.reduce(0, +) < expected.count && Date() < deadline {
            usleep(500_000)
            ids = try alertIDs(config: config)
        }
        sleep(3)
        return try alertIDs(config: config)
    }

    struct TailFailed: Error { var stderr: String }

    /// `vigil.alert.id` of every alert in the configuration's alert index (`vigil alerts list`).
    func indexedAlertIDs(config: String) throws -> Set<String> {
        let r = try runCommand(vigil, ["alerts", "list", "--config", config, "--format", "json", "--limit", "100000"])
        return Set(r.stdout.split(separator: "\n").compactMap { line -> String? in
            let o = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
            return ((o?["vigil"] as? [String: Any])?["alert"] as? [String: Any])?["id"] as? String
        })
    }

    func check(_ got: [String: Int], _ expected: Set<String>, _ what: String) {
        let repeated = got.filter { $0.value > 1 }
        let missing = expected.subtracting(got.keys)
        let extra = Set(got.keys).subtracting(expected)
        #expect(repeated.isEmpty, "\(what): alerts produced more than once: \(repeated.prefix(5))")
        #expect(missing.isEmpty, "\(what): \(missing.count) alerts missing, e.g. \(Array(missing.prefix(5)))")
        #expect(extra.isEmpty, "\(what): \(extra.count) alerts not in the uninterrupted run, e.g. \(Array(extra.prefix(5)))")
        print("\(what): \(got.count) alerts, \(expected.count) expected, \(repeated.count) repeated, \(missing.count) missing")
    }

    /// SIGTERM to each, then their exit statuses and standard errors.
    func stop(_ children: [ChildProcess]) -> (status: [Int32], stderr: [String]) {
        for c in children { c.kill(SIGTERM) }
        let status = children.map { $0.wait() }
        return (status, children.map(\.standardError))
    }

    // MARK: Embedded broker, several processes on one data directory

    @Test func sensorAndTwoStreamProcessesShareTheEmbeddedDataDirectory() throws {
        let lines = Self.sshLog(lines: 6000, seed: 11)
        let expected = try referenceAlerts(lines)
        #expect(expected.count >= 10, "the crafted log should raise alerts (got \(expected.count))")
        let dir = try TemporaryDirectory("vigil-roles-embedded"); defer { dir.remove() }
        let config = try writeConfig(dir)
        let first = try ChildProcess(vigil, ["run", "--role", "stream", "--config", config, "--quiet"])
        let second = try ChildProcess(vigil, ["run", "--role", "stream", "--config", config, "--quiet"])
        let sensor = try ChildProcess(vigil, ["run", "--role", "sensor", "--config", config, "--quiet"])
        try feed(lines, to: dir.file("logs/auth.log"), chunks: 6) { _ in }
        let got = try waitForAlerts(config: config, expected: expected)
        let (status, stderr) = stop([sensor, first, second])
        #expect(status == [0, 0, 0], "sensor: \(stderr[0])\nstream 1: \(stderr[1])\nstream 2: \(stderr[2])")
        check(got, expected, "embedded, sensor + 2 stream processes")
        // Both stream processes did part of the work; the sensor role consumed nothing.
        let consumed = stderr[1...].map { text in
            text.split(separator: "\n").last { $0.contains("events consumed") }.flatMap { line in
                line.components(separatedBy: "events_consumed=").dropFirst().first?.prefix { $0.isNumber }
            }.flatMap { Int($0) } ?? 0
        }
        #expect(consumed.allSatisfy { $0 > 0 } && consumed.reduce(0, +) == lines.count, "events consumed per stream process: \(consumed)")
        #expect(stderr[0].contains("events_consumed=0"), "\(stderr[0])")
    }

    /// Three processes on one data directory: a sensor, a stream worker and the indexer; the
    /// alerts reach the index (`vigil alerts`), and a stop is clean for each role.
    @Test func sensorStreamAndIndexerProcessesFillTheAlertIndex() throws {
        let dir = try TemporaryDirectory("vigil-roles-indexer"); defer { dir.remove() }
        let config = try writeConfig(dir)
        try (Self.sshLog(lines: 2_000, seed: 11).joined(separator: "\n") + "\n")
            .write(toFile: dir.file("logs/auth.log"), atomically: true, encoding: .utf8)
        // The alerts an uninterrupted single process indexes.
        let reference = try TemporaryDirectory("vigil-roles-indexer-ref"); defer { reference.remove() }
        let refConfig = try writeConfig(reference)
        try FileManager.default.copyItem(atPath: dir.file("logs/auth.log"), toPath: reference.file("logs/auth.log.tmp"))
        try FileManager.default.moveItem(atPath: reference.file("logs/auth.log.tmp"), toPath: reference.file("logs/auth.log"))
        let roles = ["sensor", "stream", "indexer"]
        var processes: [ChildProcess] = []
        for role in roles { processes.append(try ChildProcess(vigil, ["run", "--role", role, "--config", config, "--quiet"])) }
        defer { for p in processes where p.process.isRunning { p.kill() } }
        let single = try ChildProcess(vigil, ["run", "--config", refConfig, "--quiet"])
        defer { if single.process.isRunning { single.kill() } }
        func ids(_ config: String) throws -> Set<String> { try indexedAlertIDs(config: config) }
        var got = Set<String>(), expected = Set<String>()
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline {
            Thread.sleep(forTimeInterval: 1)
            got = try ids(config)
            expected = try ids(refConfig)
            if !expected.isEmpty && got == expected { break }
        }
        #expect(!expected.isEmpty)
        #expect(got == expected, "roles indexed \(got.count), one process \(expected.count)")
        for p in processes + [single] {
            p.kill(SIGTERM)
            let stopAt = Date().addingTimeInterval(60)
            while p.process.isRunning && Date() < stopAt { Thread.sleep(forTimeInterval: 0.1) }
            #expect(!p.process.isRunning, "a role did not stop on SIGTERM")
            if p.process.isRunning { p.kill() } else { #expect(p.wait() == 0, "\(p.standardError.suffix(2000))") }
        }
        let bad = try runCommand(vigil, ["run", "--role", "parser", "--config", config])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("--role"), "\(bad.stderr)")
    }

    // MARK: Kafka

    func kafkaSection(_ prefix: String) -> String {
        """
        broker:
          type: kafka
          kafka:
            bootstrap_servers: [\(kafkaBootstrap ?? "")]
            topic_prefix: \(prefix).
        """
    }

    @Test(.enabled(if: kafkaBootstrap != nil, Comment(rawValue: noKafka)))
    func sensorAndTwoStreamWorkersOnKafkaRaiseEachAlertOnce() throws {
        let lines = Self.sshLog(lines: 6000, seed: 12)
        let expected = try referenceAlerts(lines)
        let dir = try TemporaryDirectory("vigil-roles-kafka"); defer { dir.remove() }
        let name = "roles-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let config = try writeConfig(dir, broker: kafkaSection(name), group: name)
        let first = try ChildProcess(vigil, ["run", "--role", "stream", "--config", config, "--quiet"])
        let second = try ChildProcess(vigil, ["run", "--role", "stream", "--config", config, "--quiet"])
        var indexer = try ChildProcess(vigil, ["run", "--role", "indexer", "--config", config, "--quiet"])
        let sensor = try ChildProcess(vigil, ["run", "--role", "sensor", "--config", config, "--quiet"])
        // The indexer is killed with SIGKILL midway and restarted: it resumes at the offsets
        // its index holds (the group's committed ones may be behind or ahead).
        try feed(lines, to: dir.file("logs/auth.log"), chunks: 6) { i in
            guard i == 2 else { return }
            usleep(UInt32.random(in: 0...1_500_000))
            indexer.kill(SIGKILL)
            _ = indexer.wait()
            indexer = try ChildProcess(vigil, ["run", "--role", "indexer", "--config", config, "--quiet"])
        }
        let got = try waitForAlerts(config: config, expected: expected)
        // The indexer consumes the Kafka alerts topic into the alert index: one row per alert id
        // (the topic's event ids are `ALERT-ID-COUNT`).
        let expectedIndexed = Set(expected.map { String($0[..<$0.lastIndex(of: "-")!]) })
        var indexed = Set<String>()
        let deadline = Date().addingTimeInterval(90)
        while Date() < deadline {
            indexed = try indexedAlertIDs(config: config)
            if indexed == expectedIndexed { break }
            usleep(500_000)
        }
        let (status, stderr) = stop([sensor, first, second, indexer])
        #expect(status == [0, 0, 0, 0], "sensor: \(stderr[0])\nstream 1: \(stderr[1])\nstream 2: \(stderr[2])\nindexer: \(stderr[3])")
        check(got, expected, "kafka, sensor + 2 stream processes")
        #expect(indexed == expectedIndexed, "kafka indexer: \(indexed.count) alerts indexed, \(expectedIndexed.count) expected")
        print("kafka, indexer process killed with SIGKILL midway and restarted: \(indexed.count) alerts in the index, \(expectedIndexed.count) expected")
        let events = try runCommand(vigil, ["topics", "tail", "events", "--config", config])
        #expect(events.lines.count == lines.count, "events on Kafka: \(events.lines.count)")
    }

    /// `vigil run` (every stage in one process) on Kafka with a finite sensor ends by itself once
    /// the stream group has committed everything, with the alerts of the same run on the embedded log.
    @Test(.enabled(if: kafkaBootstrap != nil, Comment(rawValue: noKafka)))
    func runOnKafkaEndsWhenTheInputIsConsumed() throws {
        let sample = repositoryRoot() + "/deploy/sample/events.jsonl"
        let sensor = """
            sensors:
              - { name: sample, type: jsonl, path: \(sample) }
            """
        /// Exit status, stderr, whether it ended by itself within 90 s, and the alerts.
        func run(_ broker: String, group: String) throws -> (status: Int32, stderr: String, ended: Bool, alerts: [String: Int], indexed: Set<String>) {
            let dir = try TemporaryDirectory("vigil-run-kafka"); defer { dir.remove() }
            var config = try String(contentsOfFile: try writeConfig(dir, broker: broker, group: group), encoding: .utf8)
            config = config.replacingOccurrences(of: "sensors:\n  - name: auth\n    type: file\n    parser: syslog\n    paths: [logs/auth.log]", with: sensor)
            // The sample's events are from 2024: keep their alerts in the index.
            config += "\nindex: { retention: null }\n"
            try config.write(toFile: dir.file("vigil.yaml"), atomically: true, encoding: .utf8)
            let child = try ChildProcess(vigil, ["run", "--config", dir.file("vigil.yaml"), "--quiet"])
            let deadline = Date().addingTimeInterval(90)
            while child.process.isRunning && Date() < deadline { usleep(100_000) }
            let ended = !child.process.isRunning
            if !ended { child.kill(SIGTERM) }
            let status = child.wait()
            return (status, child.standardError, ended, try alertIDs(config: dir.file("vigil.yaml")), try indexedAlertIDs(config: dir.file("vigil.yaml")))
        }
        let embedded = try run("", group: "vigil-stream")
        #expect(embedded.status == 0 && embedded.ended, "\(embedded.stderr)")
        let expected = embedded.alerts
        let name = "run-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let started = Date()
        let kafka = try run(kafkaSection(name), group: name)
        let got = kafka.alerts
        #expect(kafka.status == 0, "\(kafka.stderr)")
        #expect(kafka.ended, "vigil run on Kafka did not end within 90 s of consuming its finite input")
        #expect(kafka.stderr.contains("50 events produced") && kafka.stderr.contains("50 events consumed"), "\(kafka.stderr)")
        // Every stage in one process includes the indexer, on Kafka too.
        #expect(!embedded.indexed.isEmpty && kafka.indexed == embedded.indexed, "indexed on Kafka \(kafka.indexed.count), embedded \(embedded.indexed.count)")
        print("vigil run on Kafka: ended by itself after \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
        check(got, Set(expected.keys), "vigil run on Kafka, sample events")
    }

    /// A sensor process killed with SIGKILL while it tails a growing log, restarted: every line is
    /// an event on Kafka exactly once (its file positions are stored only for acknowledged
    /// records; after the crash it reads the topic back from them).
    @Test(.enabled(if: kafkaBootstrap != nil, Comment(rawValue: noKafka)))
    func sensorKilledMidwayOnKafkaProducesEachLineOnce() throws {
        let lines = Self.sshLog(lines: 30000, seed: 14)
        let dir = try TemporaryDirectory("vigil-roles-kafka-sensor"); defer { dir.remove() }
        let name = "roles-sensor-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let config = try writeConfig(dir, broker: kafkaSection(name), group: name)
        var sensor = try ChildProcess(vigil, ["run", "--role", "sensor", "--config", config, "--quiet"])
        var kills = 0
        try feed(lines, to: dir.file("logs/auth.log"), chunks: 30) { i in
            if i % 8 == 3 {
                sensor.kill(SIGKILL)
                _ = sensor.wait()
                kills += 1
                sensor = try ChildProcess(vigil, ["run", "--role", "sensor", "--config", config, "--quiet"])
            }
        }
        // Wait until every line is on Kafka (or two minutes passed), then stop the sensor.
        func offsets() throws -> [Int: Int] {
            let tail = try runCommand(vigil, ["topics", "tail", "events", "--config", config])
            guard tail.status == 0 else { throw TailFailed(stderr: tail.stderr) }
            var seen: [Int: Int] = [:]
            for line in tail.lines {
                guard let r = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
                      let v = r["value"] as? [String: Any], let log = v["log"] as? [String: Any],
                      let offset = log["offset"] as? Int else { continue }
                seen[offset, default: 0] += 1
            }
            return seen
        }
        let deadline = Date().addingTimeInterval(120)
        var seen = try offsets()
        while seen.count < lines.count && Date() < deadline {
            sleep(1)
            seen = try offsets()
        }
        sleep(2)
        seen = try offsets()
        let (status, stderr) = stop([sensor])
        #expect(status == [0], "\(stderr[0])")
        let repeated = seen.filter { $0.value > 1 }
        print("kafka sensor kill -9: \(kills) kills, \(lines.count) lines, \(seen.count) distinct events, \(repeated.count) repeated")
        #expect(kills == 4)
        #expect(seen.count == lines.count, "\(lines.count - seen.count) lines missing")
        #expect(repeated.isEmpty, "lines produced more than once, e.g. \(Array(repeated.prefix(5)))")
    }

    @Test(.enabled(if: kafkaBootstrap != nil, Comment(rawValue: noKafka)))
    func streamWorkerKilledMidwayOnKafkaLosesAndRepeatsNoAlert() throws {
        let lines = Self.sshLog(lines: 12000, seed: 13)
        let expected = try referenceAlerts(lines)
        let dir = try TemporaryDirectory("vigil-roles-kafka-kill"); defer { dir.remove() }
        let name = "roles-kill-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let config = try writeConfig(dir, broker: kafkaSection(name), group: name)
        var victim = try ChildProcess(vigil, ["run", "--role", "stream", "--config", config, "--quiet"])
        let survivor = try ChildProcess(vigil, ["run", "--role", "stream", "--config", config, "--quiet"])
        let sensor = try ChildProcess(vigil, ["run", "--role", "sensor", "--config", config, "--quiet"])
        var killedAfter = -1
        var alertsAtKill = 0
        try feed(lines, to: dir.file("logs/auth.log"), chunks: 20) { i in
            if i == 7 {
                // The group has formed and alerts flow before the kill (a first join takes
                // seconds on Tansu).
                let deadline = Date().addingTimeInterval(60)
                while try alertIDs(config: config).isEmpty && Date() < deadline { usleep(200_000) }
            } else if i == 8 {
                // Midway, 100 ms after more input arrived: the victim holds state and outputs
                // after its last checkpoint.
                alertsAtKill = try alertIDs(config: config).count
                victim.kill(SIGKILL)
                _ = victim.wait()
                killedAfter = i
            } else if i == 12 {
                victim = try ChildProcess(vigil, ["run", "--role", "stream", "--config", config, "--quiet"])
            }
        }
        #expect(killedAfter == 8)
        let got = try waitForAlerts(config: config, expected: expected, timeout: 120)
        let (status, stderr) = stop([sensor, survivor, victim])
        #expect(status == [0, 0, 0], "sensor: \(stderr[0])\nsurvivor: \(stderr[1])\nrestarted: \(stderr[2])")
        print("kafka kill -9: \(alertsAtKill) alerts on Kafka when the worker was killed")
        #expect(alertsAtKill > 0 && alertsAtKill < expected.count, "the kill should land midway (\(alertsAtKill) of \(expected.count) alerts)")
        check(got, expected, "kafka, a stream worker killed with SIGKILL and restarted")
    }
}
