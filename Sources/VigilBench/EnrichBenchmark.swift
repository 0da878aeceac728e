import Foundation
import VigilCore
import VigilEnrich
#if canImport(Glibc)
import Glibc
#endif

/// `vigil bench enrich`: events enriched per second on one thread with three lookups per event:
/// an asset table of 100k addresses (source.ip), 10k network zones by longest prefix
/// (destination.ip), and GeoIP city/country of destination.ip from MaxMind's test database (or,
/// when it is absent, a threat-intel set of 100k indicators). Tables are written as files and
/// loaded through the same configs and loaders as `vigil run`.
public struct EnrichBenchmark {
    public struct Options: Sendable {
        /// Where the generated tables go (removed afterwards).
        public var directory: String
        /// MaxMind's GeoIP2-City-Test.mmdb directory; nil or missing: threat intel instead.
        public var geoipDirectory: String?
        public var events = 5_000_000
        public var assets = 100_000
        public var zones = 10_000
        public init(directory: String, geoipDirectory: String?) {
            self.directory = directory
            self.geoipDirectory = geoipDirectory
        }
    }

    public struct Result: Sendable {
        public var events: Int
        public var seconds: Double
        public var eventsPerSecond: Double { Double(events) / seconds }
        /// Lookups made per event (fields present and looked up, counted by the enrichments).
        public var lookupsPerEvent: Double
        /// Share of lookups that hit.
        public var hitRate: Double
        /// The three lookups, by enrichment kind.
        public var lookups: [String]
        public var loadSeconds: Double
        public var cores: Int
    }

    public let options: Options
    let progress: (String) -> Void

    public init(options: Options, progress: @escaping (String) -> Void = { _ in }) {
        self.options = options
        self.progress = progress
    }

    public func run() throws -> Result {
        let dir = options.directory
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var rng = BenchRandom(seed: 42)

        // 100k assets in 10.0.0.0/8, 10k zones of /16–/28 in 10.0.0.0/8 and 172.16.0.0/12 (and a default).
        var assets = "ip,hostname,owner,criticality\n"
        var assetIPs: [UInt32] = []
        assetIPs.reserveCapacity(options.assets)
        for i in 0..<options.assets {
            let ip = 0x0A00_0000 | UInt32(truncatingIfNeeded: rng.next()) & 0x00FF_FFFF
            assetIPs.append(ip)
            assets += "\(IPAddress(v4: ip)),host-\(i),team-\(i % 97),\(i % 5 + 1)\n"
        }
        var zones = "network,zone,site\n0.0.0.0/0,internet,\n"
        let lengths = [16, 20, 22, 24, 26, 28]
        for i in 0..<options.zones {
            let base: UInt32 = i % 3 == 0 ? 0xAC10_0000 | (UInt32(truncatingIfNeeded: rng.next()) & 0x000F_FFFF)
                                          : 0x0A00_0000 | (UInt32(truncatingIfNeeded: rng.next()) & 0x00FF_FFFF)
            zones += "\(IPNetwork(address: IPAddress(v4: base), prefixLength: lengths[i % lengths.count])!),zone-\(i),site-\(i % 13)\n"
        }
        try assets.write(toFile: dir + "/assets.csv", atomically: false, encoding: .utf8)
        try zones.write(toFile: dir + "/zones.csv", atomically: false, encoding: .utf8)
        try """
            kind: table
            file: assets.csv
            key: ip
            key_type: ip
            columns: { hostname: hostname, owner: owner, criticality: { as: criticality, type: int } }
            lookups: [{ field: source.ip, target: source.asset }]
            """.write(toFile: dir + "/1-assets.yaml", atomically: false, encoding: .utf8)
        try """
            kind: cidr
            file: zones.csv
            columns: [zone, site]
            lookups: [{ field: destination.ip, target: destination.network }]
            """.write(toFile: dir + "/2-zones.yaml", atomically: false, encoding: .utf8)

        // Destinations: public addresses, a quarter of them in networks the GeoIP test database knows.
        let known: [UInt32] = ["81.2.69.142", "89.160.20.112", "216.160.83.56", "2.125.160.216", "175.16.199.5", "67.43.156.3"]
            .map { UInt32(truncatingIfNeeded: IPAddress($0)!.low) }
        var third = "geoip"
        let city = options.geoipDirectory.map { d in
            (d.hasPrefix("/") ? d : FileManager.default.currentDirectoryPath + "/" + d) + "/GeoIP2-City-Test.mmdb"
        }
        if let city, FileManager.default.fileExists(atPath: city) {
            try """
                kind: geoip
                city_database: \(city)
                lookups: [destination.ip]
                """.write(toFile: dir + "/3-geoip.yaml", atomically: false, encoding: .utf8)
        } else {
            third = "threat_intel"
            var ips = ""
            for _ in 0..<100_000 { ips += "\(IPAddress(v4: UInt32(truncatingIfNeeded: rng.next())))\n" }
            for k in known { ips += "\(IPAddress(v4: k))\n" }
            try ips.write(toFile: dir + "/bad-ips.txt", atomically: false, encoding: .utf8)
            try """
                kind: threat_intel
                feeds: [{ file: bad-ips.txt, type: ip }]
                lookups: [destination.ip]
                """.write(toFile: dir + "/3-threat-intel.yaml", atomically: false, encoding: .utf8)
        }

        progress("loading \(options.assets) assets, \(options.zones) zones and \(third)")
        let t0 = BenchClock.now()
        let set = try EnrichmentSet.load(path: dir)
        let loadSeconds = BenchClock.now() - t0

        // 64k prepared address pairs: half the sources are assets; destinations mix zones and GeoIP hits.
        let count = 1 << 16
        var sources: [IPAddress] = []
        var destinations: [IPAddress] = []
        for i in 0..<count {
            sources.append(IPAddress(v4: i % 2 == 0 ? assetIPs[Int(rng.next() % UInt64(assetIPs.count))]
                                                  : 0x0A00_0000 | UInt32(truncatingIfNeeded: rng.next()) & 0x00FF_FFFF))
            switch i % 4 {
            case 0: destinations.append(IPAddress(v4: known[Int(rng.next() % UInt64(known.count))] ^ UInt32(rng.next() & 1)))
            case 1: destinations.append(IPAddress(v4: 0x0A00_0000 | UInt32(truncatingIfNeeded: rng.next()) & 0x00FF_FFFF))
            case 2: destinations.append(IPAddress(v4: 0xAC10_0000 | UInt32(truncatingIfNeeded: rng.next()) & 0x000F_FFFF))
            default: destinations.append(IPAddress(v4: UInt32(truncatingIfNeeded: rng.next())))
            }
        }

        var enricher = set.makeEnricher()
        var event = Event()
        let mask = count - 1
        // Warm up (caches, branch predictors), then measure.
        for i in 0..<200_000 {
            event.removeAll()
            event[.sourceIP] = .ip(sources[i & mask])
            event[.destinationIP] = .ip(destinations[i & mask])
            enricher.enrich(&event)
        }
        enricher.flushMetrics()
        let before = set.metrics.map { ($0.lookups.count, $0.hits.count) }
        progress("enriching \(options.events) events on one thread")
        let start = BenchClock.now()
        var checksum = 0
        for i in 0..<options.events {
            event.removeAll()
            event[.sourceIP] = .ip(sources[i & mask])
            event[.destinationIP] = .ip(destinations[i & mask])
            enricher.enrich(&event)
            checksum &+= event.count
        }
        let seconds = BenchClock.now() - start
        enricher.flushMetrics()
        precondition(checksum > 0)
        var lookups: Int64 = 0, hits: Int64 = 0
        for (m, b) in zip(set.metrics, before) {
            lookups += m.lookups.count - b.0
            hits += m.hits.count - b.1
        }
        return Result(events: options.events, seconds: seconds, lookupsPerEvent: Double(lookups) / Double(options.events),
                      hitRate: lookups > 0 ? Double(hits) / Double(lookups) : 0, lookups: ["table", "cidr", third],
                      loadSeconds: loadSeconds, cores: ProcessInfo.processInfo.activeProcessorCount)
    }
}

/// SplitMix64, for reproducible inputs.
struct BenchRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
