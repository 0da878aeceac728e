import Foundation
import Testing
import VigilBroker
import VigilTestSupport

/// `vigil enrich` end to end on the shipped examples.
@Suite struct EnrichCLITests {
    let vigil = productsDirectory() + "/vigil"
    let root = repositoryRoot()

    @Test func enrichesTheSampleEventsWithTheShippedConfigs() throws {
        let r = try runCommand(vigil, ["enrich", "--config", root + "/enrichment", root + "/enrichment/data/sample-events.jsonl"])
        #expect(r.status == 0, "\(r.stderr)")
        let events = try r.lines.map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        #expect(events.count == 5)
        let source = events[0]["source"] as? [String: Any]
        #expect((source?["asset"] as? [String: Any])?["hostname"] as? String == "web-01")
        #expect((source?["network"] as? [String: Any])?["zone"] as? String == "internal")
        let threat = (events[1]["threat"] as? [String: Any])?["indicator"] as? [String: Any]
        #expect(threat?["ip"] as? String == "203.0.113.66")
        #expect(((events[2]["threat"] as? [String: Any])?["indicator"] as? [String: Any])?["domain"] as? String == "evil.example")
        // The shipped geoip.yaml points at ../shared/data/geoip beside the repository.
        if FileManager.default.fileExists(atPath: root + "/../shared/data/geoip/GeoIP2-City-Test.mmdb") {
            let geo = (events[0]["destination"] as? [String: Any])?["geo"] as? [String: Any]
            #expect(geo?["city_name"] as? String == "London")
        }
        #expect(r.stderr.contains("5 events enriched, 0 lines rejected"))
    }

    @Test func badLinesAreReportedWithTheirNumberAndCounted() throws {
        let input = "{\"source\":{\"ip\":\"10.0.1.10\"}}\nnot json\n\n{\"source\":\n{\"user\":{\"name\":\"bob\"}}\n"
        let r = try runCommand(vigil, ["enrich", "--config", root + "/enrichment/users.yaml"], input: input)
        #expect(r.status == 1)
        #expect(r.lines.count == 2)
        #expect(r.stderr.contains("stdin:2: rejected:"))
        #expect(r.stderr.contains("stdin:4: rejected:"))
        #expect(r.stderr.contains("2 events enriched, 2 lines rejected"))
        #expect(r.lines[1].contains("bob@example.com"))
    }

    @Test func changelogTopicsAreReadWithData() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let log = try EmbeddedLog(dataDirectory: dir.file("data"))
        let producer = try log.producer(topic: "dhcp")
        try producer.send(key: Array("10.0.0.5".utf8), value: Array(#"{"hostname":"lease-5","mac":"aa:bb"}"#.utf8), timestamp: 0)
        try producer.flush()
        try producer.close()
        log.close()
        let r = try runCommand(vigil, ["enrich", "--config", root + "/enrichment/dhcp.yaml", "--data", dir.file("data")],
                               input: "{\"source\":{\"ip\":\"10.0.0.5\"}}\n")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains(#""dhcp":{"hostname":"lease-5","mac":"aa:bb"}"#))
    }

    @Test func configErrorsNameTheFile() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try "kind: table\nfile: x.csv\nkey: ip\nlookups: [{field: source.ip, target: s}]\n".write(toFile: dir.file("t.yaml"), atomically: false, encoding: .utf8)
        let r = try runCommand(vigil, ["enrich", "--config", dir.path], input: "")
        #expect(r.status == 1)
        #expect(r.stderr.contains("\(dir.path)/x.csv: cannot read file"))
    }

    /// The shipped registered-domain.yaml (Debian's Public Suffix List) through `vigil enrich`, and
    /// its output through the starter rule that groups by registered domain.
    @Test func registeredDomainsThroughTheCLIAndTheTunnellingRule() throws {
        let config = root + "/enrichment/registered-domain.yaml"
        let input = [
            #"{"dns":{"question":{"name":"WWW.Example.CO.UK."}}}"#,
            #"{"url":{"domain":"myblog.blogspot.com"},"tls":{"client":{"server_name":"api.github.com"}}}"#,
            #"{"dns":{"question":{"name":"192.0.2.1"}}}"#,
        ].joined(separator: "\n") + "\n"
        let r = try runCommand(vigil, ["enrich", "--config", config], input: input)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.lines.count == 3)
        #expect(r.lines[0].contains(#""registered_domain":"example.co.uk","subdomain":"www","top_level_domain":"co.uk""#), "\(r.lines[0])")
        #expect(r.lines[1].contains(#""url":{"domain":"myblog.blogspot.com","registered_domain":"myblog.blogspot.com","top_level_domain":"blogspot.com"}"#),
                "\(r.lines[1])")
        #expect(r.lines[1].contains(#""registered_domain":"github.com","server_name":"api.github.com","subdomain":"api","top_level_domain":"com""#),
                "\(r.lines[1])")
        #expect(!r.lines[2].contains("registered_domain"))
        #expect(r.stderr.contains("3 events enriched, 0 lines rejected"), "\(r.stderr)")

        // 60 random subdomains of one domain from one source, then 60 names under 60 domains from another.
        var rng = SplitMix64(seed: 6)
        func label(_ n: Int) -> String { String((0..<n).map { _ in Array("abcdefghijklmnopqrstuvwxyz234567")[Int(rng.next() % 32)] }) }
        var events: [String] = []
        for i in 0..<60 {
            events.append(#"{"@timestamp":"2026-05-01T12:00:\#(String(format: "%02d", i))Z","source":{"ip":"10.0.0.7"},"dns":{"question":{"name":"\#(label(24)).T.Tunnel.Example.NET."}}}"#)
        }
        for i in 0..<60 {
            events.append(#"{"@timestamp":"2026-05-01T12:01:\#(String(format: "%02d", i))Z","source":{"ip":"10.0.0.8"},"dns":{"question":{"name":"www.\#(label(8))\#(i).co.uk"}}}"#)
        }
        let enriched = try runCommand(vigil, ["enrich", "--config", config], input: events.joined(separator: "\n") + "\n")
        #expect(enriched.status == 0, "\(enriched.stderr)")
        #expect(enriched.lines.count == 120)
        #expect(enriched.lines[0].contains(#""registered_domain":"example.net""#) && enriched.lines[0].contains(#".t.tunnel","top_level_domain":"net""#),
                "\(enriched.lines[0])")
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        func alerts(_ lines: ArraySlice<String>) throws -> String {
            try (lines.joined(separator: "\n") + "\n").write(toFile: dir.file("events.jsonl"), atomically: true, encoding: .utf8)
            let x = try runCommand(vigil, ["rules", "explain", "vigil.dns.many_subdomains_per_domain", "--rules", root + "/rules",
                                           "--event-file", dir.file("events.jsonl"), "--format", "json"])
            #expect(x.status == 0, "\(x.stderr)")
            return x.stderr
        }
        #expect(try alerts(enriched.lines[0..<60]).contains("these 60 events through vigil.dns.many_subdomains_per_domain alone: 1 alerts"))
        #expect(try alerts(enriched.lines[60..<120]).contains("alone: 0 alerts"))
        // Without the enrichment the rule has nothing to group by.
        #expect(try alerts(ArraySlice(events[0..<60])).contains("alone: 0 alerts"))
    }

    @Test func aMissingPublicSuffixListIsAConfigurationErrorWithThePath() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try "kind: registered_domain\nfile: /nonexistent/public_suffix_list.dat\n".write(toFile: dir.file("rd.yaml"), atomically: false, encoding: .utf8)
        let r = try runCommand(vigil, ["enrich", "--config", dir.path], input: "")
        #expect(r.status == 1)
        #expect(r.stderr.contains("/nonexistent/public_suffix_list.dat: cannot read file: No such file or directory"), "\(r.stderr)")
        #expect(r.stderr.contains("'publicsuffix' package"), "\(r.stderr)")
    }
}
