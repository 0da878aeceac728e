import Foundation
import VigilCapture
import VigilCore
import VigilDecode
import VigilEnrich
import VigilParsers
import VigilRules
import VigilStream

/// The rules over a capture or a log file in-process (`vigil rules test --pcap/--logs`): each
/// event is enriched (when enrichments are given), then goes through the real rules plugin
/// (``RulesPlugin``) as partition 0 of an in-memory stream, in the order the sensor or parser
/// produced it, with event-time windows; ``finish()`` advances the watermark to the end of time so
/// every window closes. Nothing touches the broker, the index or the data directory.
public final class RuleDryRun {
    /// What a dry run saw.
    public struct Summary: Sendable {
        /// Events given to the rules.
        public var events: Int64 = 0
        /// Alert events emitted (a suppressed alert's updates each count).
        public var alertEvents: Int64 = 0
        /// Distinct alerts (`vigil.alert.id`) per rule id.
        public var alertsByRule: [String: Set<String>] = [:]
        /// Events a rule window rejected as late (behind its watermark), with the first reasons.
        public var late: Int64 = 0
        public var lateReasons: [String] = []
        /// Events whose parser recorded a problem in `vigil.errors` (kept by `on_failure: keep`).
        public var withParseErrors: Int64 = 0

        /// `events: N, alerts: M (rule a: x, rule b: y), late: L`.
        public var line: String {
            let total = alertsByRule.values.reduce(0) { $0 + $1.count }
            let byRule = alertsByRule.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value.count)" }.joined(separator: ", ")
            var text = "dry run: \(events) events, \(total) alerts"
            if !byRule.isEmpty { text += " (\(byRule))" }
            if alertEvents != Int64(total) { text += ", \(alertEvents) alert updates" }
            text += ", \(late) late events"
            if withParseErrors > 0 { text += ", \(withParseErrors) events with parse errors (vigil.errors)" }
            return text
        }
    }

    private var state: any PluginState
    private var enricher: Enricher?
    private let emit: (Event) -> Void
    public private(set) var summary = Summary()
    /// Event time for events without `@timestamp`: the latest seen (the wall clock before any).
    private var lastTime: Int64 = Timestamp.now().nanoseconds

    /// - Parameters:
    ///   - rules: the compiled rules (``Pipeline/loadRules(directory:report:)``).
    ///   - emit: receives each alert as the rules raise it.
    public init(rules: [CompiledRule], triage: TriageAggregation = .max, enrichment: EnrichmentSet? = nil,
                emit: @escaping (Event) -> Void) {
        var plugin = RulesPlugin(rules: rules)
        plugin.triage = triage
        state = plugin.makeState(partition: 0)
        enricher = enrichment?.makeEnricher()
        self.emit = emit
    }

    /// One event: enriched, then matched by every rule.
    public func add(_ event: Event) {
        var event = event
        enricher?.enrich(&event)
        let time = event[.timestamp]?.timestampValue?.nanoseconds ?? lastTime
        lastTime = time
        let offset = summary.events
        summary.events += 1
        if event["vigil.errors"] != nil { summary.withParseErrors += 1 }
        state.process(event, time: time, offset: offset, emit: { self.alert($0) }, late: { reason in
            self.summary.late += 1
            if self.summary.lateReasons.count < 10 { self.summary.lateReasons.append(reason) }
        })
    }

    private func alert(_ a: Event) {
        summary.alertEvents += 1
        let rule = a["rule.id"]?.stringValue ?? "?"
        summary.alertsByRule[rule, default: []].insert(a["vigil.alert.id"]?.stringValue ?? "")
        emit(a)
    }

    /// End of input: every window closes (the watermark moves to the end of time).
    public func finish() {
        state.closeAll(offset: summary.events, emit: { self.alert($0) })
        enricher?.flushMetrics()
    }

    /// Runs the network sensor over capture files (the `vigil replay` path) into the rules.
    /// - Throws: the capture's errors (a missing or malformed file).
    /// - Returns: the sensor's summary of the capture.
    public func replay(files: [String], configuration: NetworkAnalyzer.Configuration) throws -> String {
        var sensor = NetworkSensor(configuration: configuration, output: .events { self.add($0) })
        let capture = try CaptureRunner.replay(files: files, into: &sensor)
        try sensor.finish()
        return sensor.analyzer.counters.summary(capture: capture)
    }
}
