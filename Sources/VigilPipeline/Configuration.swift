import VigilBroker
import VigilStream
import VigilRules
import VigilYAML

/// The configuration of a Vigil pipeline, read from a YAML file such as `deploy/vigil.yaml`.
///
/// Every key, with its default and constraint. This table and docs/configuration.md are the one
/// place defaults are documented; keep them in sync with the property initializers below.
///
/// | Key                                     | Default             | Constraint                                         |
/// |-----------------------------------------|---------------------|----------------------------------------------------|
/// | `data_dir`                              | `/var/lib/vigil`    | relative to the config file's directory            |
/// | `log.level` (or `log_level`)            | `info`              | trace, debug, info, notice, warning, error, critical |
/// | `log.format`                            | `logfmt`            | logfmt, json                                       |
/// | `metrics.listen`                        | `127.0.0.1:9464`    | host:port (port 0: any free port); `null` or `off` disables |
/// | `broker.type`                           | `embedded`          | embedded, kafka                                    |
/// | `broker.embedded.default_partitions`    | `4`                 | 1...1024                                           |
/// | `broker.embedded.segment_bytes`         | `256MiB`            | at least 4KiB                                      |
/// | `broker.embedded.index_interval_bytes`  | `4KiB`              | 1 byte ... segment_bytes                           |
/// | `broker.embedded.retention.bytes`       | unlimited           | at least 1 byte; `null` or omitted = unlimited     |
/// | `broker.embedded.retention.age`         | `7d`                | at least 1s; `null` = unlimited                    |
/// | `broker.embedded.fsync.policy`          | `interval`          | every_batch, interval, never                       |
/// | `broker.embedded.fsync.interval`        | `100ms`             | whole ms, 1ms...1m; required iff policy is interval |
/// | `broker.kafka.bootstrap_servers`        | —                   | required in the section; non-empty list of host:port |
/// | `broker.kafka.client_id`                | `vigil`             | non-empty                                          |
/// | `broker.kafka.properties`               | `{}`                | string → string (librdkafka properties, checked)   |
/// | `broker.kafka.topic_prefix`             | `""`                | at most 100 of `A-Z a-z 0-9 . _ -`                 |
/// | `broker.kafka.replication_factor`       | `1`                 | 1...32                                             |
/// | `topics.<name>.partitions`              | `default_partitions`| 1...1024                                           |
/// | `sensors`                               | `[]`                | list of sensors                                    |
/// | `sensors[].name`                        | required            | unique; 1–200 of `A-Z a-z 0-9 . _ -`               |
/// | `sensors[].type`                        | required            | jsonl                                              |
/// | `sensors[].topic`                       | `events`            | a known topic (default topics or `topics:` keys)   |
/// | `sensors[].path` (jsonl)                | required            | `-` = stdin; relative to the config file's directory |
/// | `sensors[].key_field` (jsonl)           | `source.ip`         | dotted event field path                            |
/// | `sensors[].follow` (jsonl)              | `false`             | not with `path: -`                                 |
/// | `stream.group`                          | `vigil-stream`      | 1–200 of `A-Z a-z 0-9 . _ -`                       |
/// | `stream.workers`                        | `2`                 | 1...256                                            |
/// | `stream.checkpoint_interval`            | `10s`               | at least 1ms                                       |
/// | `stream.allowed_lateness`               | `30s`               | at least 0                                         |
/// | `stream.idle_timeout`                   | `5s`                | at least 1ms                                       |
/// | `stream.output_topic`                   | `profiles`          | topic name                                         |
/// | `stream.profiles`                       | `[]`                | list of profiles (docs/stream.md)                  |
/// | `enrichment.dir`                        | `enrichment`        | relative to the config file's directory            |
/// | `rules.dir`                             | `rules`             | relative to the config file's directory            |
/// | `rules.triage`                          | `max`               | `max`, `sum` or `mean`                             |
/// | `parsers.dir`                           | `parsers`           | relative to the config file's directory            |
/// | `index.path`                            | `alerts.db`         | relative to `data_dir`                             |
/// | `index.retention`                       | `30d`               | at least 1s; `null` = keep alerts forever          |
/// | `index.enabled`                         | `true`              | `vigil run` indexes the alerts topic               |
/// | `index.max_size`                        | unlimited           | size, at least 1MiB; oldest hours deleted beyond it |
/// | `index.batch_size`                      | `50000`             | alerts per transaction, 1...1000000                |
/// | `index.layout`                          | `blocks`            | `blocks` or `rows`, for a new index (docs/alerts.md) |
/// | `index.http.listen`                     | none (not served)   | `HOST:PORT`; `vigil run` serves the API there      |
/// | `index.http.token`                      | none                | required when `listen` is not a loopback address   |
///
/// The default topics are `events`, `errors` and `alerts`; `topics:` overrides their settings or
/// adds topics. An explicit `null` for any key (or a section whose keys are all commented out)
/// means its default, except for `retention.age` and `index.retention`, where `null` means
/// unlimited. Paths are resolved lexically (no symlinks are followed, `~` is not expanded) and
/// stored absolute.
///
/// All errors are ``YAMLError``s, `file:line:column: message` at the offending node; a file that
/// cannot be read is `PATH: cannot read file: <strerror>`.
public struct VigilConfiguration: Sendable, Equatable {
    /// Topics every pipeline has: sensors publish `events`, parse failures go to `errors`, rules emit `alerts`.
    public static let defaultTopicNames = ["events", "errors", "alerts"]

    /// The absolute directory of the configuration file; relative paths in the file are resolved against it.
    public var configurationDirectory: String
    /// Absolute directory for the broker's log, checkpoints and the alert index. Key `data_dir`.
    public var dataDirectory: String
    /// Minimum severity of the pipeline's own log messages. Key `log.level` (or `log_level`).
    public var logLevel: LogLevel = .info
    /// How the pipeline's log records are written to stderr. Key `log.format`.
    public var logFormat: LogFormat = .logfmt
    /// The Prometheus `/metrics` endpoint. Key `metrics`.
    public var metrics = MetricsConfiguration()
    /// Which broker carries records between stages, and its settings. Key `broker`.
    public var broker = BrokerSettings()
    /// Every topic: the default topics first, then the ones added under `topics:`, in file order.
    public var topics: [TopicSettings] = defaultTopicNames.map { TopicSettings(name: $0) }
    /// The sensors, in file order. Key `sensors`.
    public var sensors: [SensorConfiguration] = []
    /// The stream stage (enrichment and scoring workers). Key `stream`.
    public var stream = StreamConfiguration()
    /// Where reference tables and threat-intel feeds live. Key `enrichment`.
    public var enrichment: EnrichmentConfiguration
    /// Where detection rules live. Key `rules`.
    public var rules: RulesConfiguration
    /// Where parser definitions live. Key `parsers`.
    public var parsers: ParsersConfiguration
    /// The alert index. Key `index`.
    public var index: IndexConfiguration
    /// Resource limits the pipeline enforces. Key `limits`.
    public var limits = LimitsConfiguration()

    /// The defaults, as if read from an empty mapping in a file in `configurationDirectory` (absolute).
    public init(configurationDirectory: String) {
        let directory = Paths.normalize(configurationDirectory)
        self.configurationDirectory = directory
        dataDirectory = "/var/lib/vigil"
        enrichment = EnrichmentConfiguration(directory: Paths.resolve("enrichment", against: directory))
        rules = RulesConfiguration(directory: Paths.resolve("rules", against: directory))
        parsers = ParsersConfiguration(directory: Paths.resolve("parsers", against: directory))
        index = IndexConfiguration(path: Paths.resolve("alerts.db", against: dataDirectory))
    }

    /// The settings of the topic called `name`, if it is a known topic.
    public func topic(named name: String) -> TopicSettings? {
        topics.first { $0.name == name }
    }

    /// Reads and validates the configuration file at `path`. Relative paths inside it resolve against
    /// the file's directory (made absolute against the current directory if `path` is relative).
    ///
    /// - Throws: ``YAMLError``: `PATH: cannot read file: …` (line 0) when the file cannot be read,
    ///   otherwise `PATH:line:column: message` for syntax errors and invalid values.
    public static func load(path: String) throws(YAMLError) -> VigilConfiguration {
        try ConfigurationDecoder(root: YAMLValue.load(path: path)).decode()
    }

    /// Parses and validates configuration text. `file` names it in errors and locates it: relative
    /// paths inside resolve against `file`'s directory, made absolute against the current directory.
    public static func parse(yaml: String, file: String) throws(YAMLError) -> VigilConfiguration {
        try ConfigurationDecoder(root: YAMLValue.parse(yaml: yaml, file: file)).decode()
    }
}

/// Severity threshold of the pipeline's own log (the levels of swift-log). Key `log_level`.
public enum LogLevel: String, Sendable, Equatable, CaseIterable {
    case trace, debug, info, notice, warning, error, critical
}

/// How the pipeline's log records are written: one line per record. Key `log.format`.
public enum LogFormat: String, Sendable, Equatable, CaseIterable {
    /// `ts=… level=… msg="…" key=value …` (logfmt).
    case logfmt
    /// One JSON object per line: `{"ts":…,"level":…,"msg":…,…}`.
    case json
}

/// Resource limits the pipeline enforces. Key `limits`.
public struct LimitsConfiguration: Sendable, Equatable {
    /// Resident memory (`VmRSS`) above which `vigil run` pauses its readers: file sensors stop
    /// reading (their lines wait in the files) and syslog UDP datagrams are dropped (counted,
    /// `reason="memory_limit"`) until it is back under 90 % of the limit. TCP/TLS syslog and the
    /// other stages are bounded by their queues. Key `limits.memory`, at least 16 MiB; default
    /// (or `null`) unlimited.
    public var memory: Int64?

    public init(memory: Int64? = nil) { self.memory = memory }
}

/// The Prometheus metrics endpoint. Key `metrics`.
public struct MetricsConfiguration: Sendable, Equatable {
    /// Where `/metrics` is served (`host:port`; port 0 picks a free one); `nil` disables the
    /// endpoint. Key `metrics.listen`, default `127.0.0.1:9464`.
    public var listen: String? = "127.0.0.1:9464"

    public init(listen: String? = "127.0.0.1:9464") { self.listen = listen }
}

/// Which broker carries records between stages. Key `broker`.
public struct BrokerSettings: Sendable, Equatable {
    /// The broker implementation. Key `broker.type`.
    public enum Kind: String, Sendable, Equatable, CaseIterable {
        /// The built-in partitioned segment log in `data_dir` (``VigilBroker``).
        case embedded
        /// An external Kafka cluster, through librdkafka.
        case kafka
    }

    /// Default `.embedded`.
    public var kind: Kind = .embedded
    /// Settings of the embedded log (used when `kind` is `.embedded`). Key `broker.embedded`.
    public var embedded = LogConfiguration()
    /// Settings of the Kafka client; present whenever the file has a `broker.kafka` section, and
    /// always when `kind` is `.kafka`. Key `broker.kafka`.
    public var kafka: KafkaSettings?

    public init(kind: Kind = .embedded, embedded: LogConfiguration = LogConfiguration(), kafka: KafkaSettings? = nil) {
        self.kind = kind
        self.embedded = embedded
        self.kafka = kafka
    }
}

/// The Kafka client's settings. Key `broker.kafka`.
public struct KafkaSettings: Sendable, Equatable {
    /// `host:port` of brokers to bootstrap from. Required, non-empty.
    public var bootstrapServers: [String]
    /// The client id the brokers see. Default `vigil`.
    public var clientID: String
    /// Extra librdkafka properties, passed as is (after Vigil's defaults, docs/kafka.md).
    /// Default none.
    public var properties: [String: String]
    /// Put before every Vigil topic name in Kafka (`events` is `<prefix>events`), so several
    /// pipelines share one cluster. Default none.
    public var topicPrefix: String
    /// Replicas of the topics Vigil creates. Default 1.
    public var replicationFactor: Int

    public init(bootstrapServers: [String], clientID: String = "vigil", properties: [String: String] = [:],
                topicPrefix: String = "", replicationFactor: Int = 1) {
        self.bootstrapServers = bootstrapServers
        self.clientID = clientID
        self.properties = properties
        self.topicPrefix = topicPrefix
        self.replicationFactor = replicationFactor
    }
}

/// One topic and its overrides. Key `topics.<name>`.
public struct TopicSettings: Sendable, Equatable {
    /// 1 to 200 of `A-Z a-z 0-9 . _ -`, not `.` or `..`.
    public var name: String
    /// Partitions of the topic; `nil` means the broker's default (`broker.embedded.default_partitions`).
    public var partitions: Int?

    public init(name: String, partitions: Int? = nil) {
        self.name = name
        self.partitions = partitions
    }
}

/// The stream stage: consumer group, workers, checkpoints and event-time lateness. Key `stream`.
public struct StreamConfiguration: Sendable, Equatable {
    /// Consumer group of the stream workers. Default `vigil-stream`.
    public var group = "vigil-stream"
    /// Worker tasks; each owns a subset of partitions. Default 2.
    public var workers = 2
    /// How often workers checkpoint state and commit offsets. Default 10 s.
    public var checkpointInterval: Duration = .seconds(10)
    /// How far behind the watermark an event may arrive and still be counted in its window. Default 30 s.
    public var allowedLateness: Duration = .seconds(30)
    /// Processing time without input after which a partition's watermark follows the wall clock,
    /// so idle partitions still close windows. Default 5 s.
    public var idleTimeout: Duration = .seconds(5)
    /// The topic of profile results. Default `profiles`.
    public var outputTopic = "profiles"
    /// Windowed aggregations per key (docs/stream.md). Default none.
    public var profiles: [ProfileDefinition] = []

    public init() {}
}

/// Where enrichment data lives. Key `enrichment`.
public struct EnrichmentConfiguration: Sendable, Equatable {
    /// Absolute directory of reference tables, threat-intel feeds and GeoIP settings.
    /// Default `enrichment` next to the configuration file.
    public var directory: String

    public init(directory: String) { self.directory = directory }
}

/// Where parser definitions (`parsers/*.yaml`, `parsers/patterns/`) live. Key `parsers`.
public struct ParsersConfiguration: Sendable, Equatable {
    /// Absolute directory of parser files. Default `parsers` next to the configuration file.
    public var directory: String
    public init(directory: String) { self.directory = directory }
}

/// Where detection rules live. Key `rules`.
public struct RulesConfiguration: Sendable, Equatable {
    /// Absolute directory of rule files and Sigma rules. Default `rules` next to the configuration file.
    public var directory: String
    /// How an event's threat score combines the scores of the single-event rules it matched
    /// (Metron's triage). Default `max`.
    public var triage: TriageAggregation = .max

    public init(directory: String) { self.directory = directory }
}

/// The alert index. Key `index`.
public struct IndexConfiguration: Sendable, Equatable {
    /// Absolute path of the SQLite alert database. Default `alerts.db` in `data_dir`.
    public var path: String
    /// Alerts older than this are deleted; `nil` keeps them forever. Default 30 days.
    public var retention: Duration?
    /// Whether `vigil run` runs the indexer. Key `index.enabled`. Default true.
    public var enabled = true
    /// Beyond this many bytes the oldest hours of alerts are deleted; nil: no limit. Key `index.max_size`.
    public var maxSize: Int64?
    /// Alerts per transaction. Key `index.batch_size`. Default 50,000.
    public var batchSize = 50_000
    /// Whether the indexer drops the alerts topic's pages it has read from the page cache. Key
    /// `index.drop_read_pages`. Default true.
    public var dropReadPages = true
    /// How a new index stores alerts: `blocks` or `rows` (an existing index keeps its own). Key `index.layout`. Default `blocks`.
    public var layout = "blocks"
    /// Where `vigil run` serves the read-only HTTP API (`HOST:PORT`); nil: not served. Key `index.http.listen`.
    public var httpListen: String?
    /// The bearer token the HTTP API requires; required for a non-loopback `httpListen`. Key `index.http.token`.
    public var httpToken: String?

    public init(path: String, retention: Duration? = .seconds(30 * 86_400)) {
        self.path = path
        self.retention = retention
    }
}
