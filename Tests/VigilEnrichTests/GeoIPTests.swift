import Foundation
import Testing
import VigilCore
import VigilEnrich
import VigilTestSupport

/// Lookups in MaxMind's test databases against the JSON sources they were built from.
@Suite struct GeoIPTests {
    static var directory: String? { sharedDataDirectory().map { $0 + "/geoip" } }

    /// The JSON source as (network, record) pairs; `::a.b.c.d/n` networks (IPv4 in the IPv6 tree)
    /// become `a.b.c.d/(n-96)`. Networks listed twice are left out (ambiguous).
    static func oracle(_ file: String) throws -> [(IPNetwork, [String: Any])] {
        let data = try Data(contentsOf: URL(fileURLWithPath: file))
        let list = try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
        var out: [(IPNetwork, [String: Any])] = []
        var seen: [String: Int] = [:]
        for entry in list { for key in entry.keys { seen[key, default: 0] += 1 } }
        for entry in list {
            for (key, value) in entry where seen[key] == 1 {
                let parts = key.split(separator: "/")
                let length = Int(parts[1])!
                var network: IPNetwork
                if parts[0].hasPrefix("::"), parts[0].contains("."), length >= 96 {
                    network = IPNetwork(address: IPAddress(String(parts[0].dropFirst(2)))!, prefixLength: length - 96)!
                } else {
                    network = IPNetwork(key)!
                }
                out.append((network, value as? [String: Any] ?? [:]))
            }
        }
        return out
    }

    static func probes(_ oracle: [(IPNetwork, [String: Any])]) -> [(IPAddress, [String: Any])] {
        var out: [(IPAddress, [String: Any])] = []
        for (network, _) in oracle {
            // The network's first address and one inside it.
            var addresses = [network.address]
            if network.address.isV4, network.prefixLength < 32 {
                addresses.append(IPAddress(v4: UInt32(truncatingIfNeeded: network.address.low) | 1))
            } else if !network.address.isV4, network.prefixLength < 128 {
                addresses.append(IPAddress(v6High: network.address.high, low: network.address.low | 1))
            }
            for ip in addresses {
                let best = oracle.filter { $0.0.contains(ip) }.max { $0.0.prefixLength < $1.0.prefixLength }
                if let best { out.append((ip, best.1)) }
            }
        }
        return out
    }

    @Test func cityLookupsMatchTheJSONSource() throws {
        guard let dir = Self.directory else { print("skipped GeoIP city test: ../shared/data is absent"); return }
        let db = try GeoIPDatabase(path: dir + "/GeoIP2-City-Test.mmdb")
        #expect(db.databaseType == "GeoIP2-City")
        let probes = Self.probes(try Self.oracle(dir + "/GeoIP2-City-Test.json"))
        #expect(probes.count > 400)
        var compared = 0
        for (ip, record) in probes {
            let city = (record["city"] as? [String: Any])?["names"].flatMap { ($0 as? [String: Any])?["en"] as? String }
            let country = record["country"] as? [String: Any]
            let iso = country?["iso_code"] as? String
            let countryName = (country?["names"] as? [String: Any])?["en"] as? String
            let location = record["location"] as? [String: Any]
            let lat = (location?["latitude"] as? NSNumber)?.doubleValue
            let lon = (location?["longitude"] as? NSNumber)?.doubleValue
            let expected = GeoRecord(cityName: city, countryISOCode: iso, countryName: countryName, latitude: lat, longitude: lon)
            let got = db.geo(ip) ?? GeoRecord()
            #expect(got == expected, "\(ip)")
            compared += 1
        }
        #expect(compared == probes.count)
        #expect(db.geo(IPAddress("81.2.69.142")!)?.cityName == "London")
        #expect(db.geo(IPAddress("10.0.0.1")!) == nil)
    }

    @Test func asnLookupsMatchTheJSONSource() throws {
        guard let dir = Self.directory else { print("skipped GeoIP ASN test: ../shared/data is absent"); return }
        let db = try GeoIPDatabase(path: dir + "/GeoLite2-ASN-Test.mmdb")
        let probes = Self.probes(try Self.oracle(dir + "/GeoLite2-ASN-Test.json"))
        #expect(probes.count > 1000)
        for (ip, record) in probes {
            let expected = ASRecord(number: (record["autonomous_system_number"] as? NSNumber)?.int64Value,
                                    organization: record["autonomous_system_organization"] as? String)
            #expect(db.asn(ip) ?? ASRecord() == expected, "\(ip)")
        }
    }

    @Test func enricherWritesECSGeoAndASFields() throws {
        guard let dir = Self.directory else { print("skipped GeoIP enrichment test: ../shared/data is absent"); return }
        let tmp = try TemporaryDirectory()
        defer { tmp.remove() }
        let set = try loadSet(["geo.yaml": """
            kind: geoip
            city_database: \(dir)/GeoIP2-City-Test.mmdb
            asn_database: \(dir)/GeoLite2-ASN-Test.mmdb
            lookups: [source.ip, destination.ip]
            """], in: tmp)
        var enricher = set.makeEnricher()
        for _ in 0..<3 {  // the second and third pass hit the decoded-record caches
            var e = try event(#"{"source":{"ip":"81.2.69.142"},"destination":{"ip":"2001:480:10::1"}}"#)
            enricher.enrich(&e)
            #expect(e["source.geo.city_name"] == .string("London"))
            #expect(e["source.geo.country_iso_code"] == .string("GB"))
            #expect(e["source.geo.country_name"] == .string("United Kingdom"))
            #expect(e["source.geo.location.lat"] == .float(51.5142))
            #expect(e["source.geo.location.lon"] == .float(-0.0931))
            #expect(e["source.as.number"] == nil)  // not in the ASN test database
            #expect(e["destination.geo.city_name"] == .string("San Diego"))
            var both = try event(#"{"source":{"ip":"89.160.20.115"}}"#)
            enricher.enrich(&both)
            #expect(both["source.geo.city_name"] == .string("Linköping"))
            #expect(both["source.geo.country_name"] == .string("Sweden"))
            #expect(both["source.as.number"] == .int(29518))
            #expect(both["source.as.organization.name"] == .string("Bredband2 AB"))
        }
    }

    @Test func notADatabaseIsAClearError() throws {
        let tmp = try TemporaryDirectory()
        defer { tmp.remove() }
        try write("not a database", to: tmp.file("x.mmdb"))
        let error = #expect(throws: EnrichmentError.self) { try GeoIPDatabase(path: tmp.file("x.mmdb")) }
        #expect(error?.code == .geoip)
        #expect(error?.description.hasPrefix(tmp.file("x.mmdb") + ": not a MaxMind DB") == true, "\(String(describing: error))")
    }
}
