import VigilCore

/// Enriches events on one worker thread: every enrichment of an ``EnrichmentSet`` in order, each
/// looking up its configured fields and writing what it finds.
///
/// The hot path (``enrich(_:)``) builds no dictionaries and no strings: fields are found by
/// precomputed ``Event/Key``s, string keys are hashed from the event's own bytes, IP fields are
/// compared as addresses, and hits copy prebuilt values. Snapshots are re-read only when the set's
/// version changes (a reload or a published topic batch); one atomic load per event otherwise.
///
/// Not `Sendable`: one per thread (``EnrichmentSet/makeEnricher()``). Counters are kept locally and
/// added to ``EnrichmentSet/metrics`` every 4096 events and by ``flushMetrics()``.
public struct Enricher {
    enum Stage {
        case table(TableStage)
        case geoip(GeoStage)
        case threatIntel(ThreatStage)
        case registeredDomain(DomainStage)
    }

    /// Unowned references to the stages for the hot loop (a trivial type: no retain and release
    /// per stage and event); `stages` keeps the objects alive for the enricher's lifetime.
    enum StageRef {
        case table(Unmanaged<TableStage>)
        case geoip(Unmanaged<GeoStage>)
        case threatIntel(Unmanaged<ThreatStage>)
        case registeredDomain(Unmanaged<DomainStage>)
    }

    public let set: EnrichmentSet
    private var seen: UInt64
    private var stages: [Stage] = []
    private var refs: [StageRef] = []
    private var sinceFlush = 0

    init(set: EnrichmentSet) {
        self.set = set
        seen = set.version.value.load(ordering: .acquiring)
        for r in set.runtimes {
            switch r.published.load() {
            case .table(let t): stages.append(.table(TableStage(r, t)))
            case .geoip(let g): stages.append(.geoip(GeoStage(r, g)))
            case .threatIntel(let s): stages.append(.threatIntel(ThreatStage(r, s)))
            case .registeredDomain(let l): stages.append(.registeredDomain(DomainStage(r, l)))
            }
        }
        refs = stages.map { stage in
            switch stage {
            case .table(let s): return .table(Unmanaged.passUnretained(s))
            case .geoip(let s): return .geoip(Unmanaged.passUnretained(s))
            case .threatIntel(let s): return .threatIntel(Unmanaged.passUnretained(s))
            case .registeredDomain(let s): return .registeredDomain(Unmanaged.passUnretained(s))
            }
        }
    }

    /// Applies every enrichment to `event`.
    /// - Complexity: O(lookups) hash probes (longest-prefix tables probe once per prefix length
    ///   present), plus the fields written on hits.
    @inline(__always)
    public mutating func enrich(_ event: inout Event) {
        let v = set.version.value.load(ordering: .acquiring)
        if v != seen { refresh(v) }
        refs.withUnsafeBufferPointer { refs in
            for i in refs.indices {
                switch refs[i] {
                case .table(let s): s._withUnsafeGuaranteedRef { $0.apply(&event) }
                case .geoip(let s): s._withUnsafeGuaranteedRef { $0.apply(&event) }
                case .threatIntel(let s): s._withUnsafeGuaranteedRef { $0.apply(&event) }
                case .registeredDomain(let s): s._withUnsafeGuaranteedRef { $0.apply(&event) }
                }
            }
        }
        sinceFlush &+= 1
        if sinceFlush >= 4096 { flushMetrics() }
    }

    @inline(never)
    private mutating func refresh(_ v: UInt64) {
        seen = v
        for stage in stages {
            switch stage {
            case .table(let s): s.refresh()
            case .geoip(let s): s.refresh()
            case .threatIntel(let s): s.refresh()
            case .registeredDomain(let s): s.refresh()
            }
        }
    }

    /// Adds the local counts to the shared counters.
    public mutating func flushMetrics() {
        sinceFlush = 0
        for stage in stages {
            switch stage {
            case .table(let s): s.counts.flush(into: s.runtime.metrics)
            case .geoip(let s): s.counts.flush(into: s.runtime.metrics)
            case .threatIntel(let s): s.counts.flush(into: s.runtime.metrics)
            case .registeredDomain(let s): s.counts.flush(into: s.runtime.metrics)
            }
        }
    }
}

struct LocalCounts {
    var lookups = 0
    var hits = 0
    var falsePositives = 0

    mutating func flush(into m: EnrichmentMetrics) {
        if lookups > 0 {
            m.lookups.add(Int64(lookups))
            m.hits.add(Int64(hits))
            m.misses.add(Int64(lookups - hits))
        }
        if falsePositives > 0 { m.bloomFalsePositives.add(Int64(falsePositives)) }
        self = LocalCounts()
    }
}

/// Output keys of one lookup for a table's columns.
struct TableLookup {
    let field: Event.Key
    let target: String
    var outputs: [Event.Key]
}

/// A table, cidr or changelog enrichment on one worker.
final class TableStage {
    let runtime: EnrichmentRuntime
    private(set) var table: ReferenceTable
    private var lookups: [TableLookup]
    var counts = LocalCounts()

    init(_ runtime: EnrichmentRuntime, _ table: ReferenceTable) {
        self.runtime = runtime
        self.table = table
        lookups = runtime.definition.lookups.map { l in
            TableLookup(field: Event.Key(l.field), target: l.target, outputs: table.columns.map { Event.Key(l.target + "." + $0) })
        }
    }

    func refresh() {
        guard case .table(let t) = runtime.published.load(), t !== table else { return }
        if t.columns != table.columns {
            for i in lookups.indices { lookups[i].outputs = t.columns.map { Event.Key(lookups[i].target + "." + $0) } }
        }
        table = t
    }

    @inline(__always)
    func apply(_ event: inout Event) {
        let table = self.table
        let width = table.columns.count
        for i in lookups.indices {
            let field = lookups[i].field
            let found: Int32?
            if let r = event.withStringValue(field, { table.row(bytes: $0) }) {
                found = r
            } else if case .ip(let ip)? = event[field] {
                found = table.row(ip: ip)
            } else {
                continue
            }
            counts.lookups &+= 1
            guard let row = found else { continue }
            counts.hits &+= 1
            let base = Int(row) * width
            lookups[i].outputs.withUnsafeBufferPointer { outputs in
                table.values.withUnsafeBufferPointer { values in
                    for c in 0..<width {
                        if let v = values[base + c] { event[outputs[c]] = v }
                    }
                }
            }
        }
    }
}

/// Output keys of one GeoIP lookup.
struct GeoLookup {
    let field: Event.Key
    let city, countryISO, countryName, lat, lon, asNumber, asOrganization: Event.Key

    init(field: String, target: String) {
        self.field = Event.Key(field)
        city = Event.Key(target + ".geo.city_name")
        countryISO = Event.Key(target + ".geo.country_iso_code")
        countryName = Event.Key(target + ".geo.country_name")
        lat = Event.Key(target + ".geo.location.lat")
        lon = Event.Key(target + ".geo.location.lon")
        asNumber = Event.Key(target + ".as.number")
        asOrganization = Event.Key(target + ".as.organization.name")
    }
}

/// A GeoIP enrichment on one worker, with its caches of decoded records.
final class GeoStage {
    let runtime: EnrichmentRuntime
    private var snapshot: GeoSnapshot
    private let lookups: [GeoLookup]
    private var geoCache = OffsetCache<GeoRecord>()
    private var asCache = OffsetCache<ASRecord>()
    var counts = LocalCounts()

    init(_ runtime: EnrichmentRuntime, _ snapshot: GeoSnapshot) {
        self.runtime = runtime
        self.snapshot = snapshot
        lookups = runtime.definition.lookups.map { GeoLookup(field: $0.field, target: $0.target) }
    }

    func refresh() {
        guard case .geoip(let g) = runtime.published.load(), g !== snapshot else { return }
        snapshot = g
        geoCache.removeAll()
        asCache.removeAll()
    }

    @inline(__always)
    func apply(_ event: inout Event) {
        lookups.withUnsafeBufferPointer { lookups in
            for i in lookups.indices { apply(lookups[i], &event) }
        }
    }

    @inline(__always)
    private func apply(_ l: borrowing GeoLookup, _ event: inout Event) {
        do {
            let ip: IPAddress
            switch event[l.field] {
            case .ip(let a)?: ip = a
            case .string?:
                guard let parsed = event.withStringValue(l.field, { IPAddress(parsing: $0) }), let a = parsed else { return }
                ip = a
            default: return
            }
            counts.lookups &+= 1
            var hit = false
            if let db = snapshot.city, let offset = db.recordOffset(ip) {
                let r = geoCache.record(offset) { db.geoRecord(offset: $0) }
                if !r.isEmpty {
                    hit = true
                    if let v = r.cityName { event[l.city] = .string(v) }
                    if let v = r.countryISOCode { event[l.countryISO] = .string(v) }
                    if let v = r.countryName { event[l.countryName] = .string(v) }
                    if let v = r.latitude { event[l.lat] = .float(v) }
                    if let v = r.longitude { event[l.lon] = .float(v) }
                }
            }
            if let db = snapshot.asn, let offset = db.recordOffset(ip) {
                let r = asCache.record(offset) { db.asRecord(offset: $0) }
                if r.number != nil || r.organization != nil {
                    hit = true
                    if let v = r.number { event[l.asNumber] = .int(v) }
                    if let v = r.organization { event[l.asOrganization] = .string(v) }
                }
            }
            if hit { counts.hits &+= 1 }
        }
    }
}

/// Output keys of a threat-intel enrichment.
struct ThreatKeys {
    let type, ip, domain, provider, confidence, description, firstSeen: Event.Key
    let md5, sha1, sha256, sha512, hashOther: Event.Key
    let matchedField, matchedAtomic, matchedType: Event.Key

    init(target: String) {
        type = Event.Key(target + ".type")
        ip = Event.Key(target + ".ip")
        domain = Event.Key(target + ".domain")
        provider = Event.Key(target + ".provider")
        confidence = Event.Key(target + ".confidence")
        description = Event.Key(target + ".description")
        firstSeen = Event.Key(target + ".first_seen")
        md5 = Event.Key(target + ".file.hash.md5")
        sha1 = Event.Key(target + ".file.hash.sha1")
        sha256 = Event.Key(target + ".file.hash.sha256")
        sha512 = Event.Key(target + ".file.hash.sha512")
        hashOther = Event.Key(target + ".file.hash.other")
        matchedField = Event.Key("threat.enrichments.matched.field")
        matchedAtomic = Event.Key("threat.enrichments.matched.atomic")
        matchedType = Event.Key("threat.enrichments.matched.type")
    }
}

struct ThreatLookup {
    let field: Event.Key
    let fieldName: FieldValue
    let type: EnrichmentDefinition.IndicatorType
}

/// A threat-intel enrichment on one worker.
final class ThreatStage {
    let runtime: EnrichmentRuntime
    private var snapshot: ThreatIntelSnapshot
    private let lookups: [ThreatLookup]
    private let keys: ThreatKeys
    var counts = LocalCounts()

    init(_ runtime: EnrichmentRuntime, _ snapshot: ThreatIntelSnapshot) {
        self.runtime = runtime
        self.snapshot = snapshot
        lookups = runtime.definition.lookups.map { ThreatLookup(field: Event.Key($0.field), fieldName: .string($0.field), type: $0.indicatorType ?? .ip) }
        keys = ThreatKeys(target: runtime.definition.lookups.first?.target ?? "threat.indicator")
    }

    func refresh() {
        guard case .threatIntel(let s) = runtime.published.load(), s !== snapshot else { return }
        snapshot = s
    }

    /// Checks the lookups in order and writes the first match.
    @inline(__always)
    func apply(_ event: inout Event) {
        let s = snapshot
        for l in lookups {
            switch l.type {
            case .ip, .cidr:
                let ip: IPAddress
                switch event[l.field] {
                case .ip(let a)?: ip = a
                case .string?:
                    guard let parsed = event.withStringValue(l.field, { IPAddress(parsing: $0) }), let a = parsed else { continue }
                    ip = a
                default: continue
                }
                counts.lookups &+= 1
                let h = IndicatorSet.addressHash(ip)
                if let m = s.feeds.match(ip: ip, hash: h, falsePositives: &counts.falsePositives) {
                    write(s.feeds.metadata[Int(m)], l, atomic: .string(ip.description), ip: ip, into: &event)
                    return
                }
                if let streamed = s.streamed, let m = streamed.match(ip: ip) {
                    write(m, l, atomic: .string(ip.description), ip: ip, into: &event)
                    return
                }
            case .domain, .hash:
                let folding: KeyFolding = l.type == .domain ? .domain : .caseInsensitive
                let salt = l.type == .domain ? IndicatorSet.domainSalt : IndicatorSet.hashSalt
                let found: (Int32?, Bool)? = event.withStringValue(l.field) { raw in
                    folding.withNormalized(raw) { b in
                        let h = IndicatorSet.bytesHash(b, salt: salt)
                        let m = l.type == .domain
                            ? s.feeds.match(domain: b, hash: h, falsePositives: &counts.falsePositives)
                            : s.feeds.match(hash: b, hash: h, falsePositives: &counts.falsePositives)
                        return (m, s.streamed.map { $0.generations.isEmpty } == false)
                    }
                }
                guard let (match, streamedLive) = found else { continue }
                counts.lookups &+= 1
                if let m = match {
                    let atomic = event[l.field] ?? .null
                    write(s.feeds.metadata[Int(m)], l, atomic: atomic, ip: nil, into: &event)
                    return
                }
                if streamedLive, let streamed = s.streamed, case .string(let text)? = event[l.field],
                   let m = streamed.match(text, type: l.type) {
                    write(m, l, atomic: .string(text), ip: nil, into: &event)
                    return
                }
            }
        }
    }

    @inline(never)
    private func write(_ m: IndicatorMetadata, _ l: ThreatLookup, atomic: FieldValue, ip: IPAddress?, into event: inout Event) {
        counts.hits &+= 1
        switch m.type {
        case .ip, .cidr:
            event[keys.type] = .string(ip?.isV4 == false ? "ipv6-addr" : "ipv4-addr")
            if let ip { event[keys.ip] = .ip(ip) }
        case .domain:
            event[keys.type] = .string("domain-name")
            event[keys.domain] = .string(m.value)
        case .hash:
            event[keys.type] = .string("file")
            let key: Event.Key
            switch m.value.utf8.count {
            case 32: key = keys.md5
            case 40: key = keys.sha1
            case 64: key = keys.sha256
            case 128: key = keys.sha512
            default: key = keys.hashOther
            }
            event[key] = .string(m.value)
        }
        if let v = m.provider { event[keys.provider] = .string(v) }
        if let v = m.confidence { event[keys.confidence] = .string(v) }
        if let v = m.description { event[keys.description] = .string(v) }
        if let t = m.firstSeen { event[keys.firstSeen] = .timestamp(t) }
        event[keys.matchedField] = l.fieldName
        event[keys.matchedAtomic] = atomic
        event[keys.matchedType] = .string("indicator_match_rule")
    }
}

/// Output keys of one `registered_domain` lookup.
struct DomainLookup {
    let field: Event.Key
    let registeredDomain, subdomain, topLevelDomain: Event.Key

    init(field: String, target: String) {
        self.field = Event.Key(field)
        registeredDomain = Event.Key(target + ".registered_domain")
        subdomain = Event.Key(target + ".subdomain")
        topLevelDomain = Event.Key(target + ".top_level_domain")
    }
}

/// A `registered_domain` enrichment on one worker: splits names with the Public Suffix List.
final class DomainStage {
    let runtime: EnrichmentRuntime
    private var list: PublicSuffixList
    private let lookups: [DomainLookup]
    var counts = LocalCounts()

    init(_ runtime: EnrichmentRuntime, _ list: PublicSuffixList) {
        self.runtime = runtime
        self.list = list
        lookups = runtime.definition.lookups.map { DomainLookup(field: $0.field, target: $0.target) }
    }

    func refresh() {
        guard case .registeredDomain(let l) = runtime.published.load(), l !== list else { return }
        list = l
    }

    /// For each lookup whose field holds a string: writes the suffix, and the registered domain
    /// and subdomain when the name has them (a hit is a registered domain written). The strings
    /// written are the only allocations.
    @inline(__always)
    func apply(_ event: inout Event) {
        let list = self.list
        for l in lookups {
            let parts: PublicSuffixList.Parts?? = event.withStringValue(l.field) { raw in
                list.split(normalizing: raw) { bytes, split in split.map { PublicSuffixList.parts(bytes, $0) } }
            }
            guard let parts else { continue }
            counts.lookups &+= 1
            guard let parts else { continue }
            event[l.topLevelDomain] = .string(parts.topLevelDomain)
            if let r = parts.registeredDomain {
                counts.hits &+= 1
                event[l.registeredDomain] = .string(r)
            }
            if let s = parts.subdomain { event[l.subdomain] = .string(s) }
        }
    }
}
