import Foundation
import Testing
import VigilCore
import VigilParsers
import VigilTestSupport
import VigilYAML

@Suite struct EVEParserTests {
    let eve = EVEParser()

    /// EVE member → (ECS field, expected text from the EVE value).
    static let mapping: [String: (String, @Sendable (String) -> String)] = [
        "src_ip": ("source.ip", { $0 }), "src_port": ("source.port", { $0 }),
        "dest_ip": ("destination.ip", { $0 }), "dest_port": ("destination.port", { $0 }),
        "proto": ("network.transport", { $0.lowercased() }), "app_proto": ("network.protocol", { $0 }),
        "community_id": ("network.community_id", { $0 }),
        "tls.sni": ("tls.client.server_name", { $0 }),
        "tls.version": ("tls.version", { $0 == "TLS 1.2" ? "1.2" : $0 == "TLS 1.3" ? "1.3" : $0 }),
        "tls.ja3.hash": ("tls.client.ja3", { $0 }), "tls.ja3s.hash": ("tls.server.ja3s", { $0 }),
        "tls.ja4": ("tls.client.ja4", { $0 }),
        "tls.subject": ("tls.server.subject", { $0 }), "tls.issuerdn": ("tls.server.issuer", { $0 }),
        "tls.notbefore": ("tls.server.not_before", { $0 + "Z" }), "tls.notafter": ("tls.server.not_after", { $0 + "Z" }),
        "tls.fingerprint": ("tls.server.hash.sha1", { $0.filter { $0 != ":" }.uppercased() }),
        "tls.serial": ("tls.server.x509.serial_number", { $0 }),
        "alert.signature_id": ("rule.id", { $0 }),
        "flow.bytes_toserver": ("source.bytes", { $0 }), "flow.bytes_toclient": ("destination.bytes", { $0 }),
        "flow.pkts_toserver": ("source.packets", { $0 }), "flow.pkts_toclient": ("destination.packets", { $0 }),
        "flow.state": ("suricata.flow.state", { $0 }), "flow.reason": ("suricata.flow.reason", { $0 }),
        "flow.alerted": ("suricata.flow.alerted", { $0 }), "flow.age": ("suricata.flow.age", { $0 }),
    ]

    /// Rebuilds an EVE record from each concrete `match:` block of the shared suricata-verify
    /// test.yaml files and checks every member with a mapping lands in its ECS field.
    @Test func suricataVerifyExpectations() throws {
        guard let data = sharedDataDirectory() else { print("skipped suricataVerifyExpectations: no shared data"); return }
        let root = data + "/pcap/suricata-verify"
        var checked = 0, records = 0
        for c in try FileManager.default.contentsOfDirectory(atPath: root).sorted() {
            guard let files = try? FileManager.default.contentsOfDirectory(atPath: "\(root)/\(c)") else { continue }
            for file in files.sorted() where file.hasSuffix("test.yaml") {
                let doc = try YAMLValue.load(path: "\(root)/\(c)/\(file)")
                guard let checks = try doc.mapping().optional("checks") else { continue }
                for check in try checks.sequence() {
                    guard let filter = try check.mapping().optional("filter"), let match = try filter.mapping().optional("match") else { continue }
                    var record = Event()
                    var usable = true
                    for entry in try match.mapping().entries {
                        if entry.key.contains("[") || entry.key.hasPrefix("quic") { usable = false; break }
                        record[entry.key] = try PostStep.scalarValue(entry.value)
                    }
                    guard usable, record["event_type"] != nil else { continue }
                    let event = try LogFormatSupport.parse(eve, EventJSON.encodeString(record))
                    records += 1
                    for field in record.fields {
                        guard let (ecs, expected) = Self.mapping[field.key] else { continue }
                        #expect(event[ecs]?.plainText == expected(field.value.plainText), "\(c)/\(file) \(field.key) → \(ecs)")
                        checked += 1
                    }
                }
            }
        }
        #expect(records >= 15)
        print("eve: \(records) suricata-verify records, \(checked) field checks")
    }

    @Test func alertWithHTTP() throws {
        let e = try LogFormatSupport.parse(eve, #"{"timestamp":"2026-03-14T09:12:07.123456+0000","flow_id":1234,"event_type":"alert","src_ip":"2001:db8::5","src_port":1,"dest_ip":"2001:db8::6","dest_port":80,"proto":"TCP","app_proto":"http","alert":{"action":"blocked","gid":1,"signature_id":2100498,"rev":7,"signature":"GPL ATTACK_RESPONSE id check returned root","category":"Potentially Bad Traffic","severity":2},"http":{"hostname":"h.example","url":"/x?y","http_method":"GET","status":200,"http_user_agent":"ua","protocol":"HTTP/1.1","http_refer":"http://r/"}}"#)
        #expect(e["@timestamp"] == .timestamp(Timestamp(rfc3339: "2026-03-14T09:12:07.123456Z")!))
        #expect(e["event.kind"] == .string("alert"))
        #expect(e["rule.id"] == .string("2100498"))
        #expect(e["rule.name"] == .string("GPL ATTACK_RESPONSE id check returned root"))
        #expect(e["rule.category"] == .string("Potentially Bad Traffic"))
        #expect(e["event.severity"] == .int(2))
        #expect(e["event.action"] == .string("blocked"))
        #expect(e["suricata.flow_id"] == .int(1234))
        #expect(e["network.type"] == .string("ipv6"))
        #expect(e["url.path"] == .string("/x"))
        #expect(e["url.query"] == .string("y"))
        #expect(e["http.version"] == .string("1.1"))
        #expect(e["http.request.referrer"] == .string("http://r/"))
        #expect(e["event.category"] == .array(["intrusion_detection"]))
    }

    @Test func dnsV3FlowSshFileinfoAnomaly() throws {
        let dns = try LogFormatSupport.parse(eve, #"{"timestamp":"2026-03-14T09:12:07+0000","event_type":"dns","src_ip":"10.0.0.1","dest_ip":"10.0.0.53","proto":"UDP","dns":{"version":3,"type":"response","id":7,"rd":true,"ra":true,"rcode":"NOERROR","queries":[{"rrname":"a.example","rrtype":"AAAA"}],"answers":[{"rrname":"a.example","rrtype":"AAAA","ttl":60,"rdata":"2001:db8::1"}]}}"#)
        #expect(dns["dns.question.name"] == .string("a.example"))
        #expect(dns["dns.question.type"] == .string("AAAA"))
        #expect(dns["dns.type"] == .string("answer"))
        #expect(dns["dns.header_flags"] == .array(["RD", "RA"]))
        #expect(dns["dns.resolved_ip"] == .array([.ip(IPAddress("2001:db8::1")!)]))
        let grouped = try LogFormatSupport.parse(eve, #"{"event_type":"dns","dns":{"type":"answer","id":1,"rrname":"b.example","rrtype":"A","rcode":"NOERROR","grouped":{"A":["192.0.2.1","192.0.2.2"]}}}"#)
        #expect(grouped["dns.resolved_ip"] == .array([.ip(IPAddress("192.0.2.1")!), .ip(IPAddress("192.0.2.2")!)]))
        let flow = try LogFormatSupport.parse(eve, #"{"event_type":"flow","src_ip":"10.0.0.1","proto":"TCP","flow":{"pkts_toserver":3,"pkts_toclient":2,"bytes_toserver":180,"bytes_toclient":120,"start":"2026-03-14T09:12:07.000000+0000","end":"2026-03-14T09:12:09.500000+0000","age":2,"state":"closed","reason":"timeout","alerted":false}}"#)
        #expect(flow["event.duration"] == .int(2_500_000_000))
        #expect(flow["source.bytes"] == .int(180))
        let ssh = try LogFormatSupport.parse(eve, #"{"event_type":"ssh","ssh":{"client":{"proto_version":"2.0","software_version":"OpenSSH_9.6"},"server":{"proto_version":"2.0","software_version":"OpenSSH_8.9p1"}}}"#)
        #expect(ssh["ssh.client"] == .string("SSH-2.0-OpenSSH_9.6"))
        #expect(ssh["ssh.server"] == .string("SSH-2.0-OpenSSH_8.9p1"))
        let file = try LogFormatSupport.parse(eve, #"{"event_type":"fileinfo","fileinfo":{"filename":"/a.exe","magic":"PE32","sha256":"ab","size":42,"state":"CLOSED","stored":false}}"#)
        #expect(file["file.name"] == .string("/a.exe"))
        #expect(file["file.size"] == .int(42))
        #expect(file["file.hash.sha256"] == .string("ab"))
        let anomaly = try LogFormatSupport.parse(eve, #"{"event_type":"anomaly","anomaly":{"type":"decode","event":"decoder.ipv4.trunc_pkt","layer":"proto_detect"}}"#)
        #expect(anomaly["message"] == .string("decoder.ipv4.trunc_pkt"))
        let kept = try LogFormatSupport.parse(EVEParser(keepUnmapped: true), #"{"event_type":"tls","tls":{"sni":"x"},"tcp":{"syn":true}}"#)
        #expect(kept["suricata.tcp.syn"] == .bool(true))
    }

    @Test(arguments: [
        "", "[]", "{}", "not json", #"{"event_type":1}"#, #"{"event_type":"flow","src_ip":"999.1.1.1"}"#,
        #"{"event_type":"flow","src_port":"x"}"#, #"{"event_type":"flow","timestamp":"yesterday"}"#,
        #"{"event_type":"dns","dns":{"answers":[1]}}"#, #"{"event_type":"alert","alert":{"severity":true}}"#,
    ])
    func failures(line: String) {
        #expect(throws: ParseFailure.self) { try LogFormatSupport.parse(eve, line) }
    }
}
