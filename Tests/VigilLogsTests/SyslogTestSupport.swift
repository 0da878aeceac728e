import Foundation
import VigilCore
import VigilLogs
#if canImport(Glibc)
import Glibc
#endif

/// A sink that keeps every message and rejection, optionally pushing back once `capacity`
/// messages are waiting to be taken by `take`.
final class CollectingSink: SyslogMessageSink, @unchecked Sendable {
    // Everything mutable is guarded by `condition`.
    private let condition = NSCondition()
    private var _messages: [(String, SyslogPeer)] = []
    private var _rejects: [(reason: String, original: [UInt8])] = []
    private var waiting = 0
    private var peak = 0
    private var resumers: [@Sendable () -> Void] = []
    /// With a capacity, messages count as waiting until `take` and `receive` answers `.full` at capacity.
    let capacity: Int?

    init(capacity: Int? = nil) { self.capacity = capacity }

    func receive(_ message: UnsafeRawBufferPointer, from peer: SyslogPeer) -> SyslogSinkVerdict {
        condition.withLock {
            _messages.append((String(decoding: message, as: UTF8.self), peer))
            waiting += 1
            peak = max(peak, waiting)
            condition.broadcast()
            guard let capacity else { return .accepted }
            return waiting >= capacity ? .full : .accepted
        }
    }

    func reject(_ original: UnsafeRawBufferPointer, reason: String, from peer: SyslogPeer) {
        condition.withLock {
            _rejects.append((reason, Array(original)))
            condition.broadcast()
        }
    }

    func whenReady(_ resume: @escaping @Sendable () -> Void) {
        let now = condition.withLock {
            guard let capacity, waiting >= capacity else { return true }
            resumers.append(resume)
            return false
        }
        if now { resume() }
    }

    /// A slow consumer: takes up to `n` waiting messages, resuming paused connections once at
    /// most half the capacity waits.
    func take(_ n: Int) {
        let resume = condition.withLock { () -> [@Sendable () -> Void] in
            waiting = max(0, waiting - n)
            guard let capacity, waiting <= capacity / 2 else { return [] }
            defer { resumers.removeAll() }
            return resumers
        }
        for r in resume { r() }
    }

    var messages: [String] { condition.withLock { _messages.map(\.0) } }
    var peers: [SyslogPeer] { condition.withLock { _messages.map(\.1) } }
    var rejects: [(reason: String, original: [UInt8])] { condition.withLock { _rejects } }
    var peakWaiting: Int { condition.withLock { peak } }
    var waitingCount: Int { condition.withLock { waiting } }

    /// Waits until `predicate` holds for (messages, rejects); false on timeout.
    @discardableResult
    func wait(timeout: Double = 10, _ predicate: (Int, Int) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        return condition.withLock {
            while !predicate(_messages.count, _rejects.count) {
                if !condition.wait(until: deadline) { return predicate(_messages.count, _rejects.count) }
            }
            return true
        }
    }
}

/// Polls `condition` until it holds or `timeout` seconds pass.
@discardableResult
func eventually(timeout: Double = 10, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if condition() { return true }
        usleep(2_000)
    }
    return condition()
}

/// Collects the listener's log lines.
final class LogLines: @unchecked Sendable {
    // Guarded by `lock`.
    private let lock = NSLock()
    private var _lines: [String] = []
    var lines: [String] { lock.withLock { _lines } }
    var sink: @Sendable (String) -> Void { { [self] line in lock.withLock { _lines.append(line) } } }
}

struct SocketError: Error, CustomStringConvertible {
    var description: String
    init(_ what: String) { description = "\(what): \(String(cString: strerror(errno)))" }
}

/// A blocking client socket on 127.0.0.1.
///
/// `@unchecked Sendable`: only the immutable descriptor is stored; each test uses a socket from
/// one thread at a time.
final class TestSocket: @unchecked Sendable {
    let fd: Int32

    private init(fd: Int32) { self.fd = fd }
    deinit { close(fd) }

    private static func loopback(_ port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    static func tcp(port: Int) throws -> TestSocket {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SocketError("socket") }
        let s = TestSocket(fd: fd)
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = loopback(port)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { throw SocketError("connect") }
        return s
    }

    static func udp() throws -> TestSocket {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw SocketError("socket") }
        return TestSocket(fd: fd)
    }

    /// The local port (after connect or the first send).
    var localPort: Int {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    func send(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw SocketError("send") }
            sent += n
        }
    }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    /// Sends one byte per write, pausing now and then so the bytes arrive in separate reads.
    func sendByteByByte(_ text: String) throws {
        for (i, byte) in text.utf8.enumerated() {
            try send([byte])
            if i % 4 == 0 { usleep(200) }
        }
    }

    func sendDatagram(_ bytes: [UInt8], port: Int) throws {
        var address = Self.loopback(port)
        let n = bytes.withUnsafeBytes { b in
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, b.baseAddress, b.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        guard n == bytes.count else { throw SocketError("sendto") }
    }

    func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }

    /// Waits until the peer closes the connection (EOF or reset); false on timeout.
    func waitForClose(timeout: Double = 10) -> Bool {
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n == 0 { return true }
            if n < 0 { return errno == ECONNRESET || errno == EPIPE }
        }
    }
}
