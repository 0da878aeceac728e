import Foundation
import Testing
import VigilCore
import VigilStream
import VigilTestSupport
@testable import VigilRules

/// `RuleExplainer` against the engine: on every starter-pack example event, and on variants of
/// them with fields dropped or taken from other events, explain's verdict is what the engine
/// does with the event (alerts, or hands it to the rule's aggregation).
@Suite struct ExplainTests {
    static let fallbackTime: Int64 = 1_700_000_000_000_000_000

    /// Whether the engine acts on `event` with a fresh state: a single-event rule alerts; an
    /// aggregated rule puts something in its state.
    static func engineActs(_ rule: CompiledRule, _ event: Event) -> Bool {
        var state = RulesState(partition: 0, book: RuleBook(rules: [rule]))
        var alerted = false
        let time = event[.timestamp]?.timestampValue?.nanoseconds ?? fallbackTime
        state.process(event, time: time, offset: 0, emit: { _ in alerted = true }, late: { _ in })
        switch rule.rule.aggregation {
        case nil: return alerted
        case .threshold?, .distinct?: return state.windows[0]!.openWindowCount > 0
        case .newValue?: return !state.seen[0].isEmpty
        case .anomaly?: return !state.moments[0].isEmpty
        case .beacon?: return !state.beacons[0].tracks.isEmpty
        case .sequence?:
            // Passed the match and has a key (the rule's time moved), and a step matched.
            return state.ruleTime[0] != .min && rule.steps.contains { $0.matches(event) }
        }
    }

    static func starterRules() throws -> [CompiledRule] { try RuleDirectory.load(repositoryRoot() + "/rules") }

    static func exampleEvents() throws -> [Event] {
        let dir = repositoryRoot() + "/rules"
        var out: [Event] = []
        for file in try FileManager.default.contentsOfDirectory(atPath: dir).sorted() where file.hasSuffix(".yaml") {
            for example in try RuleExample.load(path: dir + "/" + file) { out += example.events }
        }
        return out
    }

    /// Leaf paths of an event's fields.
    static func leaves(_ value: FieldValue, _ prefix: String, into out: inout [(String, FieldValue)]) {
        if case .object(let o) = value {
            for m in o.members { leaves(m.value, prefix.isEmpty ? m.key : prefix + "." + m.key, into: &out) }
        } else {
            out.append((prefix, value))
        }
    }

    static func fields(_ e: Event) -> [(String, FieldValue)] {
        var json: [UInt8] = []
        EventJSON.encode(e, into: &json)
        let value = json.withUnsafeBytes { try! EventJSON.decodeValue($0) }
        var out: [(String, FieldValue)] = []
        leaves(value, "", into: &out)
        return out
    }

    /// Each example event, each with one field dropped, and each with one field taken from another event.
    static func corpus() throws -> [Event] {
        let base = try exampleEvents()
        var rng = SplitMix64(seed: 0x6578_706C_6169_6E)
        let pool = base.flatMap(fields)
        var out = base
        for e in base {
            for (field, _) in fields(e) where field != "@timestamp" {
                var dropped = e
                dropped[field] = nil
                out.append(dropped)
            }
            for _ in 0..<4 {
                var changed = e
                let (field, value) = pool[Int(rng.next() % UInt64(pool.count))]
                if field != "@timestamp" { changed[field] = value }
                out.append(changed)
            }
        }
        return out
    }

    @Test func explainAgreesWithTheEngineOnTheStarterPack() throws {
        let rules = try Self.starterRules()
        let events = try Self.corpus()
        var acted = 0, checked = 0
        for rule in rules {
            let explainer = try RuleExplainer(rule)
            for e in events {
                let x = explainer.explain(e)
                let engine = Self.engineActs(rule, e)
                #expect(x.verdict.acts == engine, "\(rule.rule.id): explain says \(x.verdict.name), the engine \(engine ? "acts" : "does not act") on \(EventJSON.encodeString(e))\n\(x.text)")
                #expect(x.engineMatch == x.tree.result, "\(rule.rule.id)")
                if engine { acted += 1 }
                checked += 1
            }
        }
        print("explain vs engine: \(checked) rule×event pairs, \(acted) acted on, \(rules.count) rules, \(events.count) events")
        #expect(acted > 50)
        #expect(checked - acted > 1000)
    }

    @Test func everyExampleThatRaisesIsExplainedAsMatching() throws {
        let dir = repositoryRoot() + "/rules"
        let rules = Dictionary(try Self.starterRules().map { ($0.rule.id, $0) }, uniquingKeysWith: { a, _ in a })
        for file in try FileManager.default.contentsOfDirectory(atPath: dir).sorted() where file.hasSuffix(".yaml") {
            for example in try RuleExample.load(path: dir + "/" + file) where example.expectedAlerts > 0 {
                guard let rule = rules[example.rule] else { continue }
                let explainer = try RuleExplainer(rule)
                #expect(example.events.contains { explainer.explain($0).verdict.acts }, "\(example.origin)")
            }
        }
    }

    func rule(_ yaml: String) throws -> CompiledRule {
        try CompiledRule(try RuleFile.parse(yaml: "rules:\n" + yaml, file: "t.yaml")[0])
    }

    @Test func theTreeShowsEachNodeWithTheValuesItRead() throws {
        let r = try rule("""
              - id: t.ssh
                title: SSH failures
                match:
                  event.outcome: failure
                  user.name|startswith|i: [ADM, root]
                  not: { source.ip|cidr: 10.0.0.0/8 }
                threshold: { group_by: [source.ip], window: 5m, count: 10 }
            """)
        let x = try RuleExplainer(r).explain(try EventJSON.decode(#"{"@timestamp":"2026-11-20T10:02:03Z","event":{"outcome":"failure"},"user":{"name":"Admin"},"source":{"ip":"198.51.100.7"}}"#))
        #expect(x.verdict == .counted)
        #expect(x.key == "198.51.100.7")
        #expect(x.windows.map { $0.end - $0.start } == [300_000_000_000])
        let text = x.text
        #expect(text.contains("[true]  user.name startswith [\"ADM\", \"root\"] (i) — any value    ← user.name = \"Admin\""), "\(text)")
        #expect(text.contains("[true]  not"))
        #expect(text.contains("[false] source.ip cidr \"10.0.0.0/8\"    ← source.ip = \"198.51.100.7\""), "\(text)")
        #expect(text.contains("aggregation: threshold: counts events per source.ip in 5m tumbling windows, alerts at ≥ 10"), "\(text)")
        #expect(text.contains("windows: [2026-11-20T10:00:00"), "\(text)")

        let missing = try RuleExplainer(r).explain(try EventJSON.decode(#"{"event":{"outcome":"failure"},"user":{"name":"root"}}"#))
        #expect(missing.verdict == .missingGroupBy(["source.ip"]))
        let no = try RuleExplainer(r).explain(try EventJSON.decode(#"{"event":{"outcome":"success"},"source":{"ip":"10.1.1.1"}}"#))
        #expect(no.verdict == .notMatched)
        #expect(no.text.contains("user.name = missing"), "\(no.text)")
        let json = try JSONSerialization.jsonObject(with: Data(no.json.utf8)) as! [String: Any]
        #expect(json["verdict"] as? String == "not_matched")
        let tree = json["tree"] as! [String: Any]
        #expect(tree["node"] as? String == "all" && tree["result"] as? Bool == false)
        let children = tree["children"] as! [[String: Any]]
        #expect(children[1]["missing"] as? Bool == true && children[1]["modifiers"] as? [String] == ["i"])
        #expect(children[0]["observed"] as? String == "success")
    }

    @Test func aRuleRestrictedToDatasetsIsNotConsideredOnOthers() throws {
        let r = try rule("""
              - id: t.ds
                title: auth only
                match: { event.dataset: system.auth, event.outcome: failure }
            """)
        let x = try RuleExplainer(r).explain(try EventJSON.decode(#"{"event":{"dataset":"nginx.access","outcome":"failure"}}"#))
        #expect(x.verdict == .notConsidered)
        #expect(x.text.contains("only runs on event.dataset system.auth"), "\(x.text)")
        #expect(try RuleExplainer(r).explain(try EventJSON.decode(#"{"event":{"dataset":"system.auth","outcome":"failure"}}"#)).verdict == .alerts)
    }

    @Test func describesEveryAggregation() {
        let m = 60_000_000_000 as Int64
        #expect(RuleExplainer.describe(.distinct(field: "destination.port", groupBy: ["source.ip"], window: .hopping(size: 5 * m, advance: m), minimum: 50))
                == "distinct: counts distinct destination.port values per source.ip in 5m hopping windows every 1m, alerts at ≥ 50")
        #expect(RuleExplainer.describe(.beacon(groupBy: ["source.ip", "destination.ip"], minimumConnections: 10, maximumJitter: 0.1, window: 60 * m))
                .contains("per source.ip + destination.ip, alerts at ≥ 10 events whose intervals' coefficient of variation is ≤ 0.1; a key idle for 1h starts afresh"))
        #expect(RuleExplainer.describe(.sequence(steps: [SequenceStep(name: "fail", match: .constant(true), minimum: 5), SequenceStep(name: "ok", match: .constant(true))],
                                                 groupBy: ["source.ip"], within: 10 * m, ordered: true))
                == "sequence: per source.ip, fail (≥ 5) then ok (≥ 1) within 10m, alerts when all steps happened")
    }
}
