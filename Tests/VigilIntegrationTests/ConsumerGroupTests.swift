import Foundation
import Glibc
import Testing
import VigilBroker
import VigilTestSupport

/// Two `vigil topics tail --group` processes split the partitions; when one is SIGKILLed the other
/// takes its partitions over from the committed offsets, with no gap.
@Suite(.serialized) struct ConsumerGroupTests {
    struct Line { var partition: Int; var offset: Int64 }

    func parse(_ line: String) -> Line? {
        guard let data = line.data(using: .utf8),
              let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let p = obj["partition"] as? Int, let o = obj["offset"] as? Int else { return nil }
        return Line(partition: p, offset: Int64(o))
    }

    func produce(_ producer: TopicProducer, from: Int, count: Int) throws {
        for i in from..<from + count {
            try producer.send(key: Array("host-\(i % 101)".utf8), value: Array("record \(i)".utf8), timestamp: Int64(i))
        }
        try producer.flush()
    }

    @Test func membersSplitPartitionsAndTakeOverAfterKill() throws {
        let vigil = productsDirectory() + "/vigil"
        let dir = try TemporaryDirectory("vigil-group"); defer { dir.remove() }
        var config = LogConfiguration()
        config.fsync = .never
        let log = try EmbeddedLog(dataDirectory: dir.path, configuration: config)
        try log.createTopic("events", partitions: 4)
        let producer = try log.producer(topic: "events")

        let args = ["topics", "tail", "events", "--group", "g", "--follow", "--data", dir.path]
        let a = try ChildProcess(vigil, args)
        let b = try ChildProcess(vigil, args)
        // Both have joined when the group lists two members.
        let members = "\(dir.path)/groups/g/members"
        var joined = false
        for _ in 0..<100 {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: members)) ?? []
            if names.filter({ !$0.hasSuffix(".joining") }).count == 2 { joined = true; break }
            usleep(50_000)
        }
        #expect(joined)
        usleep(500_000)  // a rebalance interval for both to settle
        try produce(producer, from: 0, count: 4000)
        for _ in 0..<400 where a.output.count + b.output.count < 4000 { usleep(50_000) }
        #expect(a.output.count + b.output.count >= 4000)
        let partsA = Set(a.output.compactMap(parse).map(\.partition))
        let partsB = Set(b.output.compactMap(parse).map(\.partition))
        #expect(partsA.count == 2 && partsB.count == 2, "split: A \(partsA.sorted()), B \(partsB.sorted())")
        #expect(partsA.isDisjoint(with: partsB))

        // Kill A in the middle of a stream of records.
        try produce(producer, from: 4000, count: 3000)
        usleep(30_000)
        a.kill(SIGKILL)
        a.wait()
        try produce(producer, from: 7000, count: 3000)
        let end = (0..<4).map { (try? log.openReader(topic: "events", partition: $0).endOffset()) ?? 0 }
        // B takes over and catches up to the end of every partition.
        var caughtUp = false
        for _ in 0..<200 {
            let seen = Dictionary(grouping: (a.output + b.output).compactMap(parse), by: \.partition)
            if (0..<4).allSatisfy({ p in Set(seen[p, default: []].map(\.offset)).count == Int(end[p]) }) { caughtUp = true; break }
            usleep(100_000)
        }
        b.kill(SIGTERM)
        #expect(b.wait() == 0)
        #expect(caughtUp, "B did not catch up")
        let all = (a.output + b.output).compactMap(parse)
        for p in 0..<4 {
            let offsets = Set(all.filter { $0.partition == p }.map(\.offset))
            #expect(offsets == Set(0..<end[p]), "partition \(p) has a gap")
        }
        // After A's death B took over A's partitions where A stopped.
        let linesA = a.output.compactMap(parse), linesB = b.output.compactMap(parse)
        for p in partsA {
            let lastA = linesA.filter { $0.partition == p }.map(\.offset).max() ?? -1
            #expect(linesB.contains { $0.partition == p && $0.offset > lastA }, "B did not take over partition \(p)")
        }
        let duplicates = all.count - Int(end.reduce(0, +))
        print("consumer group test: A consumed \(a.output.count), B \(b.output.count); \(duplicates) redelivered after A's uncommitted tail")
        // B committed everything on SIGTERM: the group has no lag.
        #expect(try log.lag(group: "g").allSatisfy { $0.lag == 0 })
    }
}
