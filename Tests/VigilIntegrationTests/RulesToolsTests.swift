import Foundation
import Testing
import VigilTestSupport

/// Writes a classic pcap file (microsecond timestamps, Ethernet) of hand-built IPv4 TCP and UDP
/// packets. Nothing is sent anywhere: the packets exist only in the file.
struct PcapWriter {
    private(set) var bytes: [UInt8] = []
    private var packets: [(time: Double, frame: [UInt8])] = []

    mutating func le32(_ v: UInt32, _ out: inout [UInt8]) { for k in 0..<4 { out.append(UInt8((v >> (8 * UInt32(k))) & 0xFF)) } }
    static func be16(_ v: Int, _ out: inout [UInt8]) { out.append(UInt8((v >> 8) & 0xFF)); out.append(UInt8(v & 0xFF)) }
    static func be32(_ v: UInt32, _ out: inout [UInt8]) { for k in (0..<4).reversed() { out.append(UInt8((v >> (8 * UInt32(k))) & 0xFF)) } }

    static func address(_ text: String) -> [UInt8] { text.split(separator: ".").map { UInt8($0)! } }

    /// The ones' complement sum of 16-bit words.
    static func checksum(_ data: [UInt8]) -> Int {
        var sum = 0
        var i = 0
        while i + 1 < data.count { sum += Int(data[i]) << 8 | Int(data[i + 1]); i += 2 }
        if i < data.count { sum += Int(data[i]) << 8 }
        while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
        return ~sum & 0xFFFF
    }

    static func ipv4(_ src: String, _ dst: String, proto: UInt8, payload: [UInt8], id: Int) -> [UInt8] {
        var h: [UInt8] = [0x45, 0]
        be16(20 + payload.count, &h)
        be16(id & 0xFFFF, &h)
        h += [0x40, 0x00, 64, proto, 0, 0]
        h += address(src) + address(dst)
        let c = checksum(h)
        h[10] = UInt8(c >> 8); h[11] = UInt8(c & 0xFF)
        return h + payload
    }

    static func transportChecksum(_ src: String, _ dst: String, proto: UInt8, _ segment: [UInt8]) -> Int {
        var pseudo = address(src) + address(dst) + [0, proto]
        be16(segment.count, &pseudo)
        return checksum(pseudo + segment)
    }

    struct TCPFlags: OptionSet { let rawValue: UInt8
        static let fin = TCPFlags(rawValue: 1), syn = TCPFlags(rawValue: 2), rst = TCPFlags(rawValue: 4)
        static let psh = TCPFlags(rawValue: 8), ack = TCPFlags(rawValue: 16)
    }

    mutating func tcp(_ time: Double, _ src: String, _ sport: Int, _ dst: String, _ dport: Int, _ flags: TCPFlags,
                      seq: UInt32, ack: UInt32, payload: [UInt8] = []) {
        var s: [UInt8] = []
        Self.be16(sport, &s); Self.be16(dport, &s)
        Self.be32(seq, &s); Self.be32(ack, &s)
        s += [0x50, flags.rawValue]
        Self.be16(64240, &s)
        s += [0, 0, 0, 0]
        s += payload
        let c = Self.transportChecksum(src, dst, proto: 6, s)
        s[16] = UInt8(c >> 8); s[17] = UInt8(c & 0xFF)
        frame(time, Self.ipv4(src, dst, proto: 6, payload: s, id: packets.count))
    }

    mutating func udp(_ time: Double, _ src: String, _ sport: Int, _ dst: String, _ dport: Int, payload: [UInt8]) {
        var s: [UInt8] = []
        Self.be16(sport, &s); Self.be16(dport, &s)
        Self.be16(8 + payload.count, &s)
        s += [0, 0]
        s += payload
        var c = Self.transportChecksum(src, dst, proto: 17, s)
        if c == 0 { c = 0xFFFF }
        s[6] = UInt8(c >> 8); s[7] = UInt8(c & 0xFF)
        frame(time, Self.ipv4(src, dst, proto: 17, payload: s, id: packets.count))
    }

    mutating func frame(_ time: Double, _ ip: [UInt8]) {
        let ethernet: [UInt8] = [0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00]
        packets.append((time, ethernet + ip))
    }

    /// A whole TCP connection: handshake, one request and one response, and the closing.
    mutating func tcpSession(_ t: Double, _ client: String, _ cport: Int, _ server: String, _ sport: Int, request: [UInt8], response: [UInt8]) {
        let c0: UInt32 = 1000, s0: UInt32 = 5000
        tcp(t, client, cport, server, sport, .syn, seq: c0, ack: 0)
        tcp(t + 0.001, server, sport, client, cport, [.syn, .ack], seq: s0, ack: c0 + 1)
        tcp(t + 0.002, client, cport, server, sport, .ack, seq: c0 + 1, ack: s0 + 1)
        tcp(t + 0.003, client, cport, server, sport, [.psh, .ack], seq: c0 + 1, ack: s0 + 1, payload: request)
        let c1 = c0 + 1 + UInt32(request.count)
        tcp(t + 0.010, server, sport, client, cport, [.psh, .ack], seq: s0 + 1, ack: c1, payload: response)
        let s1 = s0 + 1 + UInt32(response.count)
        tcp(t + 0.011, client, cport, server, sport, [.fin, .ack], seq: c1, ack: s1)
        tcp(t + 0.012, server, sport, client, cport, [.fin, .ack], seq: s1, ack: c1 + 1)
        tcp(t + 0.013, client, cport, server, sport, .ack, seq: c1 + 1, ack: s1 + 1)
    }

    /// The file: the packets in time order.
    func file() -> [UInt8] {
        var out: [UInt8] = []
        var w = self
        w.le32(0xA1B2_C3D4, &out)
        out += [2, 0, 4, 0]
        w.le32(0, &out); w.le32(0, &out)
        w.le32(65_535, &out); w.le32(1, &out)
        for (time, frame) in packets.enumerated().sorted(by: { ($0.element.time, $0.offset) < ($1.element.time, $1.offset) }).map(\.element) {
            let seconds = time.rounded(.down)
            w.le32(UInt32(seconds), &out)
            w.le32(UInt32(((time - seconds) * 1e6).rounded()), &out)
            w.le32(UInt32(frame.count), &out); w.le32(UInt32(frame.count), &out)
            out += frame
        }
        return out
    }

    static func dnsQuery(id: Int, name: String, answer: String?) -> [UInt8] {
        var m: [UInt8] = []
        be16(id, &m)
        be16(answer == nil ? 0x0100 : 0x8180, &m)
        be16(1, &m); be16(answer == nil ? 0 : 1, &m); be16(0, &m); be16(0, &m)
        for label in name.split(separator: ".") { m.append(UInt8(label.utf8.count)); m += Array(label.utf8) }
        m.append(0)
        be16(1, &m); be16(1, &m)
        if let answer {
            m += [0xC0, 0x0C]
            be16(1, &m); be16(1, &m)
            be32(300, &m)
            be16(4, &m)
            m += address(answer)
        }
        return m
    }
}

/// `vigil rules explain` and `vigil rules test --pcap/--logs` end to end.
@Suite(.serialized) struct RulesToolsTests {
    let vigil = productsDirectory() + "/vigil"
    let root = repositoryRoot()

    static let t0 = 1_790_000_000.0

    /// (a) a SYN scan of 200 ports of one host, (b) a sweep of 60 hosts, (c) a beacon every
    /// 60 s ± 1 s for 30 connections, (d) a little ordinary DNS and HTTP.
    static func generatedCapture() -> [UInt8] {
        var w = PcapWriter()
        var rng = SplitMix64(seed: 42)
        func jitter(_ amplitude: Double) -> Double { (Double(rng.next() % 2_000_001) / 1_000_000 - 1) * amplitude }
        // (a) 10.0.0.66 → 10.0.1.10 ports 1000…1199; closed ports answer with a reset.
        for k in 0..<200 {
            let t = t0 + Double(k) * 0.005
            w.tcp(t, "10.0.0.66", 40_000 + k, "10.0.1.10", 1000 + k, .syn, seq: 77, ack: 0)
            w.tcp(t + 0.0005, "10.0.1.10", 1000 + k, "10.0.0.66", 40_000 + k, [.rst, .ack], seq: 0, ack: 78)
        }
        // (b) 10.0.0.77 → 10.0.2.1…60 port 445, unanswered.
        for k in 0..<60 {
            w.tcp(t0 + 120 + Double(k) * 0.02, "10.0.0.77", 50_000 + k, "10.0.2.\(k + 1)", 445, .syn, seq: 9, ack: 0)
        }
        // (c) 10.0.0.88 → 10.0.3.30:8443 every 60 s ± 1 s.
        for k in 0..<30 {
            w.tcpSession(t0 + 300 + Double(k) * 60 + jitter(1), "10.0.0.88", 33_000 + k, "10.0.3.30", 8443,
                         request: Array("ping \(k)\n".utf8), response: Array("ok\n".utf8))
        }
        // (d) 10.0.0.20: a few DNS lookups and web requests at irregular times.
        for (k, offset) in [12.0, 95.5, 611.0, 1400.2].enumerated() {
            let t = t0 + 200 + offset
            w.udp(t, "10.0.0.20", 53_000 + k, "10.0.4.53", 53, payload: PcapWriter.dnsQuery(id: 100 + k, name: "www.example.com", answer: nil))
            w.udp(t + 0.02, "10.0.4.53", 53, "10.0.0.20", 53_000 + k, payload: PcapWriter.dnsQuery(id: 100 + k, name: "www.example.com", answer: "10.0.4.80"))
            w.tcpSession(t + 0.05, "10.0.0.20", 45_000 + k, "10.0.4.80", 80,
                         request: Array("GET /index.html HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: Mozilla/5.0\r\n\r\n".utf8),
                         response: Array("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello".utf8))
        }
        return w.file()
    }

    func alerts(_ stdout: String) -> [[String: Any]] {
        stdout.split(separator: "\n").compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
    }

    func ruleID(_ a: [String: Any]) -> String { ((a["rule"] as? [String: Any])?["id"] as? String) ?? "" }
    func key(_ a: [String: Any]) -> String { (((a["vigil"] as? [String: Any])?["alert"] as? [String: Any])?["key"] as? String) ?? "" }

    @Test func aGeneratedCaptureRaisesExactlyTheScanSweepAndBeaconAlerts() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let pcap = dir.file("generated.pcap")
        try Data(Self.generatedCapture()).write(to: URL(fileURLWithPath: pcap))
        try FileManager.default.createDirectory(atPath: dir.file("enrichment"), withIntermediateDirectories: true)
        try """
        data_dir: data
        enrichment: { dir: enrichment }
        rules: { dir: \(root)/rules }
        parsers: { dir: \(root)/parsers }
        """.write(toFile: dir.file("vigil.yaml"), atomically: true, encoding: .utf8)
        let r = try runCommand(vigil, ["rules", "test", "--config", dir.file("vigil.yaml"), "--pcap", pcap])
        #expect(r.status == 0, "\(r.stderr)")
        print("rules test --pcap: \(r.stderr.split(separator: "\n").filter { $0.hasPrefix("late") || $0.hasPrefix("dry run") || $0.hasPrefix("records") })")
        var byRule: [String: Set<String>] = [:]
        for a in alerts(r.stdout) { byRule[ruleID(a), default: []].insert(key(a)) }
        #expect(byRule == ["vigil.net.port_scan": ["10.0.0.66"], "vigil.net.host_sweep": ["10.0.0.77"],
                           "vigil.net.beaconing": ["10.0.0.88\u{1F}10.0.3.30\u{1F}8443"]], "\(byRule)\n\(r.stderr)")
        let beacon = try #require(alerts(r.stdout).first { ruleID($0) == "vigil.net.beaconing" })
        let interval = ((beacon["vigil"] as? [String: Any])?["alert"] as? [String: Any])?["interval_s"] as? Double
        #expect(interval.map { abs($0 - 60) < 1 } == true, "\(String(describing: interval))")
        #expect(r.stderr.contains("dry run: "), "\(r.stderr)")
        #expect(r.stderr.contains("vigil.net.beaconing 1") && r.stderr.contains("vigil.net.port_scan 1") && r.stderr.contains("vigil.net.host_sweep 1"), "\(r.stderr)")
        // Nothing was written: no data directory.
        #expect(!FileManager.default.fileExists(atPath: dir.file("data")))

        // The pipeline raises the same alerts: vigil replay into the broker, vigil stream --drain.
        let replay = try runCommand(vigil, ["replay", "--config", dir.file("vigil.yaml"), pcap])
        #expect(replay.status == 0, "\(replay.stderr)")
        let stream = try runCommand(vigil, ["stream", "--config", dir.file("vigil.yaml"), "--drain"])
        #expect(stream.status == 0, "\(stream.stderr)")
        let tail = try runCommand(vigil, ["topics", "tail", "alerts", "--config", dir.file("vigil.yaml")])
        var pipeline: [String: Set<String>] = [:]
        for record in alerts(tail.stdout) {
            guard let a = record["value"] as? [String: Any] else { continue }
            pipeline[ruleID(a), default: []].insert(key(a))
        }
        #expect(pipeline == byRule, "pipeline \(pipeline)")

        let table = try runCommand(vigil, ["rules", "test", "--rules", root + "/rules", "--pcap", pcap, "--format", "table"])
        #expect(table.status == 0, "\(table.stderr)")
        let lines = table.stdout.split(separator: "\n")
        #expect(lines.first?.hasPrefix("TIME") == true && lines.count == 4, "\(table.stdout)")
        #expect(table.stdout.contains("vigil.net.beaconing") && table.stdout.contains("10.0.0.88 10.0.3.30 8443"), "\(table.stdout)")
    }

    @Test func dryRunsEnrichWithTheConfiguredEnrichments() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let pcap = dir.file("generated.pcap")
        try Data(Self.generatedCapture()).write(to: URL(fileURLWithPath: pcap))
        for sub in ["enrichment", "rules"] { try FileManager.default.createDirectory(atPath: dir.file(sub), withIntermediateDirectories: true) }
        try "network,zone\n10.0.3.0/24,quarantine\n".write(toFile: dir.file("enrichment/zones.csv"), atomically: true, encoding: .utf8)
        try """
        kind: cidr
        file: zones.csv
        key: network
        columns: [zone]
        lookups:
          - { field: destination.ip, target: destination.network }
        """.write(toFile: dir.file("enrichment/zones.yaml"), atomically: true, encoding: .utf8)
        try """
        rules:
          - id: t.quarantine
            title: Connection into the quarantine zone
            match: { event.dataset: network.conn, destination.network.zone: quarantine }
        """.write(toFile: dir.file("rules/q.yaml"), atomically: true, encoding: .utf8)
        try """
        data_dir: data
        enrichment: { dir: enrichment }
        rules: { dir: rules }
        """.write(toFile: dir.file("vigil.yaml"), atomically: true, encoding: .utf8)
        let enriched = try runCommand(vigil, ["rules", "test", "--config", dir.file("vigil.yaml"), "--pcap", pcap])
        #expect(enriched.status == 0, "\(enriched.stderr)")
        // The 30 beacon connections go to 10.0.3.30.
        #expect(alerts(enriched.stdout).filter { ruleID($0) == "t.quarantine" }.count == 30, "\(enriched.stderr)")
        let plain = try runCommand(vigil, ["rules", "test", "--rules", dir.file("rules"), "--pcap", pcap])
        #expect(plain.status == 0 && alerts(plain.stdout).isEmpty, "\(plain.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("data")))
    }

    @Test func badInputFilesAndParsersExitOne() throws {
        let missing = try runCommand(vigil, ["rules", "test", "--rules", root + "/rules", "--pcap", "/nonexistent/x.pcap"])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("/nonexistent/x.pcap"), "\(missing.stderr)")
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        try "not a capture file at all, just text\n".write(toFile: dir.file("bad.pcap"), atomically: true, encoding: .utf8)
        let bad = try runCommand(vigil, ["rules", "test", "--rules", root + "/rules", "--pcap", dir.file("bad.pcap")])
        #expect(bad.status == 1, "\(bad.stderr)")
        #expect(bad.stdout.isEmpty)
        try "x\n".write(toFile: dir.file("a.log"), atomically: true, encoding: .utf8)
        let parser = try runCommand(vigil, ["rules", "test", "--rules", root + "/rules", "--parsers", root + "/parsers",
                                            "--logs", dir.file("a.log"), "--parser", "no_such_parser"])
        #expect(parser.status == 1)
        #expect(parser.stderr.contains("no_such_parser"), "\(parser.stderr)")
        let usage = try runCommand(vigil, ["rules", "test", "--rules", root + "/rules", "--logs", dir.file("a.log")])
        #expect(usage.status != 0 && usage.stderr.contains("--parser"), "\(usage.stderr)")
    }

    @Test func theOpenSSHSampleRaisesTheSSHAlerts() throws {
        guard let shared = sharedDataDirectory() else {
            print("skipped: ../shared/data is absent")
            return
        }
        let log = shared + "/logs/loghub/OpenSSH/OpenSSH_2k.log"
        guard FileManager.default.fileExists(atPath: log) else {
            print("skipped: \(log) is absent")
            return
        }
        // Loghub lines carry the syslog header; the syslog parser hands sshd's messages to the sshd parser.
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        try """
        data_dir: data
        rules: { dir: \(root)/rules }
        parsers: { dir: \(root)/parsers }
        """.write(toFile: dir.file("vigil.yaml"), atomically: true, encoding: .utf8)
        let r = try runCommand(vigil, ["rules", "test", "--config", dir.file("vigil.yaml"), "--logs", log, "--parser", "syslog"])
        #expect(r.status == 0, "\(r.stderr)")
        print("rules test --logs: \(r.stderr.split(separator: "\n").last ?? "")")
        var byRule: [String: Set<String>] = [:]
        for a in alerts(r.stdout) { byRule[ruleID(a), default: []].insert(key(a)) }
        // The busiest attacker of the sample (sshd's "Failed password" lines).
        #expect(byRule["vigil.ssh.brute_force"]?.contains("183.62.140.253") == true, "\(byRule)")
        for rule in byRule.keys { #expect(rule.hasPrefix("vigil.ssh."), "\(rule)") }
        #expect(!FileManager.default.fileExists(atPath: dir.file("data")))
        // The same alerts, by rule and key, as the pipeline raises (vigil ingest, vigil stream --drain).
        let pipeline = try StarterRulesTests().alerts(log, parser: "syslog")
        #expect(byRule == pipeline, "dry run \(byRule.mapValues(\.count)), pipeline \(pipeline.mapValues(\.count))")
    }

    @Test func explainPrintsTheTreeAndTheAggregation() throws {
        let rules = root + "/rules"
        let failure = #"{"@timestamp":"2026-11-20T10:02:03Z","event":{"category":["authentication"],"action":"ssh_login","outcome":"failure"},"source":{"ip":"198.51.100.7"}}"#
        let r = try runCommand(vigil, ["rules", "explain", "vigil.ssh.brute_force", "--rules", rules, "--event", failure])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("MATCHES: the event counts towards the aggregation under key \"198.51.100.7\""), "\(r.stdout)")
        #expect(r.stdout.contains("[true]  event.outcome equals \"failure\"    ← event.outcome = \"failure\""), "\(r.stdout)")
        #expect(r.stdout.contains("aggregation: threshold: counts events per source.ip in 5m hopping windows every 1m, alerts at ≥ 10"), "\(r.stdout)")

        let success = failure.replacingOccurrences(of: "\"failure\"", with: "\"success\"")
        let j = try runCommand(vigil, ["rules", "explain", "vigil.ssh.brute_force", "--rules", rules, "--event", success, "--format", "json"])
        #expect(j.status == 0, "\(j.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(j.stdout.utf8)) as? [String: Any])
        #expect(object["verdict"] as? String == "not_matched")
        #expect(object["key"] as? String == "198.51.100.7")
        let children = try #require((object["tree"] as? [String: Any])?["children"] as? [[String: Any]])
        #expect(children.contains { $0["field"] as? String == "event.outcome" && $0["result"] as? Bool == false && $0["observed"] as? String == "success" })

        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let lines = (0..<12).map { k in failure.replacingOccurrences(of: "10:02:03", with: String(format: "10:02:%02d", k)) }
        try (lines.joined(separator: "\n") + "\n").write(toFile: dir.file("events.jsonl"), atomically: true, encoding: .utf8)
        let file = try runCommand(vigil, ["rules", "explain", "vigil.ssh.brute_force", "--rules", rules, "--event-file", dir.file("events.jsonl"), "--format", "json"])
        #expect(file.status == 0, "\(file.stderr)")
        #expect(file.stdout.split(separator: "\n").count == 12)
        #expect(file.stderr.contains("these 12 events through vigil.ssh.brute_force alone: 1 alerts"), "\(file.stderr)")

        let unknown = try runCommand(vigil, ["rules", "explain", "vigil.nope", "--rules", rules, "--event", failure])
        #expect(unknown.status == 1 && unknown.stderr.contains("no rule vigil.nope"), "\(unknown.stderr)")
        let badEvent = try runCommand(vigil, ["rules", "explain", "vigil.ssh.brute_force", "--rules", rules, "--event", "{not json"])
        #expect(badEvent.status == 1 && badEvent.stderr.contains("--event"), "\(badEvent.stderr)")
    }
}
