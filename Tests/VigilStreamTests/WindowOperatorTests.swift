import Testing
import VigilTestSupport
@testable import VigilStream

/// Crafted event-time sequences with exact expected results: in order, out of order within the
/// allowed lateness, late (rejected or applied as updates), idle partitions closed by processing
/// time, early results, sessions, and checkpoints that resume exactly.
@Suite struct WindowOperatorTests {
    typealias Op = WindowOperator<CountAggregate>

    /// A result as `key [start,end) count firing#sequence` (times in seconds).
    static func describe(_ r: WindowResult<CountAggregate>) -> String {
        "\(r.key) [\(r.bounds.start / s),\(r.bounds.end / s)) \(r.value.count) \(r.firing)#\(r.sequence)"
    }

    static let s: Int64 = 1_000_000_000

    /// Feeds `(key, seconds)` events; returns the results and the outcomes of rejected events.
    static func run(_ op: inout Op, _ events: [(String, Int64)]) -> (results: [String], rejected: [Int64]) {
        var results: [String] = []
        var rejected: [Int64] = []
        for (key, t) in events {
            let outcome = op.add(key: key, time: t * s, ()) { results.append(describe($0)) }
            if case .rejectedLate = outcome { rejected.append(t) }
        }
        return (results, rejected)
    }

    @Test func tumblingInOrderAndLate() {
        var op = Op(options: WindowOptions(kind: .tumbling(size: 10 * Self.s))) { CountAggregate() }
        let (results, rejected) = Self.run(&op, [("a", 1), ("a", 2), ("b", 5), ("a", 11), ("a", 3), ("a", 25)])
        #expect(results == ["a [0,10) 2 final#0", "b [0,10) 1 final#0", "a [10,20) 1 final#0"])
        #expect(rejected == [3])
        #expect(op.lateEvents == 1)
        #expect(op.eventsAdded == 5)
        #expect(op.watermark == 25 * Self.s)
        #expect(op.openWindowCount == 1)  // a [20,30)
    }

    @Test func outOfOrderWithinTheAllowedLateness() {
        var op = Op(options: WindowOptions(kind: .tumbling(size: 10 * Self.s), allowedLateness: 5 * Self.s)) { CountAggregate() }
        // 12 moves the watermark to 7 only: 3 still counts in [0,10). 16 → watermark 11 fires it.
        // 4 is then late; 14 (watermark 11) is not.
        let (results, rejected) = Self.run(&op, [("k", 1), ("k", 12), ("k", 3), ("k", 16), ("k", 4), ("k", 14)])
        #expect(results == ["k [0,10) 2 final#0"])
        #expect(rejected == [4])
        var more: [String] = []
        op.advanceWatermark(to: 20 * Self.s) { more.append(Self.describe($0)) }
        #expect(more == ["k [10,20) 3 final#0"])
    }

    @Test func hoppingWindowsCountAnEventInEachWindowThatHoldsIt() {
        var op = Op(options: WindowOptions(kind: .hopping(size: 10 * Self.s, advance: 5 * Self.s))) { CountAggregate() }
        var out: [String] = []
        for t: Int64 in [7, 8, 12, 3] { _ = op.add(key: "x", time: t * Self.s, ()) { out.append(Self.describe($0)) } }
        // 12 fired [0,10) (watermark 12 ≥ 10) holding 7 and 8; 3 is late for [0,10) but [-5,5)
        // had also ended (5 ≤ 12): rejected.
        #expect(out == ["x [0,10) 2 final#0"])
        op.advanceWatermark(to: 100 * Self.s) { out.append(Self.describe($0)) }
        #expect(out == ["x [0,10) 2 final#0", "x [5,15) 3 final#0", "x [10,20) 1 final#0"])
        #expect(op.lateEvents == 1)
    }

    @Test func hoppingWindowAssignment() {
        var starts: [Int64] = []
        WindowKind.hopping(size: 10, advance: 5).forEachWindow(containing: 7) { starts.append($0.start) }
        #expect(starts == [0, 5])
        starts = []
        WindowKind.hopping(size: 10, advance: 5).forEachWindow(containing: 5) { starts.append($0.start) }
        #expect(starts == [0, 5])
        starts = []
        WindowKind.hopping(size: 10, advance: 3).forEachWindow(containing: -1) { starts.append($0.start) }
        #expect(starts == [-9, -6, -3])
        starts = []
        WindowKind.tumbling(size: 10).forEachWindow(containing: -1) { starts.append($0.start) }
        #expect(starts == [-10])
    }

    @Test func sessionsMergeAndCloseAfterTheGap() {
        var op = Op(options: WindowOptions(kind: .session(gap: 5 * Self.s))) { CountAggregate() }
        var out: [String] = []
        // 1,3 → [1,8); 10 → [10,15) (does not touch [1,8)) and fires [1,8)? The watermark is
        // 10 ≥ 8: yes. 12 → [10,17); 20 → fires nothing (17 ≤ 20: fires [10,17)).
        for (k, t): (String, Int64) in [("u", 1), ("u", 3), ("v", 2), ("u", 10), ("u", 12), ("u", 20)] {
            _ = op.add(key: k, time: t * Self.s, ()) { out.append(Self.describe($0)) }
        }
        #expect(out == ["v [2,7) 1 final#0", "u [1,8) 2 final#0", "u [10,17) 2 final#0"])
        op.advanceWatermark(to: 30 * Self.s) { out.append(Self.describe($0)) }
        #expect(out.last == "u [20,25) 1 final#0")
    }

    @Test func anEventBridgingTwoSessionsMergesThem() {
        var op = Op(options: WindowOptions(kind: .session(gap: 4 * Self.s), allowedLateness: 20 * Self.s)) { CountAggregate() }
        var out: [String] = []
        for t: Int64 in [1, 2, 9, 10, 5] { _ = op.add(key: "s", time: t * Self.s, ()) { out.append(Self.describe($0)) } }
        // [1,6) and [9,14) are bridged by 5 ([5,9)): one session [1,14) of 5 events.
        #expect(out.isEmpty)
        op.advanceWatermark(to: 14 * Self.s) { out.append(Self.describe($0)) }
        #expect(out == ["s [1,14) 5 final#0"])
    }

    @Test func lateEventsAppliedAsUpdatesWithinTheRetention() {
        var op = Op(options: WindowOptions(kind: .tumbling(size: 10 * Self.s), late: .update(retention: 15 * Self.s))) { CountAggregate() }
        var out: [String] = []
        var outcomes: [Op.Outcome] = []
        for t: Int64 in [1, 2, 12, 3, 4, 30, 5] {
            outcomes.append(op.add(key: "k", time: t * Self.s, ()) { out.append(Self.describe($0)) })
        }
        // 12 fires [0,10)=2; 3 and 4 update it (3, 4); 30 fires [10,20)=1 and expires [0,10)
        // (10 + 15 ≤ 30); 5 is then rejected.
        #expect(out == ["k [0,10) 2 final#0", "k [0,10) 3 late_update#1", "k [0,10) 4 late_update#2", "k [10,20) 1 final#0"])
        #expect(outcomes[3] == .updatedLate && outcomes[4] == .updatedLate)
        if case .rejectedLate(let reason) = outcomes[6] { #expect(reason.contains("behind the watermark")) } else { Issue.record("5 was not rejected") }
        #expect(op.lateEvents == 3)
        #expect(op.lateUpdates == 2)
    }

    @Test func idlePartitionClosesItsWindowsByProcessingTime() {
        var op = Op(options: WindowOptions(kind: .tumbling(size: 60 * Self.s), allowedLateness: 30 * Self.s)) { CountAggregate() }
        var out: [String] = []
        for t: Int64 in [10, 20, 50] { _ = op.add(key: "p", time: t * Self.s, ()) { out.append(Self.describe($0)) } }
        #expect(out.isEmpty)  // watermark 20 < 60
        // No more events: the stage advances the idle partition's watermark with the wall clock
        // (here by 45 s of processing time: 20 + 45 = 65 ≥ 60).
        op.advanceWatermark(to: op.maxEventTime - 30 * Self.s + 45 * Self.s) { out.append(Self.describe($0)) }
        #expect(out == ["p [0,60) 3 final#0"])
        // The watermark never goes back.
        op.advanceWatermark(to: 0) { out.append(Self.describe($0)) }
        #expect(op.watermark == 65 * Self.s)
    }

    @Test func earlyResultsForChangedWindowsThenTheFinal() {
        var op = Op(options: WindowOptions(kind: .tumbling(size: 10 * Self.s))) { CountAggregate() }
        var out: [String] = []
        let emit: (WindowResult<CountAggregate>) -> Void = { out.append(Self.describe($0)) }
        _ = op.add(key: "a", time: 1 * Self.s, (), emit: emit)
        _ = op.add(key: "b", time: 2 * Self.s, (), emit: emit)
        op.fireEarly(emit: emit)
        _ = op.add(key: "a", time: 3 * Self.s, (), emit: emit)
        op.fireEarly(emit: emit)
        op.fireEarly(emit: emit)  // nothing changed
        _ = op.add(key: "a", time: 15 * Self.s, (), emit: emit)
        #expect(out == ["a [0,10) 1 early#0", "b [0,10) 1 early#0", "a [0,10) 2 early#1",
                        "a [0,10) 2 final#0", "b [0,10) 1 final#0"])
    }

    @Test func checkpointAndRestoreResumesExactly() throws {
        let options = WindowOptions(kind: .hopping(size: 10 * Self.s, advance: 5 * Self.s), allowedLateness: 3 * Self.s,
                                    late: .update(retention: 20 * Self.s))
        var rng = SplitMix64(seed: 7)
        let events: [(String, Int64)] = (0..<2000).map { i in
            ("k\(rng.next() % 7)", Int64(i / 10) + Int64(rng.next() % 12) - 6)
        }
        // Uninterrupted.
        var whole = Op(options: options) { CountAggregate() }
        var expected: [String] = []
        for (k, t) in events { _ = whole.add(key: k, time: t * Self.s, ()) { expected.append(Self.describe($0)) } }
        whole.advanceWatermark(to: Int64.max / 2) { expected.append(Self.describe($0)) }
        // Checkpointed and restored every 137 events.
        var op = Op(options: options) { CountAggregate() }
        var got: [String] = []
        for (i, (k, t)) in events.enumerated() {
            if i % 137 == 0 {
                var w = StateWriter()
                op.encode(into: &w)
                let bytes = w.bytes
                op = try bytes.withUnsafeBytes { raw in
                    var r = StateReader(raw, context: "test")
                    let restored = try Op.restore(options: options, from: &r) { CountAggregate() }
                    #expect(r.isAtEnd)
                    return restored
                }
                var again = StateWriter()
                op.encode(into: &again)
                #expect(again.bytes == bytes)
            }
            _ = op.add(key: k, time: t * Self.s, ()) { got.append(Self.describe($0)) }
        }
        op.advanceWatermark(to: Int64.max / 2) { got.append(Self.describe($0)) }
        #expect(got == expected)
        #expect(op.lateEvents == whole.lateEvents && op.lateUpdates == whole.lateUpdates && op.eventsAdded == whole.eventsAdded)
        #expect(whole.lateEvents > 0 && whole.lateUpdates > 0)
    }

    @Test func damagedStateIsAnErrorNotACrash() {
        var op = Op(options: WindowOptions(kind: .session(gap: 5))) { CountAggregate() }
        for t: Int64 in [1, 2, 30, 31] { _ = op.add(key: "z\(t % 2)", time: t, ()) { _ in } }
        var w = StateWriter()
        op.encode(into: &w)
        var rng = SplitMix64(seed: 3)
        for round in 0..<2000 {
            var bytes = w.bytes
            if round % 2 == 0 {
                bytes.removeLast(Int(rng.next() % UInt64(bytes.count)))
            } else {
                for _ in 0..<3 { bytes[Int(rng.next() % UInt64(bytes.count))] ^= UInt8(truncatingIfNeeded: rng.next() | 1) }
            }
            bytes.withUnsafeBytes { raw in
                var r = StateReader(raw, context: "round \(round)")
                _ = try? Op.restore(options: op.options, from: &r) { CountAggregate() }
            }
        }
    }
}
