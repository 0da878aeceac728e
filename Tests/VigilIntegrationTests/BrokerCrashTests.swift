import Foundation
import Glibc
import Testing
import VigilBroker
import VigilTestSupport

/// A child appends 1,000,000 keyed records acknowledging in batches and is SIGKILLed at a random
/// moment, 10 times; after each restart every acknowledged record is present exactly once, in
/// order within its partition, and appends continue.
@Suite(.serialized) struct BrokerCrashTests {
    static let total = 1_000_000
    static let partitions = 4

    func key(_ i: Int) -> [UInt8] { Array("key-\(i % 1009)".utf8) }

    /// Checks the log: per partition, the sequence numbers are exactly the ordered prefix of those
    /// that hash to it. Returns the count of records per partition.
    func verify(_ dir: String, acknowledged: Int, expected: [[Int]]) throws -> Int {
        let log = try EmbeddedLog(readingFrom: dir)
        var total = 0
        for p in 0..<Self.partitions {
            let reader = try log.openReader(topic: "crash", partition: p)
            var seqs: [Int] = []
            while try reader.read(maxRecords: 100_000, { r in
                seqs.append(Int(r.value.loadUnaligned(as: UInt64.self)))
            }) > 0 {}
            // In order, no gap, no duplicate: a prefix of this partition's sequence.
            #expect(seqs.count <= expected[p].count)
            #expect(Array(expected[p].prefix(seqs.count)) == seqs, "partition \(p) is not an exact prefix")
            // Every acknowledged record of this partition is there.
            let acked = expected[p].prefix { $0 <= acknowledged }.count
            #expect(seqs.count >= acked, "partition \(p) lost acknowledged records: has \(seqs.count), acknowledged \(acked)")
            total += seqs.count
        }
        return total
    }

    @Test func killNineTenTimesLosesNothingAcknowledged() throws {
        let tool = productsDirectory() + "/VigilCrashWriter"
        try #require(FileManager.default.fileExists(atPath: tool), "missing \(tool)")
        let dir = try TemporaryDirectory("vigil-crash"); defer { dir.remove() }
        var expected = Array(repeating: [Int](), count: Self.partitions)
        for i in 0..<Self.total { expected[Partitioner.partition(for: key(i), count: Self.partitions)].append(i) }
        var acknowledged = -1
        var generator = SystemRandomNumberGenerator()
        var kills = 0
        var recoveries = 0
        while kills < 10 {
            let child = try ChildProcess(tool, [dir.path, "crash", "\(Self.partitions)", "\(Self.total)", "1000"])
            #expect(child.waitForLine(timeout: 60) { $0.hasPrefix("READY") }, "writer did not start: \(child.standardError)")
            usleep(UInt32.random(in: 20_000...400_000, using: &generator))
            child.kill(SIGKILL)
            child.wait()
            let lines = child.output
            if lines.contains("DONE") { break }  // finished before the kill
            kills += 1
            for line in lines where line.hasPrefix("ACK ") { acknowledged = max(acknowledged, Int(line.dropFirst(4))!) }
            if child.standardError.contains("torn tail") { recoveries += 1 }
            let present = try verify(dir.path, acknowledged: acknowledged, expected: expected)
            print("crash test: kill \(kills): \(acknowledged + 1) acknowledged, \(present) present")
        }
        #expect(kills == 10, "the writer finished before 10 kills; raise the total")
        // A final run completes the job; everything is there exactly once.
        let last = try ChildProcess(tool, [dir.path, "crash", "\(Self.partitions)", "\(Self.total)", "1000"])
        #expect(last.wait() == 0)
        #expect(last.output.contains("DONE"))
        #expect(try verify(dir.path, acknowledged: Self.total - 1, expected: expected) == Self.total)
        print("crash test: 10 kills, \(recoveries) restarts cut a torn tail; 1,000,000 records present exactly once")
    }
}
