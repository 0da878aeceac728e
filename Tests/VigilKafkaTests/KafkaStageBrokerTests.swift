import Foundation
import Testing
import VigilBroker
import VigilTestSupport
@testable import VigilKafka

/// `KafkaStageBroker`: VigilBroker's stage protocols on a real Kafka-protocol broker.
@Suite(.enabled(if: bootstrap != nil, Comment(rawValue: brokerMissing)))
struct KafkaStageBrokerTests {
    func broker(prefix: String) throws -> KafkaStageBroker {
        try KafkaStageBroker(configuration: consumerConfiguration(), defaultPartitions: 3, topicPrefix: prefix)
    }

    @Test func topicsAreCreatedUnderThePrefixWithTheirPartitionCounts() throws {
        let prefix = uniqueName("prefix") + "."
        let broker = try broker(prefix: prefix)
        #expect(try broker.describeTopic("events") == nil)
        #expect(try broker.createTopic("events", partitions: 4) == TopicMetadata(name: "events", partitions: 4))
        #expect(try broker.createTopic("events", partitions: nil) == TopicMetadata(name: "events", partitions: 4))
        #expect(try broker.createTopic("errors", partitions: nil).partitions == 3)  // the default
        // Kafka sees the prefixed name.
        #expect(try KafkaAdmin(configuration: testConfiguration()).partitionCount(topic: prefix + "events") == 4)
        let error = #expect(throws: BrokerError.self) { try broker.createTopic("events", partitions: 2) }
        #expect(error?.message.contains("exists with 4 partitions, not 2") == true, "\(String(describing: error))")
        #expect(error?.code == .invalidArgument)
    }

    @Test func producerSendsWhereTheEmbeddedPartitionerWouldAndReadRangeReadsToTheEnd() throws {
        let broker = try broker(prefix: uniqueName("range") + ".")
        try broker.createTopic("events", partitions: 4)
        let producer = try broker.producer(topic: "events")
        #expect(producer.topic == TopicMetadata(name: "events", partitions: 4))
        var sent: [Int: [String]] = [:]
        for i in 0..<2000 {
            let key = Array("key-\(i % 37)".utf8)
            let p = try producer.send(key: key, value: Array("v\(i)".utf8), timestamp: 1_700_000_000_000_000_000 + Int64(i) * 1_000_000)
            #expect(p == Partitioner.partition(for: key, count: 4))
            sent[p, default: []].append("v\(i)")
        }
        let ends = try producer.flush()
        for p in 0..<4 {
            #expect(ends[p] == Int64(sent[p]?.count ?? 0), "partition \(p): \(String(describing: ends[p]))")
            #expect(producer.writerDurableEnd(p) == Int64(sent[p]?.count ?? 0))
            // From the start, from the middle, from the end: exactly the records there, in order,
            // with their timestamps (Kafka keeps milliseconds).
            for from in [0, (sent[p]?.count ?? 0) / 2, sent[p]?.count ?? 0] {
                var values: [String] = []
                var offsets: [Int64] = []
                let n = try broker.readRange(topic: "events", partition: p, from: Int64(from)) { r in
                    values.append(String(decoding: r.value, as: UTF8.self))
                    offsets.append(r.offset)
                    #expect(r.timestamp % 1_000_000 == 0 && r.timestamp >= 1_700_000_000_000_000_000)
                    #expect(r.partition == p)
                }
                #expect(n == values.count)
                #expect(values == Array(sent[p]?[from...] ?? []))
                #expect(offsets == (Int64(from)..<Int64(sent[p]?.count ?? 0)).map { $0 })
            }
        }
        try producer.close()
    }

    @Test func appendersTrackTheAcknowledgedEndOfTheirPartition() throws {
        let broker = try broker(prefix: uniqueName("append") + ".")
        try broker.createTopic("alerts", partitions: 2)
        let session = try broker.appenderSession()
        let first = try session.appender(topic: "alerts", partition: 1)
        #expect(first.endOffset == 0)
        for i in 0..<25 {
            try Array("a\(i)".utf8).withUnsafeBytes { v in try first.append(key: nil, value: v, timestamp: 1_000_000) }
        }
        try first.sync()
        #expect(first.endOffset == 25)
        try first.close()
        // A second session on the same partition starts at its end.
        let second = try broker.appenderSession().appender(topic: "alerts", partition: 1)
        #expect(second.endOffset >= 1 && second.endOffset <= 25)  // Tansu's ListOffsets: the last batch's base + 1
        try Array("b".utf8).withUnsafeBytes { v in try second.append(key: nil, value: v, timestamp: 2_000_000) }
        try second.sync()
        #expect(second.endOffset == 26)
        var values: [String] = []
        try broker.readRange(topic: "alerts", partition: 1, from: 24) { values.append(String(decoding: $0.value, as: UTF8.self)) }
        #expect(values == ["a24", "b"])
        #expect(try broker.readRange(topic: "alerts", partition: 0, from: 0) { _ in } == 0)
        try session.close()
    }

    @Test func groupMembersSeeVigilNamesAndCommitWhatTheyWereGiven() throws {
        let broker = try broker(prefix: uniqueName("group") + ".")
        try broker.createTopic("events", partitions: 2)
        let producer = try broker.producer(topic: "events")
        for i in 0..<100 { try producer.send(key: Array("k\(i)".utf8), value: [UInt8(i)], timestamp: 0) }
        try producer.flush()
        let group = uniqueName("g")
        var assigned: [TopicPartition] = []
        var revoked: [TopicPartition: Int64] = [:]
        let consumer = try broker.groupConsumer(
            group: group, topics: ["events"], resetPosition: .earliest,
            onAssign: { tp in assigned.append(tp); return tp.partition == 0 ? .offset(10) : nil },
            onRevoke: { tp, next in revoked[tp] = next })
        var seen: [Int: [Int64]] = [:]
        let deadline = Date().addingTimeInterval(30)
        while seen.values.reduce(0, { $0 + $1.count }) < 90 && Date() < deadline {
            try consumer.poll(maxRecords: 100) { topic, r in
                #expect(topic == "events")
                seen[r.partition, default: []].append(r.offset)
            }
        }
        #expect(assigned.sorted() == [TopicPartition("events", 0), TopicPartition("events", 1)])
        #expect(try consumer.currentAssignment() == assigned.sorted())
        #expect(seen[0]?.first == 10, "partition 0 starts where onAssign said")
        #expect(seen[1]?.first == 0)
        let counts = try broker.groupLag(group: group, topics: ["events"])
        #expect(counts.count == 2 && counts.allSatisfy { $0.committed == nil })  // nothing committed yet
        #expect(try consumer.lag().values.allSatisfy { $0 == 0 })
        let positions = consumer.positions
        #expect(Set(positions.keys) == Set(assigned))
        try consumer.commit()
        let lag = try broker.groupLag(group: group, topics: ["events"])
        for l in lag { #expect(l.committed == positions[l.topicPartition], "\(l.topicPartition)") }
        #expect(lag.allSatisfy { $0.lag <= 0 })
        try consumer.close()
        #expect(revoked == positions)
    }
}
