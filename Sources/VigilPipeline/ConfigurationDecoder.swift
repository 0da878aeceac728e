import VigilBroker
import VigilKafka
import VigilStream
import VigilRules
import VigilYAML
import VigilIndex
import VigilLogs

/// Reads a ``VigilConfiguration`` from a YAML document, section by section, then checks the rules
/// that span sections (sensor topics, broker type).
struct ConfigurationDecoder {
    let root: YAMLValue
    let directory: String

    init(root: YAMLValue) {
        self.root = root
        directory = Paths.directory(ofFile: root.file)
    }

    static let nanosecondsPerSecond: Int64 = 1_000_000_000
    static let nanosecondsPerMillisecond: Int64 = 1_000_000

    func decode() throws(YAMLError) -> VigilConfiguration {
        let top = try root.mapping(allowedKeys: [
            "data_dir", "log_level", "log", "metrics", "broker", "topics", "sensors", "stream", "enrichment", "rules", "parsers",
            "index", "limits",
        ])
        var configuration = VigilConfiguration(configurationDirectory: directory)
        if let value = top.optional("data_dir") {
            configuration.dataDirectory = try path(value, against: directory)
        }
        if let value = top.optional("log_level") {
            configuration.logLevel = try value.oneOf(LogLevel.self)
        }
        if let value = top.optional("log") {
            let section = try value.mapping(allowedKeys: ["level", "format"])
            if let level = section.optional("level") {
                if let old = top.optional("log_level") {
                    throw level.error("log_level (at \(old.line):\(old.column)) sets the level too; keep one of them")
                }
                configuration.logLevel = try level.oneOf(LogLevel.self)
            }
            if let format = section.optional("format") {
                configuration.logFormat = try format.oneOf(LogFormat.self)
            }
        }
        if let value = top.optional("metrics") {
            configuration.metrics = try metrics(value)
        }
        if let value = top.optional("limits") {
            let section = try value.mapping(allowedKeys: ["memory"])
            if let memory = section.optional("memory") { configuration.limits.memory = try memory.size(range: (16 << 20)...Int64.max) }
        }
        if let value = top.optional("broker") {
            configuration.broker = try broker(value)
        }
        if let value = top.optional("topics") {
            configuration.topics = try topics(value)
        }
        if let value = top.optional("stream") {
            configuration.stream = try stream(value)
        }
        if let value = top.optional("enrichment") {
            let section = try value.mapping(allowedKeys: ["dir"])
            if let dir = section.optional("dir") {
                configuration.enrichment.directory = try path(dir, against: directory)
            }
        }
        if let value = top.optional("rules") {
            let section = try value.mapping(allowedKeys: ["dir", "triage"])
            if let dir = section.optional("dir") {
                configuration.rules.directory = try path(dir, against: directory)
            }
            if let triage = section.optional("triage") {
                let text = try triage.string()
                guard let t = TriageAggregation(rawValue: text) else { throw triage.error("triage is max, sum or mean") }
                configuration.rules.triage = t
            }
        }
        if let value = top.optional("parsers") {
            let section = try value.mapping(allowedKeys: ["dir"])
            if let dir = section.optional("dir") {
                configuration.parsers.directory = try path(dir, against: directory)
            }
        }
        configuration.index = try index(top.optional("index"), dataDirectory: configuration.dataDirectory)
        if let value = top.optional("sensors") {
            configuration.sensors = try sensors(value, knownTopics: configuration.topics.map(\.name))
        }
        return configuration
    }

    // MARK: Paths and names

    /// A non-empty path, resolved against `base` and normalized.
    func path(_ value: YAMLValue, against base: String) throws(YAMLError) -> String {
        let text = try value.string()
        if text.isEmpty { throw value.error("expected a path, found an empty string") }
        if text.hasPrefix("~") { throw value.error("'~' is not expanded; write the absolute path") }
        return Paths.resolve(text, against: base)
    }

    /// 1 to 200 of `A-Z a-z 0-9 . _ -`, and not `.` or `..` (names become file names).
    static func isValidName(_ name: String) -> Bool {
        (1...200).contains(name.utf8.count) && name != "." && name != ".." && name.utf8.allSatisfy {
            switch $0 {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
                true
            default:
                false
            }
        }
    }

    static let nameRule = "use 1 to 200 of A-Z a-z 0-9 . _ -, not '.' or '..'"

    /// `value` as a string that satisfies ``isValidName(_:)``; `what` names it in the error ("topic name").
    func name(_ value: YAMLValue, _ what: String) throws(YAMLError) -> String {
        let text = try value.string()
        guard Self.isValidName(text) else { throw value.error("invalid \(what) '\(text)' (\(Self.nameRule))") }
        return text
    }

    // MARK: Broker

    func broker(_ value: YAMLValue) throws(YAMLError) -> BrokerSettings {
        let section = try value.mapping(allowedKeys: ["type", "embedded", "kafka"])
        var settings = BrokerSettings()
        if let type = section.optional("type") {
            settings.kind = try type.oneOf(BrokerSettings.Kind.self)
        }
        if let embedded = section.optional("embedded") {
            settings.embedded = try log(embedded)
        }
        if let kafka = section.optional("kafka") {
            settings.kafka = try self.kafka(kafka)
        }
        if settings.kind == .kafka && settings.kafka == nil {
            let type = section.optional("type") ?? value
            throw type.error("type kafka requires a broker.kafka section with bootstrap_servers")
        }
        return settings
    }

    func log(_ value: YAMLValue) throws(YAMLError) -> LogConfiguration {
        let section = try value.mapping(allowedKeys: [
            "default_partitions", "segment_bytes", "index_interval_bytes", "retention", "fsync",
        ])
        var log = LogConfiguration()
        if let partitions = section.optional("default_partitions") {
            log.defaultPartitions = try partitions.int(range: 1...1024)
        }
        if let segment = section.optional("segment_bytes") {
            log.segmentBytes = Int(try segment.size(range: 4096...Int64.max))
        }
        if let interval = section.optional("index_interval_bytes") {
            let bytes = try interval.size(range: 1...Int64.max)
            guard bytes <= log.segmentBytes else {
                throw interval.error("\(Units.formatSize(bytes)) is larger than segment_bytes "
                    + "(\(Units.formatSize(Int64(log.segmentBytes))))")
            }
            log.indexIntervalBytes = Int(bytes)
        }
        if let retention = section.optional("retention") {
            let limits = try retention.mapping(allowedKeys: ["bytes", "age"])
            log.retentionBytes = try limits.optional("bytes")?.size(range: 1...Int64.max)
            if let age = limits["age"] {
                log.retentionAgeNanoseconds = age.isNull
                    ? nil : try age.duration(range: Self.nanosecondsPerSecond...Int64.max)
            }
        }
        if let fsync = section.optional("fsync") {
            log.fsync = try fsyncPolicy(fsync)
        }
        return log
    }

    func fsyncPolicy(_ value: YAMLValue) throws(YAMLError) -> FsyncPolicy {
        let section = try value.mapping(allowedKeys: ["policy", "interval"])
        let policy = try section.required("policy").oneOf(["every_batch", "interval", "never"])
        if policy != "interval", let interval = section.optional("interval") {
            throw interval.error("interval applies only to policy interval (the policy is \(policy))")
        }
        switch policy {
        case "every_batch":
            return .everyBatch
        case "never":
            return .never
        default:
            let interval = try section.required("interval")
            let nanoseconds = try interval.duration(range: Self.nanosecondsPerMillisecond...60 * Self.nanosecondsPerSecond)
            guard nanoseconds % Self.nanosecondsPerMillisecond == 0 else {
                throw interval.error("the fsync interval must be a whole number of milliseconds")
            }
            return .interval(milliseconds: Int(nanoseconds / Self.nanosecondsPerMillisecond))
        }
    }

    func kafka(_ value: YAMLValue) throws(YAMLError) -> KafkaSettings {
        let section = try value.mapping(allowedKeys: ["bootstrap_servers", "client_id", "properties", "topic_prefix", "replication_factor"])
        let serversValue = try section.required("bootstrap_servers")
        var servers: [String] = []
        for server in try serversValue.sequence() {
            let text = try server.string()
            guard Self.isHostAndPort(text) else {
                throw server.error("invalid server '\(text)' (expected host:port, such as 127.0.0.1:9092)")
            }
            servers.append(text)
        }
        if servers.isEmpty { throw serversValue.error("list at least one server, such as [127.0.0.1:9092]") }
        var settings = KafkaSettings(bootstrapServers: servers)
        if let clientID = section.optional("client_id") {
            settings.clientID = try clientID.string()
            if settings.clientID.isEmpty { throw clientID.error("the client id must not be empty") }
        }
        if let properties = section.optional("properties") {
            // Each property checked by librdkafka now (unknown name, bad value), at its place.
            for entry in try properties.mapping().entries {
                let text = try entry.value.string()
                do {
                    try KafkaConfiguration(bootstrapServers: servers.joined(separator: ","), properties: [entry.key: text]).validate()
                } catch {
                    throw entry.keyValue.error(error.message)
                }
                settings.properties[entry.key] = text
            }
        }
        if let prefix = section.optional("topic_prefix") {
            settings.topicPrefix = try prefix.string()
            guard settings.topicPrefix.count <= 100, settings.topicPrefix.utf8.allSatisfy({ Self.isTopicByte($0) }) else {
                throw prefix.error("a topic prefix is at most 100 of A-Z a-z 0-9 . _ -")
            }
        }
        if let factor = section.optional("replication_factor") {
            settings.replicationFactor = try factor.int(range: 1...32)
        }
        return settings
    }

    static func isTopicByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2E || b == 0x5F || b == 0x2D
    }

    /// `host:port` or `[v6]:port` with a port in 1...65535.
    static func isHostAndPort(_ text: String) -> Bool {
        guard let colon = text.lastIndex(of: ":") else { return false }
        let host = text[..<colon]
        guard let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port), !host.isEmpty else {
            return false
        }
        if host.hasPrefix("[") { return host.hasSuffix("]") && host.count > 2 }
        return !host.contains(":")
    }

    // MARK: Metrics

    /// `metrics: { listen: host:port | null | off }`.
    func metrics(_ value: YAMLValue) throws(YAMLError) -> MetricsConfiguration {
        let section = try value.mapping(allowedKeys: ["listen"])
        var metrics = MetricsConfiguration()
        if let listen = section["listen"] {
            if listen.isNull { metrics.listen = nil; return metrics }
            let text = try listen.string()
            if text == "off" { metrics.listen = nil; return metrics }
            guard Self.isHostAndPort(text) || text.hasSuffix(":0") && Self.isHostAndPort(String(text.dropLast()) + "1") else {
                throw listen.error("invalid address '\(text)' (expected host:port, such as 127.0.0.1:9464, or off)")
            }
            metrics.listen = text
        }
        return metrics
    }

    // MARK: Topics

    func topics(_ value: YAMLValue) throws(YAMLError) -> [TopicSettings] {
        var topics = VigilConfiguration.defaultTopicNames.map { TopicSettings(name: $0) }
        for entry in try value.mapping().entries {
            let name = try self.name(entry.keyValue, "topic name")
            var topic = TopicSettings(name: name)
            if !entry.value.isNull {
                let settings = try entry.value.mapping(allowedKeys: ["partitions"])
                topic.partitions = try settings.optional("partitions")?.int(range: 1...1024)
            }
            if let index = topics.firstIndex(where: { $0.name == name }) {
                topics[index] = topic
            } else {
                topics.append(topic)
            }
        }
        return topics
    }

    // MARK: Sensors

    func sensors(_ value: YAMLValue, knownTopics: [String]) throws(YAMLError) -> [SensorConfiguration] {
        var sensors: [SensorConfiguration] = []
        var nameNodes: [String: YAMLValue] = [:]
        for item in try value.sequence() {
            let common = try item.mapping()
            let nameValue = try common.required("name")
            let name = try self.name(nameValue, "sensor name")
            if let first = nameNodes[name] {
                throw nameValue.error("duplicate sensor name '\(name)' (first used at \(first.line):\(first.column))")
            }
            nameNodes[name] = nameValue
            let type = try common.required("type").oneOf(SensorConfiguration.typeNames)
            switch type {
            case "jsonl":
                sensors.append(.jsonLines(try jsonLines(item, name: name, knownTopics: knownTopics)))
            case "syslog":
                sensors.append(.syslog(try syslog(item, name: name, knownTopics: knownTopics)))
            case "file":
                sensors.append(.file(try file(item, name: name, knownTopics: knownTopics)))
            case "network":
                sensors.append(.network(try network(item, name: name, knownTopics: knownTopics)))
            default:
                preconditionFailure("oneOf returned '\(type)', which is not in SensorConfiguration.typeNames")
            }
        }
        return sensors
    }

    static let commonSensorKeys = ["name", "type", "topic"]

    func jsonLines(_ item: YAMLValue, name: String, knownTopics: [String]) throws(YAMLError)
        -> JSONLinesSensorConfiguration
    {
        let section = try item.mapping(allowedKeys: Self.commonSensorKeys + ["path", "key_field", "follow"])
        let pathValue = try section.required("path")
        let input: JSONLinesSensorConfiguration.Input =
            try pathValue.string() == "-" ? .standardInput : .file(path(pathValue, against: directory))
        var sensor = JSONLinesSensorConfiguration(name: name, input: input)
        if let topic = section.optional("topic") {
            sensor.topic = try self.topic(topic, knownTopics: knownTopics)
        }
        if let keyField = section.optional("key_field") {
            let text = try keyField.string()
            guard !text.isEmpty, !text.split(separator: ".", omittingEmptySubsequences: false).contains(where: \.isEmpty)
            else {
                throw keyField.error("invalid field path '\(text)' (expected dotted names, such as source.ip)")
            }
            sensor.keyField = text
        }
        if let follow = section.optional("follow") {
            sensor.follow = try follow.bool()
            if sensor.follow && input == .standardInput {
                throw follow.error("follow applies only to files, not to standard input (path: -)")
            }
        }
        return sensor
    }

    func syslog(_ item: YAMLValue, name: String, knownTopics: [String]) throws(YAMLError) -> SyslogSensorConfiguration {
        let section = try item.mapping(allowedKeys: Self.commonSensorKeys + ["parser", "key_field", "max_message_bytes", "listen", "queue_messages", "queue_bytes"])
        let maxBytes = try section.optional("max_message_bytes")?.size(range: 64...(16 << 20))
        var endpoints: [SyslogListenerConfiguration] = []
        let listenNode = try section.required("listen")
        let items = try listenNode.sequence()
        if items.isEmpty { throw listenNode.error("listen needs at least one endpoint") }
        for endpoint in items {
            let e = try endpoint.mapping(allowedKeys: ["protocol", "host", "port", "framing", "max_connections",
                                                      "certificate", "key", "ca", "client_auth", "handshake_timeout"])
            let transport = try e.required("protocol").oneOf(SyslogTransport.self)
            var config = SyslogListenerConfiguration(transport: transport, port: try e.required("port").int(range: 0...65535))
            if let host = e.optional("host") { config.host = try host.string() }
            if let framing = e.optional("framing") {
                if transport == .udp { throw framing.error("framing applies to tcp and tls, not udp") }
                config.framing = try framing.oneOf(SyslogFraming.self)
            }
            if let n = e.optional("max_connections") { config.maxConnections = try n.int(range: 1...1_000_000) }
            if let maxBytes { config.maxMessageBytes = Int(maxBytes) }
            let tlsKeys = ["certificate", "key", "ca", "client_auth", "handshake_timeout"]
            if transport == .tls {
                var tls = SyslogTLSConfiguration(certificate: try path(try e.required("certificate"), against: directory),
                                                 key: try path(try e.required("key"), against: directory))
                if let ca = e.optional("ca") { tls.ca = try path(ca, against: directory) }
                if let auth = e.optional("client_auth") { tls.clientAuthentication = try auth.oneOf(SyslogClientAuthentication.self) }
                if let t = e.optional("handshake_timeout") { tls.handshakeTimeoutSeconds = Double(try t.duration(range: 1_000_000...3_600_000_000_000)) / 1e9 }
                config.tls = tls
            } else if let key = tlsKeys.first(where: { e.optional($0) != nil }), let node = e[key] {
                throw node.error("\(key) applies to protocol tls only")
            }
            endpoints.append(config)
        }
        var sensor = SyslogSensorConfiguration(name: name, listen: endpoints)
        if let parser = section.optional("parser") { sensor.parser = try parser.string() }
        if let topic = section.optional("topic") { sensor.topic = try self.topic(topic, knownTopics: knownTopics) }
        if let keyField = section.optional("key_field") { sensor.keyField = try keyField.string() }
        if let n = section.optional("queue_messages") { sensor.queueMessages = try n.int(range: 1...10_000_000) }
        if let n = section.optional("queue_bytes") { sensor.queueBytes = Int(try n.size(range: 4096...(4 << 30))) }
        return sensor
    }

    func file(_ item: YAMLValue, name: String, knownTopics: [String]) throws(YAMLError) -> FileSensorConfiguration {
        let section = try item.mapping(allowedKeys: Self.commonSensorKeys + [
            "paths", "exclude", "parser", "key_field", "start_at", "max_line_bytes", "poll_interval", "scan_interval",
            "rotate_wait", "batch_lines",
        ])
        let pathsNode = try section.required("paths")
        var paths: [String] = []
        for p in try pathsNode.sequence() { paths.append(try path(p, against: directory)) }
        if paths.isEmpty { throw pathsNode.error("paths needs at least one file or glob") }
        var tail = FileTailerConfiguration(name: name, paths: paths)
        if let exclude = section.optional("exclude") {
            tail.exclude = []
            for e in try exclude.sequence() { tail.exclude.append(try e.string()) }
        }
        if let v = section.optional("start_at") { tail.startAt = try v.oneOf(FileTailerConfiguration.StartPosition.self) }
        if let v = section.optional("max_line_bytes") { tail.maxLineBytes = Int(try v.size(range: 64...(64 << 20))) }
        func duration(_ key: String) throws(YAMLError) -> Duration? {
            guard let v = section.optional(key) else { return nil }
            return .nanoseconds(try v.duration(range: 1_000_000...86_400_000_000_000))
        }
        if let d = try duration("poll_interval") { tail.pollInterval = d }
        if let d = try duration("scan_interval") { tail.scanInterval = d }
        if let d = try duration("rotate_wait") { tail.rotateWait = d }
        if let v = section.optional("batch_lines") { tail.batchLines = try v.int(range: 1...1_000_000) }
        do throws(FileTailError) { try tail.validate() } catch { throw item.error(error.description) }
        var sensor = FileSensorConfiguration(tail: tail)
        if let parser = section.optional("parser") { sensor.parser = try parser.string() }
        if let topic = section.optional("topic") { sensor.topic = try self.topic(topic, knownTopics: knownTopics) }
        if let keyField = section.optional("key_field") { sensor.keyField = try keyField.string() }
        return sensor
    }

    func network(_ item: YAMLValue, name: String, knownTopics: [String]) throws(YAMLError) -> NetworkSensorConfiguration {
        let section = try item.mapping(allowedKeys: Self.commonSensorKeys + [
            "interface", "files", "filter", "snaplen", "promiscuous", "buffer_size", "immediate", "timeout", "user",
            "key_field", "protocols", "flows",
        ])
        let source: NetworkSensorConfiguration.Source
        switch (section.optional("interface"), section.optional("files")) {
        case (let i?, nil):
            source = .interface(try self.name(i, "interface name"))
        case (nil, let f?):
            var files: [String] = []
            for p in try f.sequence() { files.append(try path(p, against: directory)) }
            if files.isEmpty { throw f.error("files needs at least one pcap file") }
            source = .files(files)
        case (_?, let f?):
            throw f.error("give either interface (live capture) or files (replay), not both")
        case (nil, nil):
            throw item.error("a network sensor needs interface (live capture) or files (replay)")
        }
        var sensor = NetworkSensorConfiguration(name: name, source: source)
        let live = ["filter", "snaplen", "promiscuous", "buffer_size", "immediate", "timeout", "user"]
        if case .files = source, let key = live.first(where: { $0 != "filter" && section.optional($0) != nil }), let node = section[key] {
            throw node.error("applies to live capture (interface), not to files")
        }
        if let v = section.optional("filter") { sensor.filter = try v.string() }
        if let v = section.optional("snaplen") { sensor.snaplen = try v.int(range: 64...262_144) }
        if let v = section.optional("promiscuous") { sensor.promiscuous = try v.bool() }
        if let v = section.optional("buffer_size") { sensor.bufferBytes = Int(try v.size(range: 65_536...(2 << 30))) }
        if let v = section.optional("immediate") { sensor.immediate = try v.bool() }
        if let v = section.optional("timeout") { sensor.timeoutMilliseconds = Int(try v.duration(range: 1_000_000...60_000_000_000) / 1_000_000) }
        if let v = section.optional("user") { sensor.user = try self.name(v, "user name") }
        if let v = section.optional("topic") { sensor.topic = try self.topic(v, knownTopics: knownTopics) }
        if let v = section.optional("key_field") { sensor.keyField = try v.string() }
        if let v = section.optional("protocols") {
            sensor.protocols = []
            for p in try v.sequence() { sensor.protocols.append(try p.oneOf(NetworkSensorConfiguration.protocolNames)) }
        }
        if let flows = section.optional("flows") {
            let f = try flows.mapping(allowedKeys: ["tcp_idle", "udp_idle", "icmp_idle", "active", "max_flows"])
            func seconds(_ key: String) throws(YAMLError) -> Int? {
                guard let v = f.optional(key) else { return nil }
                return Int(try v.duration(range: 1_000_000_000...(7 * 86_400_000_000_000)) / 1_000_000_000)
            }
            if let s = try seconds("tcp_idle") { sensor.tcpIdleSeconds = s }
            if let s = try seconds("udp_idle") { sensor.udpIdleSeconds = s }
            if let s = try seconds("icmp_idle") { sensor.icmpIdleSeconds = s }
            if let s = try seconds("active") { sensor.activeSeconds = s }
            if let v = f.optional("max_flows") { sensor.maxFlows = try v.int(range: 1_000...100_000_000) }
        }
        return sensor
    }

    /// A topic name that is one of `knownTopics`.
    func topic(_ value: YAMLValue, knownTopics: [String]) throws(YAMLError) -> String {
        let topic = try name(value, "topic name")
        guard knownTopics.contains(topic) else {
            var message = "unknown topic '\(topic)' "
            if let suggestion = Suggestion.closest(to: topic, in: knownTopics) {
                message += "(did you mean '\(suggestion)'?)"
            } else {
                message += "(known topics: \(knownTopics.joined(separator: ", ")); add it under topics: to create it)"
            }
            throw value.error(message)
        }
        return topic
    }

    // MARK: Stream, index

    func stream(_ value: YAMLValue) throws(YAMLError) -> StreamConfiguration {
        let section = try value.mapping(allowedKeys: ["group", "workers", "checkpoint_interval", "allowed_lateness",
                                                      "idle_timeout", "output_topic", "profiles"])
        var stream = StreamConfiguration()
        if let group = section.optional("group") {
            stream.group = try name(group, "consumer group name")
        }
        if let workers = section.optional("workers") {
            stream.workers = try workers.int(range: 1...256)
        }
        if let interval = section.optional("checkpoint_interval") {
            stream.checkpointInterval = .nanoseconds(try interval.duration(range: Self.nanosecondsPerMillisecond...Int64.max))
        }
        if let lateness = section.optional("allowed_lateness") {
            stream.allowedLateness = .nanoseconds(try lateness.duration())
        }
        if let idle = section.optional("idle_timeout") {
            stream.idleTimeout = .nanoseconds(try idle.duration(range: Self.nanosecondsPerMillisecond...Int64.max))
        }
        if let output = section.optional("output_topic") {
            stream.outputTopic = try name(output, "topic name")
        }
        if let profiles = section.optional("profiles") {
            var names = Set<String>()
            for entry in try profiles.sequence() {
                let profile = try ProfileDefinition.decode(entry, defaultLateness: stream.allowedLateness.nanosecondsClamped)
                guard names.insert(profile.name).inserted else {
                    throw entry.error("a second profile named \(profile.name); profile names are unique")
                }
                stream.profiles.append(profile)
            }
        }
        return stream
    }

    func index(_ value: YAMLValue?, dataDirectory: String) throws(YAMLError) -> IndexConfiguration {
        var index = IndexConfiguration(path: Paths.resolve("alerts.db", against: dataDirectory))
        guard let value else { return index }
        let section = try value.mapping(allowedKeys: ["path", "retention", "enabled", "max_size", "batch_size", "drop_read_pages", "layout", "http"])
        if let path = section.optional("path") {
            index.path = try self.path(path, against: dataDirectory)
        }
        if let retention = section["retention"] {
            index.retention = retention.isNull
                ? nil : .nanoseconds(try retention.duration(range: Self.nanosecondsPerSecond...Int64.max))
        }
        if let enabled = section.optional("enabled") { index.enabled = try enabled.bool() }
        if let size = section.optional("max_size") { index.maxSize = try size.size(range: (1 << 20)...Int64.max) }
        if let batch = section.optional("batch_size") { index.batchSize = try batch.int(range: 1...1_000_000) }
        if let drop = section.optional("drop_read_pages") { index.dropReadPages = try drop.bool() }
        if let layout = section.optional("layout") {
            let text = try layout.string()
            guard text == "blocks" || text == "rows" else { throw layout.error("expected blocks or rows, got '\(text.prefix(40))'") }
            index.layout = text
        }
        if let http = section.optional("http") {
            let h = try http.mapping(allowedKeys: ["listen", "token"])
            if let listen = h.optional("listen") {
                let text = try listen.string()
                guard (try? AlertAPIConfiguration.parseListen(text, filter: "")) != nil else {
                    throw listen.error("expected HOST:PORT such as 127.0.0.1:8089, got '\(text.prefix(80))'")
                }
                index.httpListen = text
            }
            if let token = h.optional("token") {
                let text = try token.string()
                guard !text.isEmpty, !text.contains(where: { $0.isWhitespace }) else { throw token.error("the token must be non-empty and without spaces") }
                index.httpToken = text
            }
            if let listen = index.httpListen, let host = try? AlertAPIConfiguration.parseListen(listen, filter: "").host,
               !AlertAPIConfiguration.isLoopback(host), index.httpToken == nil {
                throw http.error("index.http.listen \(listen) is not a loopback address: set index.http.token (requests then need Authorization: Bearer TOKEN)")
            }
        }
        return index
    }
}

extension Duration {
    /// The duration in whole nanoseconds (saturating).
    var nanosecondsClamped: Int64 {
        let (seconds, attoseconds) = components
        let (ns, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? (seconds < 0 ? .min : .max) : ns &+ attoseconds / 1_000_000_000
    }
}
