import CRdKafka
import VigilBroker
#if canImport(Glibc)
import Glibc
#endif

/// One record, borrowed from librdkafka's fetch buffer: valid only inside the callback that
/// receives it (no copy is made).
public struct KafkaRecord {
    public let topic: String
    public let partition: Int
    public let offset: Int64
    /// Nanoseconds since the epoch (Kafka keeps milliseconds); -1 when the record has none.
    public let timestamp: Int64
    public let key: UnsafeRawBufferPointer?
    public let value: UnsafeRawBufferPointer
}

// librdkafka's logical offsets (macros with comments inside, so spelled out here).
let offsetBeginning: Int64 = -2
let offsetEnd: Int64 = -1
let offsetInvalid: Int64 = -1001

/// A member of a Kafka consumer group with manual commits, mirroring the embedded broker's
/// `GroupConsumer`: the members share the partitions of the subscribed topics; `onAssign` says
/// where a newly owned partition starts (nil: the group's committed offset, else
/// `resetPosition`), `onRevoke` hears the next offset of a partition before it is given up, and
/// the consumer then commits that offset (`commitOnRevoke`).
///
/// Rebalances run inside `poll` and `close` (librdkafka's rebalance callback), with
/// `rd_kafka_incremental_assign`/`unassign` for the cooperative protocol and `rd_kafka_assign`
/// for the eager one. Records of a partition revoked while a batch was being gathered are not
/// delivered: the revoke hook and the commit get the offset of the first of them.
///
/// Not thread-safe: use one consumer per thread.
public final class KafkaGroupConsumer {
    /// How the group spreads partitions over its members (`partition.assignment.strategy`).
    public enum AssignmentStrategy: String, Sendable {
        /// Incremental: a rebalance moves only the partitions that change owner.
        case cooperativeSticky = "cooperative-sticky"
        /// Eager: every member gives up everything at each rebalance.
        case range
        case roundRobin = "roundrobin"
    }

    public typealias AssignHandler = (TopicPartition) throws -> StartPosition?
    public typealias RevokeHandler = (TopicPartition, Int64) throws -> Void

    /// Consumer errors and rebalance counters.
    public struct Statistics: Sendable, Equatable {
        /// Partitions assigned and revoked over the consumer's life.
        public var assigned = 0
        public var revoked = 0
        /// Errors librdkafka reported while consuming (it retries by itself), and the last one.
        public var errors = 0
        public var lastError: KafkaError?
        /// Commits at revoke that failed (the next owner then starts at an older offset).
        public var commitFailures = 0
    }

    /// Vigil's consumer defaults (before `group.id` and the assignment strategy);
    /// `KafkaConfiguration.properties` override them.
    public static let defaults: [(String, String)] = [
        ("enable.auto.commit", "false"),
        ("enable.auto.offset.store", "false"),
        ("auto.offset.reset", "earliest"),
        ("session.timeout.ms", "10000"),
        ("heartbeat.interval.ms", "2000"),
        ("enable.partition.eof", "false"),
    ]

    /// What the rebalance callback touches. It runs only inside `rd_kafka_consumer_poll` and
    /// `rd_kafka_consumer_close`, both called by the consumer on its own thread.
    final class State {
        let onAssign: AssignHandler?
        let onRevoke: RevokeHandler?
        let commitOnRevoke: Bool
        let resetToLatest: Bool
        /// Messages gathered for the batch being built (owned: destroyed after delivery).
        var pending: [UnsafeMutablePointer<rd_kafka_message_t>] = []
        /// Next offset to deliver per owned partition, when known.
        var positions: [TopicPartition: Int64] = [:]
        /// Partitions started at a timestamp (ms) whose first record at or after it has not been
        /// delivered yet.
        var timestampFloors: [TopicPartition: Int64] = [:]
        /// A hook or assignment error, thrown by the next `poll`.
        var failure: (any Error)?
        var statistics = Statistics()

        init(onAssign: AssignHandler?, onRevoke: RevokeHandler?, commitOnRevoke: Bool, resetToLatest: Bool) {
            self.onAssign = onAssign
            self.onRevoke = onRevoke
            self.commitOnRevoke = commitOnRevoke
            self.resetToLatest = resetToLatest
            pending.reserveCapacity(1024)
        }

        func fail(_ error: any Error) { if failure == nil { failure = error } }

        func destroyPending(where matches: (UnsafeMutablePointer<rd_kafka_message_t>) -> Bool = { _ in true }) {
            pending.removeAll { m in
                guard matches(m) else { return false }
                rd_kafka_message_destroy(m)
                return true
            }
        }

        func rebalance(_ rk: OpaquePointer, _ err: rd_kafka_resp_err_t, _ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) {
            let cooperative = rd_kafka_rebalance_protocol(rk).map { String(cString: $0) == "COOPERATIVE" } ?? false
            switch err {
            case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS: assign(rk, list, cooperative: cooperative)
            case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS: revoke(rk, list, cooperative: cooperative)
            default:
                // A rebalance error: drop everything, as librdkafka asks.
                statistics.errors += 1
                statistics.lastError = KafkaError(err, "group rebalance failed")
                destroyPending()
                positions.removeAll()
                timestampFloors.removeAll()
                _ = rd_kafka_assign(rk, nil)
            }
        }

        private func assign(_ rk: OpaquePointer, _ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>, cooperative: Bool) {
            let count = Int(list.pointee.cnt)
            let committed = rd_kafka_topic_partition_list_new(list.pointee.cnt)!
            let times = rd_kafka_topic_partition_list_new(list.pointee.cnt)!
            defer { rd_kafka_topic_partition_list_destroy(committed); rd_kafka_topic_partition_list_destroy(times) }
            for i in 0..<count {
                let e = list.pointee.elems + i
                let tp = TopicPartition(String(cString: e.pointee.topic), Int(e.pointee.partition))
                statistics.assigned += 1
                positions[tp] = nil
                timestampFloors[tp] = nil
                var start: StartPosition? = nil
                if failure == nil, let onAssign {
                    do { start = try onAssign(tp) } catch { fail(error) }
                }
                switch start {
                case nil:
                    e.pointee.offset = offsetInvalid  // the committed offset, else auto.offset.reset
                    rd_kafka_topic_partition_list_add(committed, e.pointee.topic, e.pointee.partition)
                case .earliest: e.pointee.offset = offsetBeginning
                case .latest: e.pointee.offset = offsetEnd
                case .offset(let o):
                    e.pointee.offset = o
                    positions[tp] = o
                case .timestamp(let ns):
                    rd_kafka_topic_partition_list_add(times, e.pointee.topic, e.pointee.partition).pointee.offset = ns / 1_000_000
                    timestampFloors[tp] = ns / 1_000_000
                }
            }
            if committed.pointee.cnt > 0 {
                // Where the partitions resume, so revoke and lag know it before the first record.
                let err = rd_kafka_committed(rk, committed, 10_000)
                if err == RD_KAFKA_RESP_ERR_NO_ERROR {
                    for i in 0..<Int(committed.pointee.cnt) {
                        let c = committed.pointee.elems[i]
                        if c.err == RD_KAFKA_RESP_ERR_NO_ERROR, c.offset >= 0 {
                            positions[TopicPartition(String(cString: c.topic), Int(c.partition))] = c.offset
                        }
                    }
                }
            }
            if times.pointee.cnt > 0 {
                let err = rd_kafka_offsets_for_times(rk, times, 10_000)
                if err != RD_KAFKA_RESP_ERR_NO_ERROR { fail(KafkaError(err, "cannot find the offsets of the start timestamps")) }
                for i in 0..<Int(times.pointee.cnt) {
                    let t = times.pointee.elems[i]
                    // -1: no record at or after the timestamp, so start at the end.
                    let offset = t.err == RD_KAFKA_RESP_ERR_NO_ERROR && t.offset >= 0 ? t.offset : offsetEnd
                    rd_kafka_topic_partition_list_find(list, t.topic, t.partition)?.pointee.offset = offset
                    if offset >= 0 { positions[TopicPartition(String(cString: t.topic), Int(t.partition))] = offset }
                }
            }
            if cooperative {
                if let error = rd_kafka_incremental_assign(rk, list) { fail(KafkaError(consuming: error, "cannot take the assigned partitions")) }
            } else {
                let err = rd_kafka_assign(rk, list)
                if err != RD_KAFKA_RESP_ERR_NO_ERROR { fail(KafkaError(err, "cannot take the assigned partitions")) }
            }
        }

        private func revoke(_ rk: OpaquePointer, _ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>, cooperative: Bool) {
            let lost = rd_kafka_assignment_lost(rk) != 0
            let commits = rd_kafka_topic_partition_list_new(list.pointee.cnt)!
            defer { rd_kafka_topic_partition_list_destroy(commits) }
            for i in 0..<Int(list.pointee.cnt) {
                let e = list.pointee.elems[i]
                let topic = String(cString: e.topic)
                let tp = TopicPartition(topic, Int(e.partition))
                statistics.revoked += 1
                var next = positions.removeValue(forKey: tp)
                timestampFloors[tp] = nil
                // Records gathered for the current batch but not delivered go back to the group.
                func ofPartition(_ m: UnsafeMutablePointer<rd_kafka_message_t>) -> Bool {
                    m.pointee.partition == e.partition && strcmp(rd_kafka_topic_name(m.pointee.rkt), e.topic) == 0
                }
                if let first = pending.first(where: ofPartition) {
                    next = first.pointee.offset
                    destroyPending(where: ofPartition)
                }
                var known = next != nil
                if next == nil {
                    // Nothing committed and nothing delivered: it would have started at the reset position.
                    var low: Int64 = 0, high: Int64 = 0
                    if rd_kafka_query_watermark_offsets(rk, e.topic, e.partition, &low, &high, 5_000) == RD_KAFKA_RESP_ERR_NO_ERROR {
                        next = resetToLatest ? high : low
                    }
                    known = false
                }
                if failure == nil, let onRevoke {
                    do { try onRevoke(tp, next ?? 0) } catch { fail(error) }
                }
                // Commit only what the hook saw through: after a failed hook nothing more is committed.
                if known, let next, commitOnRevoke, !lost, failure == nil {
                    rd_kafka_topic_partition_list_add(commits, e.topic, e.partition).pointee.offset = next
                }
            }
            if commits.pointee.cnt > 0 {
                let err = rd_kafka_commit(rk, commits, 0)
                if err != RD_KAFKA_RESP_ERR_NO_ERROR {
                    statistics.commitFailures += 1
                    statistics.errors += 1
                    statistics.lastError = KafkaError(err, "cannot commit the offsets of revoked partitions")
                }
            }
            if cooperative {
                if let error = rd_kafka_incremental_unassign(rk, list) { fail(KafkaError(consuming: error, "cannot give up the revoked partitions")) }
            } else {
                let err = rd_kafka_assign(rk, nil)
                if err != RD_KAFKA_RESP_ERR_NO_ERROR { fail(KafkaError(err, "cannot give up the revoked partitions")) }
            }
        }
    }

    public let configuration: KafkaConfiguration
    public let group: String
    public let topics: [String]
    let handle: KafkaHandle
    private let state: State
    private var closed = false
    /// Inside `poll`'s delivery loop: `poll` and `close` may not be called from its body.
    private var delivering = false

    /// Joins `group` and subscribes to `topics`; the assignment arrives during the first polls.
    /// `resetPosition` (`.earliest` or `.latest`) is where a partition without a committed offset
    /// starts when `onAssign` returns nil.
    public init(configuration: KafkaConfiguration, group: String, topics: [String],
                strategy: AssignmentStrategy = .cooperativeSticky, resetPosition: StartPosition = .earliest,
                commitOnRevoke: Bool = true, onAssign: AssignHandler? = nil, onRevoke: RevokeHandler? = nil) throws(KafkaError) {
        guard !group.isEmpty else { throw KafkaError(code: KafkaError.invalidArgument, message: "a Kafka consumer group needs a name") }
        guard !topics.isEmpty else { throw KafkaError(code: KafkaError.invalidArgument, message: "consumer group '\(group)' subscribes to no topic") }
        let reset: String
        switch resetPosition {
        case .earliest: reset = "earliest"
        case .latest: reset = "latest"
        default: throw KafkaError(code: KafkaError.invalidArgument, message: "the reset position of a Kafka consumer is earliest or latest")
        }
        self.configuration = configuration
        self.group = group
        self.topics = topics
        let conf = try configuration.makeConf(defaults: Self.defaults + [
            ("group.id", group), ("partition.assignment.strategy", strategy.rawValue), ("auto.offset.reset", reset),
        ])
        rd_kafka_conf_set_rebalance_cb(conf) { rk, err, list, opaque in
            guard let rk, let list, let opaque else { return }
            Unmanaged<State>.fromOpaque(opaque).takeUnretainedValue().rebalance(rk, err, list)
        }
        state = State(onAssign: onAssign, onRevoke: onRevoke, commitOnRevoke: commitOnRevoke, resetToLatest: resetPosition == .latest)
        handle = try KafkaHandle(type: RD_KAFKA_CONSUMER, conf: conf, context: state, what: "consumer")
        rd_kafka_poll_set_consumer(handle.pointer)
        let list = rd_kafka_topic_partition_list_new(Int32(topics.count))!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for t in topics { rd_kafka_topic_partition_list_add(list, t, -1) }
        let err = rd_kafka_subscribe(handle.pointer, list)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(err, "cannot subscribe group '\(group)' to \(topics.joined(separator: ", "))")
        }
    }

    deinit {
        if !closed { try? close() }
    }

    /// Consumer errors and rebalance counters.
    public var statistics: Statistics { state.statistics }

    /// The next offset to deliver of each owned partition whose position is known (from a
    /// delivered record, a start offset or a committed offset).
    public var positions: [TopicPartition: Int64] { state.positions }

    /// Delivers up to `maxRecords` records, waiting up to `timeout` for the first. Returns how
    /// many were delivered (0 on timeout). Rebalances (and the hooks) run in here.
    ///
    /// Records are lent to `body` without a copy. If `body` throws, the partitions are rewound
    /// to the first record it did not take, so the next poll delivers it again.
    @discardableResult
    public func poll(maxRecords: Int, timeout: Duration, _ body: (KafkaRecord) throws -> Void) throws -> Int {
        try checkOpen()
        precondition(maxRecords > 0, "maxRecords must be positive")
        precondition(!delivering, "KafkaGroupConsumer.poll called from inside its own body")
        let rk = handle.pointer
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while state.pending.count < maxRecords && state.failure == nil {
            let wait = state.pending.isEmpty ? milliseconds(clock.now.duration(to: deadline)) : 0
            guard let m = rd_kafka_consumer_poll(rk, wait) else {
                if state.pending.isEmpty && clock.now < deadline { continue }
                break
            }
            if m.pointee.err != RD_KAFKA_RESP_ERR_NO_ERROR {
                consumerError(m)
                continue
            }
            state.pending.append(m)
        }
        if let failure = state.failure {
            state.failure = nil
            state.destroyPending()
            throw failure
        }
        delivering = true
        defer { delivering = false; state.destroyPending() }
        var delivered = 0
        var index = 0
        var topicHandle: OpaquePointer? = nil
        var run = TopicPartition("", -1)
        var runNext: Int64 = -1
        var floor: Int64? = nil
        func endRun() { if runNext >= 0 { state.positions[run] = runNext } }
        do {
            while index < state.pending.count {
                let m = state.pending[index]
                let r = m.pointee
                if r.rkt != topicHandle || Int(r.partition) != run.partition {
                    endRun()
                    if r.rkt != topicHandle { topicHandle = r.rkt; run.topic = String(cString: rd_kafka_topic_name(r.rkt)) }
                    run.partition = Int(r.partition)
                    runNext = -1
                    floor = state.timestampFloors.isEmpty ? nil : state.timestampFloors[run]
                }
                let ms = rd_kafka_message_timestamp(m, nil)
                if let f = floor {
                    // Started at a timestamp: the broker may return the start of a batch, so skip
                    // the records before the timestamp here.
                    if ms >= 0 && ms < f {
                        runNext = r.offset + 1
                        index += 1
                        continue
                    }
                    floor = nil
                    state.timestampFloors[run] = nil
                }
                try body(KafkaRecord(topic: run.topic, partition: run.partition, offset: r.offset,
                                     timestamp: ms < 0 ? -1 : ms &* 1_000_000,
                                     key: r.key.map { UnsafeRawBufferPointer(start: $0, count: r.key_len) },
                                     value: UnsafeRawBufferPointer(start: r.payload, count: r.len)))
                runNext = r.offset + 1
                delivered += 1
                index += 1
            }
        } catch {
            endRun()
            rewind(undelivered: state.pending[index...])
            throw error
        }
        endRun()
        return delivered
    }

    @inline(never)
    private func consumerError(_ m: UnsafeMutablePointer<rd_kafka_message_t>) {
        defer { rd_kafka_message_destroy(m) }
        let err = m.pointee.err
        if err == RD_KAFKA_RESP_ERR__PARTITION_EOF { return }
        var whereText = ""
        if let rkt = m.pointee.rkt { whereText = " on \(String(cString: rd_kafka_topic_name(rkt)))/\(m.pointee.partition)" }
        let text = m.pointee.payload.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: m.pointee.len), as: UTF8.self) }
            ?? String(cString: rd_kafka_err2str(err))
        state.statistics.errors += 1
        if err == RD_KAFKA_RESP_ERR__FATAL, let fatal = handle.fatalError() {
            state.statistics.lastError = fatal
            state.fail(fatal)
        } else {
            state.statistics.lastError = KafkaError(code: err.rawValue, message: "consumer error\(whereText): \(text)")
        }
    }

    /// Seeks each partition of `records` back to its first record there.
    private func rewind(undelivered records: ArraySlice<UnsafeMutablePointer<rd_kafka_message_t>>) {
        var firsts: [TopicPartition: Int64] = [:]
        for m in records {
            let tp = TopicPartition(String(cString: rd_kafka_topic_name(m.pointee.rkt)), Int(m.pointee.partition))
            if firsts[tp] == nil { firsts[tp] = m.pointee.offset }
        }
        for (tp, offset) in firsts {
            try? seek(tp, to: .offset(offset))
        }
    }

    /// Moves an owned partition's position; the next polls deliver from there.
    public func seek(_ tp: TopicPartition, to position: StartPosition, timeout: Duration = .seconds(10)) throws(KafkaError) {
        try checkOpen()
        let offset = try resolve(tp, position, timeout: timeout)
        let list = rd_kafka_topic_partition_list_new(1)!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        rd_kafka_topic_partition_list_add(list, tp.topic, Int32(tp.partition)).pointee.offset = offset
        if let error = rd_kafka_seek_partitions(handle.pointer, list, milliseconds(timeout)) {
            throw KafkaError(consuming: error, "cannot seek \(tp)")
        }
        let err = list.pointee.elems[0].err
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, "cannot seek \(tp)") }
        state.positions[tp] = offset
        if case .timestamp(let ns) = position { state.timestampFloors[tp] = ns / 1_000_000 } else { state.timestampFloors[tp] = nil }
    }

    /// A start position as an offset, asking the broker where needed.
    private func resolve(_ tp: TopicPartition, _ position: StartPosition, timeout: Duration) throws(KafkaError) -> Int64 {
        switch position {
        case .offset(let o): return o
        case .earliest, .latest:
            let w = try watermarks(tp, timeout: timeout)
            return position == .earliest ? w.low : w.high
        case .timestamp(let ns):
            let list = rd_kafka_topic_partition_list_new(1)!
            defer { rd_kafka_topic_partition_list_destroy(list) }
            rd_kafka_topic_partition_list_add(list, tp.topic, Int32(tp.partition)).pointee.offset = ns / 1_000_000
            let err = rd_kafka_offsets_for_times(handle.pointer, list, milliseconds(timeout))
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR, list.pointee.elems[0].err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw KafkaError(err != RD_KAFKA_RESP_ERR_NO_ERROR ? err : list.pointee.elems[0].err, "cannot find the offset of a timestamp in \(tp)")
            }
            let o = list.pointee.elems[0].offset
            return o >= 0 ? o : try watermarks(tp, timeout: timeout).high
        }
    }

    private func watermarks(_ tp: TopicPartition, timeout: Duration) throws(KafkaError) -> (low: Int64, high: Int64) {
        var low: Int64 = 0, high: Int64 = 0
        let err = rd_kafka_query_watermark_offsets(handle.pointer, tp.topic, Int32(tp.partition), &low, &high, milliseconds(timeout))
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, "cannot read the offsets of \(tp)") }
        return (low, high)
    }

    /// Commits `offsets` (each the next offset to consume) for the group, synchronously.
    public func commit(offsets: [TopicPartition: Int64]) throws(KafkaError) {
        try checkOpen()
        guard !offsets.isEmpty else { return }
        let list = rd_kafka_topic_partition_list_new(Int32(offsets.count))!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for (tp, offset) in offsets.sorted(by: { $0.key < $1.key }) {
            rd_kafka_topic_partition_list_add(list, tp.topic, Int32(tp.partition)).pointee.offset = offset
        }
        let err = rd_kafka_commit(handle.pointer, list, 0)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, "cannot commit the offsets of group '\(group)'") }
        for i in 0..<Int(list.pointee.cnt) where list.pointee.elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR {
            let e = list.pointee.elems[i]
            throw KafkaError(e.err, "cannot commit the offset of \(String(cString: e.topic))/\(e.partition) for group '\(group)'")
        }
    }

    /// Commits the position of every owned partition (what has been delivered).
    public func commit() throws(KafkaError) {
        let owned = Set(try assignment)
        try commit(offsets: state.positions.filter { owned.contains($0.key) })
    }

    /// The partitions this member owns now.
    public var assignment: [TopicPartition] {
        get throws(KafkaError) {
            try checkOpen()
            var list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
            let err = rd_kafka_assignment(handle.pointer, &list)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let list else { throw KafkaError(err, "cannot read the assignment") }
            defer { rd_kafka_topic_partition_list_destroy(list) }
            return (0..<Int(list.pointee.cnt)).map {
                TopicPartition(String(cString: list.pointee.elems[$0].topic), Int(list.pointee.elems[$0].partition))
            }.sorted()
        }
    }

    /// Records not yet delivered per owned partition: the high watermark minus the position
    /// (the committed offset, or the reset position, before the first delivery). The high
    /// watermark is the one the last fetch response carried, or asked of the broker when no fetch
    /// has returned yet.
    public func lag(timeout: Duration = .seconds(5)) throws(KafkaError) -> [TopicPartition: Int64] {
        var result: [TopicPartition: Int64] = [:]
        for tp in try assignment {
            var low: Int64 = offsetInvalid, high: Int64 = offsetInvalid
            let err = rd_kafka_get_watermark_offsets(handle.pointer, tp.topic, Int32(tp.partition), &low, &high)
            if err != RD_KAFKA_RESP_ERR_NO_ERROR || high < 0 {
                (low, high) = try watermarks(tp, timeout: timeout)
            }
            let position = state.positions[tp] ?? (state.resetToLatest ? high : max(low, 0))
            result[tp] = max(0, high - position)
        }
        return result
    }

    /// Gives up the partitions (running `onRevoke` and committing, as in a rebalance) and leaves
    /// the group. Further calls throw; a second close does nothing.
    public func close() throws {
        if closed { return }
        precondition(!delivering, "KafkaGroupConsumer.close called from inside poll's body")
        closed = true
        let err = rd_kafka_consumer_close(handle.pointer)
        state.destroyPending()
        if let failure = state.failure { state.failure = nil; throw failure }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, "cannot close the consumer of group '\(group)'") }
    }

    private func checkOpen() throws(KafkaError) {
        if closed { throw KafkaError(code: KafkaError.destroyed, message: "the consumer of group '\(group)' is closed") }
    }
}
