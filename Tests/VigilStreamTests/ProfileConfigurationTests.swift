import Testing
import VigilStream
import VigilYAML

/// Profiles read from YAML: every window and aggregate, and mistakes reported at their place.
@Suite struct ProfileConfigurationTests {
    func profile(_ yaml: String) throws(YAMLError) -> ProfileDefinition {
        try ProfileDefinition.decode(try YAMLValue.parse(yaml: yaml, file: "p.yaml"), defaultLateness: 7)
    }

    @Test func everyWindowAndAggregate() throws {
        let a = try profile("""
            name: users_per_source
            where: { event.dataset: [zeek.ssh, system.auth], event.outcome: failure }
            group_by: [source.ip, destination.port]
            window: { type: hopping, size: 10m, advance: 1m }
            late: { update: 1h }
            aggregate: { distinct: user.name, precision: 12 }
            early: 30s
            """)
        #expect(a.name == "users_per_source")
        #expect(a.conditions.map(\.field) == ["event.dataset", "event.outcome"])
        #expect(a.conditions[0].values == ["zeek.ssh", "system.auth"])
        #expect(a.groupBy == ["source.ip", "destination.port"])
        #expect(a.window == WindowOptions(kind: .hopping(size: 600_000_000_000, advance: 60_000_000_000), allowedLateness: 7,
                                          late: .update(retention: 3_600_000_000_000)))
        #expect(a.aggregate == .distinct(field: "user.name", precision: 12))
        #expect(a.earlyInterval == 30_000_000_000)
        let b = try profile("name: s\ngroup_by: user.name\nwindow: { type: session, gap: 15m }\naggregate: { stats: network.bytes }\nallowed_lateness: 0s")
        #expect(b.window.kind == .session(gap: 900_000_000_000))
        #expect(b.window.allowedLateness == 0)
        #expect(b.aggregate == .stats(field: "network.bytes"))
        let c = try profile("name: c\ngroup_by: [host.name]\nwindow: { type: tumbling, size: 1h }")
        #expect(c.aggregate == .count && c.window.late == .reject && c.earlyInterval == nil)
    }

    @Test(arguments: [
        ("name: x\ngroup_by: [a]\nwindow: { type: weekly, size: 1h }", "unknown window type weekly", 3),
        ("name: x\ngroup_by: [a]\nwindow: { type: hopping, size: 1m, advance: 2m }", "advance must not exceed size", 3),
        ("name: x\ngroup_by: [a]\nwindow: { type: tumbling, size: 1m }\naggregate: median", "unknown aggregate median", 4),
        ("name: x\ngroup_by: [a]\nwindow: { type: tumbling, size: 1m }\naggregate: { distinct: a, precision: 30 }", "out of range 4...18", 4),
        ("name: x\ngroup_by: []\nwindow: { type: tumbling, size: 1m }", "group_by needs at least one field", 2),
        ("name: 'bad name'\ngroup_by: [a]\nwindow: { type: tumbling, size: 1m }", "a profile name is", 1),
        ("name: x\ngroup_by: [a]\nwindow: { type: session, gap: 1m }\nlate: sometimes", "late is reject", 4),
        ("name: x\ngroup_by: [a]\nwindow: { type: tumbling, size: 1m }\nsize: 3", "size", 4),
    ])
    func mistakesAreReportedWhereTheyAre(yaml: String, message: String, line: Int) {
        do {
            _ = try profile(yaml)
            Issue.record("accepted: \(yaml)")
        } catch {
            #expect(error.description.contains(message), "\(error)")
            #expect(error.description.contains("p.yaml:\(line):"), "\(error)")
        }
    }
}
