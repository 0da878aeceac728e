import Foundation
import Testing
import VigilBroker
import VigilCore
import VigilLogs
import VigilParsers
import VigilTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Failures handed to `onFailure`, collected.
final class FailureLog: @unchecked Sendable {
    // Guarded by `lock`.
    private let lock = NSLock()
    private var _items: [ParsingSink.Failure] = []
    func append(_ f: ParsingSink.Failure) { lock.withLock { _items.append(f) } }
    var items: [ParsingSink.Failure] { lock.withLock { _items } }
}

/// The listener with a `ParsingSink` over an embedded log in a temporary directory.
final class SinkFixture {
    let directory: TemporaryDirectory
    let log: EmbeddedLog
    let producer: TopicProducer
    let metrics = SyslogListenerMetrics()
    let failures = FailureLog()
    let sink: ParsingSink
    let listener: SyslogListener<ParsingSink>

    init(_ endpoints: [SyslogListenerConfiguration], queueCapacity: Int = 8192, batchDelayMicroseconds: UInt32 = 0) throws {
        directory = try TemporaryDirectory("vigil-syslog")
        var configuration = LogConfiguration()
        configuration.fsync = .never
        log = try EmbeddedLog(dataDirectory: directory.path, configuration: configuration)
        producer = try log.producer(topic: "events")
        let registry = try ParserRegistry.load(texts: [("app.yaml", "type: json\n")])
        let parser = try #require(registry.parser(named: "app"))
        let failures = failures
        sink = ParsingSink(parser: parser, producer: producer,
                           configuration: .init(sensorName: "syslog-test", queueCapacity: queueCapacity), metrics: metrics,
                           onFailure: { failures.append($0) },
                           onBatch: { _ in if batchDelayMicroseconds > 0 { usleep(batchDelayMicroseconds) } })
        listener = SyslogListener(configurations: endpoints, sink: sink, metrics: metrics)
        try listener.start()
    }

    /// Stops everything and returns every event in the topic with its key and partition.
    func finish() throws -> [(event: Event, key: String?, partition: Int)] {
        listener.stop()
        sink.close()
        try producer.close()
        var out: [(Event, String?, Int)] = []
        for p in 0..<producer.topic.partitions {
            let reader = try log.openReader(topic: "events", partition: p)
            try reader.seek(.earliest)
            while try reader.read(maxRecords: 1000, { record in
                let event = try EventBinaryCodec.decode(record.value)
                out.append((event, record.key.map { String(decoding: $0, as: UTF8.self) }, p))
            }) > 0 {}
        }
        log.close()
        directory.remove()
        return out
    }
}

@Suite struct ParsingSinkTests {
    @Test func parsesDecoratesKeysAndProduces() throws {
        let fixture = try SinkFixture([.init(transport: .tcp, host: "127.0.0.1", port: 0, maxMessageBytes: 200),
                                       .init(transport: .udp, host: "127.0.0.1", port: 0)])
        let tcpPort = fixture.listener.boundPorts[0], udpPort = fixture.listener.boundPorts[1]
        let tcp = try TestSocket.tcp(port: tcpPort)
        for i in 0..<100 {
            try tcp.send("{\"host\":{\"name\":\"h\(i % 3)\"},\"seq\":\(i),\"source\":{\"ip\":\"10.0.0.\(i % 3)\"}}\n")
        }
        try tcp.send("not json\n")
        try tcp.send("{\"long\":\"\(String(repeating: "x", count: 300))\"}\n")
        let udp = try TestSocket.udp()
        try udp.sendDatagram(Array("{\"seq\":1000}".utf8), port: udpPort)
        #expect(eventually { fixture.metrics.produced == 101 && fixture.failures.items.count == 2 })
        let events = try fixture.finish()
        #expect(events.count == 101)

        let first = try #require(events.first { $0.event["seq"] == .int(0) })
        #expect(first.event["host.name"] == .string("h0"))
        #expect(first.event["source.ip"] == .ip(IPAddress("10.0.0.0")!))   // the parser's, not the sender's
        #expect(first.event["vigil.peer"] == .ip(IPAddress("127.0.0.1")!))
        #expect(first.event["log.source.address"] == .string("127.0.0.1:\(tcp.localPort)"))
        #expect(first.event["vigil.sensor"] == .string("syslog-test"))
        #expect(first.event["event.ingested"] != nil)
        #expect(first.event["@timestamp"] != nil)
        #expect(first.key == "h0")
        // One host's events share a partition and stay in order.
        for host in ["h0", "h1", "h2"] {
            let mine = events.filter { $0.key == host }
            #expect(Set(mine.map(\.partition)).count == 1)
            let seqs = mine.compactMap { if case .int(let s)? = $0.event["seq"] { s } else { nil } }
            #expect(seqs == seqs.sorted())
            #expect(seqs.count == 33 + (host == "h0" ? 1 : 0))
        }
        // The UDP event has no host.name: keyed by the sender's address.
        let fromUDP = try #require(events.first { $0.event["seq"] == .int(1000) })
        #expect(fromUDP.key == "127.0.0.1")

        let failures = fixture.failures.items
        #expect(failures.count == 2)
        #expect(failures[0].stage == .parser)
        #expect(failures[0].parser == "app")
        #expect(failures[0].original == Array("not json".utf8))
        #expect(failures[0].reason.hasPrefix("app: "))
        #expect(failures[1].stage == .listener)
        #expect(failures[1].reason.contains("exceeds max_message_bytes (200)"))
        #expect(failures[1].original.count == 200)
        #expect(fixture.metrics.received == 103)
        #expect(fixture.metrics.parsed == 101)
        #expect(fixture.metrics.rejected == 2)
    }

    /// A producer slower than the senders: TCP reading pauses, the queue stays bounded, and no
    /// message is lost.
    @Test func slowProducerPausesTCPAndLosesNothing() throws {
        let capacity = 64
        let fixture = try SinkFixture([.init(transport: .tcp, host: "127.0.0.1", port: 0)],
                                      queueCapacity: capacity, batchDelayMicroseconds: 2_000)
        let port = fixture.listener.boundPorts[0]
        let perConnection = 3_000
        let senders = (0..<2).map { c in
            Thread {
                guard let socket = try? TestSocket.tcp(port: port) else { return }
                let payload = (0..<perConnection).map { "{\"host\":{\"name\":\"c\(c)\"},\"seq\":\($0)}\n" }.joined()
                try? socket.send(payload)
            }
        }
        senders.forEach { $0.start() }
        #expect(eventually(timeout: 60) { fixture.metrics.produced == 2 * perConnection })
        let peak = fixture.sink.peakQueued
        let pauses = fixture.metrics.readPauses
        let events = try fixture.finish()
        #expect(events.count == 2 * perConnection)
        for c in 0..<2 {
            let seqs = events.filter { $0.key == "c\(c)" }.compactMap { if case .int(let s)? = $0.event["seq"] { Int(s) } else { nil } }
            #expect(seqs == Array(0..<perConnection))
        }
        #expect(pauses > 0)
        // The queue plus one read per connection (at most 64 KiB, ≥ 30 bytes a message).
        #expect(peak <= capacity + 2 * 65_536 / 30, "peak \(peak)")
        print("slow producer: \(pauses) pauses, peak queue \(peak) (capacity \(capacity))")
    }

    /// UDP cannot be pushed back: datagrams that find the queue full are dropped and counted.
    @Test func udpDropsWhenFullAndCountsThem() throws {
        let fixture = try SinkFixture([.init(transport: .udp, host: "127.0.0.1", port: 0)],
                                      queueCapacity: 8, batchDelayMicroseconds: 20_000)
        let port = fixture.listener.boundPorts[0]
        let udp = try TestSocket.udp()
        for i in 0..<2_000 { try udp.sendDatagram(Array("{\"seq\":\(i)}".utf8), port: port) }
        // Wait until everything received is accounted for.
        var last = -1, settled = false
        for _ in 0..<200 where !settled {
            usleep(100_000)
            let m = fixture.metrics
            settled = m.received == last && m.received == m.parsed + m.dropped && m.produced == m.parsed
            last = m.received
        }
        #expect(settled)
        let m = fixture.metrics
        #expect(m.dropped > 0)
        #expect(m.parsed > 0)
        print("udp: received \(m.received), parsed \(m.parsed), dropped \(m.dropped)")
        let events = try fixture.finish()
        #expect(events.count == m.parsed)
    }
}
