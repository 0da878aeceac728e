import Foundation
import VigilBroker
import VigilCore

/// Settings of the indexer.
public struct IndexerConfiguration: Sendable {
    /// The topic of alerts. Default `alerts`.
    public var topic = "alerts"
    /// The consumer group (partitions are shared between indexers of one group). Default `vigil-index`.
    public var group = "vigil-index"
    /// Alerts per transaction (at most). Default 50,000: big transactions amortize the pages
    /// that random keys (alert ids, addresses) dirty in their indexes.
    public var batchSize = 50_000
    /// A partial batch is written after this long, ns. Default 200 ms.
    public var flushInterval: Int64 = 200_000_000
    /// How often retention runs, ns. Default 1 minute.
    public var retentionInterval: Int64 = 60_000_000_000

    public init() {}
}

/// Consumes the alerts topic into an ``AlertIndex`` exactly once.
///
/// Each batch of rows is written in one transaction together with each partition's next offset;
/// when a partition is assigned, reading resumes at the offset stored in the index (not the
/// group's, which is only updated afterwards, for `vigil topics lag`). A crash at any moment
/// leaves the index at a batch boundary with the matching offsets, so nothing is lost or
/// indexed twice; upserts by alert id make even a replayed record harmless.
///
/// Records that are not alerts (undecodable, or without `vigil.alert.id` or `rule.id`) are
/// counted and handed to `onReject`; their offsets are consumed.
public final class Indexer {
    public let configuration: IndexerConfiguration
    let log: EmbeddedLog
    let index: AlertIndex
    let onReject: (_ reason: String, _ record: RecordView) -> Void
    let onReport: (String) -> Void
    /// Called after each committed transaction with the records read and rows written since the
    /// previous call (metrics).
    public var onCommit: ((_ read: Int64, _ written: Int64) -> Void)?
    private var reportedRead: Int64 = 0

    /// Totals of a run.
    public struct Counters: Sendable, Equatable {
        public var recordsRead: Int64 = 0
        public var inserted: Int64 = 0
        public var updated: Int64 = 0
        public var unchanged: Int64 = 0
        public var rejected: Int64 = 0
        public var transactions: Int64 = 0
        public var deletedByRetention: Int64 = 0
        public init() {}
    }

    public private(set) var counters = Counters()
    private var pending: [AlertRow] = []
    private var next: [Int: Int64] = [:]
    private var dirty = Set<Int>()
    private var firstPending: Int64?

    public init(log: EmbeddedLog, index: AlertIndex, configuration: IndexerConfiguration = IndexerConfiguration(),
                onReject: @escaping (_ reason: String, _ record: RecordView) -> Void = { _, _ in },
                onReport: @escaping (String) -> Void = { _ in }) {
        self.log = log
        self.index = index
        self.configuration = configuration
        self.onReject = onReject
        self.onReport = onReport
    }

    /// How a run ends.
    public enum Stop: Sendable {
        /// When `shouldStop` says so.
        case whenAsked
        /// Once every partition is indexed to its end (and `inputFinished` says no more will come).
        case drain
    }

    static func now() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    /// Consumes until `stop` says; returns the run's counters.
    @discardableResult
    public func run(stop: Stop, inputFinished: () -> Bool = { true }, shouldStop: () -> Bool) throws -> Counters {
        let topic = configuration.topic
        let consumer = try GroupConsumer(
            log: log, group: configuration.group, topics: [topic], resetPosition: .earliest,
            onAssign: { [unowned self] tp throws(BrokerError) in
                do {
                    let stored = try index.nextOffset(topic: tp.topic, partition: tp.partition)
                    next[tp.partition] = stored
                    return stored.map { .offset($0) } ?? .earliest
                } catch {
                    throw BrokerError(.io, "alert index: \(error)")
                }
            },
            onRevoke: { [unowned self] _, _ throws(BrokerError) in
                do { try flush() } catch { throw BrokerError(.io, "alert index: \(error)") }
            })
        defer { try? consumer.close() }
        var lastRetention: Int64 = 0
        while !shouldStop() {
            let n = try consumer.poll(maxRecords: configuration.batchSize - pending.count) { _, record in handle(record) }
            let now = Self.now()
            if pending.count >= configuration.batchSize || (!dirty.isEmpty && (n == 0 || now - (firstPending ?? now) >= configuration.flushInterval)) {
                try flush()
                try consumer.commit()
            }
            if now - lastRetention >= configuration.retentionInterval {
                lastRetention = now
                try index.optimize(full: false)
                let r = try index.applyRetention()
                counters.deletedByRetention += Int64(r.deletedByAge + r.deletedBySize)
                if r.deletedByAge + r.deletedBySize > 0 {
                    onReport("alert index: retention deleted \(r.deletedByAge) alerts by age and \(r.deletedBySize) by size")
                }
            }
            if n == 0 {
                if stop == .drain && inputFinished() {
                    var atEnd = true
                    for (tp, position) in consumer.positions where (try consumer.endOffset(tp) ?? 0) > position { atEnd = false }
                    if atEnd {
                        try flush()
                        try consumer.commit()
                        // Another member may still hold partitions: done once the group has no lag.
                        let lag = try log.lag(group: configuration.group, topics: [topic])
                        if lag.allSatisfy({ $0.lag == 0 }) { break }
                    }
                }
                usleep(20_000)
            }
        }
        try flush()
        try consumer.commit()
        return counters
    }

    func handle(_ record: RecordView) {
        counters.recordsRead += 1
        next[record.partition] = record.offset + 1
        dirty.insert(record.partition)
        if firstPending == nil { firstPending = Self.now() }
        do {
            let event: Event
            do { event = try EventBinaryCodec.decode(record.value) } catch {
                throw AlertIndexError(.notAnAlert, "not a valid event: \(error)")
            }
            pending.append(try AlertRow(event: event, fallbackTime: record.timestamp))
        } catch {
            counters.rejected += 1
            onReject("\(configuration.topic)/\(record.partition)@\(record.offset): \(error)", record)
        }
    }

    /// Writes the pending rows with the offsets they reach, in one transaction.
    func flush() throws(AlertIndexError) {
        guard !dirty.isEmpty else { return }
        let offsets = dirty.sorted().map { IndexedOffset(topic: configuration.topic, partition: $0, next: next[$0]!) }
        let r = try index.write(pending, offsets: offsets)
        counters.inserted += Int64(r.inserted)
        counters.updated += Int64(r.updated)
        counters.unchanged += Int64(r.unchanged)
        counters.transactions += 1
        if let onCommit {
            onCommit(counters.recordsRead - reportedRead, Int64(r.inserted + r.updated))
            reportedRead = counters.recordsRead
        }
        pending.removeAll(keepingCapacity: true)
        dirty.removeAll()
        firstPending = nil
    }
}
