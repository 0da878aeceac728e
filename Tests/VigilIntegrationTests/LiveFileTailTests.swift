import Foundation
import Glibc
import Testing
import VigilBroker
import VigilTestSupport

/// `vigil run` tailing a file that is rotated by rename, truncated (copytruncate) and appended to,
/// while the run is SIGKILLed and restarted: every line reaches the events topic exactly once.
@Suite(.serialized) struct LiveFileTailTests {
    let vigil = productsDirectory() + "/vigil"

    func append(_ path: String, _ lines: ClosedRange<Int>) throws {
        let handle = FileHandle(forWritingAtPath: path) ?? {
            FileManager.default.createFile(atPath: path, contents: nil)
            return FileHandle(forWritingAtPath: path)!
        }()
        handle.seekToEndOfFile()
        var text = ""
        for i in lines { text += "Mar 14 09:12:07 web-1 app[42]: request seq=\(i) done\n" }
        handle.write(Data(text.utf8))
        try handle.close()
    }

    /// Sequence numbers in the events topic, in no particular order.
    func sequences(_ data: String) throws -> [Int] {
        guard FileManager.default.fileExists(atPath: data + "/topics/events/topic.meta") else { return [] }
        let log = try EmbeddedLog(readingFrom: data)
        var seqs: [Int] = []
        for p in 0..<(try log.topic("events").partitions) {
            let reader = try log.openReader(topic: "events", partition: p)
            while try reader.read(maxRecords: 10_000, { r in
                let text = String(decoding: r.value, as: UTF8.self)
                if let range = text.range(of: "seq="), let n = Int(text[range.upperBound...].prefix { $0.isNumber }) { seqs.append(n) }
            }) > 0 {}
        }
        return seqs
    }

    func waitFor(_ data: String, count: Int) throws -> Bool {
        for _ in 0..<200 {
            if try sequences(data).count >= count { return true }
            usleep(50_000)
        }
        return false
    }

    @Test func rotationTruncationAndKillsLoseAndRepeatNothing() throws {
        let dir = try TemporaryDirectory("vigil-live-tail"); defer { dir.remove() }
        try FileManager.default.createDirectory(atPath: dir.file("logs"), withIntermediateDirectories: true)
        let config = dir.file("vigil.yaml")
        try """
        data_dir: data
        parsers: { dir: \(repositoryRoot())/parsers }
        broker: { embedded: { fsync: { policy: interval, interval: 5ms } } }
        sensors:
          - name: app
            type: file
            paths: [logs/app.log]        # a renamed file is followed by its inode until idle
            parser: syslog
            poll_interval: 20ms
            scan_interval: 50ms
            rotate_wait: 1s
            batch_lines: 50
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let log = dir.file("logs/app.log"), data = dir.file("data")
        var run = try ChildProcess(vigil, ["run", "--config", config, "--quiet"])
        var written = 0
        var kills = 0
        func restart() throws {
            run.kill(SIGKILL)
            run.wait()
            kills += 1
            run = try ChildProcess(vigil, ["run", "--config", config, "--quiet"])
        }
        for round in 0..<6 {
            try append(log, written + 1...written + 200); written += 200
            usleep(UInt32.random(in: 20_000...150_000))
            try restart()                      // SIGKILL somewhere in the middle of reading
            try append(log, written + 1...written + 100); written += 100
            #expect(try waitFor(data, count: written), "round \(round): caught up")
            switch round % 3 {
            case 0:  // rotation by rename, then a new file
                try? FileManager.default.removeItem(atPath: log + ".1")
                try FileManager.default.moveItem(atPath: log, toPath: log + ".1")
                try append(log + ".1", written + 1...written + 20); written += 20   // the logger still writes to the old inode
            case 1:  // copytruncate: copy, then truncate in place (after Vigil caught up)
                try? FileManager.default.removeItem(atPath: log + ".1")
                try FileManager.default.copyItem(atPath: log, toPath: log + ".1")
                truncate(log, 0)
            default:  // plain truncation
                truncate(log, 0)
            }
            try append(log, written + 1...written + 50); written += 50
        }
        #expect(try waitFor(data, count: written))
        run.kill(SIGTERM)
        #expect(run.wait() == 0)
        let seqs = try sequences(data)
        let counts = Dictionary(grouping: seqs, by: { $0 }).mapValues(\.count)
        let missing = (1...written).filter { counts[$0] == nil }
        let repeated = counts.filter { $0.value > 1 }.keys.sorted()
        print("live file tail: \(written) lines written, \(seqs.count) events, \(kills) SIGKILLs, missing \(missing.count), repeated \(repeated.count)")
        #expect(missing.isEmpty, "missing \(missing.prefix(20))")
        #expect(repeated.isEmpty, "repeated \(repeated.prefix(20))")
    }
}
