import Testing
import VigilCore
import VigilEnrich
import VigilTestSupport

@Suite struct CIDRTests {
    static let config = """
        kind: cidr
        file: zones.csv
        lookups: [{ field: source.ip, target: zone }]
        """

    @Test func longestPrefixWinsForOverlappingNetworks() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let set = try loadSet(["zones.yaml": Self.config, "zones.csv": """
            network,name
            0.0.0.0/0,v4-default
            10.0.0.0/8,ten
            10.1.0.0/16,ten-one
            10.1.2.0/24,ten-one-two
            10.1.2.3/32,host
            10.1.2.128/25,upper-half
            ::/0,v6-default
            2001:db8::/32,doc
            2001:db8:1::/48,doc-1
            2001:db8:1:2::/64,doc-1-2
            2001:db8:1:2::1/128,v6-host
            ::ffff:0:0/96,mapped
            """], in: dir)
        let table = try #require(set.table(named: "zones"))
        let cases: [(String, String)] = [
            ("10.1.2.3", "host"), ("10.1.2.4", "ten-one-two"), ("10.1.2.200", "upper-half"), ("10.1.3.1", "ten-one"),
            ("10.200.0.1", "ten"), ("11.0.0.1", "v4-default"), ("2001:db8:1:2::1", "v6-host"), ("2001:db8:1:2::2", "doc-1-2"),
            ("2001:db8:1:3::1", "doc-1"), ("2001:db8:2::1", "doc"), ("2001:db9::1", "v6-default"), ("::ffff:10.1.2.3", "mapped"),
        ]
        for (ip, zone) in cases {
            #expect(table.lookup(IPAddress(ip)!)?.first?.1 == .string(zone), "\(ip)")
        }
        let e = try enrich(set, #"{"source":{"ip":"10.1.2.77"}}"#)
        #expect(e["zone.name"] == .string("ten-one-two"))
    }

    @Test func randomNetworksAgreeWithALinearScan() throws {
        var rng = SplitMix64(seed: 7)
        var lines = ["network,name"]
        var networks: [(IPNetwork, String)] = []
        for i in 0..<400 {
            let v4 = rng.next() % 2 == 0
            let length = Int(rng.next() % (v4 ? 33 : 129))
            let ip = v4 ? IPAddress(v4: UInt32(truncatingIfNeeded: rng.next()) & 0x0F0F_FFFF)
                        : IPAddress(v6High: 0x2001_0DB8_0000_0000 | (rng.next() & 0xFFFF_FFFF), low: rng.next())
            let network = IPNetwork(address: ip, prefixLength: length)!
            if networks.contains(where: { $0.0 == network }) { continue }
            networks.append((network, "n\(i)"))
            lines.append("\(network),n\(i)")
        }
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let set = try loadSet(["zones.yaml": Self.config, "zones.csv": lines.joined(separator: "\n")], in: dir)
        let table = try #require(set.table(named: "zones"))
        for _ in 0..<3000 {
            // Addresses near the networks: a network's address with random low bits.
            let (base, _) = networks[Int(rng.next() % UInt64(networks.count))]
            let ip = base.address.isV4
                ? IPAddress(v4: UInt32(truncatingIfNeeded: base.address.low) ^ UInt32(truncatingIfNeeded: rng.next() & 0xFF))
                : IPAddress(v6High: base.address.high ^ (rng.next() & 0xF), low: base.address.low ^ rng.next())
            let expected = networks.filter { $0.0.contains(ip) }.max { $0.0.prefixLength < $1.0.prefixLength }?.1
            #expect(table.lookup(ip)?.first?.1 == expected.map { .string($0) }, "\(ip)")
        }
    }
}
