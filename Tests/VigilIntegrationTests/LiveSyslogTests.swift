import Foundation
import Glibc
import Testing
import VigilTestSupport

/// `vigil run` with a syslog sensor: messages sent over UDP, TCP and TLS (a certificate the test
/// makes with openssl) are parsed by parsers/syslog.yaml and reach the events topic.
@Suite(.serialized) struct LiveSyslogTests {
    let vigil = productsDirectory() + "/vigil"

    /// A port that was free a moment ago.
    func freePort(_ type: Int32) -> Int {
        let fd = socket(AF_INET, type, 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    func send(_ type: Int32, port: Int, _ text: String) -> Bool {
        let fd = socket(AF_INET, type, 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard ok == 0 else { return false }
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) } == bytes.count
    }

    @Test func udpTcpAndTlsMessagesReachTheBroker() throws {
        let dir = try TemporaryDirectory("vigil-live-syslog"); defer { dir.remove() }
        let made = try runCommand("/usr/bin/openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", dir.file("key.pem"),
                                                       "-out", dir.file("cert.pem"), "-subj", "/CN=localhost", "-days", "1"])
        try #require(made.status == 0, "openssl could not make a certificate: \(made.stderr)")
        let udp = freePort(Int32(SOCK_DGRAM.rawValue)), tcp = freePort(Int32(SOCK_STREAM.rawValue)), tls = freePort(Int32(SOCK_STREAM.rawValue))
        let config = dir.file("vigil.yaml")
        try """
        data_dir: data
        parsers: { dir: \(repositoryRoot())/parsers }
        broker: { embedded: { fsync: { policy: interval, interval: 10ms } } }
        sensors:
          - name: syslog
            type: syslog
            key_field: host.name
            listen:
              - { protocol: udp, host: 127.0.0.1, port: \(udp) }
              - { protocol: tcp, host: 127.0.0.1, port: \(tcp) }
              - { protocol: tls, host: 127.0.0.1, port: \(tls), certificate: cert.pem, key: key.pem }
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let run = try ChildProcess(vigil, ["run", "--config", config])
        defer { run.kill(SIGKILL) }
        // The listener is up once the run says so on stderr; poll the TCP port instead.
        var up = false
        for _ in 0..<100 where !up { up = send(Int32(SOCK_STREAM.rawValue), port: tcp, ""); if !up { usleep(100_000) } }
        try #require(up, "vigil run did not start listening")

        #expect(send(Int32(SOCK_DGRAM.rawValue), port: udp, "<38>Mar 14 09:12:07 udp-host sshd[101]: Failed password for root from 10.9.0.1 port 40001 ssh2"))
        #expect(send(Int32(SOCK_STREAM.rawValue), port: tcp, "<38>Mar 14 09:12:08 tcp-host sshd[102]: Accepted password for alice from 10.9.0.2 port 40002 ssh2\n"))
        let body = "<38>1 2026-03-14T09:12:09.5Z tls-host sshd 103 - - Invalid user mallory from 10.9.0.3 port 40003"
        let client = try runCommand("/usr/bin/openssl", ["s_client", "-quiet", "-no_ign_eof", "-connect", "127.0.0.1:\(tls)"],
                                    input: "\(body.utf8.count) \(body)")
        #expect(client.status == 0, "\(client.stderr)")

        // The run prints every event it consumes from the broker.
        var events: [[String: Any]] = []
        for _ in 0..<100 {
            events = run.output.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
            if events.count >= 3 { break }
            usleep(100_000)
        }
        run.kill(SIGTERM)
        #expect(run.wait() == 0)
        #expect(events.count == 3)
        func get(_ e: [String: Any], _ path: String) -> Any? {
            path.split(separator: ".").reduce(e as Any?) { ($0 as? [String: Any])?[String($1)] }
        }
        let byHost = Dictionary(uniqueKeysWithValues: events.compactMap { e in (get(e, "log.syslog.hostname") as? String).map { ($0, e) } })
        #expect(get(byHost["udp-host"] ?? [:], "user.name") as? String == "root")
        #expect(get(byHost["udp-host"] ?? [:], "event.outcome") as? String == "failure")
        #expect(get(byHost["tcp-host"] ?? [:], "source.ip") as? String == "10.9.0.2")
        #expect(get(byHost["tcp-host"] ?? [:], "event.outcome") as? String == "success")
        #expect(get(byHost["tls-host"] ?? [:], "user.name") as? String == "mallory")
        #expect(get(byHost["tls-host"] ?? [:], "@timestamp") as? String == "2026-03-14T09:12:09.500Z")
        for e in events { #expect(get(e, "vigil.sensor") as? String == "syslog") }
    }
}
