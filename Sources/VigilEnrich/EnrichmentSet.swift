import Synchronization
import VigilCore
#if canImport(Glibc)
import Glibc
#endif

/// Counters of one enrichment, shared by every worker (workers count locally and add here every
/// few thousand events and on ``Enricher/flushMetrics()``).
public final class EnrichmentMetrics: Sendable {
    public let name: String
    public let kind: EnrichmentDefinition.Kind
    /// Lookups made: one per configured lookup whose event field is present.
    public let lookups: Counter
    /// Lookups that found a row (a record, an indicator).
    public let hits: Counter
    /// Lookups that found nothing.
    public let misses: Counter
    /// Data files or databases reloaded after a change (changelog and indicator batches published).
    public let reloads: Counter
    /// Reloads that failed (the previous snapshot stays in use).
    public let reloadFailures: Counter
    /// Topic records rejected (no key, bad value, bad indicator).
    public let rejectedRecords: Counter
    /// Bloom-filter positives the exact sets did not confirm (threat intel).
    public let bloomFalsePositives: Counter
    private let lastErrorBox = Mutex<String?>(nil)

    init(name: String, kind: EnrichmentDefinition.Kind) {
        self.name = name
        self.kind = kind
        let p = "vigil_enrich"
        lookups = Counter("\(p)_lookups_total", help: "Lookups made by enrichment \(name)")
        hits = Counter("\(p)_hits_total", help: "Lookups of enrichment \(name) that found a row")
        misses = Counter("\(p)_misses_total", help: "Lookups of enrichment \(name) that found nothing")
        reloads = Counter("\(p)_reloads_total", help: "Snapshots of enrichment \(name) swapped in")
        reloadFailures = Counter("\(p)_reload_failures_total", help: "Reloads of enrichment \(name) that failed")
        rejectedRecords = Counter("\(p)_rejected_records_total", help: "Topic records enrichment \(name) rejected")
        bloomFalsePositives = Counter("\(p)_bloom_false_positives_total", help: "Bloom positives not confirmed by the exact set")
    }

    /// The last reload or feed error, as `file:line: message`.
    public var lastError: String? { lastErrorBox.withLock { $0 } }
    func record(error: String) { lastErrorBox.withLock { $0 = error } }

    /// Every counter, for metrics endpoints.
    public var counters: [Counter] { [lookups, hits, misses, reloads, reloadFailures, rejectedRecords, bloomFalsePositives] }
}

/// A value handed to every worker: read under a lock only when the set's version changed.
final class Published<Value: Sendable>: Sendable {
    private let box: Mutex<Value>
    init(_ value: Value) { box = Mutex(value) }
    func load() -> Value { box.withLock { $0 } }
    func store(_ value: Value) { box.withLock { $0 = value } }
}

/// The set's version: bumped whenever any snapshot is swapped, so workers re-read snapshots only
/// then (one relaxed atomic load per event otherwise).
final class VersionBox: Sendable {
    let value = Atomic<UInt64>(0)
    func bump() { value.add(1, ordering: .releasing) }
}

/// Which files a runtime reloads from, and what was last loaded.
struct FileWatch: Sendable {
    var path: String
    /// The stamp of the version loaded.
    var loaded: FileStamp?
    /// The stamp of a version that failed to load (not retried until the file changes again).
    var failed: FileStamp?

    var changed: Bool {
        let now = FileStamp(path: path)
        return now != loaded && now != failed
    }
}

struct WatchState: Sendable {
    var watches: [FileWatch]
    var lastCheck: Int64 = Int64.min
}

/// The GeoIP databases in use.
final class GeoSnapshot: Sendable {
    let city: GeoIPDatabase?
    let asn: GeoIPDatabase?
    init(city: GeoIPDatabase?, asn: GeoIPDatabase?) {
        self.city = city
        self.asn = asn
    }
}

/// Shared state of one enrichment: its current snapshot and what reloads it.
final class EnrichmentRuntime: Sendable {
    enum Snapshot: Sendable {
        case table(ReferenceTable)
        case geoip(GeoSnapshot)
        case threatIntel(ThreatIntelSnapshot)
        case registeredDomain(PublicSuffixList)
    }

    let definition: EnrichmentDefinition
    let metrics: EnrichmentMetrics
    let version: VersionBox
    let published: Published<Snapshot>
    private let watch: Mutex<WatchState>
    /// Changelog tables and streamed indicators: the feeder's working copy, published in batches.
    private let changelog: Mutex<ChangelogTable?>
    private let streamed: Mutex<StreamedIndicators?>
    /// The feeds' indicators, kept to publish with new streamed ones.
    private let feeds: Mutex<IndicatorSet?>
    private let dirty = Atomic<Bool>(false)

    init(_ definition: EnrichmentDefinition, version: VersionBox) throws(EnrichmentError) {
        self.definition = definition
        self.version = version
        metrics = EnrichmentMetrics(name: definition.name, kind: definition.kind)
        let paths = Self.watchedPaths(definition)
        let stamps = paths.map { FileStamp(path: $0) }
        var changelogTable: ChangelogTable?
        var stream: StreamedIndicators?
        var feedSet: IndicatorSet?
        let snapshot: Snapshot
        switch definition.source {
        case .table(let t): snapshot = .table(try ReferenceTable.load(t, networks: false))
        case .cidr(let t): snapshot = .table(try ReferenceTable.load(t, networks: true))
        case .changelog(let c):
            let table = ChangelogTable(keyType: c.keyType, caseInsensitive: c.caseInsensitive, columns: c.columns)
            changelogTable = table
            snapshot = .table(table.snapshot())
        case .geoip(let g): snapshot = .geoip(try Self.openGeoIP(g))
        case .threatIntel(let ti):
            let set = try ThreatIntelSnapshot.loadFeeds(ti)
            feedSet = set
            if let s = ti.stream {
                stream = StreamedIndicators(lifetime: s.lifetime, generations: s.generations, falsePositiveRate: ti.falsePositiveRate)
            }
            snapshot = .threatIntel(ThreatIntelSnapshot(feeds: set, streamed: stream))
        case .registeredDomain(let p):
            snapshot = .registeredDomain(try PublicSuffixList.load(path: p.path, privateDomains: p.privateDomains))
        }
        published = Published(snapshot)
        watch = Mutex(WatchState(watches: zip(paths, stamps).map { FileWatch(path: $0, loaded: $1, failed: nil) }))
        changelog = Mutex(changelogTable)
        streamed = Mutex(stream)
        feeds = Mutex(feedSet)
    }

    static func watchedPaths(_ d: EnrichmentDefinition) -> [String] {
        switch d.source {
        case .table(let t), .cidr(let t): return [t.path]
        case .changelog: return []
        case .geoip(let g): return [g.cityDatabase, g.asnDatabase].compactMap { $0 }
        case .threatIntel(let ti): return ti.feeds.map(\.path)
        case .registeredDomain(let p): return [p.path]
        }
    }

    static func openGeoIP(_ g: EnrichmentDefinition.GeoIPSource) throws(EnrichmentError) -> GeoSnapshot {
        let city = try g.cityDatabase.map { p throws(EnrichmentError) in try GeoIPDatabase(path: p) }
        let asn = try g.asnDatabase.map { p throws(EnrichmentError) in try GeoIPDatabase(path: p) }
        return GeoSnapshot(city: city, asn: asn)
    }

    /// Reloads the data files if one changed since the last load (checked at most every
    /// `reload_interval`). A failed reload keeps the current snapshot and returns the error.
    func reloadIfChanged(now: Int64) -> EnrichmentError? {
        let interval = definition.reloadInterval
        let check: [FileStamp?]? = watch.withLock { s in
            if s.watches.isEmpty { return nil }
            if s.lastCheck != Int64.min && now &- s.lastCheck < interval { return nil }
            s.lastCheck = now
            guard s.watches.contains(where: \.changed) else { return nil }
            return s.watches.map { FileStamp(path: $0.path) }
        }
        guard let stamps = check else { return nil }
        do {
            let snapshot: Snapshot
            switch definition.source {
            case .table(let t): snapshot = .table(try ReferenceTable.load(t, networks: false))
            case .cidr(let t): snapshot = .table(try ReferenceTable.load(t, networks: true))
            case .changelog: return nil
            case .geoip(let g): snapshot = .geoip(try Self.openGeoIP(g))
            case .threatIntel(let ti):
                let set = try ThreatIntelSnapshot.loadFeeds(ti)
                feeds.withLock { $0 = set }
                snapshot = .threatIntel(ThreatIntelSnapshot(feeds: set, streamed: streamed.withLock { $0 }))
            case .registeredDomain(let p):
                snapshot = .registeredDomain(try PublicSuffixList.load(path: p.path, privateDomains: p.privateDomains))
            }
            published.store(snapshot)
            watch.withLock { s in
                for i in s.watches.indices where i < stamps.count {
                    s.watches[i].loaded = stamps[i]
                    s.watches[i].failed = nil
                }
            }
            metrics.reloads.add()
            version.bump()
            return nil
        } catch {
            watch.withLock { s in
                for i in s.watches.indices where i < stamps.count && s.watches[i].loaded != stamps[i] {
                    s.watches[i].failed = stamps[i]
                }
            }
            metrics.reloadFailures.add()
            metrics.record(error: error.description)
            return error
        }
    }

    // MARK: Topics

    /// The topic this enrichment reads, if any.
    var topic: String? {
        switch definition.source {
        case .changelog(let c): return c.topic
        case .threatIntel(let ti): return ti.stream?.topic
        default: return nil
        }
    }

    /// Applies one topic record (a changelog row or a streamed indicator). Returns the rejection
    /// reason, if any.
    func apply(key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?, timestamp: Int64, now: Int64) -> String? {
        switch definition.source {
        case .changelog:
            let result: String? = changelog.withLock { table -> String? in
                guard table != nil else { return nil }
                do { try table!.apply(key: key, value: value) } catch { return "\(error)" }
                return nil
            }
            if let result { metrics.rejectedRecords.add(); return result }
            dirty.store(true, ordering: .relaxed)
            return nil
        case .threatIntel(let ti):
            guard let value, !ChangelogTable.isTombstone(value) else {
                metrics.rejectedRecords.add()
                return "an indicator record needs a JSON object value"
            }
            let parsed: (String, IndicatorMetadata)
            switch Self.parseIndicator(key: key, value: value, source: ti) {
            case .success(let p): parsed = p
            case .failure(let reason):
                metrics.rejectedRecords.add()
                return reason.message
            }
            let added = streamed.withLock { s -> Bool in
                guard s != nil else { return false }
                return s!.add(parsed.0, parsed.1, time: timestamp, now: now)
            }
            if !added { metrics.rejectedRecords.add(); return "invalid or expired indicator" }
            dirty.store(true, ordering: .relaxed)
            return nil
        default:
            return nil
        }
    }

    struct Reason: Error { var message: String }

    /// `{"type": "ip", "value": "1.2.3.4", "provider": …, "confidence": …, "description": …}`;
    /// `value` may be left out when the record key holds the indicator.
    static func parseIndicator(key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer,
                               source: EnrichmentDefinition.ThreatIntelSource) -> Result<(String, IndicatorMetadata), Reason> {
        let event: Event
        do { event = try ChangelogTable.decodeValue(value) } catch { return .failure(Reason(message: "the value is not a JSON object (\(error.message))")) }
        func string(_ name: String) -> String? {
            switch event[name] {
            case .string(let s)?: return s
            case .ip(let ip)?: return ip.description
            case .int(let i)?: return String(i)
            default: return nil
            }
        }
        guard let typeText = string("type"), let type = EnrichmentDefinition.IndicatorType(rawValue: typeText) else {
            return .failure(Reason(message: "the indicator needs \"type\": ip, cidr, domain or hash"))
        }
        let text = string("value") ?? key.map { String(decoding: $0, as: UTF8.self) }
        guard let text, !text.isEmpty else { return .failure(Reason(message: "the indicator needs \"value\" or a record key")) }
        let m = IndicatorMetadata(type: type, value: text, provider: string("provider") ?? source.provider,
                                  confidence: string("confidence") ?? source.confidence,
                                  description: string("description") ?? source.description, firstSeen: nil)
        return .success((text, m))
    }

    /// Publishes the working copy if records were applied since the last publish, and moves
    /// streamed indicators' time to `now` (expired generations drop out).
    func publish(now: Int64) {
        let expired: Bool = streamed.withLock { s in
            guard s != nil else { return false }
            let before = s!.generations.count
            s!.advance(to: now)
            return s!.generations.count != before
        }
        guard dirty.exchange(false, ordering: .acquiringAndReleasing) || expired else { return }
        switch definition.source {
        case .changelog:
            guard let table = changelog.withLock({ $0 }) else { return }
            published.store(.table(table.snapshot()))
        case .threatIntel:
            guard let set = feeds.withLock({ $0 }) else { return }
            published.store(.threatIntel(ThreatIntelSnapshot(feeds: set, streamed: streamed.withLock { $0 })))
        default:
            return
        }
        metrics.reloads.add()
        version.bump()
    }

    /// The changelog table's working copy.
    var changelogTable: ChangelogTable? { changelog.withLock { $0 } }
}

/// Every enrichment of a configuration, loaded and ready: make one ``Enricher`` per worker
/// thread, call ``reloadIfChanged(now:)`` and feed topics (``TopicFeeder``) from one maintenance
/// thread.
///
/// `Sendable`: runtimes guard their mutable state with mutexes; snapshots are immutable.
public final class EnrichmentSet: Sendable {
    /// The active enrichments, in application order (file name order).
    public let definitions: [EnrichmentDefinition]
    /// Optional enrichments left out (a missing file or database), one line each.
    public let warnings: [String]
    /// Counters by enrichment, in application order.
    public let metrics: [EnrichmentMetrics]
    let runtimes: [EnrichmentRuntime]
    let version = VersionBox()

    /// Loads every `*.yaml`/`*.yml` file of a directory (in name order), or one file.
    /// - Throws: ``EnrichmentError`` for the first invalid file or a missing data file of a
    ///   non-optional enrichment.
    public static func load(path: String) throws(EnrichmentError) -> EnrichmentSet {
        var isDirectory = false
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw EnrichmentError(.unreadable, file: path, "cannot read: \(String(cString: strerror(errno)))")
        }
        isDirectory = (st.st_mode & S_IFMT) == S_IFDIR
        var files: [String] = []
        if isDirectory {
            guard let dir = opendir(path) else {
                throw EnrichmentError(.unreadable, file: path, "cannot list directory: \(String(cString: strerror(errno)))")
            }
            defer { closedir(dir) }
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
                }
                if !name.hasPrefix("."), name.hasSuffix(".yaml") || name.hasSuffix(".yml") {
                    files.append(path.hasSuffix("/") ? path + name : path + "/" + name)
                }
            }
            files.sort()
        } else {
            files = [path]
        }
        var definitions: [EnrichmentDefinition] = []
        var names: [String: String] = [:]
        for file in files {
            let d = try EnrichmentDefinition.load(path: file)
            if let other = names[d.name] {
                throw EnrichmentError(.configuration, file: file, "enrichment name '\(d.name)' is also used by \(other)")
            }
            names[d.name] = file
            definitions.append(d)
        }
        return try EnrichmentSet(definitions: definitions)
    }

    /// Loads the data of `definitions`. Optional enrichments whose file or database is missing
    /// are left out with a warning.
    public init(definitions: [EnrichmentDefinition]) throws(EnrichmentError) {
        var runtimes: [EnrichmentRuntime] = []
        var warnings: [String] = []
        var active: [EnrichmentDefinition] = []
        for d in definitions {
            do {
                runtimes.append(try EnrichmentRuntime(d, version: version))
                active.append(d)
            } catch {
                if d.optional && error.code == .unreadable {
                    warnings.append("\(d.file): optional enrichment '\(d.name)' disabled: \(error)")
                    continue
                }
                throw error
            }
        }
        self.runtimes = runtimes
        self.definitions = active
        self.warnings = warnings
        metrics = runtimes.map(\.metrics)
    }

    /// A per-thread enricher over the current snapshots.
    public func makeEnricher() -> Enricher { Enricher(set: self) }

    /// Reloads data files that changed (each checked at most every its `reload_interval`),
    /// publishes topic updates and expires streamed indicators. Returns the reload errors; the
    /// enrichments that failed keep their previous snapshot.
    @discardableResult
    public func reloadIfChanged(now: Int64 = Timestamp.now().nanoseconds) -> [EnrichmentError] {
        var errors: [EnrichmentError] = []
        for r in runtimes {
            if let e = r.reloadIfChanged(now: now) { errors.append(e) }
            r.publish(now: now)
        }
        return errors
    }

    /// The topics changelog tables and indicator streams read, with the enrichments reading each.
    public var topics: [String] { Array(Set(runtimes.compactMap(\.topic))).sorted() }

    /// Applies one record of `topic` to every enrichment reading it; the change becomes visible
    /// to enrichers at the next ``publish(now:)`` (or ``reloadIfChanged(now:)``). Returns the
    /// rejection reasons (empty when accepted).
    @discardableResult
    public func apply(topic: String, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?, timestamp: Int64,
                      now: Int64 = Timestamp.now().nanoseconds) -> [String] {
        var reasons: [String] = []
        for r in runtimes where r.topic == topic {
            if let reason = r.apply(key: key, value: value, timestamp: timestamp, now: now) { reasons.append("\(r.definition.name): \(reason)") }
        }
        return reasons
    }

    /// Publishes applied topic records to enrichers and expires streamed indicators.
    public func publish(now: Int64 = Timestamp.now().nanoseconds) {
        for r in runtimes { r.publish(now: now) }
    }

    private func runtime(_ name: String) -> EnrichmentRuntime? { runtimes.first { $0.definition.name == name } }

    /// The current table of a `table`, `cidr` or `changelog` enrichment.
    public func table(named name: String) -> ReferenceTable? {
        if case .table(let t)? = runtime(name)?.published.load() { return t }
        return nil
    }

    /// The current indicators of a `threat_intel` enrichment.
    public func threatIntel(named name: String) -> ThreatIntelSnapshot? {
        if case .threatIntel(let t)? = runtime(name)?.published.load() { return t }
        return nil
    }

    /// The working copy of a changelog table (including records not yet published).
    public func changelogTable(named name: String) -> ChangelogTable? { runtime(name)?.changelogTable }

    /// The Public Suffix List of a `registered_domain` enrichment.
    public func publicSuffixList(named name: String) -> PublicSuffixList? {
        if case .registeredDomain(let l)? = runtime(name)?.published.load() { return l }
        return nil
    }

    /// The GeoIP databases of a `geoip` enrichment.
    public func geoIP(named name: String) -> (city: GeoIPDatabase?, asn: GeoIPDatabase?)? {
        if case .geoip(let g)? = runtime(name)?.published.load() { return (g.city, g.asn) }
        return nil
    }
}
