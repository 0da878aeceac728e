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
    /// Whether the pages of the alerts topic it has read are dropped from the page cache
    /// (``RecordGroupConsumer/dropsReadPages``). Default true: the indexer is the alerts topic's
    /// reader, and a backlog it reads once would otherwise stay in memory, pushing out the
    /// index's own pages, while its writes take new memory (on a VM that hands freed memory
    /// back to its host, new memory costs far more than memory just freed: docs/alerts.md).
    public var dropsReadPages = true

    public init() {}
}

/// Consumes the alerts topic (embedded log or Kafka) into an ``AlertIndex`` exactly once.
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
    let broker: any StageBroker
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
        /// CPU time of the writer thread in ``AlertIndex/write(_:offsets:)``, ns.
        public var writerCPUNanoseconds: Int64 = 0
        public init() {}
    }

    // exclusivity(unchecked) below: the reading thread's state, one access at a time (no
    // dynamic checks per record).
    @exclusivity(unchecked) public private(set) var counters = Counters()
    @exclusivity(unchecked) private var pending: [AlertRow] = []
    private var next: [Int: Int64] = [:]
    private var dirty = Set<Int>()
    /// The partition of the records handled since the last change of partition (-1: none), and
    /// the offset after them: put in `next` and `dirty` when the partition changes or a batch is
    /// made (``noteLast()``), rather than hashed per record.
    @exclusivity(unchecked) private var lastPartition = -1
    @exclusivity(unchecked) private var lastNext: Int64 = 0
    @exclusivity(unchecked) private var firstPending: Int64?
    /// Batches handed to the writer and not yet settled, oldest first: the reading thread
    /// fills the next batch while the writer works through up to ``maximumInFlight``.
    private var inFlight: [InFlight] = []
    /// The first failed batch's error: from then on the indexer writes nothing.
    private var failure: AlertIndexError?
    static let maximumInFlight = 2
    private let writer = DispatchQueue(label: "vigil.indexer.write")
    /// The reading thread's reused state for rows of the block layout, the bytes of the
    /// pending rows (``arena``), and arenas of settled batches to reuse.
    private let readerCache = AlertRecordReader.Cache()
    @exclusivity(unchecked) private var arena: AlertRowArena
    private var spareArenas: [AlertRowArena] = []

    /// An arena for batches of `batchSize` alerts: 2 KiB each, up to 256 MiB, reserved (more
    /// grows as needed). An alert with a ~300-byte sample, its search text and tokens takes
    /// ~1.1 KB: a reservation of 1 KiB each grew by doubling in each of the first batches,
    /// copying into new memory; reserved pages that are never written cost nothing.
    static func newArena(_ batchSize: Int) -> AlertRowArena {
        AlertRowArena(reserving: min(batchSize, 131_072) * 2048)
    }

    public init(broker: any StageBroker, index: AlertIndex, configuration: IndexerConfiguration = IndexerConfiguration(),
                onReject: @escaping (_ reason: String, _ record: RecordView) -> Void = { _, _ in },
                onReport: @escaping (String) -> Void = { _ in }) {
        self.broker = broker
        self.index = index
        self.configuration = configuration
        self.onReject = onReject
        self.onReport = onReport
        arena = Self.newArena(configuration.batchSize)
    }

    /// How a run ends.
    public enum Stop: Sendable {
        /// When `shouldStop` says so.
        case whenAsked
        /// Once every partition is indexed to its end (and `inputFinished` says no more will come).
        case drain
    }

    static func threadCPU() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
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
        let consumer = try broker.groupConsumer(
            group: configuration.group, topics: [topic], resetPosition: .earliest,
            onAssign: { [unowned self] tp throws(BrokerError) in
                do {
                    let stored = try index.nextOffset(topic: tp.topic, partition: tp.partition)
                    noteLast()
                    next[tp.partition] = stored
                    return stored.map { .offset($0) } ?? .earliest
                } catch {
                    throw BrokerError(.io, "alert index: \(error)")
                }
            },
            onRevoke: { [unowned self] _, _ throws(BrokerError) in
                do { try flush() } catch { throw BrokerError(.io, "alert index: \(error)") }
            })
        consumer.dropsReadPages = configuration.dropsReadPages
        defer {
            // A failed run still waits for its batches in flight (which may commit).
            for batch in inFlight { batch.done.wait() }
            inFlight.removeAll()
            try? consumer.close()
        }
        var lastRetention: Int64 = 0
        while !shouldStop() {
            let n = try consumer.poll(maxRecords: configuration.batchSize - pending.count) { _, record in handle(record) }
            let now = Self.now()
            if pending.count >= configuration.batchSize || (hasUnflushed && (n == 0 || now - (firstPending ?? now) >= configuration.flushInterval)) {
                // The group's offsets are informational (the index holds the real ones): they
                // may include the batch in flight.
                try flush(wait: false)
                try consumer.commit()
            }
            if now - lastRetention >= configuration.retentionInterval {
                lastRetention = now
                try flush()
                try index.optimize(full: false)
                let r = try index.applyRetention()
                counters.deletedByRetention += Int64(r.deletedByAge + r.deletedBySize)
                if r.deletedByAge + r.deletedBySize > 0 {
                    onReport("alert index: retention deleted \(r.deletedByAge) alerts by age and \(r.deletedBySize) by size")
                }
            }
            if n == 0 {
                try settle()
                if stop == .drain && inputFinished() {
                    var atEnd = true
                    for (tp, position) in consumer.positions where (try consumer.endOffset(tp) ?? 0) > position { atEnd = false }
                    if atEnd {
                        try flush()
                        try consumer.commit()
                        // Another member may still hold partitions: done once the group has no lag.
                        let lag = try broker.groupLag(group: configuration.group, topics: [topic])
                        // At most 0: a Kafka broker whose ListOffsets answer falls short of the end (Tansu) reports less than 0.
                        if lag.allSatisfy({ $0.lag <= 0 }) { break }
                    }
                }
                usleep(20_000)
            }
        }
        try flush()
        try consumer.commit()
        return counters
    }

    /// Whether records were handled that no batch holds yet.
    private var hasUnflushed: Bool { lastPartition >= 0 || !dirty.isEmpty }

    /// Puts the last partition's offset in `next` and `dirty`.
    private func noteLast() {
        guard lastPartition >= 0 else { return }
        next[lastPartition] = lastNext
        dirty.insert(lastPartition)
        lastPartition = -1
    }

    func handle(_ record: RecordView) {
        counters.recordsRead += 1
        if record.partition != lastPartition {
            noteLast()
            lastPartition = record.partition
        }
        lastNext = record.offset + 1
        if firstPending == nil { firstPending = Self.now() }
        do {
            if index.layout == .blocks {
                // The block layout stores the record's bytes as they are: the row is read from
                // them without making the event or its JSON.
                pending.append(try AlertRow(encoded: record.value, fallbackTime: record.timestamp, cache: readerCache, arena: arena))
                return
            }
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

    /// Hands the pending rows, with the offsets they reach, to the writer thread (one
    /// transaction); with `wait`, returns once it is committed. At most one batch is in flight:
    /// the next one is decoded while it is written.
    func flush(wait: Bool = true) throws(AlertIndexError) {
        // After a failed batch nothing more is written, not even by the flush that closing the
        // consumer runs (its offsets would pass the failed batch's rows, lost for good); a new
        // run resumes at the offsets the index holds.
        if let failure { throw failure }
        noteLast()
        if !dirty.isEmpty {
            try settle(keeping: Self.maximumInFlight - 1)
            let offsets = dirty.sorted().map { IndexedOffset(topic: configuration.topic, partition: $0, next: next[$0]!) }
            // The runs' sort is done here, on the reading thread, which waits on the writer
            // more than the writer waits on it.
            if index.layout == .blocks { arena.presortRuns(pending) }
            let batch = InFlight(rows: pending, arena: arena, offsets: offsets, readThrough: counters.recordsRead)
            arena = spareArenas.popLast() ?? Self.newArena(configuration.batchSize)
            arena.reset()
            pending = []
            pending.reserveCapacity(min(configuration.batchSize, 65_536))
            dirty.removeAll()
            firstPending = nil
            batch.previous = inFlight.last
            inFlight.append(batch)
            let index = self.index
            writer.async {
                let c0 = Self.threadCPU()
                if case .failure(let e)? = batch.previous?.result {
                    // Never past a failed batch: its rows would be lost behind this one's offsets.
                    batch.result = .failure(e)
                } else {
                    do throws(AlertIndexError) { batch.result = .success(try index.write(batch.rows, offsets: batch.offsets, arena: batch.arena)) } catch {
                        batch.result = .failure(error)
                    }
                }
                batch.previous = nil
                batch.cpu = Self.threadCPU() - c0
                // The rows are freed by the reading thread that made them (settle), which is cheaper.
                batch.done.signal()
            }
        }
        if wait { try settle() }
    }

    /// Waits for the batches in flight, oldest first, until at most `keeping` remain, and counts them.
    private func settle(keeping: Int = 0) throws(AlertIndexError) {
        while inFlight.count > keeping {
            try settleOldest()
        }
    }

    private func settleOldest() throws(AlertIndexError) {
        let batch = inFlight.removeFirst()
        batch.done.wait()
        batch.rows = []
        spareArenas.append(batch.arena)
        switch batch.result! {
        case .failure(let e):
            // The batches behind a failed one are not written (see `flush`): the run stops with
            // the first error, and drops what it read after the failed batch.
            failure = e
            for later in inFlight { later.done.wait() }
            inFlight.removeAll()
            pending = []
            dirty.removeAll()
            lastPartition = -1
            throw e
        case .success(let r):
            counters.writerCPUNanoseconds += batch.cpu
            counters.inserted += Int64(r.inserted)
            counters.updated += Int64(r.updated)
            counters.unchanged += Int64(r.unchanged)
            counters.transactions += 1
            if let onCommit {
                onCommit(batch.readThrough - reportedRead, Int64(r.inserted + r.updated))
                reportedRead = batch.readThrough
            }
        }
    }

    /// A batch handed to the writer thread.
    private final class InFlight: @unchecked Sendable {
        var rows: [AlertRow]
        let arena: AlertRowArena
        let offsets: [IndexedOffset]
        let readThrough: Int64
        var result: Result<AlertIndex.WriteResult, AlertIndexError>?
        var cpu: Int64 = 0
        /// The batch queued before this one while it was in flight (read and cleared on the writer's queue).
        var previous: InFlight?
        let done = DispatchSemaphore(value: 0)
        init(rows: [AlertRow], arena: AlertRowArena, offsets: [IndexedOffset], readThrough: Int64) {
            self.rows = rows
            self.arena = arena
            self.offsets = offsets
            self.readThrough = readThrough
        }
    }
}
