import Foundation
import Testing
import VigilTestSupport
@testable import VigilBroker

/// The embedded log behind the stage protocols (`StageBroker`, `RecordGroupConsumer`,
/// `PartitionAppender`, `PartitionRangeReading`), and `TopicProducer` forwarding.
@Suite struct StageBrokerTests {
    @Test func readRangeReadsFromAnOffsetToTheEndAndClampsOutOfRangeOffsets() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        var small = LogConfiguration()
        small.segmentBytes = 4096
        let log = try EmbeddedLog(dataDirectory: dir.path, configuration: small)
        let broker: any StageBroker = log
        #expect(try broker.describeTopic("t") == nil)
        #expect(try broker.createTopic("t", partitions: 1).partitions == 1)
        let producer = try broker.producer(topic: "t")
        let now = Int64(Date().timeIntervalSince1970 * 1e9)
        for i in 0..<500 {
            try producer.send(key: nil, value: Array("record \(i) ".utf8) + [UInt8](repeating: 0x2E, count: 40),
                             timestamp: now + Int64(i))  // recent: the age limit keeps it
            if i % 20 == 19 { try producer.flush() }  // small batches, so segments roll
        }
        try producer.close()
        func read(from offset: Int64) throws -> [Int64] {
            var offsets: [Int64] = []
            let n = try broker.readRange(topic: "t", partition: 0, from: offset) { offsets.append($0.offset) }
            #expect(n == offsets.count)
            return offsets
        }
        #expect(try read(from: 0) == Array(0..<500))
        #expect(try read(from: 321) == Array(321..<500))
        #expect(try read(from: 500).isEmpty)
        #expect(try read(from: 9_999).isEmpty)  // past the end: nothing, not everything
        // Retention deleted the start: reading from there starts at the earliest record kept.
        log.close()
        var config = small
        config.retentionBytes = 8192
        let trimmed = try EmbeddedLog(dataDirectory: dir.path, configuration: config)
        defer { trimmed.close() }
        try trimmed.openWriter(topic: "t", partition: 0).close()  // retention runs when a writer opens
        let start = try trimmed.openReader(topic: "t", partition: 0).startOffset()
        #expect(start > 0)
        var first: Int64?
        try trimmed.readRange(topic: "t", partition: 0, from: 0) { r in first = first ?? r.offset }
        #expect(first == start)
    }

    @Test func appendersAndGroupConsumersThroughTheProtocols() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let log = try EmbeddedLog(dataDirectory: dir.path)
        defer { log.close() }
        let broker: any StageBroker = log
        try broker.createTopic("in", partitions: 2)
        try broker.createTopic("out", partitions: 2)
        let producer = try broker.producer(topic: "in")
        for i in 0..<40 { try producer.send(key: Array("k\(i)".utf8), value: [UInt8(i)], timestamp: Int64(i)) }
        try producer.close()

        let session = try broker.appenderSession()
        let out = try session.appender(topic: "out", partition: 1)
        #expect(out.endOffset == 0)
        var assigned: [TopicPartition] = []
        var revoked: [TopicPartition: Int64] = [:]
        let consumer = try broker.groupConsumer(group: "g", topics: ["in"], resetPosition: .earliest,
                                                onAssign: { tp in assigned.append(tp); return nil },
                                                onRevoke: { tp, next in revoked[tp] = next })
        var delivered = 0
        while try consumer.poll(maxRecords: 7, { _, r in
            delivered += 1
            if r.partition == 1 { try out.append(key: r.key, value: r.value, timestamp: r.timestamp) }
        }) > 0 {}
        #expect(delivered == 40)
        #expect(assigned == [TopicPartition("in", 0), TopicPartition("in", 1)])
        #expect(try consumer.lag().values.allSatisfy { $0 == 0 })
        let onOne = consumer.positions[TopicPartition("in", 1)] ?? -1
        try out.sync()
        #expect(out.endOffset == onOne)
        try consumer.commit()
        #expect(try broker.groupLag(group: "g", topics: ["in"]).allSatisfy { $0.lag == 0 })
        try consumer.close()
        #expect(revoked[TopicPartition("in", 1)] == onOne)
        try out.close()
        try session.close()
        #expect(try broker.readRange(topic: "out", partition: 1, from: 0) { _ in } == Int(onOne))
    }

    /// Records what it is asked to do.
    final class RecordingProducer: RecordProducer {
        let topic = TopicMetadata(name: "remote", partitions: 3)
        var sent: [(key: [UInt8]?, value: [UInt8], timestamp: Int64)] = []
        var calls: [String] = []
        var recoveries: [RecoveryReport] { [] }
        func send(key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer, timestamp: Int64) throws(BrokerError) -> Int {
            sent.append((key.map { Array($0) }, Array(value), timestamp))
            return 2
        }
        func appendBuffered() throws(BrokerError) { calls.append("appendBuffered") }
        func flush() throws(BrokerError) -> [Int: Int64] { calls.append("flush"); return [2: Int64(sent.count)] }
        func writerDurableEnd(_ p: Int) -> Int64 { p == 2 ? Int64(sent.count) : 0 }
        func close() throws(BrokerError) { calls.append("close") }
    }

    @Test func aForwardingTopicProducerHandsEveryCallOver() throws {
        let remote = RecordingProducer()
        let producer = TopicProducer(forwardingTo: remote)
        #expect(producer.topic == remote.topic)
        #expect(try producer.send(key: [1, 2], value: [3], timestamp: 42) == 2)
        #expect(try producer.send(key: nil, value: [4, 5], timestamp: 43) == 2)
        try producer.appendBuffered()
        #expect(try producer.flush() == [2: 2])
        #expect(producer.writerDurableEnd(2) == 2)
        try producer.close()
        #expect(remote.sent.map(\.key) == [[1, 2], nil])
        #expect(remote.sent.map(\.value) == [[3], [4, 5]])
        #expect(remote.sent.map(\.timestamp) == [42, 43])
        #expect(remote.calls == ["appendBuffered", "flush", "close"])
    }
}
