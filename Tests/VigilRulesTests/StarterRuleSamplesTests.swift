import Foundation
import Testing
import VigilBroker
import VigilCore
import VigilRules
import VigilStream
import VigilTestSupport

/// The shipped rules/ on crafted attack samples (each must raise its rule's alert) and benign
/// samples of the same shape (which must not).
@Suite struct StarterRuleSamplesTests {
    static let base: Int64 = 1_773_480_000_000_000_000
    static let s: Int64 = 1_000_000_000

    /// Rule ids raised by `events` (JSON objects; `t` seconds added to @timestamp order).
    func raised(_ events: [[String: Any]]) throws -> [String: Int] {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let log = try EmbeddedLog(dataDirectory: dir.file("data"))
        defer { log.close() }
        try log.createTopic("events", partitions: 1)
        let producer = try log.producer(topic: "events")
        for (i, object) in events.enumerated() {
            var e = try EventJSON.decode(String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self))
            e[.timestamp] = .timestamp(Timestamp(nanoseconds: Self.base + Int64(i) * Self.s / 10))
            _ = try producer.send(key: nil, value: EventBinaryCodec.encode(e), timestamp: 0)
        }
        _ = try producer.flush()
        try producer.close()
        var c = StreamStageConfiguration(checkpointDirectory: dir.file("state"))
        c.workers = 1
        c.plugins = [RulesPlugin(rules: try RuleDirectory.load(repositoryRoot() + "/rules"))]
        _ = try StreamStage(log: log, configuration: c, onError: { _, _ in }).run(stop: .whenCaughtUp, shouldStop: { false })
        var out: [String: Int] = [:]
        let reader = try log.openReader(topic: "alerts", partition: 0)
        while try reader.read(maxRecords: 1000, { r in
            let e = try! EventBinaryCodec.decode(r.value)
            out[e["rule.id"]!.stringValue!, default: 0] += 1
        }) > 0 {}
        return out
    }

    func request(_ ip: String, _ status: Int, _ agent: String = "Mozilla/5.0") -> [String: Any] {
        ["event": ["dataset": "nginx.access"], "source": ["ip": ip], "url": ["original": "/p"],
         "http": ["response": ["status_code": status]], "user_agent": ["original": agent]]
    }

    @Test func webScanning() throws {
        let attack = try raised((0..<25).map { _ in request("198.51.100.20", 404) })
        #expect(attack["vigil.web.scanning"] == 1)
        let benign = try raised((0..<10).map { _ in request("198.51.100.21", 404) } + (0..<40).map { _ in request("198.51.100.21", 200) })
        #expect(benign["vigil.web.scanning"] == nil)
        let tool = try raised([request("198.51.100.22", 200, "sqlmap/1.7.2#stable (https://sqlmap.org)"),
                               request("198.51.100.23", 200, "Mozilla/5.0 (Nikto/2.5.0)")])
        #expect(tool["vigil.web.scanner_user_agent"] == 2)
        #expect(try raised([request("198.51.100.24", 200, "curl/8.5.0")])["vigil.web.scanner_user_agent"] == nil)
    }

    @Test func sudoFailures() throws {
        func failure(_ user: String) -> [String: Any] {
            ["event": ["action": "sudo_auth_failure", "outcome": "failure"], "host": ["hostname": "web-01"], "user": ["name": user]]
        }
        #expect(try raised([failure("alice"), failure("alice"), failure("alice")])["vigil.host.sudo_failures"] == 1)
        #expect(try raised([failure("alice"), failure("bob"), failure("alice")])["vigil.host.sudo_failures"] == nil)
    }

    @Test func dnsTunnelling() throws {
        func query(_ name: String, _ ip: String = "10.0.0.7") -> [String: Any] {
            ["event": ["dataset": "network.dns"], "source": ["ip": ip], "dns": ["question": ["name": name]]]
        }
        let payload = "MZXW6YTBOI5GC3DMEBXW4ZJAMRUXG5DSNFRXS5DFMQQHEZLQN5ZHI"
        #expect(try raised([query("\(payload).t.example.net")])["vigil.dns.long_labels"] == 1)
        #expect(try raised([query("www.example.com"), query("cdn-edge-cache-eu-west-1.example.com")])["vigil.dns.long_labels"] == nil)
        let many = try raised((0..<120).map { query("s\($0).t.example.net", "10.0.0.8") })
        #expect(many["vigil.dns.many_subdomains"] == 1)
        #expect(try raised((0..<120).map { query("s\($0 % 10).t.example.net", "10.0.0.9") })["vigil.dns.many_subdomains"] == nil)
    }

    @Test func unusualOutboundVolume() throws {
        func conn(_ bytes: Int, to ip: String = "203.0.113.50") -> [String: Any] {
            ["event": ["dataset": "network.conn"], "source": ["ip": "10.0.0.11", "bytes": bytes], "destination": ["ip": ip]]
        }
        let usual = (0..<40).map { conn(1000 + ($0 * 37) % 200) }
        #expect(try raised(usual + [conn(5_000_000)])["vigil.net.unusual_outbound_volume"] == 1)
        #expect(try raised(usual + [conn(1150)])["vigil.net.unusual_outbound_volume"] == nil)
        // Inside the network: not outbound.
        #expect(try raised(usual.map { _ in conn(1000, to: "10.0.0.12") } + [conn(5_000_000, to: "10.0.0.12")])["vigil.net.unusual_outbound_volume"] == nil)
    }

    @Test func newTLSFingerprints() throws {
        func hello(_ ja3: String) -> [String: Any] {
            ["event": ["dataset": "network.tls"], "source": ["ip": "10.0.0.10"], "tls": ["client": ["ja3": ja3]]]
        }
        let a = "e7d705a3286e19ea42f587b344ee6865", b = "51c64c77e60f3980eea90869b68c58a8"
        let r = try raised([hello(a), hello(a), hello(a), hello(b), hello(a)])
        #expect(r["vigil.tls.new_ja3"] == 2)
    }
}
