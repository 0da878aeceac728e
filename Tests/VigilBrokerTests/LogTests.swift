import Testing
import Glibc
import VigilBroker
import VigilTestSupport

@Suite struct LogTests {
    @Test func appendAndReadBack() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let log = try EmbeddedLog(dataDirectory: dir.path, configuration: config())
        let producer = try log.producer(topic: "events")
        #expect(producer.topic.partitions == 4)
        var expected: [Int: [(String, String)]] = [:]
        for i in 0..<5000 {
            let key = "host-\(i % 37)", value = "value \(i)"
            let p = try producer.send(key: bytes(key), value: bytes(value), timestamp: Int64(i) * 1_000_000)
            expected[p, default: []].append((key, value))
        }
        try producer.send(key: nil, value: bytes("no key"), timestamp: 1)
        try producer.flush()
        var total = 0
        for p in 0..<4 {
            let records = try readAll(try log.openReader(topic: "events", partition: p))
            total += records.count
            let keyed = records.filter { $0.key != nil }
            #expect(keyed.map { String(decoding: $0.key!, as: UTF8.self) } == expected[p, default: []].map(\.0))
            #expect(keyed.map { String(decoding: $0.value, as: UTF8.self) } == expected[p, default: []].map(\.1))
            #expect(records.map(\.offset) == Array(0..<Int64(records.count)))
        }
        #expect(total == 5001)
    }

    @Test func rollsSegmentsAndSeeksByOffsetAndTime() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let log = try EmbeddedLog(dataDirectory: dir.path, configuration: config { $0.segmentBytes = 8192; $0.indexIntervalBytes = 512 })
        try log.createTopic("t", partitions: 1)
        let writer = try log.openWriter(topic: "t", partition: 0)
        var batch = BatchBuilder()
        for i in 0..<2000 {
            batch.append(key: nil, value: bytes(String(repeating: "x", count: i % 50) + "\(i)"), timestamp: 1_000 + Int64(i) * 10)
            if i % 7 == 6 { try writer.append(&batch) }
        }
        try writer.append(&batch)
        #expect(writer.segmentCount > 5)
        #expect(writer.endOffset == 2000)
        let reader = try log.openReader(topic: "t", partition: 0)
        #expect(try readAll(reader).count == 2000)
        for target in [0, 1, 6, 7, 500, 1234, 1999] {
            try reader.seek(.offset(Int64(target)))
            let got = try readAll(reader, max: 3)
            #expect(got.first?.offset == Int64(target))
            #expect(String(decoding: got[0].value, as: UTF8.self).hasSuffix("\(target)"))
        }
        try reader.seek(.offset(2000))
        #expect(try readAll(reader).isEmpty)
        #expect(throws: BrokerError.self) { try reader.seek(.offset(2001)) }
        for target in [0, 999, 1_000, 1_005, 5_000, 20_990] {
            try reader.seek(.timestamp(Int64(target)))
            let first = try readAll(reader, max: 1).first
            let want = max(0, (target - 1_000 + 9) / 10)
            #expect(first?.offset == Int64(want), "timestamp \(target)")
        }
        try reader.seek(.timestamp(1_000_000))
        #expect(try readAll(reader).isEmpty)
        try reader.seek(.latest)
        #expect(reader.position == 2000)
        // Reopening a rolled log keeps everything.
        try writer.close()
        let again = try PartitionWriter(topic: "t", partition: 0, directory: log.partitionDirectory(topic: "t", partition: 0), configuration: config())
        #expect(again.endOffset == 2000)
        #expect(again.recovery == nil)
    }

    @Test func retentionBySizeAndAge() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let log = try EmbeddedLog(dataDirectory: dir.path, configuration: config { $0.segmentBytes = 4096; $0.retentionBytes = 20_000 })
        try log.createTopic("t", partitions: 1)
        let writer = try log.openWriter(topic: "t", partition: 0)
        var batch = BatchBuilder()
        for i in 0..<500 {
            batch.append(key: nil, value: [UInt8](repeating: 1, count: 200), timestamp: Int64(i))
            try writer.append(&batch)
        }
        #expect(writer.sizeBytes <= 20_000 + 4096)
        #expect(writer.startOffset > 0)
        let reader = try log.openReader(topic: "t", partition: 0)
        let records = try readAll(reader)
        #expect(records.first?.offset == writer.startOffset)
        #expect(records.last?.offset == 499)
        // Age: every record is from 1970, so a 1-day limit removes all sealed segments.
        try writer.close()
        let aged = try PartitionWriter(topic: "t", partition: 0, directory: log.partitionDirectory(topic: "t", partition: 0),
                                       configuration: config { $0.segmentBytes = 4096; $0.retentionAgeNanoseconds = 86_400_000_000_000 })
        #expect(aged.segmentCount == 1)
        #expect(aged.endOffset == 500)
    }

    @Test func oneWriterPerPartition() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let log = try EmbeddedLog(dataDirectory: dir.path, configuration: config())
        try log.createTopic("t", partitions: 2)
        let w = try log.openWriter(topic: "t", partition: 0)
        let error = #expect(throws: BrokerError.self) { try log.openWriter(topic: "t", partition: 0) }
        #expect(error?.code == .locked)
        #expect(error?.description.contains("another process") == true)
        _ = try log.openWriter(topic: "t", partition: 1)
        try w.close()
        _ = try log.openWriter(topic: "t", partition: 0)
    }

    @Test func readerFollowsWriterAcrossSegments() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let log = try EmbeddedLog(dataDirectory: dir.path, configuration: config { $0.segmentBytes = 4096 })
        try log.createTopic("t", partitions: 1)
        let writer = try log.openWriter(topic: "t", partition: 0)
        let reader = try log.openReader(topic: "t", partition: 0)
        var seen: [Int64] = []
        var batch = BatchBuilder()
        for round in 0..<50 {
            for i in 0..<20 { batch.append(key: nil, value: bytes("r\(round)-\(i)"), timestamp: 0) }
            try writer.append(&batch)
            seen += try readAll(reader).map(\.offset)
        }
        #expect(seen == Array(0..<1000))
    }

    @Test func fsyncPoliciesAcknowledge() throws {
        for policy in [FsyncPolicy.everyBatch, .interval(milliseconds: 5), .never] {
            let dir = try TemporaryDirectory(); defer { dir.remove() }
            let log = try EmbeddedLog(dataDirectory: dir.path, configuration: config { $0.fsync = policy })
            let producer = try log.producer(topic: "t")
            for i in 0..<100 { try producer.send(key: bytes("k\(i)"), value: bytes("v"), timestamp: 0) }
            let ends = try producer.flush()
            #expect(ends.values.reduce(0, +) == 100)
            for (p, end) in ends { #expect(producer.writerDurableEnd(p) == end) }
            log.close()
        }
    }

    @Test func badTopicNamesAndPartitions() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let log = try EmbeddedLog(dataDirectory: dir.path, configuration: config())
        #expect(throws: BrokerError.self) { try log.createTopic("../etc") }
        #expect(throws: BrokerError.self) { try log.createTopic("") }
        try log.createTopic("ok", partitions: 3)
        #expect(throws: BrokerError.self) { try log.createTopic("ok", partitions: 4) }
        #expect(throws: BrokerError.self) { try log.openWriter(topic: "ok", partition: 3) }
        #expect(throws: BrokerError.self) { try log.openReader(topic: "missing", partition: 0) }
        #expect(try log.topics().map(\.name) == ["ok"])
    }
}
