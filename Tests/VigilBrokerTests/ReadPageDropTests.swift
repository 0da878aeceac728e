import Foundation
import Testing
import VigilBroker
import VigilTestSupport

/// `PartitionReader.dropsReadPages`: the segment bytes a reader has passed leave the page cache;
/// without it they stay. Records read are the same either way.
@Suite struct ReadPageDropTests {
    @Test func passedSegmentsLeaveThePageCache() throws {
        guard let dir = try PageCache.testDirectory() else { return }
        defer { dir.remove() }
        let log = try EmbeddedLog(dataDirectory: dir.path, configuration: config { $0.segmentBytes = 4 << 20 })
        try log.createTopic("t", partitions: 1)
        let writer = try log.openWriter(topic: "t", partition: 0)
        var batch = BatchBuilder()
        var expected: [[UInt8]] = []
        // ~22 MiB in segments of 4 MiB (less than the drop step): each is dropped as the
        // reader moves on to the next one; the last, partial one stays.
        for i in 0..<22_010 {
            let value = Array(String(format: "%08d", i).utf8) + [UInt8](repeating: UInt8(i % 251), count: 1_016)
            expected.append(value)
            batch.append(key: nil, value: value, timestamp: Int64(i))
            if i % 50 == 49 { try writer.append(&batch) }
        }
        try writer.append(&batch)
        let segments = try PageCache.segments(of: log, topic: "t", partitions: 1, closedOnly: false)
        #expect(segments.count >= 5)
        for s in segments { try PageCache.writeBack(s) }
        for s in segments { try PageCache.readThrough(s) }
        for s in segments { #expect(try PageCache.residentFraction(s) > 0.9, "\(s) is cached before reading") }

        // Without the flag: read whole, every page stays.
        let keeping = try log.openReader(topic: "t", partition: 0)
        #expect(try readAll(keeping).map(\.value) == expected)
        for s in segments { #expect(try PageCache.residentFraction(s) > 0.9, "\(s) stays cached") }

        // With it: the same records, and every segment the reader moved past leaves the cache.
        let dropping = try log.openReader(topic: "t", partition: 0)
        dropping.dropsReadPages = true
        #expect(try readAll(dropping).map(\.value) == expected)
        for s in segments.dropLast() { #expect(try PageCache.residentFraction(s) < 0.1, "\(s) was dropped") }

        // A reader seeking back reads the dropped records again, from the disk.
        try dropping.seek(.offset(100))
        let again = try readAll(dropping, max: 10)
        #expect(again.map(\.value) == Array(expected[100..<110]))
        try writer.close()
    }

    @Test func aGroupConsumerHandsTheSettingToItsReaders() throws {
        guard let dir = try PageCache.testDirectory() else { return }
        defer { dir.remove() }
        let log = try EmbeddedLog(dataDirectory: dir.path, configuration: config { $0.segmentBytes = 1 << 20 })
        try log.createTopic("t", partitions: 2)
        let producer = try log.producer(topic: "t")
        for i in 0..<8_000 { try producer.send(key: bytes("k\(i)"), value: [UInt8](repeating: 1, count: 1_000), timestamp: Int64(i)) }
        try producer.flush()
        let segments = try PageCache.segments(of: log, topic: "t", partitions: 2, closedOnly: true)
        #expect(segments.count >= 4)
        for s in segments { try PageCache.writeBack(s) }
        let consumer = try GroupConsumer(log: log, group: "g", topics: ["t"])
        consumer.dropsReadPages = true
        var read = 0
        while true {
            let n = try consumer.poll(maxRecords: 1_000) { _, _ in read += 1 }
            if n == 0 { break }
        }
        #expect(read == 8_000)
        for s in segments { #expect(try PageCache.residentFraction(s) < 0.1, "\(s) was dropped") }
        try consumer.close()
        try producer.close()
    }
}
