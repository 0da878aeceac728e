import Foundation
import Testing
import VigilCore
import VigilStream
import VigilTestSupport
import VigilYAML
@testable import VigilRules

/// The `beacon` aggregation: regular intervals alert once per track, irregular ones do not, idle
/// keys start afresh and are dropped, and the state survives a checkpoint.
@Suite struct BeaconTests {
    static let s: Int64 = 1_000_000_000
    static let base: Int64 = 1_790_000_000 * s

    static let yaml = """
        rules:
          - id: t.beacon
            title: Beacon
            match: { event.dataset: network.conn }
            beacon: { group_by: [source.ip, destination.ip], min_connections: 10, max_jitter: 0.1, window: 1h }
        """

    func compiled(_ text: String = yaml) throws -> CompiledRule {
        try CompiledRule(try RuleFile.parse(yaml: text, file: "t.yaml")[0])
    }

    func event(_ t: Int64, source: String = "10.0.0.5", destination: String = "203.0.113.9") -> Event {
        var e = Event()
        e[.timestamp] = .timestamp(Timestamp(nanoseconds: t))
        e[.eventDataset] = "network.conn"
        e["source.ip"] = .ip(IPAddress(source)!)
        e["destination.ip"] = .ip(IPAddress(destination)!)
        return e
    }

    func run(_ events: [Event], rule: CompiledRule) -> [Event] {
        var state = RulesState(partition: 0, book: RuleBook(rules: [rule]))
        var alerts: [Event] = []
        for (i, e) in events.enumerated() {
            state.process(e, time: e[.timestamp]!.timestampValue!.nanoseconds, offset: Int64(i), emit: { alerts.append($0) }, late: { _ in })
        }
        return alerts
    }

    /// Times every `interval` seconds with a jitter drawn from ±`jitter` seconds.
    func times(_ n: Int, interval: Double, jitter: Double, seed: UInt64, start: Int64 = base) -> [Int64] {
        var rng = SplitMix64(seed: seed)
        return (0..<n).map { k in
            let u = Double(rng.next() % 1_000_001) / 1_000_000 * 2 - 1
            return start + Int64((Double(k) * interval + u * jitter) * 1e9)
        }
    }

    @Test func parsesTheRuleSyntax() throws {
        let r = try compiled()
        #expect(r.rule.aggregation == .beacon(groupBy: ["source.ip", "destination.ip"], minimumConnections: 10, maximumJitter: 0.1,
                                              window: 3600 * Self.s))
        #expect(r.groupBy == ["source.ip", "destination.ip"])
        for (bad, message) in [("min_connections: 2, max_jitter: 0.1, window: 1h", "t.yaml:5:"),
                               ("min_connections: 10, max_jitter: -1, window: 1h", "max_jitter is a coefficient of variation"),
                               ("min_connections: 10, max_jitter: 0.1", "window"),
                               ("min_connections: 10, max_jitter: 0.1, window: 1h, every: 5m", "every")] {
            let text = Self.yaml.replacingOccurrences(of: "min_connections: 10, max_jitter: 0.1, window: 1h", with: bad)
            #expect(throws: YAMLError.self) { _ = try RuleFile.parse(yaml: text, file: "t.yaml") }
            do { _ = try RuleFile.parse(yaml: text, file: "t.yaml") } catch { #expect("\(error)".contains(message), "\(error)") }
        }
    }

    @Test func regularIntervalsAlertOnceWithTheMeanInterval() throws {
        let events = times(30, interval: 60, jitter: 1, seed: 1).map { event($0) }
        let alerts = run(events, rule: try compiled())
        #expect(alerts.count == 1)
        let a = try #require(alerts.first)
        #expect(a["vigil.alert.connections"] == .int(10))
        let interval = try #require(a["vigil.alert.interval_s"]?.floatValue)
        #expect(abs(interval - 60) < 0.5, "\(interval)")
        #expect((a["vigil.alert.jitter"]?.floatValue).map { $0 < 0.05 } == true)
        #expect(a[.timestamp] == events[9][.timestamp])
        #expect(a[.eventStart] == events[0][.timestamp])
        #expect(a["vigil.alert.key"] == .string("10.0.0.5\u{1F}203.0.113.9"))
    }

    @Test func randomIntervalsDoNotAlert() throws {
        let rule = try compiled()
        for seed in UInt64(1)...20 {
            var rng = SplitMix64(seed: seed)
            var t = Self.base
            var events: [Event] = []
            for _ in 0..<40 {
                t += Int64(1 + rng.next() % 600) * Self.s
                events.append(event(t))
            }
            #expect(run(events, rule: rule).isEmpty, "seed \(seed)")
        }
        // Regular but too few.
        #expect(run(times(9, interval: 60, jitter: 0, seed: 1).map { event($0) }, rule: rule).isEmpty)
        // Jitter of ±30 s on 60 s: a coefficient of variation near 0.4.
        #expect(run(times(30, interval: 60, jitter: 30, seed: 3).map { event($0) }, rule: rule).isEmpty)
    }

    @Test func keysAreSeparateAndAnIdleKeyStartsAfresh() throws {
        let rule = try compiled()
        let a = times(12, interval: 60, jitter: 0.5, seed: 4).map { event($0) }
        let b = times(12, interval: 300, jitter: 2, seed: 5).map { event($0, destination: "203.0.113.10") }
        let merged = (a + b).sorted { $0[.timestamp]!.timestampValue!.nanoseconds < $1[.timestamp]!.timestampValue!.nanoseconds }
        let alerts = run(merged, rule: rule)
        #expect(Set(alerts.compactMap { $0["destination.ip"] }) == [.ip(IPAddress("203.0.113.9")!), .ip(IPAddress("203.0.113.10")!)])
        // After two idle hours the same key beacons again: a second track, a second alert.
        let later = times(12, interval: 60, jitter: 0.5, seed: 6, start: Self.base + 3 * 3600 * Self.s).map { event($0) }
        let twice = run(a + later, rule: rule)
        #expect(twice.count == 2)
        #expect(Set(twice.compactMap { $0["vigil.alert.id"] }).count == 2)
    }

    @Test func eventsOutOfOrderAreNotIntervals() {
        var table = BeaconTable()
        let w = 3600 * Self.s
        for k in 0..<5 { _ = table.add(key: "k", time: Self.base + Int64(k) * 60 * Self.s, minimumConnections: 10, maximumJitter: 0.1, window: w) }
        _ = table.add(key: "k", time: Self.base + 30 * Self.s, minimumConnections: 10, maximumJitter: 0.1, window: w)
        _ = table.add(key: "k", time: Self.base + 240 * Self.s, minimumConnections: 10, maximumJitter: 0.1, window: w)
        #expect(table.tracks["k"]?.connections == 5)
        #expect(table.tracks["k"]?.intervals.count == 4)
    }

    @Test func idleKeysAreDropped() {
        var table = BeaconTable()
        let w = 60 * Self.s
        var largest = 0
        for k in 0..<50_000 {
            _ = table.add(key: RuleKey("k\(k)"), time: Self.base + Int64(k) * Self.s, minimumConnections: 10, maximumJitter: 0.1, window: w)
            largest = max(largest, table.tracks.count)
        }
        #expect(largest <= BeaconTable.minimumSweep + 1)
        table.sweep(window: w)
        #expect(table.tracks.count == 61)
    }

    @Test func theStateSurvivesACheckpoint() throws {
        let rule = try compiled()
        let plugin = RulesPlugin(rules: [rule])
        let events = times(30, interval: 60, jitter: 1, seed: 7).map { event($0) } + times(30, interval: 120, jitter: 1, seed: 8).map { event($0, source: "10.0.0.6") }
        let ordered = events.sorted { $0[.timestamp]!.timestampValue!.nanoseconds < $1[.timestamp]!.timestampValue!.nanoseconds }
        func feed(_ state: inout any PluginState, _ slice: ArraySlice<Event>, into alerts: inout [String]) {
            for (i, e) in zip(slice.indices, slice) {
                state.process(e, time: e[.timestamp]!.timestampValue!.nanoseconds, offset: Int64(i), emit: { alerts.append($0["event.id"]!.stringValue!) }, late: { _ in })
            }
        }
        var whole: [String] = []
        var one = plugin.makeState(partition: 0)
        feed(&one, ordered[...], into: &whole)
        #expect(whole.count == 2)
        for cut in [5, 12, 25, 40] {
            var resumed: [String] = []
            var first = plugin.makeState(partition: 0)
            feed(&first, ordered[..<cut], into: &resumed)
            var w = StateWriter()
            first.encode(into: &w)
            let bytes = w.bytes
            var second = try bytes.withUnsafeBytes { raw in
                var r = StateReader(raw, context: "test")
                return try plugin.restoreState(partition: 0, from: &r, report: { _ in })
            }
            feed(&second, ordered[cut...], into: &resumed)
            #expect(resumed == whole, "cut at \(cut)")
        }
    }
}
