import Foundation
import Glibc
import Testing
import VigilTestSupport

/// `vigil capture` on a live interface: the test builds its own network (a server and a client
/// namespace joined by a veth pair), runs real servers and clients from Debian packages across it
/// (dnsmasq and dig, python3's http.server and curl, openssl s_server and curl over TLS 1.3 and
/// 1.2), captures on the server's end of the pair as `nobody`, and checks the records: DNS over
/// UDP and TCP, HTTP over IPv4 and IPv6, TLS with SNI, versions and fingerprints, and a `SF`
/// conn record for every TCP connection. It also checks that the sensor gave up root once the
/// handle was open, and that it stops promptly on a quiet interface.
///
/// Needs root and the tools; where network namespaces are refused it runs on `lo` instead (and
/// says why; `VIGIL_LIVE_CAPTURE_ON_LO=1` forces that path). Nothing outside the namespaces it
/// creates is touched.
@Suite(.serialized) struct LiveCaptureTests {
    let vigil = productsDirectory() + "/vigil"

    @Test func dnsHttpAndTlsAcrossAVethPairAreRecordedByAnUnprivilegedSensor() throws {
        guard getuid() == 0 else {
            print("skip: live capture needs root (network namespaces, veth pairs and libpcap)")
            return
        }
        // iproute2, dnsmasq-base, bind9-dnsutils, curl, openssl, python3.
        let needed = ["ip", "ss", "dnsmasq", "dig", "curl", "openssl", "python3"]
        let tools = Dictionary(uniqueKeysWithValues: needed.compactMap { name in findTool(name).map { (name, $0) } })
        let missing = needed.filter { tools[$0] == nil }
        guard missing.isEmpty else {
            print("skip: live capture needs \(missing.joined(separator: ", ")) (scripts/install-deps.sh installs them)")
            return
        }
        guard let nobody = account("nobody") else {
            print("skip: no user 'nobody' to run the sensor as")
            return
        }
        let dir = try TemporaryDirectory("vigil-live-capture"); defer { dir.remove() }
        let lab = Lab(tools: tools)
        defer { lab.tearDown() }
        try lab.build()
        let start = Date()

        // Content, a certificate, and the servers.
        try FileManager.default.createDirectory(atPath: dir.file("www"), withIntermediateDirectories: true)
        try "hello from vigil\n".write(toFile: dir.file("www/hello.txt"), atomically: true, encoding: .utf8)
        try "hello over IPv6\n".write(toFile: dir.file("www/v6.txt"), atomically: true, encoding: .utf8)
        let made = try runCommand(tools["openssl"]!, ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                                                      "-keyout", dir.file("key.pem"), "-out", dir.file("cert.pem"),
                                                      "-subj", "/CN=tls.vigil.test", "-days", "1"])
        try #require(made.status == 0, "openssl could not make a certificate: \(made.stderr)")
        let server = lab.serverIP
        try lab.startServer(tools["dnsmasq"]!, ["--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--pid-file=",
                                                "--bind-interfaces", "--listen-address=\(server)", "--port=53", "--local-ttl=60",
                                                "--host-record=www.vigil.test,\(server)", "--host-record=tcp.vigil.test,\(server)"],
                            log: dir.file("dnsmasq.log"))
        try lab.startServer(tools["python3"]!, ["-m", "http.server", String(lab.httpPort), "--bind", server, "--directory", dir.file("www")],
                            log: dir.file("http.log"))
        if let v6 = lab.serverIPv6 {
            try lab.startServer(tools["python3"]!, ["-m", "http.server", String(lab.httpPort), "--bind", v6, "--directory", dir.file("www")],
                                log: dir.file("http6.log"))
        }
        try lab.startServer(tools["openssl"]!, ["s_server", "-quiet", "-www", "-accept", "\(server):\(lab.tlsPort)",
                                                "-cert", dir.file("cert.pem"), "-key", dir.file("key.pem")], log: dir.file("tls.log"))
        var listening = ["udp \(server):53", "tcp \(server):53", "tcp \(server):\(lab.httpPort)", "tcp \(server):\(lab.tlsPort)"]
        if let v6 = lab.serverIPv6 { listening.append("tcp [\(v6)]:\(lab.httpPort)") }
        try #require(lab.waitForListeners(listening), "the servers did not start listening: \(lab.serverOutput())")

        // The sensor, as nobody, capturing on the server's end of the link.
        let errFile = dir.file("capture.stderr")
        let capture = try startCapture(lab, filter: lab.filter, stderr: errFile)
        defer { if capture.process.isRunning { capture.kill(SIGKILL); capture.wait() } }
        let banner = (try? String(contentsOfFile: errFile, encoding: .utf8)) ?? ""

        // It dropped root once the handle was open: its own report, and what the kernel says.
        let identity = banner.split(separator: "\n").first { $0.hasPrefix("capturing on") }.map(String.init) ?? ""
        #expect(identity.hasPrefix("capturing on \(lab.interface) ("), "\(identity)")
        #expect(identity.hasSuffix("as uid \(nobody.uid), gid \(nobody.gid), capabilities 0x0"), "\(identity)")
        let status = procStatus(capture.pid)
        #expect(status["Uid"] == Array(repeating: "\(nobody.uid)", count: 4), "Uid: \(status["Uid"] ?? [])")
        #expect(status["Gid"] == Array(repeating: "\(nobody.gid)", count: 4), "Gid: \(status["Gid"] ?? [])")
        #expect(status["Groups"] == ["\(nobody.gid)"], "Groups: \(status["Groups"] ?? [])")
        for set in ["CapInh", "CapPrm", "CapEff", "CapAmb"] {
            #expect(status[set] == ["0000000000000000"], "\(set): \(status[set] ?? [])")
        }
        #expect(status["NoNewPrivs"] == ["1"])

        // The clients.
        let udpAnswer = try lab.inClient(tools["dig"]!, ["@\(server)", "www.vigil.test", "A", "+short", "+tries=1", "+time=3"])
        #expect(udpAnswer.stdout.contains(server), "dig over UDP: \(udpAnswer.stdout) \(udpAnswer.stderr)")
        let tcpAnswer = try lab.inClient(tools["dig"]!, ["+tcp", "@\(server)", "tcp.vigil.test", "A", "+short", "+tries=1", "+time=3"])
        #expect(tcpAnswer.stdout.contains(server), "dig over TCP: \(tcpAnswer.stdout) \(tcpAnswer.stderr)")
        let userAgent = "VigilLiveTest/1.0 (capture)"
        let page = try lab.inClient(tools["curl"]!, ["-sS", "--max-time", "5", "-A", userAgent,
                                                     "--resolve", "www.vigil.test:\(lab.httpPort):\(server)",
                                                     "http://www.vigil.test:\(lab.httpPort)/hello.txt?probe=1"])
        #expect(page.stdout == "hello from vigil\n", "curl http: \(page.stderr)")
        if let v6 = lab.serverIPv6 {
            let page6 = try lab.inClient(tools["curl"]!, ["-sS", "-g", "--max-time", "5", "-A", userAgent, "http://[\(v6)]:\(lab.httpPort)/v6.txt"])
            #expect(page6.stdout == "hello over IPv6\n", "curl http over IPv6: \(page6.stderr)")
        }
        let tls13 = try lab.inClient(tools["curl"]!, ["-sSk", "--max-time", "5", "--tlsv1.3", "-o", "/dev/null", "-w", "%{http_code}",
                                                      "--resolve", "tls.vigil.test:\(lab.tlsPort):\(server)", "https://tls.vigil.test:\(lab.tlsPort)/"])
        #expect(tls13.status == 0 && tls13.stdout == "200", "curl TLS 1.3: \(tls13.stdout) \(tls13.stderr)")
        let tls12 = try lab.inClient(tools["curl"]!, ["-sSk", "--max-time", "5", "--tlsv1.2", "--tls-max", "1.2", "-o", "/dev/null", "-w", "%{http_code}",
                                                      "--resolve", "tls12.vigil.test:\(lab.tlsPort):\(server)", "https://tls12.vigil.test:\(lab.tlsPort)/"])
        #expect(tls12.status == 0 && tls12.stdout == "200", "curl TLS 1.2: \(tls12.stdout) \(tls12.stderr)")

        // Let the last packets through the kernel's buffer (it hands them over at least every
        // read timeout), then stop: the sensor reports every open flow on the way out.
        usleep(400_000)
        capture.kill(SIGTERM)
        let stopped = waitUntil(seconds: 10) { !capture.process.isRunning }
        #expect(stopped, "vigil capture did not stop within 10 s of SIGTERM")
        if !stopped { capture.kill(SIGKILL) }
        let exit = capture.wait()
        let summary = (try? String(contentsOfFile: errFile, encoding: .utf8)) ?? ""
        #expect(exit == 0, "vigil capture exited with \(exit): \(summary)")
        #expect(summary.contains(" 0 malformed"), "\(summary)")

        let events = capture.output.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
        #expect(events.count == capture.output.count, "every stdout line is a JSON object")
        let records = events.filter { get($0, "destination.ip") as? String == server || get($0, "destination.ip") as? String == lab.serverIPv6 }
        func dataset(_ name: String) -> [[String: Any]] { records.filter { get($0, "event.dataset") as? String == name } }
        let conns = Dictionary(dataset("network.conn").compactMap { e in (get(e, "zeek.session_id") as? String).map { ($0, e) } }) { a, _ in a }
        func conn(of e: [String: Any]) -> [String: Any]? { (get(e, "zeek.session_id") as? String).flatMap { conns[$0] } }

        // DNS over UDP and over TCP: the query and dnsmasq's answer.
        let dns = dataset("network.dns")
        for (name, transport) in [("www.vigil.test", "udp"), ("tcp.vigil.test", "tcp")] {
            let matches = dns.filter { get($0, "dns.question.name") as? String == name && get($0, "network.transport") as? String == transport }
            #expect(matches.count == 1, "one DNS record for \(name) over \(transport), got \(matches.count) of \(dns.count)")
            guard let r = matches.first else { continue }
            #expect(get(r, "dns.question.type") as? String == "A")
            #expect(get(r, "dns.question.class") as? String == "C_INTERNET")
            #expect(get(r, "dns.type") as? String == "answer")
            #expect(get(r, "dns.response_code") as? String == "NOERROR")
            #expect(get(r, "dns.op_code") as? String == "QUERY")
            #expect((get(r, "dns.header_flags") as? [String] ?? []).contains("RD"), "\(get(r, "dns.header_flags") ?? "none")")
            #expect(get(r, "dns.resolved_ip") as? [String] == [server])
            let answers = get(r, "dns.answers") as? [[String: Any]] ?? []
            #expect(answers.count == 1)
            #expect(answers.first?["name"] as? String == name)
            #expect(answers.first?["type"] as? String == "A")
            #expect(answers.first?["data"] as? String == server)
            #expect(answers.first?["ttl"] as? Int == 60)
            #expect(get(r, "source.ip") as? String == lab.clientIP)
            #expect(get(r, "destination.port") as? Int == 53)
            #expect(get(r, "network.protocol") as? String == "dns")
            let c = conn(of: r)
            #expect(c != nil, "a conn record for the DNS exchange over \(transport)")
            #expect(get(c ?? [:], "zeek.conn.state") as? String == "SF", "DNS over \(transport): \(get(c ?? [:], "zeek.conn.history") ?? "")")
            #expect(get(c ?? [:], "network.protocol") as? String == "dns")
        }

        // HTTP: method, host, uri, status, user agent, body, over IPv4 (and IPv6 in namespaces).
        let http = dataset("network.http")
        var expectedHTTP = [("www.vigil.test:\(lab.httpPort)", "/hello.txt?probe=1", 17, "ipv4")]
        if let v6 = lab.serverIPv6 { expectedHTTP.append(("[\(v6)]:\(lab.httpPort)", "/v6.txt", 16, "ipv6")) }
        for (host, uri, bodyBytes, type) in expectedHTTP {
            let matches = http.filter { get($0, "url.original") as? String == uri }
            #expect(matches.count == 1, "one HTTP record for \(uri), got \(matches.count) of \(http.count)")
            guard let r = matches.first else { continue }
            #expect(get(r, "http.request.method") as? String == "GET")
            #expect(get(r, "url.domain") as? String == host)
            // As Zeek's http.log: the version of the reply (Python's http.server answers HTTP/1.0 to
            // curl's HTTP/1.1 request).
            #expect(get(r, "http.version") as? String == "1.0")
            #expect(get(r, "http.response.status_code") as? Int == 200)
            #expect(get(r, "user_agent.original") as? String == userAgent)
            #expect(get(r, "http.response.body.bytes") as? Int == bodyBytes)
            #expect(get(r, "http.request.body.bytes") as? Int == 0)
            #expect(get(r, "network.type") as? String == type)
            #expect(get(r, "destination.port") as? Int == lab.httpPort)
            let c = conn(of: r)
            #expect(c != nil, "a conn record for \(uri)")
            #expect(get(c ?? [:], "zeek.conn.state") as? String == "SF", "\(uri): \(get(c ?? [:], "zeek.conn.history") ?? "")")
            #expect(get(c ?? [:], "network.protocol") as? String == "http")
            #expect(get(c ?? [:], "network.type") as? String == type)
        }

        // TLS: SNI, negotiated version and cipher, JA3, JA3S and JA4.
        let tls = dataset("network.tls")
        for (sni, version) in [("tls.vigil.test", "1.3"), ("tls12.vigil.test", "1.2")] {
            let matches = tls.filter { get($0, "tls.client.server_name") as? String == sni }
            #expect(matches.count == 1, "one TLS record for \(sni), got \(matches.count) of \(tls.count)")
            guard let r = matches.first else { continue }
            #expect(get(r, "tls.version") as? String == version)
            #expect(get(r, "tls.version_protocol") as? String == "tls")
            #expect(!(get(r, "tls.cipher") as? String ?? "").isEmpty)
            #expect(isMD5Hex(get(r, "tls.client.ja3")), "ja3: \(get(r, "tls.client.ja3") ?? "none")")
            #expect(isMD5Hex(get(r, "tls.server.ja3s")), "ja3s: \(get(r, "tls.server.ja3s") ?? "none")")
            #expect((get(r, "tls.client.ja3_string") as? String ?? "").hasPrefix("771,"), "curl offers TLS 1.2 as its legacy version")
            let ja4 = get(r, "tls.client.ja4") as? String ?? ""
            #expect(ja4.hasPrefix(version == "1.3" ? "t13d" : "t12d"), "ja4: \(ja4)")
            #expect(get(r, "destination.port") as? Int == lab.tlsPort)
            let c = conn(of: r)
            #expect(c != nil, "a conn record for \(sni)")
            #expect(get(c ?? [:], "zeek.conn.state") as? String == "SF", "\(sni): \(get(c ?? [:], "zeek.conn.history") ?? "")")
            #expect(get(c ?? [:], "network.protocol") as? String == "ssl")
        }

        // Every TCP connection to the servers closed cleanly, and each has exactly one conn record.
        let tcpConns = conns.values.filter { get($0, "network.transport") as? String == "tcp" }
        #expect(tcpConns.count == 4 + (lab.serverIPv6 == nil ? 0 : 1), "TCP conn records: \(tcpConns.count)")
        for c in tcpConns {
            let history = get(c, "zeek.conn.history") as? String ?? ""
            #expect(get(c, "zeek.conn.state") as? String == "SF", "history \(history)")
            #expect(history.hasPrefix("Sh") && history.contains("F") && history.contains("f"), "history \(history)")
            #expect((get(c, "source.bytes") as? Int ?? 0) > 0 && (get(c, "destination.bytes") as? Int ?? 0) > 0)
            #expect(get(c, "zeek.conn.missed_bytes") as? Int == 0)
            #expect((get(c, "network.community_id") as? String ?? "").hasPrefix("1:"))
        }
        print("live capture on \(lab.interface)\(lab.serverNamespace.map { " in \($0)" } ?? ""): \(events.count) records "
              + "(\(dns.count) dns, \(http.count) http, \(tls.count) tls, \(conns.count) conn to the servers) in "
              + String(format: "%.1f s", Date().timeIntervalSince(start)))

        // A quiet interface (a filter nothing matches): SIGTERM and --duration must still stop
        // the capture within about the read timeout.
        let quietErr = dir.file("quiet.stderr")
        let quietCapture = try startCapture(lab, filter: "tcp port 9", stderr: quietErr)
        defer { if quietCapture.process.isRunning { quietCapture.kill(SIGKILL); quietCapture.wait() } }
        usleep(300_000)
        let termStart = Date()
        quietCapture.kill(SIGTERM)
        #expect(waitUntil(seconds: 5) { !quietCapture.process.isRunning },
                "vigil capture on a quiet interface did not stop within 5 s of SIGTERM")
        if quietCapture.process.isRunning { quietCapture.kill(SIGKILL) }
        #expect(quietCapture.wait() == 0)
        #expect(Date().timeIntervalSince(termStart) < 5)
        let quietStart = Date()
        let quiet = try lab.inServerRun(vigil, ["capture", "--interface", lab.interface, "--filter", "tcp port 9", "--user", "nobody",
                                                "--stdout", "--duration", "0.5"], timeout: 10)
        #expect(quiet.status == 0, "\(quiet.stderr)")
        #expect(Date().timeIntervalSince(quietStart) < 5, "--duration 0.5 on a quiet interface took \(Date().timeIntervalSince(quietStart)) s")
        #expect(quiet.stderr.contains("packets: 0 read"), "\(quiet.stderr)")
    }

    /// Starts `vigil capture --stdout --user nobody` in the server namespace with its stderr going
    /// to a file, and waits until it says it is capturing (the handle is open and root is gone).
    fileprivate func startCapture(_ lab: Lab, filter: String?, stderr: String) throws -> ChildProcess {
        var arguments = ["capture", "--interface", lab.interface, "--user", "nobody", "--stdout"]
        if let filter { arguments += ["--filter", filter] }
        // `sh` and `ip netns exec` both exec: the child's pid is the sensor's.
        let capture = try ChildProcess("/bin/sh", ["-c", "exec \"$@\" 2>\"$0\"", stderr] + lab.inServer(vigil, arguments))
        let started = waitUntil(seconds: 10) {
            (try? String(contentsOfFile: stderr, encoding: .utf8))?.contains("capturing on") == true || !capture.process.isRunning
        }
        guard started && capture.process.isRunning else {
            if capture.process.isRunning { capture.kill(SIGKILL) }
            capture.wait()
            throw SpawnError(message: "vigil capture did not start: \((try? String(contentsOfFile: stderr, encoding: .utf8)) ?? "")")
        }
        return capture
    }
}

// MARK: - The test's network

/// A server namespace and a client namespace joined by a veth pair (10.213.0.1 and .2, and
/// fd00:213::1 and ::2), or, where namespaces are refused, the host's loopback with the servers
/// on 127.213.0.1.
private final class Lab {
    let tools: [String: String]
    private(set) var serverNamespace: String?
    private(set) var clientNamespace: String?
    private(set) var interface = "vigil-srv0"
    private(set) var serverIP = "10.213.0.1"
    private(set) var clientIP = "10.213.0.2"
    private(set) var serverIPv6: String? = "fd00:213::1"
    private(set) var httpPort = 8080
    private(set) var tlsPort = 8443
    /// The capture filter (on `lo`, only the test's own traffic).
    private(set) var filter: String?
    private var servers: [SpawnedProcess] = []

    init(tools: [String: String]) { self.tools = tools }

    var ip: String { tools["ip"]! }

    /// Creates the namespaces and the link, or falls back to `lo` (printing why).
    func build() throws {
        if ProcessInfo.processInfo.environment["VIGIL_LIVE_CAPTURE_ON_LO"] != nil {
            return fallBackToLoopback("VIGIL_LIVE_CAPTURE_ON_LO is set")
        }
        let suffix = "\(getpid())"
        let s = "vigil-test-srv-\(suffix)", c = "vigil-test-cli-\(suffix)"
        // A namespace of the same name can only be left over from a killed run of this process id.
        _ = try? runCommand(ip, ["netns", "del", s])
        _ = try? runCommand(ip, ["netns", "del", c])
        let made = try runCommand(ip, ["netns", "add", s])
        guard made.status == 0 else { return fallBackToLoopback("ip netns add failed: \(made.stderr.trimmed)") }
        serverNamespace = s
        let madeClient = try runCommand(ip, ["netns", "add", c])
        guard madeClient.status == 0 else { return fallBackToLoopback("ip netns add failed: \(madeClient.stderr.trimmed)") }
        clientNamespace = c
        // The pair is created straight inside the namespaces: the host never sees it.
        let steps: [[String]] = [
            ["link", "add", "vigil-srv0", "netns", s, "type", "veth", "peer", "name", "vigil-cli0", "netns", c],
            ["-n", s, "link", "set", "lo", "up"], ["-n", c, "link", "set", "lo", "up"],
            ["-n", s, "addr", "add", "10.213.0.1/24", "dev", "vigil-srv0"],
            ["-n", c, "addr", "add", "10.213.0.2/24", "dev", "vigil-cli0"],
            ["-n", s, "-6", "addr", "add", "fd00:213::1/64", "dev", "vigil-srv0", "nodad"],
            ["-n", c, "-6", "addr", "add", "fd00:213::2/64", "dev", "vigil-cli0", "nodad"],
            ["-n", s, "link", "set", "vigil-srv0", "up"], ["-n", c, "link", "set", "vigil-cli0", "up"],
        ]
        for step in steps {
            let r = try runCommand(ip, step)
            guard r.status == 0 else { return fallBackToLoopback("ip \(step.joined(separator: " ")) failed: \(r.stderr.trimmed)") }
        }
    }

    private func fallBackToLoopback(_ reason: String) {
        print("live capture: network namespaces refused (\(reason)); capturing on lo instead")
        removeNamespaces()
        interface = "lo"
        serverIP = "127.213.0.1"
        clientIP = "127.0.0.1"
        serverIPv6 = nil
        httpPort = freeTCPPort()
        tlsPort = freeTCPPort()
        filter = "host 127.213.0.1"
    }

    /// The command line that runs `executable` in the server namespace.
    func inServer(_ executable: String, _ arguments: [String]) -> [String] {
        serverNamespace.map { [ip, "netns", "exec", $0, executable] + arguments } ?? [executable] + arguments
    }

    /// Starts a server in the server namespace, its output going to `log`.
    ///
    /// Servers are spawned directly rather than through Foundation's `Process`: dnsmasq closes
    /// every descriptor it inherits, including the socket through which `Process` learns that
    /// its child exited, and `Process` then blocks in `waitpid` for a child that is still
    /// running, stalling every other `Process` in the test run.
    func startServer(_ executable: String, _ arguments: [String], log: String) throws {
        servers.append(try SpawnedProcess(inServer(executable, arguments), log: log))
    }

    /// Runs a command in the server namespace, killing it after `timeout` seconds.
    func inServerRun(_ executable: String, _ arguments: [String], timeout: Double) throws -> CommandResult {
        let line = inServer("/usr/bin/timeout", ["-s", "KILL", String(Int(timeout)), executable] + arguments)
        return try runCommand(line[0], Array(line.dropFirst()))
    }

    /// Runs a client to completion in the client namespace.
    func inClient(_ executable: String, _ arguments: [String]) throws -> CommandResult {
        if let c = clientNamespace { return try runCommand(ip, ["netns", "exec", c, executable] + arguments) }
        return try runCommand(executable, arguments)
    }

    /// Waits until `ss` in the server namespace lists every `"proto address:port"` as listening.
    func waitForListeners(_ wanted: [String]) -> Bool {
        waitUntil(seconds: 15) {
            let line = inServer(tools["ss"]!, ["-H", "-l", "-n", "-t", "-u"])
            guard let r = try? runCommand(line[0], Array(line.dropFirst())) else { return false }
            let listening = Set(r.lines.compactMap { row -> String? in
                let cols = row.split(separator: " ", omittingEmptySubsequences: true)
                return cols.count >= 5 ? "\(cols[0]) \(cols[4])" : nil
            })
            return wanted.allSatisfy(listening.contains)
        }
    }

    /// What the servers printed (for a failure message).
    func serverOutput() -> String {
        servers.map { "\($0.arguments.joined(separator: " ")): \((try? String(contentsOfFile: $0.log, encoding: .utf8)) ?? "")" }
            .joined(separator: "\n")
    }

    func tearDown() {
        for s in servers { s.stop() }
        servers.removeAll()
        removeNamespaces()
    }

    private func removeNamespaces() {
        for ns in [serverNamespace, clientNamespace].compactMap({ $0 }) {
            // Deleting a namespace destroys the veth end inside it (and so the pair).
            _ = try? runCommand(ip, ["netns", "del", ns])
        }
        serverNamespace = nil
        clientNamespace = nil
    }
}

// MARK: - Helpers

/// A process started with posix_spawn: no descriptors inherited beyond stdin (/dev/null) and
/// stdout and stderr (both to `log`), default signal handling and an empty signal mask.
private final class SpawnedProcess {
    let arguments: [String]
    let log: String
    private(set) var pid: pid_t = 0

    init(_ arguments: [String], log: String) throws {
        self.arguments = arguments
        self.log = log
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // glibc ≥ 2.34 declares this only for _GNU_SOURCE, which Swift's Glibc module lacks.
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32
        if let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") {
            _ = unsafeBitCast(symbol, to: CloseFrom.self)(&actions, 3)
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        let rc = posix_spawn(&pid, arguments[0], &actions, &attributes, argv, environ)
        guard rc == 0 else { throw SpawnError(message: "cannot start \(arguments[0]): \(String(cString: strerror(rc)))") }
    }

    /// Kills the process and reaps it.
    func stop() {
        guard pid > 0 else { return }
        kill(pid, SIGKILL)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        pid = 0
    }
}

private struct SpawnError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

private func findTool(_ name: String) -> String? {
    let path = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
    for dir in path + ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] where FileManager.default.isExecutableFile(atPath: dir + "/" + name) {
        return dir + "/" + name
    }
    return nil
}

private func account(_ name: String) -> (uid: UInt32, gid: UInt32)? {
    guard let pw = getpwnam(name) else { return nil }
    return (pw.pointee.pw_uid, pw.pointee.pw_gid)
}

/// Polls `condition` every 50 ms for up to `seconds`.
private func waitUntil(seconds: Double, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        usleep(50_000)
    }
    return condition()
}

/// /proc/PID/status as name → whitespace-separated values.
private func procStatus(_ pid: Int32) -> [String: [String]] {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return [:] }
    var fields: [String: [String]] = [:]
    for line in text.split(separator: "\n") {
        guard let colon = line.firstIndex(of: ":") else { continue }
        fields[String(line[..<colon])] = line[line.index(after: colon)...].split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
    }
    return fields
}

private func freeTCPPort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.213.0.1")
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    return Int(UInt16(bigEndian: addr.sin_port))
}

private func get(_ e: [String: Any], _ path: String) -> Any? {
    path.split(separator: ".").reduce(e as Any?) { ($0 as? [String: Any])?[String($1)] }
}

private func isMD5Hex(_ value: Any?) -> Bool {
    guard let s = value as? String else { return false }
    return s.utf8.count == 32 && s.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
}

private extension String {
    var trimmed: String { trimmingCharacters(in: .whitespacesAndNewlines) }
}
