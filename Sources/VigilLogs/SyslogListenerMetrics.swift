import Synchronization

/// Counters of syslog listeners and their `ParsingSink`, safe to bump and read from any thread
/// (relaxed atomics: each value is exact, a set of values read together is not a snapshot).
///
/// Once input stops and the sink has drained:
/// `received == parsed + rejected − framingErrors + dropped`, and `produced + produceFailures == parsed`.
public final class SyslogListenerMetrics: Sendable {
    let _received = Atomic<Int>(0)
    let _bytes = Atomic<Int>(0)
    let _parsed = Atomic<Int>(0)
    let _rejected = Atomic<Int>(0)
    let _dropped = Atomic<Int>(0)
    let _droppedOverMemory = Atomic<Int>(0)
    let _produced = Atomic<Int>(0)
    let _produceFailures = Atomic<Int>(0)
    let _framingErrors = Atomic<Int>(0)
    let _connectionsOpened = Atomic<Int>(0)
    let _connectionsActive = Atomic<Int>(0)
    let _connectionsRefused = Atomic<Int>(0)
    let _tlsHandshakes = Atomic<Int>(0)
    let _tlsHandshakeFailures = Atomic<Int>(0)
    let _tlsErrors = Atomic<Int>(0)
    let _readPauses = Atomic<Int>(0)

    public init() {}

    /// Messages (frames or datagrams) received, including oversize ones.
    public var received: Int { _received.load(ordering: .relaxed) }
    /// Bytes of the received messages (without framing).
    public var bytesReceived: Int { _bytes.load(ordering: .relaxed) }
    /// Messages the parser turned into events.
    public var parsed: Int { _parsed.load(ordering: .relaxed) }
    /// Input sent to the error path: oversize messages, parse failures, unframeable streams.
    public var rejected: Int { _rejected.load(ordering: .relaxed) }
    /// UDP datagrams dropped because the sink was full (UDP has no backpressure).
    public var dropped: Int { _dropped.load(ordering: .relaxed) }
    /// Of `dropped`, the datagrams dropped because the sink's admission gate refused them (the
    /// pipeline's memory limit).
    public var droppedOverMemory: Int { _droppedOverMemory.load(ordering: .relaxed) }
    /// Events appended to the topic and acknowledged.
    public var produced: Int { _produced.load(ordering: .relaxed) }
    /// Parsed events the producer failed to append (the broker error is reported to the sink's owner).
    public var produceFailures: Int { _produceFailures.load(ordering: .relaxed) }
    /// Connections closed because their bytes could not be framed (a bad octet count).
    public var framingErrors: Int { _framingErrors.load(ordering: .relaxed) }
    /// TCP/TLS connections accepted (total).
    public var connectionsOpened: Int { _connectionsOpened.load(ordering: .relaxed) }
    /// TCP/TLS connections open now.
    public var connectionsActive: Int { _connectionsActive.load(ordering: .relaxed) }
    /// Connections closed at once because `max_connections` were open.
    public var connectionsRefused: Int { _connectionsRefused.load(ordering: .relaxed) }
    /// TLS handshakes completed.
    public var tlsHandshakes: Int { _tlsHandshakes.load(ordering: .relaxed) }
    /// TLS handshakes that failed or timed out (plaintext clients, bad certificates, old versions).
    public var tlsHandshakeFailures: Int { _tlsHandshakeFailures.load(ordering: .relaxed) }
    /// TLS connections closed for an error after the handshake (bad records).
    public var tlsErrors: Int { _tlsErrors.load(ordering: .relaxed) }
    /// Times a connection stopped reading because the sink was full (backpressure).
    public var readPauses: Int { _readPauses.load(ordering: .relaxed) }

    /// Every counter as (Prometheus-style name, help, value).
    public var all: [(name: String, help: String, value: Int)] {
        [("vigil_syslog_messages_received_total", "Syslog messages received (frames or datagrams)", received),
         ("vigil_syslog_bytes_received_total", "Bytes of syslog messages received", bytesReceived),
         ("vigil_syslog_messages_parsed_total", "Syslog messages parsed into events", parsed),
         ("vigil_syslog_messages_rejected_total", "Syslog input sent to the error path", rejected),
         ("vigil_syslog_datagrams_dropped_total", "UDP datagrams dropped while the sink was full", dropped),
         ("vigil_syslog_events_produced_total", "Syslog events appended and acknowledged", produced),
         ("vigil_syslog_produce_failures_total", "Syslog events the producer failed to append", produceFailures),
         ("vigil_syslog_framing_errors_total", "Connections closed for unframeable input", framingErrors),
         ("vigil_syslog_connections_opened_total", "TCP/TLS connections accepted", connectionsOpened),
         ("vigil_syslog_connections_active", "TCP/TLS connections open", connectionsActive),
         ("vigil_syslog_connections_refused_total", "Connections closed over max_connections", connectionsRefused),
         ("vigil_syslog_tls_handshakes_total", "TLS handshakes completed", tlsHandshakes),
         ("vigil_syslog_tls_handshake_failures_total", "TLS handshakes failed or timed out", tlsHandshakeFailures),
         ("vigil_syslog_tls_errors_total", "TLS connections closed for errors after the handshake", tlsErrors),
         ("vigil_syslog_read_pauses_total", "Times a connection paused reading for backpressure", readPauses)]
    }
}

extension Atomic where Value == Int {
    @inline(__always) func bump(_ n: Int = 1) { wrappingAdd(n, ordering: .relaxed) }
}
