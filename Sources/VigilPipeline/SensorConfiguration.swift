import VigilCapture
import VigilLogs

/// One sensor: where events come from and which topic they go to. An item of `sensors:`, chosen by
/// its `type` key. Each type has its own configuration struct; new sensor types add a case.
public enum SensorConfiguration: Sendable, Equatable {
    /// `type: jsonl` — JSON objects, one per line, from a file or standard input.
    case jsonLines(JSONLinesSensorConfiguration)
    /// `type: syslog` — a syslog listener (UDP, TCP, TLS) feeding a parser.
    case syslog(SyslogSensorConfiguration)
    /// `type: file` — files and globs followed through rotation, with durable read positions.
    case file(FileSensorConfiguration)
    /// `type: network` — packets from an interface (libpcap) or pcap files into flow, DNS, HTTP,
    /// TLS and SSH records.
    case network(NetworkSensorConfiguration)

    /// The `type` values, in the order error messages list them.
    public static let typeNames = ["jsonl", "syslog", "file", "network"]

    /// The sensor's unique name.
    public var name: String {
        switch self {
        case .jsonLines(let configuration): configuration.name
        case .syslog(let configuration): configuration.name
        case .file(let configuration): configuration.tail.name
        case .network(let configuration): configuration.name
        }
    }

    /// The topic the sensor publishes to.
    public var topic: String {
        switch self {
        case .jsonLines(let configuration): configuration.topic
        case .syslog(let configuration): configuration.topic
        case .file(let configuration): configuration.topic
        case .network(let configuration): configuration.topic
        }
    }

    /// The `type` key's value.
    public var typeName: String {
        switch self {
        case .jsonLines: "jsonl"
        case .syslog: "syslog"
        case .file: "file"
        case .network: "network"
        }
    }
}

/// A sensor that reads JSON lines (`type: jsonl`).
public struct JSONLinesSensorConfiguration: Sendable, Equatable {
    /// Where the lines are read from.
    public enum Input: Sendable, Equatable {
        /// `path: -`
        case standardInput
        /// An absolute file path (relative paths in the file resolve against its directory).
        case file(String)
    }

    /// Unique among sensors; 1 to 200 of `A-Z a-z 0-9 . _ -`. Required.
    public var name: String
    /// Key `path`. Required.
    public var input: Input
    /// Topic to publish to. Default `events`.
    public var topic: String
    /// Dotted path of the event field whose value keys the record (and so picks its partition); an
    /// event without the field gets a null key. Default `source.ip`.
    public var keyField: String
    /// Keep reading lines appended to the file, like `tail -f`. Not allowed for standard input. Default false.
    public var follow: Bool

    public init(name: String, input: Input, topic: String = "events", keyField: String = "source.ip", follow: Bool = false) {
        self.name = name
        self.input = input
        self.topic = topic
        self.keyField = keyField
        self.follow = follow
    }
}

/// A syslog listener sensor (`type: syslog`):
///
/// ```yaml
/// - name: syslog
///   type: syslog
///   parser: syslog                 # a parser in parsers/ (default syslog)
///   topic: events
///   key_field: host.name           # default host.name; events without it are keyed by the sender's IP
///   max_message_bytes: 64KiB       # larger messages are rejected to the errors topic
///   queue_messages: 8192           # parsed messages waiting for the broker before the sink pushes back
///   queue_bytes: 16MiB             # … or encoded bytes (TCP/TLS pause; UDP datagrams are dropped, counted)
///   listen:
///     - { protocol: udp, host: 0.0.0.0, port: 514 }
///     - { protocol: tcp, port: 514, framing: auto }            # auto | newline | octet_counted
///     - { protocol: tls, port: 6514, certificate: tls/server.pem, key: tls/server.key, ca: tls/ca.pem, client_auth: optional }
/// ```
public struct SyslogSensorConfiguration: Sendable, Equatable {
    public var name: String
    public var parser: String = "syslog"
    public var topic: String = "events"
    public var keyField: String = "host.name"
    public var listen: [SyslogListenerConfiguration]
    /// Messages the sink queues for the broker before it pushes back. Default 8192.
    public var queueMessages = 8192
    /// Encoded bytes the sink queues before it pushes back. Default 16 MiB.
    public var queueBytes = 16 << 20

    public init(name: String, listen: [SyslogListenerConfiguration]) {
        self.name = name
        self.listen = listen
    }
}

/// A file sensor (`type: file`), see docs/sensors-file.md:
///
/// ```yaml
/// - name: auth
///   type: file
///   paths: [/var/log/auth.log, /var/log/secure*]   # globs; relative paths resolve against the config file
///   exclude: ["*.gz"]
///   parser: syslog
///   topic: events
///   key_field: source.ip
///   start_at: beginning            # beginning | end, for files present at the first start
///   max_line_bytes: 1MiB
///   poll_interval: 250ms
///   scan_interval: 1s
///   rotate_wait: 5s
///   batch_lines: 4096
/// ```
public struct FileSensorConfiguration: Sendable, Equatable {
    public var tail: FileTailerConfiguration
    public var parser: String = "syslog"
    public var topic: String = "events"
    public var keyField: String = "source.ip"

    public init(tail: FileTailerConfiguration) { self.tail = tail }
}

/// A network sensor (`type: network`), see docs/sensors-network.md:
///
/// ```yaml
/// - name: wire
///   type: network
///   interface: eth0                # capture live on this interface …
///   # files: [traces/*.pcap]       # … or replay pcap/pcapng files (relative paths: against the config file)
///   filter: "not port 22"          # BPF, tcpdump syntax
///   snaplen: 65535
///   promiscuous: true
///   buffer_size: 16MiB             # kernel capture buffer
///   immediate: false               # deliver packets one by one rather than in batches
///   timeout: 100ms                 # how long a read waits for more packets
///   user: vigil                    # when started as root: switch to this user once the interface is open
///   topic: events
///   key_field: source.ip
///   protocols: [dns, http, tls, ssh]
///   flows:
///     tcp_idle: 5m
///     udp_idle: 1m
///     icmp_idle: 1m
///     active: 1h                   # a long flow is reported (and continued) after this long
///     max_flows: 1000000           # the oldest flows are reported and dropped beyond this, counted
/// ```
public struct NetworkSensorConfiguration: Sendable, Equatable {
    public enum Source: Sendable, Equatable {
        case interface(String)
        case files([String])
    }

    public var name: String
    public var source: Source
    public var filter: String?
    public var snaplen = 65_535
    public var promiscuous = true
    public var bufferBytes = 16 << 20
    public var immediate = false
    public var timeoutMilliseconds = 100
    public var user: String?
    public var topic: String = "events"
    public var keyField: String = "source.ip"
    public var protocols: [String] = NetworkSensorConfiguration.protocolNames
    public var tcpIdleSeconds = 300
    public var udpIdleSeconds = 60
    public var icmpIdleSeconds = 60
    public var activeSeconds = 3600
    public var maxFlows = 1_000_000

    public static let protocolNames = ["dns", "http", "tls", "ssh"]

    /// libpcap settings of a live capture.
    public var liveOptions: PcapSource.LiveOptions {
        PcapSource.LiveOptions(snaplen: Int32(snaplen), promiscuous: promiscuous, bufferSize: Int32(clamping: bufferBytes),
                               immediate: immediate, timeoutMilliseconds: Int32(timeoutMilliseconds), filter: filter)
    }

    public init(name: String, source: Source) {
        self.name = name
        self.source = source
    }
}
