import Foundation
import Testing
import VigilLogs
import VigilTestSupport

/// TLS (RFC 5425) against the `openssl` command: a certificate made by `openssl req`, clients
/// run as `openssl s_client` fed on stdin.
@Suite struct SyslogTLSTests {
    static let openssl = ["/usr/bin/openssl", "/usr/local/bin/openssl"].first { FileManager.default.isExecutableFile(atPath: $0) }

    struct Certificate {
        let directory: TemporaryDirectory
        var cert: String { directory.file("cert.pem") }
        var key: String { directory.file("key.pem") }
    }

    /// A self-signed certificate for CN=localhost, valid one day; nil (and a printed reason)
    /// without the openssl command.
    static func makeCertificate() throws -> Certificate? {
        guard let openssl else {
            print("skipped TLS test: no openssl command")
            return nil
        }
        let certificate = Certificate(directory: try TemporaryDirectory("vigil-tls"))
        let result = try runCommand(openssl, ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", certificate.key,
                                              "-out", certificate.cert, "-subj", "/CN=localhost", "-days", "1"])
        try #require(result.status == 0, "openssl req: \(result.stderr)")
        return certificate
    }

    /// Runs `openssl s_client` to the port with `input` on stdin (it exits at the end of input).
    static func sClient(port: Int, input: String, arguments: [String] = []) throws -> CommandResult {
        try runCommand(openssl ?? "openssl", ["s_client", "-connect", "127.0.0.1:\(port)", "-servername", "localhost",
                                              "-quiet", "-no_ign_eof"] + arguments, input: input)
    }

    func listen(_ tls: SyslogTLSConfiguration, sink: CollectingSink, log: LogLines) throws -> SyslogListener<CollectingSink> {
        let listener = SyslogListener(configurations: [.init(transport: .tls, host: "127.0.0.1", port: 0, tls: tls)],
                                      sink: sink, log: log.sink)
        try listener.start()
        return listener
    }

    @Test func messagesOverTLSArrive() throws {
        guard let certificate = try Self.makeCertificate() else { return }
        defer { certificate.directory.remove() }
        let sink = CollectingSink(), log = LogLines()
        let listener = try listen(.init(certificate: certificate.cert, key: certificate.key), sink: sink, log: log)
        defer { listener.stop() }
        let port = listener.boundPorts[0]
        let input = octet("<13>over tls, octet-counted") + octet("<14>multi\nline") + "<15>newline framed\n"
        _ = try Self.sClient(port: port, input: input)
        #expect(sink.wait { m, _ in m == 3 })
        #expect(sink.messages == ["<13>over tls, octet-counted", "<14>multi\nline", "<15>newline framed"])
        #expect(sink.peers.first?.transport == .tls)
        #expect(listener.metrics.tlsHandshakes == 1)
        #expect(listener.metrics.tlsHandshakeFailures == 0)
        // Several clients at once.
        let clients = (0..<4).map { i in
            Thread { _ = try? Self.sClient(port: port, input: (0..<50).map { "<13>client \(i) line \($0)\n" }.joined()) }
        }
        clients.forEach { $0.start() }
        #expect(sink.wait { m, _ in m == 3 + 200 })
        #expect(eventually { listener.metrics.tlsHandshakes == 5 })
        for i in 0..<4 {
            #expect(sink.messages.filter { $0.hasPrefix("<13>client \(i) ") } == (0..<50).map { "<13>client \(i) line \($0)" })
        }
    }

    @Test func plaintextClientsAreRejectedAndCounted() throws {
        guard let certificate = try Self.makeCertificate() else { return }
        defer { certificate.directory.remove() }
        let sink = CollectingSink(), log = LogLines()
        let listener = try listen(.init(certificate: certificate.cert, key: certificate.key), sink: sink, log: log)
        defer { listener.stop() }
        let client = try TestSocket.tcp(port: listener.boundPorts[0])
        try client.send("<13>plaintext syslog to a TLS port\n")
        #expect(client.waitForClose())
        #expect(eventually { listener.metrics.tlsHandshakeFailures == 1 })
        #expect(sink.messages.isEmpty)
        let line = try #require(log.lines.first)
        #expect(line.hasPrefix("syslog tls handshake with 127.0.0.1:\(client.localPort) failed: "), "\(line)")
        print("plaintext client: \(line)")
    }

    @Test func handshakeTimeoutClosesIdleConnections() throws {
        guard let certificate = try Self.makeCertificate() else { return }
        defer { certificate.directory.remove() }
        let sink = CollectingSink(), log = LogLines()
        let listener = try listen(.init(certificate: certificate.cert, key: certificate.key, handshakeTimeoutSeconds: 0.2), sink: sink, log: log)
        defer { listener.stop() }
        let client = try TestSocket.tcp(port: listener.boundPorts[0])
        #expect(client.waitForClose(timeout: 5))
        #expect(eventually { listener.metrics.tlsHandshakeFailures == 1 })
        #expect(log.lines.first?.contains("handshake not completed within 200 ms") == true)
    }

    @Test func clientCertificatesAreRequiredWithACA() throws {
        guard let certificate = try Self.makeCertificate() else { return }
        defer { certificate.directory.remove() }
        let sink = CollectingSink(), log = LogLines()
        // The self-signed certificate is its own CA; clients present it too.
        let listener = try listen(.init(certificate: certificate.cert, key: certificate.key, ca: certificate.cert), sink: sink, log: log)
        defer { listener.stop() }
        let port = listener.boundPorts[0]
        _ = try Self.sClient(port: port, input: "<13>without a certificate\n")
        #expect(eventually { listener.metrics.tlsHandshakeFailures == 1 })
        _ = try Self.sClient(port: port, input: "<13>with a certificate\n", arguments: ["-cert", certificate.cert, "-key", certificate.key])
        #expect(sink.wait { m, _ in m == 1 })
        #expect(sink.messages == ["<13>with a certificate"])
        #expect(listener.metrics.tlsHandshakeFailures == 1)
        #expect(log.lines.first?.contains("certificate") == true, "\(log.lines)")
    }

    @Test func oldProtocolVersionsAreRefused() throws {
        guard let certificate = try Self.makeCertificate() else { return }
        defer { certificate.directory.remove() }
        let sink = CollectingSink(), log = LogLines()
        let listener = try listen(.init(certificate: certificate.cert, key: certificate.key), sink: sink, log: log)
        defer { listener.stop() }
        // TLS 1.1 (the client must lower its own security level to offer it at all).
        _ = try Self.sClient(port: listener.boundPorts[0], input: "<13>old\n", arguments: ["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"])
        #expect(eventually { listener.metrics.tlsHandshakeFailures == 1 })
        #expect(sink.messages.isEmpty)
        print("TLS 1.1 client: \(log.lines.first ?? "")")
    }
}
