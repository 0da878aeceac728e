import Foundation
import Testing
import VigilStream
import VigilBroker
import VigilPipeline
import VigilTestSupport
import VigilYAML

/// The repository root, from this file's path: Tests/VigilPipelineTests/ConfigurationTests.swift.
private let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

private let day: Duration = .seconds(86_400)

/// Parses `yaml` as if it were /etc/vigil/vigil.yaml.
private func parse(_ yaml: String) throws -> VigilConfiguration {
    try VigilConfiguration.parse(yaml: yaml, file: "/etc/vigil/vigil.yaml")
}

@Suite struct DeployedConfigurationTests {
    @Test func exampleLoadsWithTheDocumentedValues() throws {
        let configuration = try VigilConfiguration.load(path: "\(repositoryRoot)/deploy/vigil.yaml")

        #expect(configuration.configurationDirectory == "\(repositoryRoot)/deploy")
        #expect(configuration.dataDirectory == "\(repositoryRoot)/vigil-data")
        #expect(configuration.logLevel == .info)

        var log = LogConfiguration()
        log.retentionBytes = 10 << 30
        #expect(configuration.broker == BrokerSettings(kind: .embedded, embedded: log, kafka: nil))
        #expect(configuration.broker.embedded.defaultPartitions == 4)
        #expect(configuration.broker.embedded.segmentBytes == 256 << 20)
        #expect(configuration.broker.embedded.indexIntervalBytes == 4096)
        let sevenDays: Int64 = 7 * 86_400 * 1_000_000_000
        #expect(configuration.broker.embedded.retentionAgeNanoseconds == sevenDays)
        #expect(configuration.broker.embedded.fsync == .interval(milliseconds: 100))

        #expect(configuration.topics == [
            TopicSettings(name: "events", partitions: 8), TopicSettings(name: "errors"), TopicSettings(name: "alerts"),
        ])
        #expect(configuration.sensors == [
            .jsonLines(JSONLinesSensorConfiguration(
                name: "sample", input: .file("\(repositoryRoot)/deploy/sample/events.jsonl"),
                topic: "events", keyField: "source.ip", follow: false)),
        ])
        var stream = StreamConfiguration()
        stream.profiles = [
            ProfileDefinition(name: "events_per_source", groupBy: ["source.ip"],
                              window: WindowOptions(kind: .tumbling(size: 60_000_000_000), allowedLateness: 30_000_000_000)),
            ProfileDefinition(name: "auth_failures_per_source",
                              conditions: [("event.dataset", ["system.auth"]), ("event.outcome", ["failure"])], groupBy: ["source.ip"],
                              window: WindowOptions(kind: .hopping(size: 300_000_000_000, advance: 60_000_000_000),
                                                    allowedLateness: 30_000_000_000, late: .update(retention: 600_000_000_000))),
        ]
        #expect(configuration.stream == stream)
        #expect(configuration.stream.idleTimeout == .seconds(5))
        #expect(configuration.stream.outputTopic == "profiles")
        #expect(configuration.stream.group == "vigil-stream")
        #expect(configuration.stream.workers == 2)
        #expect(configuration.stream.checkpointInterval == .seconds(10))
        #expect(configuration.stream.allowedLateness == .seconds(30))
        #expect(configuration.enrichment.directory == "\(repositoryRoot)/enrichment")
        #expect(configuration.rules.directory == "\(repositoryRoot)/rules")
        #expect(configuration.index == IndexConfiguration(path: "\(repositoryRoot)/vigil-data/alerts.db", retention: day * 30))
    }

    @Test func everyPathInTheExampleExists() throws {
        let configuration = try VigilConfiguration.load(path: "\(repositoryRoot)/deploy/vigil.yaml")
        var isDirectory: ObjCBool = false
        for directory in [configuration.enrichment.directory, configuration.rules.directory] {
            #expect(FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) && isDirectory.boolValue,
                    "\(directory)")
        }
        for case .jsonLines(let sensor) in configuration.sensors {
            guard case .file(let path) = sensor.input else { continue }
            #expect(FileManager.default.fileExists(atPath: path), "\(path)")
        }
    }

    @Test func sampleEventsAreECSObjectsOnePerLine() throws {
        let text = try String(contentsOfFile: "\(repositoryRoot)/deploy/sample/events.jsonl", encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        #expect(text.hasSuffix("\n"))
        #expect(lines.count == 50)
        for line in lines {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let timestamp = try #require(object["@timestamp"] as? String)
            #expect(timestamp.hasPrefix("2026-"))
            let event = try #require(object["event"] as? [String: Any])
            #expect(event["kind"] as? String == "event")
            #expect((event["category"] as? [String])?.isEmpty == false)
            #expect(event["dataset"] is String)
            #expect(object["message"] is String)
        }
    }
}

@Suite struct ConfigurationFixtureTests {
    /// Each fixture and the exact error it produces, after `path:`.
    static let cases: [(fixture: String, error: String)] = [
        ("unknown-key", "6:5: unknown key 'segmnet_bytes' in broker.embedded (did you mean 'segment_bytes'?)"),
        ("wrong-type", "3:25: broker.embedded.default_partitions: expected an integer, found string \"four\""),
        ("bad-size", "3:20: broker.embedded.segment_bytes: invalid size \"64MeB\": unknown unit 'MeB' (did you mean 'MiB'?)"),
        ("bad-duration", "5:21: stream.allowed_lateness: invalid duration \"30sec\": unknown unit 'sec' (use d, h, m, s, ms, us, ns)"),
        ("bad-enum", "3:9: broker.type: invalid value 'kafak' (did you mean 'kafka'?)"),
        ("duplicate-key", "4:3: duplicate key 'workers' in stream (first defined at 2:3)"),
        ("duplicate-sensor", "5:11: sensors[1].name: duplicate sensor name 'sample' (first used at 2:11)"),
        ("syntax-error", "4:2: YAML syntax error: did not find expected key (while parsing a block mapping at 1:1)"),
        ("missing-required", "2:5: missing required key 'path' in sensors[0]"),
    ]

    @Test(arguments: cases)
    func fixtureFails(_ fixture: String, _ error: String) throws {
        let path = try #require(Bundle.module.path(forResource: fixture, ofType: "yaml", inDirectory: "Fixtures"))
        expectError("\(path):\(error)") { try VigilConfiguration.load(path: path) }
    }

    @Test func errorCodes() throws {
        let expected: [String: YAMLError.Code] = [
            "unknown-key": .unknownKey, "wrong-type": .typeMismatch, "bad-size": .invalidValue,
            "duplicate-key": .duplicateKey, "syntax-error": .syntax, "missing-required": .missingKey,
        ]
        for (fixture, code) in expected {
            let path = try #require(Bundle.module.path(forResource: fixture, ofType: "yaml", inDirectory: "Fixtures"))
            #expect(throws: YAMLError.self) { try VigilConfiguration.load(path: path) }
            do {
                _ = try VigilConfiguration.load(path: path)
            } catch {
                #expect(error.code == code, "\(fixture)")
            }
        }
    }

    @Test func unreadableFile() {
        expectError("/nonexistent/vigil.yaml: cannot read file: No such file or directory") {
            try VigilConfiguration.load(path: "/nonexistent/vigil.yaml")
        }
    }
}

@Suite struct ConfigurationDefaultsTests {
    @Test func emptyMappingMeansDefaults() throws {
        let configuration = try parse("{}\n")
        #expect(configuration == VigilConfiguration(configurationDirectory: "/etc/vigil"))
        #expect(configuration.dataDirectory == "/var/lib/vigil")
        #expect(configuration.logLevel == .info)
        #expect(configuration.broker.kind == .embedded)
        #expect(configuration.broker.embedded == LogConfiguration())
        #expect(configuration.broker.kafka == nil)
        #expect(configuration.topics.map(\.name) == ["events", "errors", "alerts"])
        #expect(configuration.topics.allSatisfy { $0.partitions == nil })
        #expect(configuration.sensors.isEmpty)
        #expect(configuration.stream == StreamConfiguration())
        #expect(configuration.enrichment.directory == "/etc/vigil/enrichment")
        #expect(configuration.rules.directory == "/etc/vigil/rules")
        #expect(configuration.index.path == "/var/lib/vigil/alerts.db")
        #expect(configuration.index.retention == day * 30)
    }

    @Test func nullSectionsMeanDefaults() throws {
        let configuration = try parse("data_dir:\nbroker:\ntopics:\nsensors:\nstream:\nenrichment:\nrules:\nindex:\n")
        #expect(configuration == VigilConfiguration(configurationDirectory: "/etc/vigil"))
    }

    @Test func emptyFile() {
        expectError("/etc/vigil/vigil.yaml:1:1: the file is empty (expected a YAML document)") { try parse("# nothing\n") }
    }

    @Test func topLevelMustBeAMapping() {
        expectError("/etc/vigil/vigil.yaml:1:1: expected a mapping, found a sequence") { try parse("- data_dir: x\n") }
        expectError("/etc/vigil/vigil.yaml:1:1: unknown key 'datadir' at the top level (did you mean 'data_dir'?)") {
            try parse("datadir: /x\n")
        }
    }
}

@Suite struct ConfigurationPathTests {
    @Test func relativePathsResolveAgainstTheFileAndDataDirectory() throws {
        let configuration = try parse("""
            data_dir: ../../var/./vigil/
            enrichment: { dir: enrich }
            rules: { dir: /srv/rules }
            index: { path: ../alerts/index.db }
            sensors:
              - { name: a, type: jsonl, path: logs/../events.jsonl }
              - { name: b, type: jsonl, path: "-" }
              - { name: c, type: jsonl, path: /var/log/app.jsonl }
            """)
        #expect(configuration.dataDirectory == "/var/vigil")
        #expect(configuration.enrichment.directory == "/etc/vigil/enrich")
        #expect(configuration.rules.directory == "/srv/rules")
        #expect(configuration.index.path == "/var/alerts/index.db")
        #expect(configuration.sensors.map(\.name) == ["a", "b", "c"])
        let inputs = configuration.sensors.map { sensor -> JSONLinesSensorConfiguration.Input in
            guard case .jsonLines(let jsonLines) = sensor else { preconditionFailure() }
            return jsonLines.input
        }
        #expect(inputs == [.file("/etc/vigil/events.jsonl"), .standardInput, .file("/var/log/app.jsonl")])
    }

    @Test func relativeFileNameResolvesAgainstTheCurrentDirectory() throws {
        let configuration = try VigilConfiguration.parse(yaml: "data_dir: data\n", file: "conf/vigil.yaml")
        let currentDirectory = FileManager.default.currentDirectoryPath
        #expect(configuration.configurationDirectory == "\(currentDirectory)/conf")
        #expect(configuration.dataDirectory == "\(currentDirectory)/conf/data")
    }

    @Test func pathErrors() {
        expectError("/etc/vigil/vigil.yaml:1:11: data_dir: '~' is not expanded; write the absolute path") {
            try parse("data_dir: ~/vigil\n")
        }
        expectError("/etc/vigil/vigil.yaml:1:11: data_dir: expected a path, found an empty string") { try parse("data_dir: ''\n") }
        expectError("/etc/vigil/vigil.yaml:1:11: data_dir: expected a string, found integer 42 (quote it if you mean the string \"42\")") {
            try parse("data_dir: 42\n")
        }
    }
}

@Suite struct ConfigurationBrokerTests {
    @Test func embeddedSettings() throws {
        let configuration = try parse("""
            broker:
              embedded:
                default_partitions: 16
                segment_bytes: 1GiB
                index_interval_bytes: 8KB
                retention: { bytes: 500GB, age: null }
                fsync: { policy: every_batch }
            """)
        let log = configuration.broker.embedded
        #expect(log.defaultPartitions == 16)
        #expect(log.segmentBytes == 1 << 30)
        #expect(log.indexIntervalBytes == 8000)
        #expect(log.retentionBytes == 500_000_000_000)
        #expect(log.retentionAgeNanoseconds == nil)
        #expect(log.fsync == .everyBatch)
    }

    @Test func retentionDefaults() throws {
        let ageOnly = try parse("broker: { embedded: { retention: { age: 2h } } }\n").broker.embedded
        #expect(ageOnly.retentionBytes == nil)
        #expect(ageOnly.retentionAgeNanoseconds == 7_200_000_000_000)
        let bytesOnly = try parse("broker: { embedded: { retention: { bytes: 1GiB } } }\n").broker.embedded
        #expect(bytesOnly.retentionBytes == 1 << 30)
        #expect(bytesOnly.retentionAgeNanoseconds == LogConfiguration().retentionAgeNanoseconds)
        let nullBytes = try parse("broker: { embedded: { retention: { bytes: null } } }\n").broker.embedded
        #expect(nullBytes.retentionBytes == nil)
    }

    @Test(arguments: [("never", FsyncPolicy.never), ("every_batch", .everyBatch)])
    func fsyncPolicies(_ policy: String, _ expected: FsyncPolicy) throws {
        #expect(try parse("broker: { embedded: { fsync: { policy: \(policy) } } }\n").broker.embedded.fsync == expected)
    }

    @Test func fsyncInterval() throws {
        #expect(try parse("broker: { embedded: { fsync: { policy: interval, interval: 1s } } }\n").broker.embedded.fsync
            == .interval(milliseconds: 1000))
    }

    @Test func fsyncErrors() {
        expectError("/etc/vigil/vigil.yaml:3:12: missing required key 'interval' in broker.embedded.fsync") {
            try parse("broker:\n  embedded:\n    fsync: { policy: interval }\n")
        }
        expectError("/etc/vigil/vigil.yaml:3:39: broker.embedded.fsync.interval: interval applies only to policy interval (the policy is never)") {
            try parse("broker:\n  embedded:\n    fsync: { policy: never, interval: 10ms }\n")
        }
        expectError("/etc/vigil/vigil.yaml:3:42: broker.embedded.fsync.interval: the fsync interval must be a whole number of milliseconds") {
            try parse("broker:\n  embedded:\n    fsync: { policy: interval, interval: 1500us }\n")
        }
        expectError("/etc/vigil/vigil.yaml:3:42: broker.embedded.fsync.interval: 2m is out of range 1ms...1m") {
            try parse("broker:\n  embedded:\n    fsync: { policy: interval, interval: 2m }\n")
        }
        expectError("/etc/vigil/vigil.yaml:3:22: broker.embedded.fsync.policy: invalid value 'every-batch' (did you mean 'every_batch'?)") {
            try parse("broker:\n  embedded:\n    fsync: { policy: every-batch }\n")
        }
    }

    @Test func logLimits() {
        expectError("/etc/vigil/vigil.yaml:1:43: broker.embedded.default_partitions: 0 is out of range 1...1024") {
            try parse("broker: { embedded: { default_partitions: 0 } }\n")
        }
        expectError("/etc/vigil/vigil.yaml:1:38: broker.embedded.segment_bytes: 1KiB is below the minimum of 4KiB") {
            try parse("broker: { embedded: { segment_bytes: 1KiB } }\n")
        }
        expectError("/etc/vigil/vigil.yaml:1:67: broker.embedded.index_interval_bytes: 1MiB is larger than segment_bytes (64KiB)") {
            try parse("broker: { embedded: { segment_bytes: 64KiB, index_interval_bytes: 1MiB } }\n")
        }
        expectError("/etc/vigil/vigil.yaml:1:41: broker.embedded.retention.age: 0 is below the minimum of 1s") {
            try parse("broker: { embedded: { retention: { age: 0 } } }\n")
        }
    }

    @Test func kafka() throws {
        let configuration = try parse("""
            broker:
              type: kafka
              kafka:
                bootstrap_servers: [127.0.0.1:9092, "kafka-2.internal:9093", "[::1]:9094"]
                client_id: vigil-edge
                properties: { "linger.ms": "5", compression.type: lz4 }
            """)
        #expect(configuration.broker.kind == .kafka)
        #expect(configuration.broker.kafka == KafkaSettings(
            bootstrapServers: ["127.0.0.1:9092", "kafka-2.internal:9093", "[::1]:9094"], clientID: "vigil-edge",
            properties: ["linger.ms": "5", "compression.type": "lz4"]))
        #expect(try parse("broker: { kafka: { bootstrap_servers: [k:1] } }\n").broker.kafka?.clientID == "vigil")
        let shared = try parse("broker: { kafka: { bootstrap_servers: [k:1], topic_prefix: tenant-a., replication_factor: 3 } }\n")
        #expect(shared.broker.kafka?.topicPrefix == "tenant-a.")
        #expect(shared.broker.kafka?.replicationFactor == 3)
        #expect(try parse("broker: { kafka: { bootstrap_servers: [k:1] } }\n").broker.kafka?.replicationFactor == 1)
    }

    @Test func kafkaPropertiesAreCheckedWhereTheyAreWritten() {
        expectErrorMentioning(["/etc/vigil/vigil.yaml:6:7:", "unknown Kafka property 'linger.mss'"]) {
            try parse("broker:\n  kafka:\n    bootstrap_servers: [k:1]\n    properties:\n      linger.ms: \"5\"\n      linger.mss: \"5\"\n")
        }
        expectErrorMentioning(["/etc/vigil/vigil.yaml:1:", "invalid value for Kafka property 'acks'"]) {
            try parse("broker: { kafka: { bootstrap_servers: [k:1], properties: { acks: \"most\" } } }\n")
        }
        expectErrorMentioning(["broker.kafka.topic_prefix: a topic prefix is at most 100 of A-Z a-z 0-9 . _ -"]) {
            try parse("broker: { kafka: { bootstrap_servers: [k:1], topic_prefix: \"a/b\" } }\n")
        }
        expectErrorMentioning(["broker.kafka.replication_factor"]) {
            try parse("broker: { kafka: { bootstrap_servers: [k:1], replication_factor: 0 } }\n")
        }
    }

    @Test func kafkaErrors() {
        expectError("/etc/vigil/vigil.yaml:2:9: broker.type: type kafka requires a broker.kafka section with bootstrap_servers") {
            try parse("broker:\n  type: kafka\n")
        }
        expectError("/etc/vigil/vigil.yaml:3:5: missing required key 'bootstrap_servers' in broker.kafka") {
            try parse("broker:\n  kafka:\n    client_id: vigil\n")
        }
        expectError("/etc/vigil/vigil.yaml:1:39: broker.kafka.bootstrap_servers: list at least one server, such as [127.0.0.1:9092]") {
            try parse("broker: { kafka: { bootstrap_servers: [] } }\n")
        }
        expectError("/etc/vigil/vigil.yaml:1:48: broker.kafka.bootstrap_servers[1]: invalid server 'localhost' (expected host:port, such as 127.0.0.1:9092)") {
            try parse("broker: { kafka: { bootstrap_servers: [k:9092, localhost] } }\n")
        }
        expectError("/etc/vigil/vigil.yaml:1:71: broker.kafka.properties[\"linger.ms\"]: expected a string, found integer 5 (quote it if you mean the string \"5\")") {
            try parse("broker: { kafka: { bootstrap_servers: [k:1], properties: { linger.ms: 5 } } }\n")
        }
    }
}

@Suite struct ConfigurationTopicAndSensorTests {
    @Test func topicsOverrideAndAdd() throws {
        let configuration = try parse("""
            topics:
              alerts: { partitions: 2 }
              dns.raw: { partitions: 12 }
              audit:
            sensors:
              - { name: dns, type: jsonl, path: dns.jsonl, topic: dns.raw, key_field: dns.question.name, follow: true }
            """)
        #expect(configuration.topics == [
            TopicSettings(name: "events"), TopicSettings(name: "errors"), TopicSettings(name: "alerts", partitions: 2),
            TopicSettings(name: "dns.raw", partitions: 12), TopicSettings(name: "audit"),
        ])
        #expect(configuration.topic(named: "dns.raw")?.partitions == 12)
        #expect(configuration.topic(named: "nope") == nil)
        #expect(configuration.sensors == [
            .jsonLines(JSONLinesSensorConfiguration(name: "dns", input: .file("/etc/vigil/dns.jsonl"), topic: "dns.raw",
                                                    keyField: "dns.question.name", follow: true)),
        ])
        #expect(configuration.sensors.first?.topic == "dns.raw")
        #expect(configuration.sensors.first?.typeName == "jsonl")
    }

    @Test func topicErrors() {
        expectError("/etc/vigil/vigil.yaml:2:3: topics[\"bad topic\"]: invalid topic name 'bad topic' (use 1 to 200 of A-Z a-z 0-9 . _ -, not '.' or '..')") {
            try parse("topics:\n  bad topic: {}\n")
        }
        expectError("/etc/vigil/vigil.yaml:2:3: topics[\"..\"]: invalid topic name '..' (use 1 to 200 of A-Z a-z 0-9 . _ -, not '.' or '..')") {
            try parse("topics:\n  ..: {}\n")
        }
        expectError("/etc/vigil/vigil.yaml:2:13: unknown key 'partition' in topics.events (did you mean 'partitions'?)") {
            try parse("topics:\n  events: { partition: 3 }\n")
        }
        expectError("/etc/vigil/vigil.yaml:2:25: topics.events.partitions: 2000 is out of range 1...1024") {
            try parse("topics:\n  events: { partitions: 2000 }\n")
        }
    }

    @Test func sensorTopicMustBeKnown() {
        expectError("/etc/vigil/vigil.yaml:2:45: sensors[0].topic: unknown topic 'evnets' (did you mean 'events'?)") {
            try parse("sensors:\n  - { name: s, type: jsonl, path: x, topic: evnets }\n")
        }
        expectError("/etc/vigil/vigil.yaml:2:45: sensors[0].topic: unknown topic 'netflow' (known topics: events, errors, alerts; add it under topics: to create it)") {
            try parse("sensors:\n  - { name: s, type: jsonl, path: x, topic: netflow }\n")
        }
        expectError("/etc/vigil/vigil.yaml:2:45: sensors[0].topic: invalid topic name 'a/b' (use 1 to 200 of A-Z a-z 0-9 . _ -, not '.' or '..')") {
            try parse("sensors:\n  - { name: s, type: jsonl, path: x, topic: a/b }\n")
        }
    }

    @Test func sensorErrors() {
        expectError("/etc/vigil/vigil.yaml:2:22: sensors[0].type: invalid value 'json' (did you mean 'jsonl'?)") {
            try parse("sensors:\n  - { name: s, type: json, path: x }\n")
        }
        expectError("/etc/vigil/vigil.yaml:2:5: missing required key 'type' in sensors[0]") {
            try parse("sensors:\n  - { name: s, path: x }\n")
        }
        expectError("/etc/vigil/vigil.yaml:2:38: unknown key 'pth' in sensors[0] (did you mean 'path'?)") {
            try parse("sensors:\n  - { name: s, type: jsonl, path: x, pth: y }\n")
        }
        expectError("/etc/vigil/vigil.yaml:2:13: sensors[0].name: invalid sensor name 'my sensor' (use 1 to 200 of A-Z a-z 0-9 . _ -, not '.' or '..')") {
            try parse("sensors:\n  - { name: my sensor, type: jsonl, path: x }\n")
        }
        expectError("/etc/vigil/vigil.yaml:2:48: sensors[0].follow: follow applies only to files, not to standard input (path: -)") {
            try parse("sensors:\n  - { name: s, type: jsonl, path: \"-\", follow: true }\n")
        }
        expectError("/etc/vigil/vigil.yaml:2:46: sensors[0].follow: expected a boolean (true or false), found string \"yes\"") {
            try parse("sensors:\n  - { name: s, type: jsonl, path: x, follow: yes }\n")
        }
        expectError("/etc/vigil/vigil.yaml:2:49: sensors[0].key_field: invalid field path 'source..ip' (expected dotted names, such as source.ip)") {
            try parse("sensors:\n  - { name: s, type: jsonl, path: x, key_field: source..ip }\n")
        }
        expectError("/etc/vigil/vigil.yaml:1:10: sensors: expected a sequence, found a mapping") {
            try parse("sensors: { name: s }\n")
        }
    }
}

@Suite struct ConfigurationStageTests {
    @Test func streamIndexEnrichmentRules() throws {
        let configuration = try parse("""
            log_level: debug
            stream: { group: soc.stream-1, workers: 8, checkpoint_interval: 500ms, allowed_lateness: 0 }
            index: { retention: null }
            """)
        #expect(configuration.logLevel == .debug)
        #expect(configuration.stream.group == "soc.stream-1")
        #expect(configuration.stream.workers == 8)
        #expect(configuration.stream.checkpointInterval == .milliseconds(500))
        #expect(configuration.stream.allowedLateness == .zero)
        #expect(configuration.index.retention == nil)
        #expect(configuration.index.path == "/var/lib/vigil/alerts.db")
    }

    @Test func stageErrors() {
        expectError("/etc/vigil/vigil.yaml:1:12: log_level: invalid value 'warn' (expected one of: trace, debug, info, notice, warning, error, critical)") {
            try parse("log_level: warn\n")
        }
        expectError("/etc/vigil/vigil.yaml:1:20: stream.workers: 0 is out of range 1...256") { try parse("stream: { workers: 0 }\n") }
        expectError("/etc/vigil/vigil.yaml:1:32: stream.checkpoint_interval: 0 is below the minimum of 1ms") {
            try parse("stream: { checkpoint_interval: 0 }\n")
        }
        expectError("/etc/vigil/vigil.yaml:1:21: index.retention: invalid duration \"30\": missing unit (use d, h, m, s, ms, us, ns, e.g. 10s)") {
            try parse("index: { retention: 30 }\n")
        }
        expectError("/etc/vigil/vigil.yaml:1:18: unknown key 'directory' in rules (expected one of: dir, triage)") {
            try parse("rules: { dir: r, directory: r }\n")
        }
    }
}

@Suite struct IndexConfigurationTests {
    @Test func indexKeys() throws {
        let c = try parse("""
            index: { max_size: 10GiB, batch_size: 500, drop_read_pages: false, enabled: false, http: { listen: "0.0.0.0:8089", token: s3cret } }
            """)
        #expect(c.index.maxSize == 10 << 30)
        #expect(!c.index.dropReadPages)
        #expect(c.index.batchSize == 500)
        #expect(!c.index.enabled)
        #expect(c.index.httpListen == "0.0.0.0:8089")
        #expect(c.index.httpToken == "s3cret")
        let d = try parse("index: { http: { listen: \"127.0.0.1:9000\" } }\n")
        #expect(d.index.httpToken == nil && d.index.enabled && d.index.maxSize == nil && d.index.batchSize == 50_000)
        #expect(d.index.layout == "blocks" && d.index.dropReadPages)
        #expect(try parse("index: { layout: rows }\n").index.layout == "rows")
    }

    @Test func indexErrors() {
        expectError("/etc/vigil/vigil.yaml:1:16: index.http: index.http.listen 0.0.0.0:8089 is not a loopback address: set index.http.token (requests then need Authorization: Bearer TOKEN)") {
            try parse("index: { http: { listen: \"0.0.0.0:8089\" } }\n")
        }
        expectError("/etc/vigil/vigil.yaml:1:26: index.http.listen: expected HOST:PORT such as 127.0.0.1:8089, got 'localhost'") {
            try parse("index: { http: { listen: localhost } }\n")
        }
        expectError("/etc/vigil/vigil.yaml:1:22: index.batch_size: 0 is out of range 1...1000000") { try parse("index: { batch_size: 0 }\n") }
        expectError("/etc/vigil/vigil.yaml:1:18: index.layout: expected blocks or rows, got 'columns'") { try parse("index: { layout: columns }\n") }
    }
}

@Suite struct NetworkSensorConfigurationTests {
    @Test func liveAndReplaySensorsDecodeWithTheirSettings() throws {
        let config = try parse("""
            sensors:
              - name: wire
                type: network
                interface: eth0
                filter: "not port 22"
                snaplen: 9000
                buffer_size: 32MiB
                immediate: true
                timeout: 250ms
                user: nobody
                protocols: [dns, tls]
                flows: { tcp_idle: 10m, max_flows: 5000 }
              - name: traces
                type: network
                files: [traces/a.pcap]
            """)
        guard case .network(let live) = config.sensors[0], case .network(let replay) = config.sensors[1] else {
            Issue.record("not network sensors: \(config.sensors)")
            return
        }
        #expect(live.source == .interface("eth0"))
        #expect(live.filter == "not port 22" && live.snaplen == 9000 && live.bufferBytes == 32 << 20)
        #expect(live.immediate && live.timeoutMilliseconds == 250 && live.user == "nobody")
        #expect(live.protocols == ["dns", "tls"] && live.tcpIdleSeconds == 600 && live.maxFlows == 5000)
        #expect(live.liveOptions.snaplen == 9000 && live.liveOptions.filter == "not port 22")
        #expect(replay.source == .files(["/etc/vigil/traces/a.pcap"]))
    }

    @Test(arguments: [
        ("sensors:\n  - { name: w, type: network }", "2:5: sensors[0]: a network sensor needs interface (live capture) or files (replay)"),
        ("sensors:\n  - { name: w, type: network, interface: eth0, files: [a.pcap] }",
         "2:55: sensors[0].files: give either interface (live capture) or files (replay), not both"),
        ("sensors:\n  - { name: w, type: network, files: [a.pcap], snaplen: 100 }",
         "2:57: sensors[0].snaplen: applies to live capture (interface), not to files"),
        ("sensors:\n  - { name: w, type: network, interface: eth0, protocols: [dns, smtp] }",
         "2:65: sensors[0].protocols[1]: invalid value 'smtp' (expected one of: dns, http, tls, ssh)"),
    ])
    func mistakesNameTheirPlace(yaml: String, error: String) {
        expectError("/etc/vigil/vigil.yaml:" + error) { try parse(yaml) }
    }
}
