import Foundation
import Testing
import VigilBroker
import VigilTestSupport
@testable import VigilKafka

/// The broker the tests use: scripts/kafka-test-env.sh starts Tansu on loopback and prints it.
let bootstrap = ProcessInfo.processInfo.environment["VIGIL_KAFKA_BOOTSTRAP"].flatMap { $0.isEmpty ? nil : $0 }
let brokerMissing = """
    VIGIL_KAFKA_BOOTSTRAP is unset: no Kafka broker to test against. \
    Run `eval "$(scripts/kafka-test-env.sh start)"` first (docs/kafka.md)
    """

func testConfiguration(_ properties: [String: String] = [:]) -> KafkaConfiguration {
    KafkaConfiguration(bootstrapServers: bootstrap ?? "127.0.0.1:9", properties: properties)
}

/// Tight group timeouts keep joins near 3 s (Tansu waits about session.timeout.ms / 2).
func consumerConfiguration() -> KafkaConfiguration {
    testConfiguration(["session.timeout.ms": "6000", "heartbeat.interval.ms": "1000"])
}

func uniqueName(_ prefix: String) -> String {
    "vigil-\(prefix)-\(String(UInt64.random(in: 0...UInt64.max), radix: 36))"
}

/// A fresh topic with `partitions` partitions.
func makeTopic(_ prefix: String, partitions: Int = 4) throws -> String {
    let topic = uniqueName(prefix)
    let admin = try KafkaAdmin(configuration: testConfiguration())
    #expect(try admin.createTopic(topic, partitions: partitions))
    return topic
}

/// `count` records with keys `key-<i % keys>` and ~200-byte values that start with `i`.
func produceKeyed(_ topic: String, count: Int, keys: Int = 1000, valueSize: Int = 200,
                  producerProperties: [String: String] = [:]) throws -> KafkaProducer {
    let producer = try KafkaProducer(configuration: testConfiguration(producerProperties))
    var value = [UInt8](repeating: 0x61, count: valueSize)
    for i in 0..<count {
        let key = Array("key-\(i % keys)".utf8)
        withUnsafeBytes(of: UInt64(i).littleEndian) { value.replaceSubrange(0..<8, with: $0) }
        let p = try producer.produce(topic: topic, key: key, value: value, timestamp: Int64(1_700_000_000 + i) * 1_000_000_000)
        #expect(p == Partitioner.partition(for: key, count: 4))
    }
    try producer.flush(timeout: .seconds(30))
    return producer
}

/// What a test consumer saw.
final class Seen {
    var indexes: [Int: TopicPartition] = [:]
    var duplicates = 0
    var offsets: [TopicPartition: [Int64]] = [:]
    var keyMismatches = 0

    func add(_ r: KafkaRecord) {
        let i = Int(r.value.loadUnaligned(as: UInt64.self).littleEndian)
        let tp = TopicPartition(r.topic, r.partition)
        if indexes.updateValue(tp, forKey: i) != nil { duplicates += 1 }
        offsets[tp, default: []].append(r.offset)
        if let key = r.key, Partitioner.partition(for: key, count: 4) != r.partition { keyMismatches += 1 }
    }
}

/// Polls `consumers` in turn until `done` or `timeout`.
func pollAll(_ consumers: [KafkaGroupConsumer], seen: [Seen], maxRecords: Int = 10_000,
             timeout: Duration = .seconds(40), until done: () throws -> Bool) throws {
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: timeout)
    while try !done() {
        guard clock.now < deadline else { Issue.record("timed out waiting for the consumers"); return }
        for (i, c) in consumers.enumerated() {
            try c.poll(maxRecords: maxRecords, timeout: .milliseconds(50)) { seen[i].add($0) }
        }
    }
}

@Suite struct KafkaConfigurationTests {
    @Test func libraryLoads() {
        #expect(!Kafka.libraryVersion.isEmpty)
        print("librdkafka \(Kafka.libraryVersion)")
        if bootstrap != nil && Kafka.libraryVersion.hasPrefix("2.0.") {
            Issue.record("librdkafka \(Kafka.libraryVersion) fails the ApiVersions handshake with Tansu: run with the LD_LIBRARY_PATH that scripts/kafka-test-env.sh prints (librdkafka 2.16)")
        }
    }

    @Test func unknownPropertyIsAClearError() throws {
        let bad = KafkaConfiguration(bootstrapServers: "127.0.0.1:9092", properties: ["no.such.property": "1"])
        let error = #expect(throws: KafkaError.self) { try bad.validate() }
        #expect(error?.name == "_INVALID_ARG")
        #expect(error?.message.contains("unknown Kafka property 'no.such.property'") == true)
        #expect(throws: KafkaError.self) { _ = try KafkaProducer(configuration: bad) }
        #expect(throws: KafkaError.self) { _ = try KafkaGroupConsumer(configuration: bad, group: "g", topics: ["t"]) }
        #expect(throws: KafkaError.self) { _ = try KafkaAdmin(configuration: bad) }
    }

    @Test func invalidValueNamesTheProperty() throws {
        let bad = KafkaConfiguration(bootstrapServers: "127.0.0.1:9092", properties: ["acks": "sometimes"])
        let error = #expect(throws: KafkaError.self) { try bad.validate() }
        #expect(error?.description.contains("invalid value for Kafka property 'acks'") == true)
        let empty = KafkaConfiguration(bootstrapServers: "")
        let e2 = #expect(throws: KafkaError.self) { try empty.validate() }
        #expect(e2?.message.contains("bootstrap servers") == true)
        #expect(throws: KafkaError.self) {
            _ = try KafkaGroupConsumer(configuration: KafkaConfiguration(bootstrapServers: "127.0.0.1:9092"), group: "g", topics: [])
        }
    }
}

@Suite(.enabled(if: bootstrap != nil, Comment(rawValue: brokerMissing)))
struct KafkaBrokerTests {
    @Test func createTopicWithFourPartitions() throws {
        let topic = uniqueName("create")
        let admin = try KafkaAdmin(configuration: testConfiguration())
        #expect(try admin.partitionCount(topic: topic) == nil)
        #expect(try admin.createTopic(topic, partitions: 4) == true)
        #expect(try admin.createTopic(topic, partitions: 4) == false)  // TOPIC_ALREADY_EXISTS tolerated
        #expect(try admin.partitionCount(topic: topic) == 4)
        #expect(try admin.watermarks(TopicPartition(topic, 3)) == (0, 0))
        let producer = try KafkaProducer(configuration: testConfiguration())
        let error = #expect(throws: KafkaError.self) { try producer.produce(topic: uniqueName("missing"), key: nil, value: [1]) }
        #expect(error?.message.contains("does not exist") == true)
        let e2 = #expect(throws: KafkaError.self) { try producer.produce(topic: topic, partition: 4, key: nil, value: [1]) }
        #expect(e2?.message.contains("has no partition 4") == true)
    }

    @Test func hundredThousandKeyedRecordsRoundTrip() throws {
        let topic = try makeTopic("100k")
        let count = 100_000
        let clock = ContinuousClock()
        let start = clock.now
        let producer = try produceKeyed(topic, count: count)
        let produced = clock.now - start
        #expect(producer.statistics.delivered == count)
        #expect(producer.statistics.failed == 0)
        #expect(producer.inFlight == 0)

        let consumer = try KafkaGroupConsumer(configuration: consumerConfiguration(), group: uniqueName("g"), topics: [topic])
        let seen = [Seen()]
        var firstRecord: ContinuousClock.Instant?
        let consumeStart = clock.now
        try pollAll([consumer], seen: seen) {
            if firstRecord == nil && !seen[0].indexes.isEmpty { firstRecord = clock.now }
            return seen[0].indexes.count + seen[0].duplicates >= count
        }
        let consumed = clock.now - (firstRecord ?? consumeStart)
        #expect(seen[0].indexes.count == count)
        #expect(seen[0].duplicates == 0)
        #expect(seen[0].keyMismatches == 0)
        // Every record on the partition of its key, in order, with no gaps.
        for (tp, offsets) in seen[0].offsets {
            #expect(offsets == Array(0..<Int64(offsets.count)), "offsets of \(tp)")
        }
        #expect(seen[0].offsets.count == 4)
        for i in stride(from: 0, to: count, by: 997) {
            let key = Array("key-\(i % 1000)".utf8)
            #expect(seen[0].indexes[i]?.partition == Partitioner.partition(for: key, count: 4))
        }
        #expect(try consumer.lag().values.allSatisfy { $0 == 0 })
        try consumer.commit()
        try consumer.close()
        print("""
            kafka: produced \(count) records of 200 B in \(produced) (\(Int(Double(count) / seconds(produced))) records/s), \
            consumed in \(consumed) after the join (\(Int(Double(count) / seconds(consumed))) records/s), \
            join took \((firstRecord ?? consumeStart) - consumeStart)
            """)
    }

    @Test func fullLocalQueueBlocksInsteadOfDropping() throws {
        let topic = try makeTopic("backpressure")
        let producer = try produceKeyed(topic, count: 20_000, producerProperties: ["queue.buffering.max.messages": "500"])
        #expect(producer.statistics.delivered == 20_000)
        #expect(producer.statistics.failed == 0)
        #expect(producer.statistics.queueFullWaits > 0)
        // Every record arrived, once (Tansu's ListOffsets under-reports the end offset; see docs/kafka.md).
        let c = try KafkaGroupConsumer(configuration: consumerConfiguration(), group: uniqueName("g"), topics: [topic])
        let seen = [Seen()]
        try pollAll([c], seen: seen) { seen[0].indexes.count + seen[0].duplicates >= 20_000 }
        #expect(seen[0].indexes.count == 20_000)
        #expect(seen[0].duplicates == 0)
        try c.close()
    }

    @Test func lagCountsRecordsNotYetDelivered() throws {
        let topic = try makeTopic("lag", partitions: 1)
        let producer = try KafkaProducer(configuration: testConfiguration())
        for batch in 0..<10 {
            for i in 0..<100 { try producer.produce(topic: topic, key: nil, value: [UInt8(batch), UInt8(i)]) }
            try producer.flush()
        }
        let c = try KafkaGroupConsumer(configuration: consumerConfiguration(), group: uniqueName("g"), topics: [topic])
        var delivered = 0
        let deadline = ContinuousClock.now.advanced(by: .seconds(20))
        while delivered == 0 && ContinuousClock.now < deadline {
            delivered += try c.poll(maxRecords: 1, timeout: .milliseconds(100)) { _ in }
        }
        // Let the fetcher see the whole partition, then take 99 more.
        Thread.sleep(forTimeInterval: 0.5)
        delivered += try c.poll(maxRecords: 99, timeout: .seconds(2)) { _ in }
        let tp = TopicPartition(topic, 0)
        #expect(c.positions[tp] == Int64(delivered))
        #expect(try c.lag() == [tp: 1000 - Int64(delivered)])
        try c.close()
    }

    @Test func aThrowingHookSurfacesFromPoll() throws {
        struct CheckpointUnreadable: Error {}
        let topic = try makeTopic("hook")
        let c = try KafkaGroupConsumer(configuration: consumerConfiguration(), group: uniqueName("g"), topics: [topic],
                                       onAssign: { _ in throw CheckpointUnreadable() })
        var thrown = false
        let deadline = ContinuousClock.now.advanced(by: .seconds(20))
        while !thrown && ContinuousClock.now < deadline {
            do { try c.poll(maxRecords: 10, timeout: .milliseconds(100)) { _ in } } catch is CheckpointUnreadable { thrown = true }
        }
        #expect(thrown)
        try c.close()
    }

    @Test func twoConsumersSplitThePartitions() throws {
        let topic = try makeTopic("split")
        let count = 20_000
        _ = try produceKeyed(topic, count: count)
        let group = uniqueName("g")
        let a = try KafkaGroupConsumer(configuration: consumerConfiguration(), group: group, topics: [topic])
        let b = try KafkaGroupConsumer(configuration: consumerConfiguration(), group: group, topics: [topic])
        let seen = [Seen(), Seen()]
        try pollAll([a, b], seen: seen, maxRecords: 500) {
            let assigned = (try a.assignment.count, try b.assignment.count)
            return seen[0].indexes.count + seen[1].indexes.count >= count && assigned == (2, 2)
        }
        let pa = Set(try a.assignment), pb = Set(try b.assignment)
        #expect(pa.count == 2 && pb.count == 2 && pa.isDisjoint(with: pb))
        #expect(seen[0].duplicates == 0 && seen[1].duplicates == 0)
        let overlap = Set(seen[0].indexes.keys).intersection(seen[1].indexes.keys)
        #expect(overlap.isEmpty, "\(overlap.count) records read by both members")
        #expect(seen[0].indexes.count + seen[1].indexes.count == count)
        #expect(!seen[0].indexes.isEmpty && !seen[1].indexes.isEmpty)
        try a.close()
        try b.close()
    }

    @Test func committedOffsetsResumeAfterClose() throws {
        let topic = try makeTopic("resume")
        _ = try produceKeyed(topic, count: 1000)
        let group = uniqueName("g")
        let first = [Seen()]
        var committedAt: [TopicPartition: Int64] = [:]
        var committed: [Int: TopicPartition] = [:]
        do {
            let c = try KafkaGroupConsumer(configuration: consumerConfiguration(), group: group, topics: [topic], commitOnRevoke: false)
            try pollAll([c], seen: first, maxRecords: 50) { first[0].indexes.count >= 400 }
            try c.commit()
            committedAt = c.positions
            committed = first[0].indexes
            // Read on, but do not commit: these come again to the next member.
            try pollAll([c], seen: first, maxRecords: 50) { first[0].indexes.count >= committed.count + 100 }
            try c.close()
        }
        #expect(committedAt.values.reduce(0, +) == Int64(committed.count))
        let second = [Seen()]
        let c2 = try KafkaGroupConsumer(configuration: consumerConfiguration(), group: group, topics: [topic])
        try pollAll([c2], seen: second) { second[0].indexes.count >= 1000 - committed.count }
        try c2.poll(maxRecords: 10_000, timeout: .milliseconds(300)) { second[0].add($0) }
        #expect(Set(committed.keys).isDisjoint(with: second[0].indexes.keys))
        #expect(committed.count + second[0].indexes.count == 1000)
        // The second member started each partition exactly at the first one's commit.
        for (tp, offsets) in second[0].offsets {
            #expect(offsets.first == committedAt[tp] ?? 0, "start of \(tp)")
        }
        try c2.close()
    }

    @Test func onAssignStartOffsetAndSeekAreHonoured() throws {
        let topic = try makeTopic("start", partitions: 5)
        let base: Int64 = 1_700_000_000_000  // ms
        let producer = try KafkaProducer(configuration: testConfiguration())
        for p in 0..<5 {
            for i in 0..<100 {
                try producer.produce(topic: topic, partition: p, key: nil, value: withUnsafeBytes(of: UInt64(p * 1000 + i).littleEndian, Array.init),
                                     timestamp: (base + Int64(i)) * 1_000_000)
            }
        }
        try producer.flush()
        let starts: [Int: StartPosition?] = [0: .offset(60), 1: .offset(90), 2: nil, 3: .earliest,
                                                 4: .timestamp((base + 50) * 1_000_000)]
        var assigned: [TopicPartition] = []
        let c = try KafkaGroupConsumer(configuration: consumerConfiguration(), group: uniqueName("g"), topics: [topic],
                                       onAssign: { tp in assigned.append(tp); return starts[tp.partition]! })
        let seen = [Seen()]
        try pollAll([c], seen: seen) { seen[0].indexes.count >= 300 }
        try c.poll(maxRecords: 10_000, timeout: .milliseconds(300)) { seen[0].add($0) }
        #expect(assigned.sorted() == (0..<5).map { TopicPartition(topic, $0) })
        #expect(seen[0].indexes.count == 300)
        #expect(seen[0].offsets[TopicPartition(topic, 0)] == Array(60..<100))
        #expect(seen[0].offsets[TopicPartition(topic, 1)] == Array(90..<100))
        #expect(seen[0].offsets[TopicPartition(topic, 2)] == Array(0..<100))
        #expect(seen[0].offsets[TopicPartition(topic, 3)] == Array(0..<100))
        #expect(seen[0].offsets[TopicPartition(topic, 4)] == Array(50..<100))
        #expect(c.positions[TopicPartition(topic, 0)] == 100)

        // Seek by time: the first record at or after it.
        try c.seek(TopicPartition(topic, 4), to: .timestamp((base + 95) * 1_000_000))
        var fromTime: [Int64] = []
        let clock = ContinuousClock()
        var deadline = clock.now.advanced(by: .seconds(10))
        while fromTime.count < 5 && clock.now < deadline {
            try c.poll(maxRecords: 1000, timeout: .milliseconds(100)) { r in
                #expect(r.partition == 4)
                #expect(r.timestamp == (base + r.offset) * 1_000_000)
                fromTime.append(r.offset)
            }
        }
        #expect(fromTime == Array(95..<100))
        #expect(c.positions[TopicPartition(topic, 4)] == 100)

        // Seek back: partition 0 again from 10.
        try c.seek(TopicPartition(topic, 0), to: .offset(10))
        #expect(c.positions[TopicPartition(topic, 0)] == 10)
        var again: [Int64] = []
        deadline = clock.now.advanced(by: .seconds(10))
        while again.count < 90 && clock.now < deadline {
            try c.poll(maxRecords: 1000, timeout: .milliseconds(100)) { r in
                #expect(r.partition == 0)
                again.append(r.offset)
            }
        }
        #expect(again == Array(10..<100))
        #expect(try c.lag().values.reduce(0, +) == 0)

        // A throwing body: the record it refused comes again.
        try c.seek(TopicPartition(topic, 3), to: .offset(98))
        var refused = false
        var redelivered: [Int64] = []
        let deadline2 = clock.now.advanced(by: .seconds(10))
        while redelivered.count < 2 && clock.now < deadline2 {
            do {
                try c.poll(maxRecords: 10, timeout: .milliseconds(100)) { r in
                    if !refused && r.offset == 99 { refused = true; throw CancellationError() }
                    redelivered.append(r.offset)
                }
            } catch is CancellationError {}
        }
        #expect(refused)
        #expect(redelivered == [98, 99])
        try c.close()
        #expect(throws: KafkaError.self) { try c.poll(maxRecords: 1, timeout: .zero) { _ in } }
    }

    @Test(arguments: [KafkaGroupConsumer.AssignmentStrategy.cooperativeSticky, .range])
    func joiningConsumerTriggersRevokeAndAssign(strategy: KafkaGroupConsumer.AssignmentStrategy) throws {
        let topic = try makeTopic("join")
        _ = try produceKeyed(topic, count: 2000)
        let group = uniqueName("g")
        var events: [String] = []
        var revokedAt: [TopicPartition: Int64] = [:]
        var bStarts: [TopicPartition: Int64] = [:]
        let a = try KafkaGroupConsumer(configuration: consumerConfiguration(), group: group, topics: [topic], strategy: strategy,
                                       onAssign: { tp in events.append("a+\(tp.partition)"); return nil },
                                       onRevoke: { tp, next in events.append("a-\(tp.partition)"); revokedAt[tp] = next })
        let seen = [Seen(), Seen()]
        try pollAll([a], seen: seen, maxRecords: 10) { seen[0].indexes.count >= 200 }
        #expect(try a.assignment.count == 4)
        let b = try KafkaGroupConsumer(configuration: consumerConfiguration(), group: group, topics: [topic], strategy: strategy,
                                       onAssign: { tp in events.append("b+\(tp.partition)"); return nil })
        // `a` reads slowly so that data is left for `b` when it gets its partitions.
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .seconds(40))
        while clock.now < deadline {
            try a.poll(maxRecords: 1, timeout: .milliseconds(20)) { seen[0].add($0) }
            try b.poll(maxRecords: 1000, timeout: .milliseconds(30)) { r in
                let tp = TopicPartition(r.topic, r.partition)
                if bStarts[tp] == nil { bStarts[tp] = r.offset }
                seen[1].add(r)
            }
            if try a.assignment.count == 2 && b.assignment.count == 2 && bStarts.count == 2 { break }
        }
        #expect(try a.assignment.count == 2)
        #expect(try b.assignment.count == 2)
        let movedToB = Set(try b.assignment)
        // `a` gave up what `b` took; `b` started each at the offset `a` reported at revoke and committed.
        for tp in movedToB {
            #expect(revokedAt[tp] != nil, "no revoke hook for \(tp): \(events)")
            #expect(bStarts[tp] == revokedAt[tp], "\(tp): b started at \(bStarts[tp] ?? -1), a revoked at \(revokedAt[tp] ?? -1)")
        }
        #expect(events.filter { $0.hasPrefix("b+") }.count == 2, "\(events)")
        if strategy == .cooperativeSticky {
            // Incremental: `a` keeps its other two partitions without a revoke.
            #expect(events.filter { $0.hasPrefix("a-") }.count == 2, "\(events)")
        } else {
            #expect(events.filter { $0.hasPrefix("a-") }.count == 4, "\(events)")
        }
        // Drain: every record exactly once across both.
        try pollAll([a, b], seen: seen) { seen[0].indexes.count + seen[1].indexes.count >= 2000 }
        #expect(Set(seen[0].indexes.keys).isDisjoint(with: seen[1].indexes.keys))
        #expect(seen[0].duplicates + seen[1].duplicates == 0)
        try a.close()
        try b.close()
    }
}

func seconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}
