import Foundation
import Testing
import VigilBroker
import VigilCore
import VigilLogs
import VigilParsers
import VigilTestSupport
#if canImport(Glibc)
import Glibc
#endif

// MARK: Support

/// Parses test lines `seq=N …`: `seq` as an int, the line as `message`, and `source.ip` from N
/// (every 7th line has none, so its record has no key and goes round-robin).
struct SequenceParser: LineParser {
    func parse(_ line: UnsafeRawBufferPointer, into event: inout Event, context: ParseContext) throws(ParseFailure) {
        guard line.count > 4, line[0] == 0x73, line[1] == 0x65, line[2] == 0x71, line[3] == 0x3D else { throw ParseFailure("no seq=") }
        var i = 4
        var n: Int64 = 0
        while i < line.count, line[i] >= 0x30, line[i] <= 0x39, i < 18 {
            n = n * 10 + Int64(line[i] - 0x30)
            i += 1
        }
        guard i > 4 else { throw ParseFailure("seq without digits") }
        event["seq"] = .int(n)
        event["message"] = .string(String(decoding: line, as: UTF8.self))
        if n % 7 != 0 { event["source.ip"] = .ip(IPAddress(v4: 0x0A00_0000 | UInt32(n % 65_536))) }
    }
}

struct SimulatedCrash: Error {}

/// Values touched by the tailer thread and read by the test, under a lock.
final class Locked<Value>: @unchecked Sendable {
    // `value` is only accessed inside `lock`.
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R { try lock.withLock { try body(&value) } }
    var current: Value { lock.withLock { value } }
}

/// A tailer running on its own thread.
final class TailRun: Sendable {
    let outcome = Locked<(finished: Bool, error: String?, crashed: Bool)>((false, nil, false))

    init(_ tailer: FileTailer<ParsingFileTailProcessor>) {
        let outcome = self.outcome
        let thread = Thread {
            do {
                try tailer.run()
                outcome.withLock { $0.finished = true }
            } catch is SimulatedCrash {
                outcome.withLock { $0 = (true, nil, true) }
            } catch {
                outcome.withLock { $0 = (true, "\(error)", false) }
            }
        }
        thread.start()
    }

    var finished: Bool { outcome.current.finished }

    /// Waits for the thread to end; records an issue if it failed for a reason other than a simulated crash.
    func join(timeout: Double = 20) {
        #expect(waitFor(timeout: timeout) { self.finished }, "tailer did not stop")
        if let error = outcome.current.error { Issue.record("tailer failed: \(error)") }
    }
}

/// Polls `condition` every 10 ms until it holds or `timeout` seconds pass.
@discardableResult
func waitFor(timeout: Double = 10, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return true }
        usleep(10_000)
    }
    return try condition()
}

/// A log directory, a broker data directory with an `events` topic of 4 partitions, and a tailer
/// built on the ready `ParsingFileTailProcessor`.
final class TailHarness {
    let root: TemporaryDirectory
    var logs: String { root.path + "/logs" }
    var data: String { root.path + "/data" }
    var log: EmbeddedLog?
    var producer: TopicProducer?
    let rejected = Locked<[(reason: String, line: String, offset: Int64)]>([])
    static let parser = CompiledParser(name: "seq", type: "test", base: SequenceParser())

    init() throws {
        root = try TemporaryDirectory("vigil-tail")
        try FileManager.default.createDirectory(atPath: root.path + "/logs", withIntermediateDirectories: true)
    }

    deinit { root.remove() }

    func path(_ name: String) -> String { "\(logs)/\(name)" }

    static func configuration(_ paths: [String], _ body: (inout FileTailerConfiguration) -> Void = { _ in }) -> FileTailerConfiguration {
        var c = FileTailerConfiguration(name: "files", paths: paths)
        c.pollInterval = .milliseconds(10)
        c.scanInterval = .milliseconds(20)
        c.rotateWait = .milliseconds(300)
        body(&c)
        return c
    }

    /// Opens the broker and a tailer over it.
    func tailer(_ configuration: FileTailerConfiguration, batchBytes: Int = 1 << 20) throws -> FileTailer<ParsingFileTailProcessor> {
        var config = LogConfiguration()
        config.fsync = .interval(milliseconds: 2)
        config.retentionAgeNanoseconds = nil
        let log = try EmbeddedLog(dataDirectory: data, configuration: config)
        try log.createTopic("events", partitions: 4)
        let producer = try log.producer(topic: "events")
        producer.batchBytes = batchBytes
        self.log = log
        self.producer = producer
        let rejected = self.rejected
        let processor = ParsingFileTailProcessor(sensor: configuration.name, parser: Self.parser, log: log, producer: producer,
                                                 onError: { reason, original, _, line in
            rejected.withLock { $0.append((reason, String(decoding: original, as: UTF8.self), line.offset)) }
        })
        return try FileTailer(configuration: configuration,
                              stateDirectory: FileTailerConfiguration.stateDirectory(dataDirectory: data, sensor: configuration.name),
                              processor: processor)
    }

    /// Closes the broker as a killed process leaves it: records not yet appended are dropped,
    /// appended ones stay (they are in the page cache).
    func crashBroker() {
        producer = nil
        log?.close()
        log = nil
    }

    /// Every event in the topic.
    func events() throws -> [Event] {
        guard FileManager.default.fileExists(atPath: data + "/topics/events") else { return [] }
        let reader = try EmbeddedLog(readingFrom: data)
        var result: [Event] = []
        for p in 0..<4 {
            let r = try reader.openReader(topic: "events", partition: p)
            while try r.read(maxRecords: 10_000, { result.append(try EventBinaryCodec.decode($0.value)) }) > 0 {}
        }
        return result
    }

    func sequences() throws -> [Int64] {
        try events().compactMap { if case .int(let n)? = $0["seq"] { n } else { nil } }.sorted()
    }

    /// Waits until the topic holds `count` events.
    func waitForEvents(_ count: Int, timeout: Double = 15) throws -> Bool {
        try waitFor(timeout: timeout) { try events().count >= count }
    }
}

/// Appends text to a file through its own descriptor (kept open across renames, as a logger does).
final class LogWriter {
    let fd: Int32
    init(_ path: String, truncate: Bool = false) {
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | (truncate ? O_TRUNC : 0) | O_CLOEXEC, 0o644)
        precondition(fd >= 0, "cannot open \(path)")
    }
    deinit { close(fd) }
    func write(_ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
    }
    func lines(_ range: Range<Int>, tag: String = "") {
        write(range.map { "seq=\($0) \(tag) \(String(repeating: "x", count: $0 % 37))\n" }.joined())
    }
}

func appendLines(_ path: String, _ range: Range<Int>, tag: String = "") { LogWriter(path).lines(range, tag: tag) }

func identity(of path: String) -> FileIdentity? {
    var st = stat()
    guard stat(path, &st) == 0 else { return nil }
    return FileIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
}

func fileSize(_ path: String) -> Int64 {
    var st = stat()
    return stat(path, &st) == 0 ? Int64(st.st_size) : -1
}

// MARK: Tests

@Suite(.serialized) struct FileTailerTests {
    @Test func appendedLinesArePickedUpWithTheirOrigin() throws {
        let h = try TailHarness()
        let file = h.path("app.log")
        appendLines(file, 0..<100)
        let tailer = try h.tailer(TailHarness.configuration([file]))
        let run = TailRun(tailer)
        #expect(try h.waitForEvents(100))
        appendLines(file, 100..<150)
        #expect(try h.waitForEvents(150))
        tailer.stop()
        run.join()
        let events = try h.events()
        #expect(try h.sequences() == Array(0..<150))
        // log.offset is the byte offset of each line; log.file.path its file.
        var offsets: [Int64: Int64] = [:]
        var at: Int64 = 0
        for n in 0..<150 {
            offsets[Int64(n)] = at
            at += Int64("seq=\(n)  \(String(repeating: "x", count: n % 37))\n".utf8.count)
        }
        for e in events {
            guard case .int(let n)? = e["seq"] else { continue }
            #expect(e["log.offset"] == .int(offsets[n]!))
            #expect(e["log.file.path"] == .string(file))
            #expect(e["vigil.sensor"] == .string("files"))
        }
        #expect(tailer.acknowledgedPositions.map(\.offset) == [fileSize(file)])
        #expect(tailer.metrics.linesRead == 150)
        #expect(tailer.metrics.filesOpened == 1)
    }

    @Test func rotationByRenameWhileWriting() throws {
        let h = try TailHarness()
        let file = h.path("app.log")
        let old = LogWriter(file)
        old.lines(0..<100)
        let tailer = try h.tailer(TailHarness.configuration([file]))
        let run = TailRun(tailer)
        #expect(try h.waitForEvents(100))
        // Rotate: rename, and the logger keeps writing to the old file for a moment.
        #expect(rename(file, h.path("app.log.1")) == 0)
        old.lines(100..<150)
        let new = LogWriter(file)
        new.lines(150..<200)
        old.lines(200..<220)
        old.write("seq=220 final line without newline")  // flushed when the old file is closed
        #expect(try h.waitForEvents(221))
        #expect(waitFor { tailer.metrics.filesClosed == 1 })
        new.lines(221..<230)
        #expect(try h.waitForEvents(230))
        tailer.stop()
        run.join()
        #expect(try h.sequences() == Array(0..<230))
        #expect(tailer.metrics.rotations == 1)
        #expect(tailer.metrics.partialLinesFlushed == 1)
        #expect(tailer.metrics.filesOpened == 2)
        let paths = Set(try h.events().compactMap { $0["log.file.path"]?.plainText })
        #expect(paths == [file])
    }

    @Test func copytruncateRestartsAtTheBeginning() throws {
        let h = try TailHarness()
        let file = h.path("app.log")
        appendLines(file, 0..<100)
        let tailer = try h.tailer(TailHarness.configuration([file]))
        let run = TailRun(tailer)
        #expect(try h.waitForEvents(100))
        #expect(waitFor { tailer.acknowledgedPositions.first?.offset == fileSize(file) })
        // copytruncate: copy to a name no glob matches, truncate in place, keep writing.
        try FileManager.default.copyItem(atPath: file, toPath: h.path("app.log.1"))
        #expect(truncate(file, 0) == 0)
        appendLines(file, 100..<130)
        #expect(try h.waitForEvents(130))
        tailer.stop()
        run.join()
        #expect(try h.sequences() == Array(0..<130))
        #expect(tailer.metrics.truncations == 1)
    }

    @Test func truncatedAndRegrownPastThePositionIsNoticedByItsFirstBytes() throws {
        let h = try TailHarness()
        let file = h.path("app.log")
        appendLines(file, 0..<20)
        let tailer = try h.tailer(TailHarness.configuration([file]))
        let run = TailRun(tailer)
        #expect(try h.waitForEvents(20))
        // Truncate and write more than before in one step: the size never looks smaller.
        let writer = LogWriter(file, truncate: true)
        writer.lines(20..<200)
        #expect(try h.waitForEvents(200))
        tailer.stop()
        run.join()
        #expect(try h.sequences() == Array(0..<200))
        #expect(tailer.metrics.truncations >= 1)
    }

    @Test func globsFindNewFilesAndHonourExcludeAndStartAtEnd() throws {
        let h = try TailHarness()
        appendLines(h.path("old.log"), 0..<10)  // present at start: skipped under start_at: end
        let config = TailHarness.configuration([h.logs + "/*.log"]) {
            $0.exclude = ["*.skip.log"]
            $0.startAt = .end
        }
        let tailer = try h.tailer(config)
        let run = TailRun(tailer)
        #expect(waitFor { tailer.acknowledgedPositions.count == 1 })
        appendLines(h.path("old.log"), 10..<20)
        appendLines(h.path("b.skip.log"), 1000..<1010)
        appendLines(h.path("new.log"), 20..<40)  // appears later: read from its beginning
        #expect(try h.waitForEvents(30))
        try FileManager.default.createDirectory(atPath: h.path("dir.log"), withIntermediateDirectories: true)
        appendLines(h.path("later.log"), 40..<50)
        #expect(try h.waitForEvents(40))
        tailer.stop()
        run.join()
        #expect(try h.sequences() == Array(10..<50))
        #expect(tailer.metrics.filesOpened == 3)
    }

    @Test func deletedFileIsReadToItsEndAndClosed() throws {
        let h = try TailHarness()
        let file = h.path("app.log")
        let writer = LogWriter(file)
        writer.lines(0..<50)
        let tailer = try h.tailer(TailHarness.configuration([file]) { $0.rotateWait = .seconds(60) })
        let run = TailRun(tailer)
        #expect(try h.waitForEvents(50))
        writer.lines(50..<80)
        writer.write("seq=80 no newline")
        #expect(unlink(file) == 0)
        #expect(waitFor { tailer.metrics.filesClosed == 1 })
        #expect(try h.waitForEvents(81))
        tailer.stop()
        run.join()
        #expect(try h.sequences() == Array(0..<81))
        #expect(tailer.acknowledgedPositions.isEmpty)
    }

    @Test func partialLinesCRLFAndOverlongLines() throws {
        let h = try TailHarness()
        let file = h.path("app.log")
        let writer = LogWriter(file)
        let tailer = try h.tailer(TailHarness.configuration([file]) { $0.maxLineBytes = 64 })
        let run = TailRun(tailer)
        #expect(waitFor { tailer.acknowledgedPositions.count == 1 })
        writer.write("seq=1 crlf\r\nseq=2 par")
        #expect(try h.waitForEvents(1))
        usleep(100_000)
        #expect(try h.events().count == 1, "a partial line waits for its newline")
        writer.write("tial\n")
        #expect(try h.waitForEvents(2))
        writer.write("seq=3 " + String(repeating: "y", count: 200) + "\nseq=4 after\n")
        writer.write("seq=5 " + String(repeating: "z", count: 100))  // over-long, no newline yet
        usleep(100_000)
        writer.write(String(repeating: "z", count: 100) + "\nseq=6 end\n")
        #expect(try h.waitForEvents(4))
        #expect(waitFor { h.rejected.current.count == 2 })
        tailer.stop()
        run.join()
        let messages = Dictionary(uniqueKeysWithValues: try h.events().compactMap { e -> (Int64, String)? in
            guard case .int(let n)? = e["seq"], case .string(let m)? = e["message"] else { return nil }
            return (n, m)
        })
        #expect(messages == [1: "seq=1 crlf", 2: "seq=2 partial", 4: "seq=4 after", 6: "seq=6 end"])
        let rejected = h.rejected.current
        #expect(rejected.map(\.line.utf8.count) == [64, 64])
        #expect(rejected.allSatisfy { $0.reason.contains("truncated") })
        #expect(tailer.metrics.longLines == 2)
    }

    @Test func cleanRestartResumesWithoutRepeating() throws {
        let h = try TailHarness()
        let file = h.path("app.log")
        appendLines(file, 0..<100)
        let config = TailHarness.configuration([file]) { $0.startAt = .end }
        do {
            let tailer = try h.tailer(TailHarness.configuration([file]))
            let run = TailRun(tailer)
            #expect(try h.waitForEvents(100))
            tailer.stop()
            run.join()
            try h.producer?.close()
            h.crashBroker()
        }
        appendLines(file, 100..<150)  // written while stopped
        let tailer = try h.tailer(config)  // a stored position wins over start_at
        let run = TailRun(tailer)
        #expect(try h.waitForEvents(150))
        usleep(100_000)
        tailer.stop()
        run.join()
        #expect(try h.sequences() == Array(0..<150))
        #expect(tailer.metrics.duplicatesSkipped == 0)
    }

    @Test func secondTailerOnTheSameStateIsRefused() throws {
        let h = try TailHarness()
        let file = h.path("app.log")
        appendLines(file, 0..<10)
        let tailer = try h.tailer(TailHarness.configuration([file]))
        let run = TailRun(tailer)
        #expect(try h.waitForEvents(10))
        let state = FileTailerConfiguration.stateDirectory(dataDirectory: h.data, sensor: "files")
        struct Null: FileTailProcessor {
            func process(_ line: FileTailLine) {}
            func acknowledge() -> [Int64] { [] }
            func recover(after marks: [Int64]) -> Set<FileTailLineID> { [] }
        }
        let second = try FileTailer(configuration: TailHarness.configuration([file]), stateDirectory: state, processor: Null())
        let error = #expect(throws: FileTailError.self) { try second.run() }
        #expect(error?.code == .locked)
        tailer.stop()
        run.join()
    }

    /// Not a benchmark (debug build, shared cores): prints the ingest rate of a 100,000-line file
    /// through the parser into a 4-partition topic (fsync every 2 ms, group commit).
    @Test func ingestRate() throws {
        let h = try TailHarness()
        let file = h.path("big.log")
        let writer = LogWriter(file)
        for chunk in 0..<10 { writer.lines((chunk * 10_000)..<((chunk + 1) * 10_000)) }
        let bytes = fileSize(file)
        let tailer = try h.tailer(TailHarness.configuration([file]) { $0.batchLines = 4096 })
        let start = Date()
        let run = TailRun(tailer)
        #expect(waitFor(timeout: 120) { tailer.acknowledgedPositions.first?.offset == bytes })
        let seconds = Date().timeIntervalSince(start)
        tailer.stop()
        run.join()
        #expect(try h.events().count == 100_000)
        print("file tail ingest: 100000 lines (\(bytes) bytes) in \(String(format: "%.2f", seconds)) s = \(Int(100_000 / seconds)) lines/s, \(tailer.metrics.acknowledgements) acknowledgements (debug build)")
    }

    @Test func invalidConfigurationsAreRejected() {
        let bad: [FileTailerConfiguration] = [
            FileTailerConfiguration(name: "a b", paths: ["/x"]),
            FileTailerConfiguration(name: "a", paths: []),
            FileTailerConfiguration(name: "a", paths: ["relative/x"]),
            FileTailerConfiguration(name: "a", paths: ["/x"], maxLineBytes: 0),
            FileTailerConfiguration(name: "a", paths: ["/x"], pollInterval: .zero),
        ]
        for c in bad {
            #expect(throws: FileTailError.self) { try c.validate() }
        }
    }
}
