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
            case .table(let s): s.flushCounts()
            case .geoip(let s): s.flushCounts()
            case .threatIntel(let s): s.flushCounts()
            case .registeredDomain(let s): s.flushCounts()
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

/// The changing part of a stage (its snapshot, caches and counts) behind a pointer the stage
/// owns: the per-event path reads and counts through it without the runtime exclusivity checks
/// of class properties (a stage is used by one thread).
final class StageState<State> {
    let pointer: UnsafeMutablePointer<State>

    init(_ state: State) {
        pointer = .allocate(capacity: 1)
        pointer.initialize(to: state)
    }

    deinit {
        pointer.deinitialize(count: 1)
        pointer.deallocate()
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
    struct State {
        var table: ReferenceTable
        var lookups: [TableLookup]
        var counts = LocalCounts()
    }

    let runtime: EnrichmentRuntime
    /// The lookups' fields, read per event without copying the lookups.
    private let fields: [Event.Key]
    private let state: StageState<State>

    init(_ runtime: EnrichmentRuntime, _ table: ReferenceTable) {
        self.runtime = runtime
        let lookups = runtime.definition.lookups.map { l in
            TableLookup(field: Event.Key(l.field), target: l.target, outputs: table.columns.map { Event.Key(l.target + "." + $0) })
        }
        fields = lookups.map(\.field)
        state = StageState(State(table: table, lookups: lookups))
    }

    var table: ReferenceTable { state.pointer.pointee.table }

    func refresh() {
        let st = state.pointer
        guard case .table(let t) = runtime.published.load(), t !== st.pointee.table else { return }
        if t.columns != st.pointee.table.columns {
            for i in st.pointee.lookups.indices {
                st.pointee.lookups[i].outputs = t.columns.map { Event.Key(st.pointee.lookups[i].target + "." + $0) }
            }
        }
        st.pointee.table = t
    }

    func flushCounts() { state.pointer.pointee.counts.flush(into: runtime.metrics) }

    /// Looks each lookup's field up (a string by its bytes, an address as an address) and copies
    /// the row's columns on a hit.
    @inline(__always)
    func apply(_ event: inout Event) {
        let st = state.pointer
        for i in fields.indices {
            guard let e = event.entry(fields[i]) else { continue }
            let found: Int32?
            switch e.kind {
            case .string:
                let table = st.pointee.table
                found = event.withStringBytes(of: e) { table.row(bytes: $0) }
            case .ip:
                found = st.pointee.table.row(ip: e.ipValue.unsafelyUnwrapped)
            default:
                continue
            }
            st.pointee.counts.lookups &+= 1
            guard let row = found else { continue }
            st.pointee.counts.hits &+= 1
            write(row: row, lookup: i, into: &event)
        }
    }

    @inline(never)
    private func write(row: Int32, lookup i: Int, into event: inout Event) {
        let st = state.pointer
        let table = st.pointee.table
        let width = table.columns.count
        let base = Int(row) * width
        st.pointee.lookups[i].outputs.withUnsafeBufferPointer { outputs in
            table.values.withUnsafeBufferPointer { values in
                for c in 0..<width {
                    if let v = values[base + c] { event[outputs[c]] = v }
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
    struct State {
        var snapshot: GeoSnapshot
        var geoCache = OffsetCache<GeoRecord>()
        var asCache = OffsetCache<ASRecord>()
        var counts = LocalCounts()
    }

    let runtime: EnrichmentRuntime
    private let lookups: [GeoLookup]
    /// The lookups' fields, read per event without copying the lookups.
    private let fields: [Event.Key]
    private let state: StageState<State>

    init(_ runtime: EnrichmentRuntime, _ snapshot: GeoSnapshot) {
        self.runtime = runtime
        lookups = runtime.definition.lookups.map { GeoLookup(field: $0.field, target: $0.target) }
        fields = lookups.map(\.field)
        state = StageState(State(snapshot: snapshot))
    }

    func refresh() {
        let st = state.pointer
        guard case .geoip(let g) = runtime.published.load(), g !== st.pointee.snapshot else { return }
        st.pointee.snapshot = g
        st.pointee.geoCache.removeAll()
        st.pointee.asCache.removeAll()
    }

    func flushCounts() { state.pointer.pointee.counts.flush(into: runtime.metrics) }

    @inline(__always)
    func apply(_ event: inout Event) {
        for i in fields.indices {
            guard let e = event.entry(fields[i]) else { continue }
            let ip: IPAddress
            switch e.kind {
            case .ip:
                ip = e.ipValue.unsafelyUnwrapped
            case .string:
                guard let a = event.withStringBytes(of: e, { IPAddress(parsing: $0) }) else { continue }
                ip = a
            default:
                continue
            }
            lookup(ip, lookup: i, into: &event)
        }
    }

    @inline(never)
    private func lookup(_ ip: IPAddress, lookup i: Int, into event: inout Event) {
        let st = state.pointer
        st.pointee.counts.lookups &+= 1
        var hit = false
        let snapshot = st.pointee.snapshot
        if let db = snapshot.city, let offset = db.recordOffset(ip) {
            let r = st.pointee.geoCache.record(offset) { db.geoRecord(offset: $0) }
            if !r.isEmpty {
                hit = true
                let l = lookups[i]
                if let v = r.cityName { event[l.city] = .string(v) }
                if let v = r.countryISOCode { event[l.countryISO] = .string(v) }
                if let v = r.countryName { event[l.countryName] = .string(v) }
                if let v = r.latitude { event[l.lat] = .float(v) }
                if let v = r.longitude { event[l.lon] = .float(v) }
            }
        }
        if let db = snapshot.asn, let offset = db.recordOffset(ip) {
            let r = st.pointee.asCache.record(offset) { db.asRecord(offset: $0) }
            if r.number != nil || r.organization != nil {
                hit = true
                let l = lookups[i]
                if let v = r.number { event[l.asNumber] = .int(v) }
                if let v = r.organization { event[l.asOrganization] = .string(v) }
            }
        }
        if hit { st.pointee.counts.hits &+= 1 }
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
    struct State {
        var snapshot: ThreatIntelSnapshot
        var counts = LocalCounts()
    }

    let runtime: EnrichmentRuntime
    private let lookups: [ThreatLookup]
    /// The lookups' fields and indicator types, read per event without copying the lookups.
    private let fields: [Event.Key]
    private let types: [EnrichmentDefinition.IndicatorType]
    private let keys: ThreatKeys
    private let state: StageState<State>

    init(_ runtime: EnrichmentRuntime, _ snapshot: ThreatIntelSnapshot) {
        self.runtime = runtime
        lookups = runtime.definition.lookups.map { ThreatLookup(field: Event.Key($0.field), fieldName: .string($0.field), type: $0.indicatorType ?? .ip) }
        fields = lookups.map(\.field)
        types = lookups.map(\.type)
        keys = ThreatKeys(target: runtime.definition.lookups.first?.target ?? "threat.indicator")
        state = StageState(State(snapshot: snapshot))
    }

    func refresh() {
        let st = state.pointer
        guard case .threatIntel(let s) = runtime.published.load(), s !== st.pointee.snapshot else { return }
        st.pointee.snapshot = s
    }

    func flushCounts() { state.pointer.pointee.counts.flush(into: runtime.metrics) }

    /// Checks the lookups in order and writes the first match.
    @inline(__always)
    func apply(_ event: inout Event) {
        for i in fields.indices {
            guard let e = event.entry(fields[i]) else { continue }
            switch types[i] {
            case .ip, .cidr:
                let ip: IPAddress
                switch e.kind {
                case .ip:
                    ip = e.ipValue.unsafelyUnwrapped
                case .string:
                    guard let a = event.withStringBytes(of: e, { IPAddress(parsing: $0) }) else { continue }
                    ip = a
                default:
                    continue
                }
                if match(ip: ip, lookup: i, into: &event) { return }
            case .domain, .hash:
                guard e.kind == .string else { continue }
                if match(string: e, lookup: i, into: &event) { return }
            }
        }
    }

    /// Looks an address up in the feeds, then in the streamed indicators; writes a match.
    @inline(never)
    private func match(ip: IPAddress, lookup i: Int, into event: inout Event) -> Bool {
        let st = state.pointer
        let s = st.pointee.snapshot
        st.pointee.counts.lookups &+= 1
        let h = IndicatorSet.addressHash(ip)
        // Counted in a local: an inout access through the pointer could alias the snapshot, and
        // the compiler would copy the feeds to guard against it.
        var falsePositives = 0
        let found = s.matchFeeds(ip: ip, hash: h, falsePositives: &falsePositives)
        st.pointee.counts.falsePositives &+= falsePositives
        if let m = found {
            write(s.feeds.metadata[Int(m)], lookups[i], atomic: .string(ip.description), ip: ip, into: &event)
            return true
        }
        if let streamed = s.streamed, let m = streamed.match(ip: ip) {
            write(m, lookups[i], atomic: .string(ip.description), ip: ip, into: &event)
            return true
        }
        return false
    }

    /// Looks a domain or hash (the string entry `e`) up, normalized, in the feeds, then in the
    /// streamed indicators; writes a match.
    @inline(never)
    private func match(string e: Event.Entry, lookup i: Int, into event: inout Event) -> Bool {
        let st = state.pointer
        let s = st.pointee.snapshot
        let type = types[i]
        let folding: KeyFolding = type == .domain ? .domain : .caseInsensitive
        let salt = type == .domain ? IndicatorSet.domainSalt : IndicatorSet.hashSalt
        var falsePositives = 0
        let (match, streamedLive): (Int32?, Bool) = event.withStringBytes(of: e) { raw in
            folding.withNormalized(raw) { b in
                let h = IndicatorSet.bytesHash(b, salt: salt)
                let m = type == .domain
                    ? s.feeds.match(domain: b, hash: h, falsePositives: &falsePositives)
                    : s.feeds.match(hash: b, hash: h, falsePositives: &falsePositives)
                return (m, s.streamed.map { $0.generations.isEmpty } == false)
            }
        }
        st.pointee.counts.falsePositives &+= falsePositives
        st.pointee.counts.lookups &+= 1
        let l = lookups[i]
        if let m = match {
            let atomic = event[l.field] ?? .null
            write(s.feeds.metadata[Int(m)], l, atomic: atomic, ip: nil, into: &event)
            return true
        }
        if streamedLive, let streamed = s.streamed, case .string(let text)? = event[l.field],
           let m = streamed.match(text, type: l.type) {
            write(m, l, atomic: .string(text), ip: nil, into: &event)
            return true
        }
        return false
    }

    @inline(never)
    private func write(_ m: IndicatorMetadata, _ l: ThreatLookup, atomic: FieldValue, ip: IPAddress?, into event: inout Event) {
        state.pointer.pointee.counts.hits &+= 1
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
    struct State {
        var list: PublicSuffixList
        var counts = LocalCounts()
    }

    let runtime: EnrichmentRuntime
    private let lookups: [DomainLookup]
    /// The lookups' fields, read per event without copying the lookups.
    private let fields: [Event.Key]
    private let state: StageState<State>

    init(_ runtime: EnrichmentRuntime, _ list: PublicSuffixList) {
        self.runtime = runtime
        lookups = runtime.definition.lookups.map { DomainLookup(field: $0.field, target: $0.target) }
        fields = lookups.map(\.field)
        state = StageState(State(list: list))
    }

    func refresh() {
        let st = state.pointer
        guard case .registeredDomain(let l) = runtime.published.load(), l !== st.pointee.list else { return }
        st.pointee.list = l
    }

    func flushCounts() { state.pointer.pointee.counts.flush(into: runtime.metrics) }

    /// For each lookup whose field holds a string: writes the suffix, and the registered domain
    /// and subdomain when the name has them (a hit is a registered domain written). The strings
    /// written are the only allocations.
    @inline(__always)
    func apply(_ event: inout Event) {
        for i in fields.indices {
            guard let e = event.entry(fields[i]), e.kind == .string else { continue }
            split(e, lookup: i, into: &event)
        }
    }

    @inline(never)
    private func split(_ e: Event.Entry, lookup i: Int, into event: inout Event) {
        let st = state.pointer
        let list = st.pointee.list
        let parts: PublicSuffixList.Parts? = event.withStringBytes(of: e) { raw in
            list.split(normalizing: raw) { bytes, split in split.map { PublicSuffixList.parts(bytes, $0) } }
        }
        st.pointee.counts.lookups &+= 1
        guard let parts else { return }
        let l = lookups[i]
        event[l.topLevelDomain] = .string(parts.topLevelDomain)
        if let r = parts.registeredDomain {
            st.pointee.counts.hits &+= 1
            event[l.registeredDomain] = .string(r)
        }
        if let s = parts.subdomain { event[l.subdomain] = .string(s) }
    }
}
