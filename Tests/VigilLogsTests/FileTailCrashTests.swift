import Foundation
import Testing
import VigilBroker
import VigilCore
@testable import VigilLogs
import VigilTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// The tailer is stopped as by kill -9 — at a random line, right after the broker acknowledged a
/// batch, after the new positions file was synced but before its rename, or right after it — 10
/// times, while the file is rotated by rename and by copytruncate; a new tailer then resumes from
/// the same state directory. At the end the topic holds every line exactly once.
@Suite(.serialized) struct FileTailCrashTests {
    @Test func crashesInEveryWindowNeitherLoseNorRepeatLines() throws {
        let h = try TailHarness()
        let file = h.path("app.log")
        let config = TailHarness.configuration([file]) { $0.batchLines = 40 }
        var generator = SystemRandomNumberGenerator()
        var next = 0
        var renamed = 0
        var truncated = 0
        var crashes: [String: Int] = [:]
        var duplicatesSkipped: Int64 = 0
        var restartTruncations: Int64 = 0
        let points: [(FileTailFaultPoint, String, ClosedRange<Int>)] = [
            (.lineProcessed, "mid-batch", 1...250), (.afterFlush, "after flush", 1...6),
            (.beforeRename, "before positions rename", 1...6), (.afterCheckpoint, "after positions", 1...6),
        ]
        for round in 0..<11 {
            let final = round == 10
            // Small producer batches: a batch reaches the partitions piecemeal, as at a real crash.
            let tailer = try h.tailer(config, batchBytes: 2048)
            let plan = points[round % points.count]
            let countdown = Locked(Int.random(in: plan.2, using: &generator))
            if !final {
                tailer.faultInjection = { point in
                    guard point == plan.0 else { return }
                    if countdown.withLock({ $0 -= 1; return $0 == 0 }) { throw SimulatedCrash() }
                }
            }
            let run = TailRun(tailer)
            for _ in 0..<30 where !run.finished {
                appendLines(file, next..<(next + 10), tag: "r\(round)")
                next += 10
                usleep(UInt32.random(in: 2_000...15_000, using: &generator))
                let dice = Int.random(in: 0..<12, using: &generator)
                if dice == 0, let id = identity(of: file), tailer.acknowledgedPositions.contains(where: { $0.identity == id }) {
                    // Rotation by rename: the file is known to the stored positions, so it is
                    // found again by its inode even if the tailer dies now.
                    renamed += 1
                    #expect(rename(file, "\(file).\(renamed)") == 0)
                } else if dice == 1 {
                    // copytruncate: only once every line of the file is acknowledged (lines
                    // written between the copy and the truncate are lost by design).
                    let size = fileSize(file)
                    let id = identity(of: file)
                    if waitFor(timeout: 3, { run.finished || tailer.acknowledgedPositions.contains { $0.identity == id && $0.offset == size } }),
                       !run.finished {
                        truncated += 1
                        #expect(truncate(file, 0) == 0)
                    }
                }
            }
            if final {
                // Everything written is read, renamed files are closed after rotate_wait.
                #expect(try h.waitForEvents(next, timeout: 30))
                #expect(waitFor(timeout: 10) { tailer.acknowledgedPositions.count == 1 })
                tailer.stop()
            } else if !waitFor(timeout: 5, { run.finished }) {
                tailer.stop()  // the crash point was not reached: a clean restart
            }
            run.join()
            if run.outcome.current.crashed { crashes[plan.1, default: 0] += 1 }
            duplicatesSkipped += tailer.metrics.duplicatesSkipped
            restartTruncations += tailer.metrics.truncations
            h.crashBroker()
        }
        let seqs = try h.sequences()
        let counts = Dictionary(seqs.map { ($0, 1) }, uniquingKeysWith: +)
        let missing = (0..<Int64(next)).filter { counts[$0] == nil }
        let repeated = counts.filter { $0.value > 1 }.keys.sorted()
        #expect(missing.isEmpty, "lost \(missing.count) lines, e.g. \(missing.prefix(10))")
        #expect(repeated.isEmpty, "repeated \(repeated.count) lines, e.g. \(repeated.prefix(10))")
        if let first = repeated.first {
            for e in try h.events() where e["seq"] == .int(first) { print("repeated: \(e)") }
        }
        #expect(seqs.count == next)
        let total = crashes.values.reduce(0, +)
        #expect(total >= 8, "only \(total) of 10 rounds reached their crash point")
        print("file tail crash test: \(next) lines, \(total) crashes \(crashes.sorted { $0.key < $1.key }), \(renamed) renames, \(truncated) copytruncates, \(restartTruncations) truncations seen, \(duplicatesSkipped) re-read lines already in the topic skipped; \(seqs.count) events, \(missing.count) lost, \(repeated.count) repeated")
    }

    @Test func positionsFileRoundTripsAndRejectsDamage() throws {
        var checkpoint = FileTailCheckpoint(marks: [3, 0, 17, 1 << 40])
        checkpoint.entries = [
            .init(identity: FileIdentity(device: 2049, inode: 123_456), fingerprint: FileFingerprint(length: 256, crc: 0xDEAD_BEEF),
                  offset: 987_654_321, skippingLongLine: true, path: "/var/log/app.log", location: "/var/log/app.log.1"),
            .init(identity: FileIdentity(device: 1, inode: 2), fingerprint: .empty, offset: 0, skippingLongLine: false,
                  path: "/var/log/ünïcode.log", location: "/var/log/ünïcode.log"),
        ]
        let bytes = checkpoint.encode()
        #expect(try FileTailCheckpoint.decode(bytes, path: "p") == checkpoint)
        for i in [0, 4, 9, bytes.count / 2, bytes.count - 1] {
            var damaged = bytes
            damaged[i] ^= 0x40
            #expect(throws: FileTailError.self) { try FileTailCheckpoint.decode(damaged, path: "p") }
        }
        #expect(throws: FileTailError.self) { try FileTailCheckpoint.decode(Array(bytes.prefix(20)), path: "p") }
    }
}
