import VigilCore
import VigilSketch

/// The Bloom filter in front of each indicator set: `VigilSketch.BloomFilter`, probed with the
/// 64-bit hash the exact sets use (computed once per lookup and shared by every generation).
typealias IndicatorBloom = BloomFilter

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where an indicator came from and what to say when it matches.
public struct IndicatorMetadata: Sendable, Equatable {
    public var type: EnrichmentDefinition.IndicatorType
    /// The indicator as normalized (`1.2.3.4`, `10.0.0.0/8`, `evil.example`, lowercase hex).
    public var value: String
    public var provider: String?
    public var confidence: String?
    public var description: String?
    /// When a streamed indicator arrived (record time); nil for feed files.
    public var firstSeen: Timestamp?

    public init(type: EnrichmentDefinition.IndicatorType, value: String, provider: String? = nil, confidence: String? = nil,
                description: String? = nil, firstSeen: Timestamp? = nil) {
        self.type = type
        self.value = value
        self.provider = provider
        self.confidence = confidence
        self.description = description
        self.firstSeen = firstSeen
    }
}

/// Indicators of every type, each type behind one Bloom filter with exact confirmation: a
/// possible member according to the Bloom filter is only reported after the exact set (a hash
/// table of the normalized bytes, or of the address) confirms it, so Bloom false positives never
/// flag an event. CIDR indicators go to a longest-prefix table (exact by construction).
struct IndicatorSet: Sendable {
    private(set) var bloom: IndicatorBloom
    private var addresses = PrefixTable()
    private var networks = PrefixTable()
    private var domains = ByteTable(capacity: 0)
    private var hashes = ByteTable(capacity: 0)
    private(set) var metadata: [IndicatorMetadata] = []
    /// Indicators added.
    private(set) var count = 0

    init(expectedItems: Int, falsePositiveRate: Double) {
        bloom = IndicatorBloom(expectedItems: max(expectedItems, 16), falsePositiveRate: falsePositiveRate)
    }

    static let domainSalt: UInt64 = 0x5851_F42D_4C95_7F2D
    static let hashSalt: UInt64 = 0x1405_7B7E_F767_814F

    @inline(__always)
    static func addressHash(_ ip: IPAddress) -> UInt64 { KeyHash.address(ip.high, ip.low, ip.isV4 ? 32 : 192) }

    @inline(__always)
    static func bytesHash(_ bytes: UnsafeRawBufferPointer, salt: UInt64) -> UInt64 { KeyHash.mix(KeyHash.bytes(bytes) ^ salt) }

    /// Adds one indicator given as text; returns false when the text is not a valid indicator of
    /// `metadata.type`. An indicator added again gets the newer metadata.
    @discardableResult
    mutating func add(_ text: String, _ metadata: IndicatorMetadata) -> Bool {
        var m = metadata
        let trimmed = text.trimmingSpaces
        guard !trimmed.isEmpty else { return false }
        let index = Int32(self.metadata.count)
        switch metadata.type {
        case .ip, .cidr:
            if let ip = IPAddress(trimmed) {
                m.type = .ip
                m.value = ip.description
                bloom.insert(hash: Self.addressHash(ip))
                addresses.insert(address: ip, value: index)
            } else if let network = IPNetwork(trimmed) {
                m.type = .cidr
                m.value = network.description
                networks.insert(network, value: index)
            } else {
                return false
            }
        case .domain:
            let bytes = KeyFolding.domain.normalize(trimmed)
            guard !bytes.isEmpty, bytes.allSatisfy({ $0 > 0x20 && $0 != 0x7F }) else { return false }
            m.value = String(decoding: bytes, as: UTF8.self)
            bytes.withUnsafeBytes { b in
                bloom.insert(hash: Self.bytesHash(b, salt: Self.domainSalt))
                domains.insert(b, row: index)
            }
        case .hash:
            let bytes = KeyFolding.caseInsensitive.normalize(trimmed)
            guard bytes.count >= 8, bytes.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }) else { return false }
            m.value = String(decoding: bytes, as: UTF8.self)
            bytes.withUnsafeBytes { b in
                bloom.insert(hash: Self.bytesHash(b, salt: Self.hashSalt))
                hashes.insert(b, row: index)
            }
        }
        self.metadata.append(m)
        count += 1
        return true
    }

    /// The metadata index of an indicator matching `ip` (the address itself, else the longest
    /// CIDR indicator containing it), after the Bloom check; `hash` is ``addressHash(_:)``.
    @inline(__always)
    func match(ip: IPAddress, hash: UInt64, falsePositives: inout Int) -> Int32? {
        if bloom.mayContain(hash: hash) {
            if let m = addresses.longestMatch(ip) { return m }
            falsePositives += 1
        }
        return networks.longestMatch(ip)
    }

    /// The metadata index of normalized domain `bytes`, or nil.
    @inline(__always)
    func match(domain bytes: UnsafeRawBufferPointer, hash: UInt64, falsePositives: inout Int) -> Int32? {
        guard bloom.mayContain(hash: hash) else { return nil }
        if let m = domains.row(bytes) { return m }
        falsePositives += 1
        return nil
    }

    /// The metadata index of normalized hash `bytes`, or nil.
    @inline(__always)
    func match(hash bytes: UnsafeRawBufferPointer, hash: UInt64, falsePositives: inout Int) -> Int32? {
        guard bloom.mayContain(hash: hash) else { return nil }
        if let m = hashes.row(bytes) { return m }
        falsePositives += 1
        return nil
    }

    /// Whether the Bloom filter alone would say yes (for tests of exact confirmation).
    func bloomMayContain(ip: IPAddress) -> Bool { bloom.mayContain(hash: Self.addressHash(ip)) }
}

/// Indicators from a topic that age out: the lifetime is split into `generations` time slices;
/// an indicator goes to the slice of its record time, and a slice is dropped, Bloom filter and
/// exact set at once, when it is older than the lifetime. An indicator therefore stays between
/// `lifetime − lifetime/generations` and `lifetime` after it arrived; sent again, it is renewed.
public struct StreamedIndicators: Sendable {
    struct Generation: Sendable {
        var index: Int64
        var set: IndicatorSet
    }

    public let lifetime: Int64
    public let generationCount: Int
    /// Nanoseconds per generation.
    public let width: Int64
    let expectedPerGeneration: Int
    let falsePositiveRate: Double
    /// Live generations, newest last.
    private(set) var generations: [Generation] = []
    /// The generation of the latest time seen (records or clock).
    private(set) var newest: Int64 = Int64.min
    /// Indicators dropped because they were already expired on arrival.
    public private(set) var expiredOnArrival = 0

    public init(lifetime: Int64, generations: Int, expectedPerGeneration: Int = 65_536, falsePositiveRate: Double = 0.001) {
        precondition(lifetime > 0 && generations > 0)
        self.lifetime = lifetime
        self.generationCount = generations
        self.width = max(1, lifetime / Int64(generations))
        self.expectedPerGeneration = expectedPerGeneration
        self.falsePositiveRate = falsePositiveRate
    }

    @inline(__always)
    func generation(of time: Int64) -> Int64 { time >= 0 ? time / width : (time - width + 1) / width }

    /// Moves time forward to `now` (nanoseconds): generations older than the lifetime drop out.
    public mutating func advance(to now: Int64) {
        let g = generation(of: now)
        guard g > newest else { return }
        newest = g
        generations.removeAll { $0.index <= g - Int64(generationCount) }
    }

    /// Adds an indicator seen at `time` (record time), with `now` the current time: a time in
    /// the future counts as now. Returns false when the indicator is invalid or already expired.
    @discardableResult
    public mutating func add(_ text: String, _ metadata: IndicatorMetadata, time: Int64, now: Int64) -> Bool {
        advance(to: now)
        let t = min(time, now)
        let g = generation(of: t)
        guard g > newest - Int64(generationCount) else {
            expiredOnArrival += 1
            return false
        }
        var m = metadata
        m.firstSeen = Timestamp(nanoseconds: t)
        if let i = generations.firstIndex(where: { $0.index == g }) {
            return generations[i].set.add(text, m)
        }
        var set = IndicatorSet(expectedItems: expectedPerGeneration, falsePositiveRate: falsePositiveRate)
        guard set.add(text, m) else { return false }
        let position = generations.firstIndex { $0.index > g } ?? generations.count
        generations.insert(Generation(index: g, set: set), at: position)
        return true
    }

    /// Indicators held (a renewed indicator counts once per generation holding it).
    public var count: Int { generations.reduce(0) { $0 + $1.set.count } }

    /// The metadata of a live indicator matching `ip`, newest generation first.
    public func match(ip: IPAddress) -> IndicatorMetadata? {
        var fp = 0
        let h = IndicatorSet.addressHash(ip)
        for g in generations.reversed() { if let m = g.set.match(ip: ip, hash: h, falsePositives: &fp) { return g.set.metadata[Int(m)] } }
        return nil
    }

    /// The metadata of a live indicator for domain or hash `text`, newest generation first.
    public func match(_ text: String, type: EnrichmentDefinition.IndicatorType) -> IndicatorMetadata? {
        var fp = 0
        let folding: KeyFolding = type == .domain ? .domain : .caseInsensitive
        let bytes = folding.normalize(text)
        return bytes.withUnsafeBytes { b in
            for g in generations.reversed() {
                let m: Int32?
                if type == .domain {
                    m = g.set.match(domain: b, hash: IndicatorSet.bytesHash(b, salt: IndicatorSet.domainSalt), falsePositives: &fp)
                } else {
                    m = g.set.match(hash: b, hash: IndicatorSet.bytesHash(b, salt: IndicatorSet.hashSalt), falsePositives: &fp)
                }
                if let m { return g.set.metadata[Int(m)] }
            }
            return nil
        }
    }
}

/// What a threat-intel enrichment matches against: the feeds' indicators and the streamed ones.
///
/// `Sendable`: immutable once built; a reload or a batch of streamed indicators publishes a new
/// snapshot.
public final class ThreatIntelSnapshot: Sendable {
    let feeds: IndicatorSet
    public let streamed: StreamedIndicators?

    init(feeds: IndicatorSet, streamed: StreamedIndicators?) {
        self.feeds = feeds
        self.streamed = streamed
    }

    /// Indicators from the feed files.
    public var feedCount: Int { feeds.count }

    /// The feeds' metadata index of an indicator matching `ip` (hashed to `hash` with
    /// ``IndicatorSet/addressHash(_:)``), counting Bloom false positives; the feeds are read in
    /// place (not copied, as a caller outside the class could have to).
    @inline(never)
    func matchFeeds(ip: IPAddress, hash: UInt64, falsePositives: inout Int) -> Int32? {
        feeds.match(ip: ip, hash: hash, falsePositives: &falsePositives)
    }

    /// The metadata of an indicator matching `ip` (feeds first, then streamed).
    public func match(ip: IPAddress) -> IndicatorMetadata? {
        var fp = 0
        if let m = feeds.match(ip: ip, hash: IndicatorSet.addressHash(ip), falsePositives: &fp) { return feeds.metadata[Int(m)] }
        return streamed?.match(ip: ip)
    }

    /// The metadata of an indicator matching a domain or hash.
    public func match(_ text: String, type: EnrichmentDefinition.IndicatorType) -> IndicatorMetadata? {
        if type == .ip || type == .cidr { return IPAddress(text).flatMap { match(ip: $0) } }
        var fp = 0
        let folding: KeyFolding = type == .domain ? .domain : .caseInsensitive
        let bytes = folding.normalize(text)
        let m: Int32? = bytes.withUnsafeBytes { b in
            type == .domain
                ? feeds.match(domain: b, hash: IndicatorSet.bytesHash(b, salt: IndicatorSet.domainSalt), falsePositives: &fp)
                : feeds.match(hash: b, hash: IndicatorSet.bytesHash(b, salt: IndicatorSet.hashSalt), falsePositives: &fp)
        }
        if let m { return feeds.metadata[Int(m)] }
        return streamed?.match(text, type: type)
    }

    /// Whether the feeds' Bloom filter alone says `ip` may be an indicator.
    public func feedBloomMayContain(ip: IPAddress) -> Bool { feeds.bloomMayContain(ip: ip) }
}

extension ThreatIntelSnapshot {
    /// Loads the feed files of `source` (streamed indicators start empty).
    static func loadFeeds(_ source: EnrichmentDefinition.ThreatIntelSource) throws(EnrichmentError) -> IndicatorSet {
        var entries: [(String, IndicatorMetadata)] = []
        for feed in source.feeds {
            let bytes = try DataFiles.read(feed.path)
            try bytes.withBytes { raw throws(EnrichmentError) in
                try parseFeed(raw, feed, source, into: &entries)
            }
        }
        var set = IndicatorSet(expectedItems: entries.count, falsePositiveRate: source.falsePositiveRate)
        for (text, m) in entries { set.add(text, m) }
        return set
    }

    /// Reads one feed's indicators (exposed for the fuzzer and tests).
    static func parseFeed(_ raw: UnsafeRawBufferPointer, _ feed: EnrichmentDefinition.Feed, _ source: EnrichmentDefinition.ThreatIntelSource,
                          into entries: inout [(String, IndicatorMetadata)]) throws(EnrichmentError) {
        let base = IndicatorMetadata(type: feed.type, value: "", provider: feed.provider ?? source.provider,
                                     confidence: feed.confidence ?? source.confidence, description: feed.description ?? source.description)
        func check(_ text: String, line: Int) throws(EnrichmentError) {
            var probe = IndicatorSet(expectedItems: 1, falsePositiveRate: 0.5)
            guard probe.add(text, base) else {
                throw EnrichmentError(.data, file: feed.path, line: line, "not a valid \(feed.type.rawValue) indicator")
            }
        }
        switch feed.format {
        case .lines:
            var line = 0
            var start = 0
            while start < raw.count {
                line += 1
                var end = start
                while end < raw.count && raw[end] != 0x0A { end += 1 }
                var text = String(decoding: UnsafeRawBufferPointer(rebasing: raw[start..<end]), as: UTF8.self)
                start = end + 1
                if let hash = text.firstIndex(of: "#") { text = String(text[..<hash]) }
                text = text.trimmingCharacters(" \t\r")
                if text.isEmpty { continue }
                try check(text, line: line)
                entries.append((text, base))
            }
        case .csv:
            let records = try DelimitedReader.records(raw, delimiter: feed.delimiter, file: feed.path)
            guard let header = records.first else { return }
            guard let column = feed.column, let index = header.fields.firstIndex(of: column) else {
                throw EnrichmentError(.data, file: feed.path, line: header.line,
                                      "no column '\(feed.column ?? "")' in the header (columns: \(header.fields.joined(separator: ", ")))")
            }
            for record in records.dropFirst() {
                guard index < record.fields.count else {
                    throw EnrichmentError(.data, file: feed.path, line: record.line, "the row has no field \(index + 1) ('\(column)')")
                }
                let text = record.fields[index].trimmingSpaces
                if text.isEmpty { continue }
                try check(text, line: record.line)
                entries.append((text, base))
            }
        }
    }
}

extension String {
    func trimmingCharacters(_ set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s.removeFirst() }
        while let l = s.last, set.contains(l) { s.removeLast() }
        return String(s)
    }
}
