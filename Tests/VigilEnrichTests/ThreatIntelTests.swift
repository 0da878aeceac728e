import Testing
import VigilBroker
import VigilCore
import VigilEnrich
import VigilTestSupport

@Suite struct ThreatIntelTests {
    static let config = """
        kind: threat_intel
        provider: unit-feed
        feeds:
          - { file: ips.txt, type: ip, confidence: high, description: scanner }
          - { file: domains.txt, type: domain }
          - { file: hashes.csv, format: csv, column: sha256, type: hash, provider: sandbox }
        lookups: [source.ip, destination.ip, dns.question.name, file.hash.sha256]
        """
    static let files = [
        "ti.yaml": config,
        "ips.txt": "# comment\n203.0.113.66\n198.51.100.0/24   # range\n\n2001:db8:bad::1\n",
        "domains.txt": "Evil.Example.\nc2.example.net\n",
        "hashes.csv": "sha256,family\nE3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855,empty\n",
    ]

    @Test func hitsAndMisses() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let set = try loadSet(Self.files, in: dir)
        let ip = try enrich(set, #"{"source":{"ip":"10.0.0.1"},"destination":{"ip":"203.0.113.66"}}"#)
        #expect(ip["threat.indicator.type"] == .string("ipv4-addr"))
        #expect(ip["threat.indicator.ip"] == .ip(IPAddress("203.0.113.66")!))
        #expect(ip["threat.indicator.provider"] == .string("unit-feed"))
        #expect(ip["threat.indicator.confidence"] == .string("high"))
        #expect(ip["threat.indicator.description"] == .string("scanner"))
        #expect(ip["threat.enrichments.matched.field"] == .string("destination.ip"))
        #expect(ip["threat.enrichments.matched.atomic"] == .string("203.0.113.66"))

        let range = try enrich(set, #"{"source":{"ip":"198.51.100.77"}}"#)
        #expect(range["threat.indicator.ip"] == .ip(IPAddress("198.51.100.77")!))
        let v6 = try enrich(set, #"{"source":{"ip":"2001:db8:bad::1"}}"#)
        #expect(v6["threat.indicator.type"] == .string("ipv6-addr"))

        let domain = try enrich(set, #"{"dns":{"question":{"name":"EVIL.example"}}}"#)
        #expect(domain["threat.indicator.domain"] == .string("evil.example"))
        #expect(domain["threat.indicator.type"] == .string("domain-name"))
        let hash = try enrich(set, #"{"file":{"hash":{"sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}}}"#)
        #expect(hash["threat.indicator.file.hash.sha256"] == .string("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"))
        #expect(hash["threat.indicator.provider"] == .string("sandbox"))

        for miss in [#"{"source":{"ip":"203.0.113.67"}}"#, #"{"dns":{"question":{"name":"www.evil.example"}}}"#,
                     #"{"dns":{"question":{"name":"example"}}}"#, #"{"message":"no fields"}"#] {
            let e = try enrich(set, miss)
            #expect(e["threat.indicator.type"] == nil, "\(miss)")
        }
    }

    @Test func bloomPositivesAreConfirmedBeforeFlagging() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        // A deliberately poor Bloom filter (50% false positives) over many addresses.
        var ips = ""
        for i in 0..<2000 { ips += "10.\(i / 256).\(i % 256).1\n" }
        let set = try loadSet(["ti.yaml": """
            kind: threat_intel
            false_positive_rate: 0.5
            feeds: [{ file: ips.txt, type: ip }]
            lookups: [source.ip]
            """, "ips.txt": ips], in: dir)
        let snapshot = try #require(set.threatIntel(named: "ti"))
        var bloomOnly = 0
        var enricher = set.makeEnricher()
        for i in 0..<2000 {
            let ip = IPAddress("172.16.\(i / 256).\(i % 256)")!
            if snapshot.feedBloomMayContain(ip: ip) { bloomOnly += 1 }
            var e = Event()
            e["source.ip"] = .ip(ip)
            enricher.enrich(&e)
            #expect(e["threat.indicator.ip"] == nil)
        }
        enricher.flushMetrics()
        #expect(bloomOnly > 100)  // the filter did say "maybe" …
        #expect(set.metrics[0].bloomFalsePositives.count == Int64(bloomOnly))  // … and the exact set said no
        #expect(set.metrics[0].hits.count == 0)
        #expect(snapshot.match(ip: IPAddress("10.3.5.1")!)?.value == "10.3.5.1")
    }

    @Test func badFeedLinesAreErrorsWithTheLine() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        var files = Self.files
        files["ips.txt"] = "1.2.3.4\nnot-an-ip\n"
        let error = #expect(throws: EnrichmentError.self) { try loadSet(files, in: dir) }
        #expect(error?.description == "\(dir.file("ips.txt")):2: not a valid ip indicator")
    }

    @Test func streamedIndicatorsAgeOut() throws {
        let hour: Int64 = 3_600_000_000_000
        var s = StreamedIndicators(lifetime: 4 * hour, generations: 4)
        let meta = IndicatorMetadata(type: .ip, value: "", provider: "stream", confidence: nil, description: nil, firstSeen: nil)
        let t0: Int64 = 1000 * hour
        let addedFirst = s.add("192.0.2.1", meta, time: t0, now: t0)
        #expect(addedFirst)
        let addedSecond = s.add("192.0.2.2", meta, time: t0 + 2 * hour, now: t0 + 2 * hour)
        #expect(addedSecond)
        var domain = meta
        domain.type = .domain
        let addedDomain = s.add("Bad.Example", domain, time: t0 + 2 * hour, now: t0 + 2 * hour)
        #expect(addedDomain)
        #expect(s.match(ip: IPAddress("192.0.2.1")!)?.firstSeen == Timestamp(nanoseconds: t0))
        #expect(s.match("bad.example.", type: .domain) != nil)
        s.advance(to: t0 + 3 * hour + hour / 2)
        #expect(s.match(ip: IPAddress("192.0.2.1")!) != nil)  // 3.5 h old: still inside its generation's lifetime
        s.advance(to: t0 + 4 * hour)
        #expect(s.match(ip: IPAddress("192.0.2.1")!) == nil)  // its generation dropped out
        #expect(s.match(ip: IPAddress("192.0.2.2")!) != nil)
        s.advance(to: t0 + 6 * hour)
        #expect(s.match(ip: IPAddress("192.0.2.2")!) == nil)
        #expect(s.match("bad.example", type: .domain) == nil)
        #expect(s.count == 0)
        // Already expired on arrival.
        let addedLate = s.add("192.0.2.3", meta, time: t0, now: t0 + 6 * hour)
        #expect(!addedLate)
        #expect(s.expiredOnArrival == 1)
    }

    @Test func indicatorsFromATopicFlagEventsWithoutAReloadAndExpire() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let set = try loadSet(["ti.yaml": """
            kind: threat_intel
            topic: indicators
            lifetime: 2h
            generations: 2
            lookups: [destination.ip, url.domain]
            """], in: dir)
        let log = try EmbeddedLog(dataDirectory: dir.file("data"))
        let producer = try log.producer(topic: "indicators")
        let hour: Int64 = 3_600_000_000_000
        let t0: Int64 = 500_000 * hour
        try producer.send(key: nil, value: Array(#"{"type":"ip","value":"192.0.2.9","provider":"stream-feed"}"#.utf8), timestamp: t0)
        try producer.send(key: Array("bad.example".utf8), value: Array(#"{"type":"domain"}"#.utf8), timestamp: t0 + hour)
        try producer.send(key: nil, value: Array(#"{"type":"url","value":"x"}"#.utf8), timestamp: t0)
        try producer.flush()
        let feeder = TopicFeeder(set: set, log: log)
        #expect(try feeder.catchUp(now: t0 + hour) == 3)
        #expect(feeder.recordsRejected == 1)
        var enricher = set.makeEnricher()
        var e = try event(#"{"destination":{"ip":"192.0.2.9"}}"#)
        enricher.enrich(&e)
        #expect(e["threat.indicator.provider"] == .string("stream-feed"))
        #expect(e["threat.indicator.first_seen"] == .timestamp(Timestamp(nanoseconds: t0)))
        var d = try event(#"{"url":{"domain":"BAD.example"}}"#)
        enricher.enrich(&d)
        #expect(d["threat.indicator.domain"] == .string("bad.example"))
        // Two hours later the first generation is gone; the domain (one hour younger) stays.
        set.publish(now: t0 + 2 * hour)
        var later = try event(#"{"destination":{"ip":"192.0.2.9"}}"#)
        enricher.enrich(&later)
        #expect(later["threat.indicator.ip"] == nil)
        var d2 = try event(#"{"url":{"domain":"bad.example"}}"#)
        enricher.enrich(&d2)
        #expect(d2["threat.indicator.domain"] == .string("bad.example"))
        try producer.close()
        log.close()
    }
}
