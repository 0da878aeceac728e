import Foundation
import Testing
import VigilCore
import VigilEnrich
import VigilTestSupport

@Suite struct TableTests {
    static let config = """
        kind: table
        file: hosts.csv
        key: ip
        key_type: ip
        columns: { host: hostname, crit: { as: criticality, type: int } }
        reload_interval: 0s
        lookups:
          - { field: source.ip, target: source.asset }
          - { field: destination.ip, target: destination.asset }
        """

    @Test func csvTableEnrichesIPFieldsAndText() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let set = try loadSet(["hosts.yaml": Self.config,
                               "hosts.csv": "ip,host,crit\n10.0.0.1,alpha,3\r\n\"10.0.0.2\",\"be,ta\",\n2001:db8::1,\"six \"\"v6\"\"\",4\n"], in: dir)
        let e = try enrich(set, #"{"source":{"ip":"10.0.0.2"},"destination":{"ip":"2001:db8::1"}}"#)
        #expect(e["source.asset.hostname"] == .string("be,ta"))
        #expect(e["source.asset.criticality"] == nil)  // empty cell: no field
        #expect(e["destination.asset.hostname"] == .string("six \"v6\""))
        #expect(e["destination.asset.criticality"] == .int(4))
        // A string field holding an address matches too; an unknown address does not.
        var custom = Event()
        custom["source.ip"] = .string("10.0.0.1")
        custom["destination.ip"] = .ip(IPAddress("10.9.9.9")!)
        var enricher = set.makeEnricher()
        enricher.enrich(&custom)
        enricher.flushMetrics()
        #expect(custom["source.asset.hostname"] == .string("alpha"))
        #expect(custom["destination.asset.hostname"] == nil)
        let m = try #require(set.metrics.first)
        #expect(m.lookups.count == 4 && m.hits.count == 3 && m.misses.count == 1)
    }

    @Test func jsonTablesLinesAndArrayWithCaseFolding() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let lines = """
            kind: table
            file: users.jsonl
            key: name
            case_insensitive: true
            lookups: [{ field: user.name, target: user }]
            """
        let array = """
            kind: table
            file: groups.json
            key: id
            lookups: [{ field: group.id, target: group }]
            """
        let set = try loadSet([
            "a.yaml": lines, "b.yaml": array,
            "users.jsonl": #"{"name":"Alice","email":"a@x","org":{"unit":"eng"}}"# + "\n\n" + #"{"name":"bob","email":"b@x"}"# + "\n",
            "groups.json": #"[{"id":"g1","name":"admins","size":3},{"id":"g2","name":"ops"}]"#,
        ], in: dir)
        let e = try enrich(set, #"{"user":{"name":"ALICE"},"group":{"id":"g1"}}"#)
        #expect(e["user.email"] == .string("a@x"))
        #expect(e["user.org.unit"] == .string("eng"))
        #expect(e["group.name"] == .string("admins"))
        #expect(e["group.size"] == .int(3))
        #expect(set.table(named: "b")?.lookup("g2")?.first?.1 == .string("ops"))
    }

    @Test func reloadSwapsSnapshotAndKeepsItOnFailure() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let set = try loadSet(["hosts.yaml": Self.config, "hosts.csv": "ip,host,crit\n10.0.0.1,alpha,1\n"], in: dir)
        var enricher = set.makeEnricher()
        func host(_ ip: String) throws -> FieldValue? {
            var e = try event(#"{"source":{"ip":"\#(ip)"}}"#)
            enricher.enrich(&e)
            return e["source.asset.hostname"]
        }
        #expect(try host("10.0.0.1") == .string("alpha"))
        #expect(set.reloadIfChanged().isEmpty)  // unchanged: nothing to do
        try write("ip,host,crit\n10.0.0.1,alpha-renamed,1\n10.0.0.7,gamma,2\n", to: dir.file("hosts.csv"))
        #expect(set.reloadIfChanged().isEmpty)
        #expect(try host("10.0.0.1") == .string("alpha-renamed"))
        #expect(try host("10.0.0.7") == .string("gamma"))
        #expect(set.metrics[0].reloads.count == 1)

        // A broken file: the error names file and line; the previous snapshot stays.
        try write("ip,host,crit\n10.0.0.1,delta,1\nnot-an-ip,x,1\n", to: dir.file("hosts.csv"))
        let errors = set.reloadIfChanged()
        #expect(errors.count == 1)
        #expect(errors.first?.description == "\(dir.file("hosts.csv")):3: the key column 'ip' is not an IP address")
        #expect(try host("10.0.0.1") == .string("alpha-renamed"))
        #expect(set.metrics[0].reloadFailures.count == 1)
        #expect(set.metrics[0].lastError?.contains("hosts.csv:3") == true)
        // Not retried until the file changes again.
        #expect(set.reloadIfChanged().isEmpty)
        try write("ip,host,crit\n10.0.0.1,fixed,1\n", to: dir.file("hosts.csv"))
        #expect(set.reloadIfChanged().isEmpty)
        #expect(try host("10.0.0.1") == .string("fixed"))
    }

    @Test func reloadIntervalLimitsChecks() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let config = Self.config.replacingOccurrences(of: "reload_interval: 0s", with: "reload_interval: 10s")
        let set = try loadSet(["hosts.yaml": config, "hosts.csv": "ip,host,crit\n10.0.0.1,a,1\n"], in: dir)
        let t0: Int64 = 1_000_000_000_000
        set.reloadIfChanged(now: t0)
        try write("ip,host,crit\n10.0.0.1,b,1\n", to: dir.file("hosts.csv"))
        set.reloadIfChanged(now: t0 + 5_000_000_000)
        #expect(set.table(named: "hosts")?.lookup("10.0.0.1")?.first?.1 == .string("a"))
        set.reloadIfChanged(now: t0 + 10_000_000_000)
        #expect(set.table(named: "hosts")?.lookup("10.0.0.1")?.first?.1 == .string("b"))
    }

    @Test(arguments: [
        ("ip,host,crit\n10.0.0.1,a\n", ":2: expected 3 fields as in the header, found 2"),
        ("ip,host,crit\n10.0.0.1,\"a,1\n", ":2: unterminated quoted field"),
        ("ip,host,crit\n10.0.0.1,\"a\"b,1\n", ":2: unexpected character after the closing quote"),
        ("ip,host,crit\n10.0.0.1,a,high\n", ":2: column 'crit' is not an integer"),
        ("addr,host,crit\n", ":1: no key column 'ip' in the header"),
        ("", "the file is empty"),
    ])
    func badTablesFailLoadingWithTheLine(csv: String, message: String) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let error = #expect(throws: EnrichmentError.self) { try loadSet(["hosts.yaml": Self.config, "hosts.csv": csv], in: dir) }
        #expect(error?.code == .data)
        #expect(error?.description.contains("hosts.csv" + message) == true || error?.description.contains(message) == true,
                "\(String(describing: error))")
    }
}
