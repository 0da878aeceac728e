import Foundation
import Synchronization
import Testing
import VigilLogs
#if canImport(Glibc)
import Glibc
#endif

/// Counts messages and bytes, nothing else: the listener's own cost.
final class CountingSink: SyslogMessageSink {
    let count = Atomic<Int>(0)
    let bytes = Atomic<Int>(0)
    func receive(_ message: UnsafeRawBufferPointer, from peer: SyslogPeer) -> SyslogSinkVerdict {
        count.wrappingAdd(1, ordering: .relaxed)
        bytes.wrappingAdd(message.count, ordering: .relaxed)
        return .accepted
    }
    func reject(_ original: UnsafeRawBufferPointer, reason: String, from peer: SyslogPeer) {}
    func whenReady(_ resume: @escaping @Sendable () -> Void) { resume() }
}

/// Throughput figures on loopback (printed; the expectations only check that nothing is lost).
@Suite(.serialized) struct SyslogThroughputTests {
    /// Debug builds run a tenth of the messages (the figures worth quoting come from `-c release`).
    #if DEBUG
    static let scale = 10
    #else
    static let scale = 1
    #endif
    static let line = "<34>Oct 11 22:14:15 mymachine su[4242]: 'su root' failed for lonvick on /dev/pts/8 from 10.0.0.1"

    @Test(arguments: [SyslogFraming.newline, .octetCounted])
    func tcpMessagesPerSecond(framing: SyslogFraming) throws {
        let sink = CountingSink()
        let listener = SyslogListener(configurations: [.init(transport: .tcp, host: "127.0.0.1", port: 0, framing: framing)], sink: sink)
        try listener.start()
        defer { listener.stop() }
        let count = 200_000 / Self.scale
        let frame = framing == .newline ? Self.line + "\n" : "\(Self.line.utf8.count) \(Self.line)"
        let payload = Array(String(repeating: frame, count: 1000).utf8)
        let client = try TestSocket.tcp(port: listener.boundPorts[0])
        let start = Date()
        for _ in 0..<(count / 1000) { try client.send(payload) }
        #expect(eventually(timeout: 60) { sink.count.load(ordering: .relaxed) == count })
        let seconds = Date().timeIntervalSince(start)
        print("syslog tcp \(framing.rawValue): \(count) messages of \(Self.line.utf8.count) bytes in \(String(format: "%.3f", seconds)) s = \(Int(Double(count) / seconds)) msg/s, \(String(format: "%.1f", Double(count * frame.utf8.count) / seconds / 1e6)) MB/s")
    }

    @Test func udpDatagramsPerSecond() throws {
        let sink = CountingSink()
        let listener = SyslogListener(configurations: [.init(transport: .udp, host: "127.0.0.1", port: 0)], sink: sink)
        try listener.start()
        defer { listener.stop() }
        let port = listener.boundPorts[0]
        let client = try TestSocket.udp()
        let datagram = Array(Self.line.utf8)
        let count = 100_000 / Self.scale
        let start = Date()
        for i in 0..<count {
            try client.sendDatagram(datagram, port: port)
            if i % 64 == 63 { usleep(50) }  // stay under the loopback receive buffer
        }
        var last = -1
        while sink.count.load(ordering: .relaxed) != last { last = sink.count.load(ordering: .relaxed); usleep(100_000) }
        let seconds = Date().timeIntervalSince(start) - 0.1
        print("syslog udp: \(last) of \(count) datagrams received in \(String(format: "%.3f", seconds)) s = \(Int(Double(last) / seconds)) msg/s (sender-bound)")
        #expect(last > 0)
    }

    /// Listener, JSON parser, encoding, queue and producer (embedded log, fsync never).
    @Test func parsedEventsPerSecond() throws {
        let fixture = try SinkFixture([.init(transport: .tcp, host: "127.0.0.1", port: 0)])
        let count = 100_000 / Self.scale
        let lines = (0..<1000).map { "{\"host\":{\"name\":\"web-\($0 % 16)\"},\"source\":{\"ip\":\"10.1.2.\($0 % 250)\",\"port\":\($0)},\"message\":\"GET /index.html 200\"}\n" }.joined()
        let payload = Array(lines.utf8)
        let client = try TestSocket.tcp(port: fixture.listener.boundPorts[0])
        let start = Date()
        for _ in 0..<(count / 1000) { try client.send(payload) }
        #expect(eventually(timeout: 120) { fixture.metrics.produced == count })
        let seconds = Date().timeIntervalSince(start)
        print("syslog tcp → json parser → embedded log: \(count) events in \(String(format: "%.3f", seconds)) s = \(Int(Double(count) / seconds)) events/s, peak queue \(fixture.sink.peakQueued), \(fixture.metrics.readPauses) pauses")
        _ = try fixture.finish()
    }
}
