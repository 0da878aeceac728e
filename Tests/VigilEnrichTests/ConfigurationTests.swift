import Foundation
import Testing
import VigilCore
import VigilEnrich
import VigilTestSupport

@Suite struct EnrichmentConfigurationTests {
    @Test func unknownKeyIsAnErrorWithPosition() throws {
        let yaml = "kind: table\nfile: a.csv\nkey: ip\nlookpus: []\n"
        let error = #expect(throws: EnrichmentError.self) { try EnrichmentDefinition.parse(yaml: yaml, file: "/x/assets.yaml") }
        #expect(error?.code == .configuration)
        #expect(error?.description.hasPrefix("/x/assets.yaml:4:1: unknown key 'lookpus'") == true, "\(String(describing: error))")
        #expect(error?.description.contains("did you mean 'lookups'") == true)
    }

    @Test(arguments: [
        ("kind: tabel\n", "invalid value 'tabel'"),
        ("kind: table\nfile: a.csv\nlookups: [source.ip]\n", "missing required key 'key'"),
        ("kind: table\nfile: a.csv\nkey: ip\nlookups: [source.ip]\n", "needs 'target'"),
        ("kind: geoip\nlookups: [source.ip]\n", "city_database, asn_database or both"),
        ("kind: threat_intel\nlookups: [source.ip]\n", "'feeds', a 'topic' or both"),
        ("kind: threat_intel\ntopic: t\nlifetime: 1h\nlookups: [user.name]\n", "cannot tell the indicator type"),
        ("kind: threat_intel\ntopic: t\nlookups: [source.ip]\n", "missing required key 'lifetime'"),
        ("kind: cidr\nfile: z.csv\ndelimiter: ab\nlookups: [{field: source.ip, target: s}]\n", "delimiter"),
        ("kind: changelog\ntopic: dhcp\nkey_type: mac\nlookups: [{field: source.ip, target: s}]\n", "invalid value 'mac'"),
        ("kind: table\nfile: a.csv\nkey: k\nlookups: []\n", "at least one lookup"),
    ])
    func invalidConfigurations(yaml: String, message: String) {
        let error = #expect(throws: EnrichmentError.self) { try EnrichmentDefinition.parse(yaml: yaml, file: "e.yaml") }
        #expect(error?.description.contains(message) == true, "\(String(describing: error))")
        #expect(error?.line ?? 0 > 0)
    }

    @Test func defaultsAndPaths() throws {
        let d = try EnrichmentDefinition.parse(yaml: """
            kind: geoip
            city_database: db/City.mmdb
            lookups: [source.ip, {field: client.ip, target: client}]
            """, file: "/etc/vigil/enrichment/geo.yaml")
        #expect(d.name == "geo")
        #expect(d.optional == false)
        #expect(d.reloadInterval == 1_000_000_000)
        guard case .geoip(let g) = d.source else { Issue.record("kind"); return }
        #expect(g.cityDatabase == "/etc/vigil/enrichment/db/City.mmdb")
        #expect(d.lookups.map(\.target) == ["source", "client"])
    }

    @Test func shippedExamplesLoad() throws {
        let set = try EnrichmentSet.load(path: repositoryRoot() + "/enrichment")
        let names = set.definitions.map(\.name)
        for name in ["assets", "dhcp", "threat-intel", "users", "zones"] { #expect(names.contains(name)) }
        // The shipped geoip.yaml points at ../shared/data/geoip beside the repository.
        if FileManager.default.fileExists(atPath: repositoryRoot() + "/../shared/data/geoip/GeoIP2-City-Test.mmdb") {
            #expect(names.contains("geoip"))
        } else {
            print("skipped the GeoIP example: ../shared/data/geoip is absent beside the repository")
            #expect(set.warnings.count == 1)
        }
        var e = try EventJSON.decode(#"{"source":{"ip":"10.0.1.10"},"destination":{"ip":"203.0.113.66"},"user":{"name":"ALICE"}}"#)
        var enricher = set.makeEnricher()
        enricher.enrich(&e)
        #expect(e["source.asset.hostname"] == .string("db-01"))
        #expect(e["source.asset.criticality"] == .int(5))
        #expect(e["source.network.zone"] == .string("database"))
        #expect(e["destination.network.zone"] == .string("internet"))
        #expect(e["user.email"] == .string("alice@example.com"))
        #expect(e["threat.indicator.ip"] == .ip(IPAddress("203.0.113.66")!))
        #expect(e["threat.indicator.confidence"] == .string("high"))
    }

    @Test func missingDatabaseNamesTheFileUnlessOptional() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let yaml = "kind: geoip\ncity_database: nowhere/City.mmdb\nlookups: [source.ip]\n"
        let error = #expect(throws: EnrichmentError.self) { try loadSet(["geo.yaml": yaml], in: dir) }
        #expect(error?.code == .unreadable)
        #expect(error?.description.contains("\(dir.path)/nowhere/City.mmdb") == true, "\(String(describing: error))")
        let set = try loadSet(["geo.yaml": "optional: true\n" + yaml], in: dir)
        #expect(set.definitions.isEmpty)
        #expect(set.warnings.first?.contains("nowhere/City.mmdb") == true)
    }

    @Test func duplicateNamesAreRejected() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let yaml = "name: same\nkind: changelog\ntopic: t\nlookups: [{field: source.ip, target: s}]\n"
        let error = #expect(throws: EnrichmentError.self) { try loadSet(["a.yaml": yaml, "b.yaml": yaml], in: dir) }
        #expect(error?.description.contains("also used by") == true)
    }
}
