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
}
