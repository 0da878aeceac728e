import Foundation
import Testing
import VigilCore
import VigilLogs
#if canImport(Glibc)
import Glibc
#endif

/// Real sockets on 127.0.0.1, ephemeral ports.
@Suite struct SyslogListenerTests {
    func listen(_ configurations: [SyslogListenerConfiguration], sink: CollectingSink, log: LogLines = LogLines())
        throws -> SyslogListener<CollectingSink> {
        let listener = SyslogListener(configurations: configurations, sink: sink, log: log.sink)
        try listener.start()
        return listener
    }

    @Test func udpDatagramsAreMessages() throws {
        let sink = CollectingSink()
        let listener = try listen([.init(transport: .udp, host: "127.0.0.1", port: 0, maxMessageBytes: 100)], sink: sink)
        defer { listener.stop() }
        let port = try #require(listener.boundPorts.first)
        #expect(port > 0)
        let client = try TestSocket.udp()
        for i in 0..<50 { try client.sendDatagram(Array("<13>udp \(i)\(i % 2 == 0 ? "\n" : "")".utf8), port: port) }
        try client.sendDatagram(Array(repeating: 0x41, count: 200), port: port)  // over max_message_bytes
        try client.sendDatagram(Array("\n".utf8), port: port)                   // empty: ignored
        #expect(sink.wait { m, r in m == 50 && r == 1 })
        #expect(sink.messages == (0..<50).map { "<13>udp \($0)" })
        let peer = try #require(sink.peers.first)
        #expect(peer.ip == IPAddress("127.0.0.1"))
        #expect(peer.port == client.localPort)
        #expect(peer.address == "127.0.0.1:\(client.localPort)")
        #expect(sink.rejects.first?.reason == "datagram of more than 100 bytes exceeds max_message_bytes")
        #expect(sink.rejects.first?.original.count == 100)
        #expect(listener.metrics.received == 51)
        #expect(listener.metrics.rejected == 1)
    }

    @Test func tcpNewlineFraming() throws {
        let sink = CollectingSink()
        let listener = try listen([.init(transport: .tcp, host: "127.0.0.1", port: 0, framing: .newline)], sink: sink)
        defer { listener.stop() }
        let port = listener.boundPorts[0]
        let client = try TestSocket.tcp(port: port)
        try client.send("<13>one\n<14>two\r\n\n<15>three\n")
        try client.sendByteByByte("<16>byte by byte\n<17>unterminated")
        client.shutdownWrite()  // the last line is delivered at the end of the stream
        #expect(sink.wait { m, _ in m == 5 })
        #expect(sink.messages == ["<13>one", "<14>two", "<15>three", "<16>byte by byte", "<17>unterminated"])
        #expect(sink.peers.first?.address == "127.0.0.1:\(client.localPort)")
        #expect(sink.peers.first?.transport == .tcp)
        #expect(eventually { listener.metrics.connectionsActive == 0 })
        #expect(listener.metrics.connectionsOpened == 1)
    }

    @Test func tcpOctetCountedFraming() throws {
        let sink = CollectingSink()
        let listener = try listen([.init(transport: .tcp, host: "127.0.0.1", port: 0, framing: .octetCounted, maxMessageBytes: 64)], sink: sink)
        defer { listener.stop() }
        let client = try TestSocket.tcp(port: listener.boundPorts[0])
        // Several frames in one write, one with an embedded newline.
        try client.send(octet("<13>first") + octet("<14>multi\nline") + octet("<15>third"))
        // One frame byte by byte, and one split across writes.
        try client.sendByteByByte(octet("<16>slowly, one byte per write"))
        let split = Array(octet("<17>split frame").utf8)
        try client.send(Array(split[..<3]))
        usleep(20_000)
        try client.send(Array(split[3...]))
        // Oversize: rejected, skipped by its count; the next frame still arrives.
        try client.send(octet(String(repeating: "x", count: 100)) + octet("<18>after oversize"))
        #expect(sink.wait { m, r in m == 6 && r == 1 })
        #expect(sink.messages == ["<13>first", "<14>multi\nline", "<15>third", "<16>slowly, one byte per write",
                                  "<17>split frame", "<18>after oversize"])
        #expect(sink.rejects.first?.reason == "message of 100 bytes exceeds max_message_bytes (64)")
        #expect(sink.rejects.first?.original == Array(repeating: 0x78, count: 64))
        // A bad octet count closes the connection, counted as a framing error.
        try client.send("<19>no count\n")
        #expect(client.waitForClose())
        #expect(sink.wait { _, r in r == 2 })
        #expect(sink.rejects.last?.reason == "expected an octet count (RFC 6587 octet-counted framing)")
        #expect(listener.metrics.framingErrors == 1)
        #expect(listener.metrics.rejected == 2)
        #expect(listener.metrics.received == 7)
    }

    @Test func tcpAutoFramingAndOversizeLines() throws {
        let sink = CollectingSink()
        let listener = try listen([.init(transport: .tcp, host: "127.0.0.1", port: 0, maxMessageBytes: 32)], sink: sink)
        defer { listener.stop() }
        let client = try TestSocket.tcp(port: listener.boundPorts[0])
        try client.send(octet("<13>counted") + "<14>newline\n" + String(repeating: "z", count: 100) + "\n<15>resynced\n")
        #expect(sink.wait { m, r in m == 3 && r == 1 })
        #expect(sink.messages == ["<13>counted", "<14>newline", "<15>resynced"])
        #expect(sink.rejects.first?.original.count == 32)
        // A long line arriving in pieces is rejected once, then the stream goes on.
        for _ in 0..<10 { try client.send(String(repeating: "w", count: 20)); usleep(2_000) }
        try client.send("\n<16>after pieces\n")
        #expect(sink.wait { m, r in m == 4 && r == 2 })
        #expect(sink.messages.last == "<16>after pieces")
        #expect(sink.rejects.last?.reason == "message of more than 32 bytes exceeds max_message_bytes (32)"
                || sink.rejects.last?.reason == "message of 200 bytes exceeds max_message_bytes (32)")
    }

    @Test func connectionsOverTheLimitAreRefused() throws {
        let sink = CollectingSink()
        let listener = try listen([.init(transport: .tcp, host: "127.0.0.1", port: 0, maxConnections: 2)], sink: sink)
        defer { listener.stop() }
        let port = listener.boundPorts[0]
        let a = try TestSocket.tcp(port: port), b = try TestSocket.tcp(port: port)
        #expect(eventually { listener.metrics.connectionsActive == 2 })
        let c = try TestSocket.tcp(port: port)
        #expect(c.waitForClose())
        #expect(listener.metrics.connectionsRefused == 1)
        try a.send("<13>a\n")
        try b.send("<13>b\n")
        #expect(sink.wait { m, _ in m == 2 })
        _ = (a, b)
    }

    @Test func stopClosesConnectionsAndDeliversTheLastLine() throws {
        let sink = CollectingSink()
        let listener = try listen([.init(transport: .tcp, host: "127.0.0.1", port: 0)], sink: sink)
        let client = try TestSocket.tcp(port: listener.boundPorts[0])
        try client.send("<13>complete\n<14>partial")
        #expect(sink.wait { m, _ in m == 1 })
        listener.stop()
        #expect(sink.messages == ["<13>complete", "<14>partial"])
        #expect(client.waitForClose())
        listener.stop()  // idempotent
    }

    @Test func configurationErrorsSayWhatToFix() throws {
        let sink = CollectingSink()
        let noTLS = SyslogListener(configurations: [.init(transport: .tls, port: 0)], sink: sink)
        #expect { try noTLS.start() } throws: { ($0 as? SyslogListenerError)?.code == .invalidConfiguration }
        let missing = SyslogListener(configurations: [.init(transport: .tls, host: "127.0.0.1", port: 0,
                                                            tls: .init(certificate: "/nonexistent/cert.pem", key: "/nonexistent/key.pem"))], sink: sink)
        let error = #expect(throws: SyslogListenerError.self) { try missing.start() }
        #expect(error?.code == .tlsSetup)
        #expect(error?.description.contains("/nonexistent/cert.pem") == true)
        // A port in use: the second listener fails and names the endpoint.
        let first = try listen([.init(transport: .tcp, host: "127.0.0.1", port: 0)], sink: sink)
        defer { first.stop() }
        let port = first.boundPorts[0]
        let second = SyslogListener(configurations: [.init(transport: .udp, host: "127.0.0.1", port: 0),
                                                     .init(transport: .tcp, host: "127.0.0.1", port: port)], sink: sink)
        let bindError = #expect(throws: SyslogListenerError.self) { try second.start() }
        #expect(bindError?.code == .bindFailed)
        #expect(bindError?.description.contains("tcp://127.0.0.1:\(port)") == true)
        #expect(second.boundPorts.isEmpty)
    }

    /// A slow sink makes TCP reading pause; the sender is held back by TCP flow control, the
    /// sink's queue stays bounded, and every message arrives in order.
    @Test func slowSinkPausesReading() throws {
        let capacity = 256
        let sink = CollectingSink(capacity: capacity)
        let listener = try listen([.init(transport: .tcp, host: "127.0.0.1", port: 0, framing: .newline)], sink: sink)
        defer { listener.stop() }
        let client = try TestSocket.tcp(port: listener.boundPorts[0])
        let count = 20_000
        let line = String(repeating: "p", count: 80)
        let payload = (0..<count).map { "<13>\($0) \(line)\n" }.joined()  // ≈ 1.8 MB
        let sent = SharedValue(false)
        let sender = Thread {
            try? client.send(payload)
            sent.store(true)
        }
        sender.start()
        // Consume slowly: 64 messages every millisecond.
        var consumedEnough = false
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            sink.take(64)
            if sink.messages.count == count && sink.waitingCount == 0 { consumedEnough = true; break }
            usleep(1_000)
        }
        #expect(consumedEnough)
        #expect(sent.load())
        let messages = sink.messages
        #expect(messages.count == count)
        #expect(messages.enumerated().allSatisfy { $0.element.hasPrefix("<13>\($0.offset) ") })
        #expect(listener.metrics.readPauses > 0)
        // Bounded: the capacity plus what the connection's reads in flight hold when the pause is
        // decided — the read being delivered and at most one more already issued, each at most
        // 64 KiB of the shortest messages ("<13>0 " + line + "\n"). Unbounded would be all 20,000.
        let perRead = 65_536 / (line.count + 7)
        #expect(sink.peakWaiting <= capacity + 2 * perRead, "peak \(sink.peakWaiting)")
        print("backpressure: \(listener.metrics.readPauses) pauses, peak \(sink.peakWaiting) waiting (capacity \(capacity))")
    }
}

/// A value shared with a thread in tests.
final class SharedValue<T: Sendable>: @unchecked Sendable {
    // Guarded by `lock`.
    private let lock = NSLock()
    private var value: T
    init(_ value: T) { self.value = value }
    func load() -> T { lock.withLock { value } }
    func store(_ v: T) { lock.withLock { value = v } }
}
