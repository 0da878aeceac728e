import Testing
import VigilBroker
import VigilCore
import VigilEnrich
import VigilTestSupport

@Suite struct ChangelogTests {
    @Test func lastValueWinsAndTombstonesDelete() throws {
        var t = ChangelogTable(keyType: .ip)
        try t.apply(key: "10.0.0.1", value: #"{"hostname":"a","mac":"aa"}"#)
        try t.apply(key: "10.0.0.2", value: #"{"hostname":"b"}"#)
        try t.apply(key: "10.0.0.1", value: #"{"hostname":"a2"}"#)
        try t.apply(key: "10.0.0.2", value: "null")
        try t.apply(key: "10.0.0.3", value: #"{"hostname":"c"}"#)
        try t.apply(key: "10.0.0.3", value: "")
        #expect(t.count == 1)
        #expect(t.row("10.0.0.1") == [Event.Field(key: "hostname", value: .string("a2"))])  // replaced, not merged
        #expect(t.deletes == 2)
        #expect(throws: ChangelogTable.Rejection.invalidKey) { try t.apply(key: "host-7", value: "{}") }
        #expect(throws: ChangelogTable.Rejection.self) { try t.apply(key: "10.0.0.9", value: "[1,2]") }
        #expect(t.rejected == 2 && t.count == 1)
        let snapshot = t.snapshot()
        #expect(snapshot.lookup(IPAddress("10.0.0.1")!)?.first?.1 == .string("a2"))
        #expect(snapshot.lookup(IPAddress("10.0.0.2")!) == nil)
    }

    @Test func feederReadsTopicFromStartThenTailsAndRebuildsOnRestart() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let data = dir.file("data")
        try FileSystemHelper.mkdir(dir.file("enrichment"))
        try write("""
            kind: changelog
            topic: dhcp
            key_type: ip
            lookups: [{ field: source.ip, target: source.dhcp }]
            """, to: dir.file("enrichment/dhcp.yaml"))
        let log = try EmbeddedLog(dataDirectory: data)
        _ = try log.createTopic("dhcp", partitions: 3)
        let producer = try log.producer(topic: "dhcp")
        func send(_ key: String, _ value: String?) throws {
            try producer.send(key: Array(key.utf8), value: Array((value ?? "").utf8), timestamp: 1_000)
        }
        for i in 1...50 { try send("10.0.0.\(i)", #"{"hostname":"h\#(i)","mac":"m\#(i)"}"#) }
        try send("10.0.0.7", #"{"hostname":"renamed-7"}"#)
        try send("10.0.0.8", nil)
        try send("not-an-ip", #"{"hostname":"x"}"#)
        try producer.flush()

        let set = try EnrichmentSet.load(path: dir.file("enrichment"))
        let reader = try EmbeddedLog(readingFrom: data)
        let feeder = TopicFeeder(set: set, log: reader)
        #expect(try feeder.catchUp() == 53)
        #expect(feeder.recordsRejected == 1)
        #expect(feeder.recentRejections.first?.contains("not an IP address") == true)
        var enricher = set.makeEnricher()
        func dhcp(_ ip: String) throws -> FieldValue? {
            var e = try event(#"{"source":{"ip":"\#(ip)"}}"#)
            enricher.enrich(&e)
            return e["source.dhcp.hostname"]
        }
        #expect(try dhcp("10.0.0.1") == .string("h1"))
        #expect(try dhcp("10.0.0.7") == .string("renamed-7"))
        #expect(try dhcp("10.0.0.8") == nil)
        #expect(set.table(named: "dhcp")?.count == 49)

        // Tailing: new records are applied by the next poll.
        try send("10.0.0.1", #"{"hostname":"moved"}"#)
        try send("10.0.0.99", #"{"hostname":"new"}"#)
        try producer.flush()
        #expect(try feeder.poll() == 2)
        #expect(try dhcp("10.0.0.1") == .string("moved"))
        #expect(try dhcp("10.0.0.99") == .string("new"))

        // Restart: a new set and feeder re-read the topic and build the same table.
        let again = try EnrichmentSet.load(path: dir.file("enrichment"))
        try TopicFeeder(set: again, log: reader).catchUp()
        let before = try #require(set.changelogTable(named: "dhcp"))
        let after = try #require(again.changelogTable(named: "dhcp"))
        #expect(after.count == before.count)
        for i in 1...99 { #expect(after.row("10.0.0.\(i)") == before.row("10.0.0.\(i)")) }
        try producer.close()
        log.close()
    }

    @Test func missingTopicIsPickedUpLater() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let set = try loadSet(["d.yaml": "kind: changelog\ntopic: assets\nlookups: [{ field: host.name, target: host.asset }]\n"], in: dir)
        let log = try EmbeddedLog(dataDirectory: dir.file("data"))
        let feeder = TopicFeeder(set: set, log: log)
        #expect(try feeder.poll() == 0)
        let producer = try log.producer(topic: "assets")
        try producer.send(key: Array("web-01".utf8), value: Array(#"{"owner":"web-team"}"#.utf8), timestamp: 0)
        try producer.flush()
        #expect(try feeder.poll() == 1)
        let e = try enrich(set, #"{"host":{"name":"web-01"}}"#)
        #expect(e["host.asset.owner"] == .string("web-team"))
        try producer.close()
        log.close()
    }
}

enum FileSystemHelper {
    static func mkdir(_ path: String) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
}

import Foundation
