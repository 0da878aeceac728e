import Testing
@testable import VigilCore

/// The precomputed tables ``Event`` relies on agree with the definitions they shortcut.
@Suite struct SchemaIndexTests {
    @Test func idsRoundTripEveryKnownNameAndMissCustomOnes() {
        for field in Schema.fields {
            #expect(Schema.id(named: field.name) == field.id)
            #expect(Array(Schema.index.name(field.id)) == Array(field.name.utf8))
        }
        for custom in ["", "s", "source", "source.", "source.ipx", "sudo.command", "@timestamp.x", "message2",
                       "destination.geo.location.la", "zeek.conn.local_resp.", "x.y.z.very.long.custom.key.name.here"] {
            #expect(Schema.id(named: custom) == 0, "\(custom)")
        }
    }

    @Test func ranksFollowKeyOrder() {
        let fields = Schema.fields
        for a in fields {
            for b in fields {
                #expect((Schema.index.rank(a.id) < Schema.index.rank(b.id)) == Event.keyPrecedes(a.name, b.name))
            }
        }
    }

    @Test func prefixFreedomMatchesTheNames() {
        let names = Schema.fields.map(\.name)
        let conflict = names.contains { a in names.contains { b in Event.isDottedPrefix(a, of: b) } }
        #expect(Schema.index.prefixFree == !conflict)
        #expect(!conflict, "Event compares known keys by rank alone, which needs a prefix-free schema")
    }

    @Test func typeChecksAgreeWithDeclaredTypes() {
        let samples: [FieldValue] = [
            .null, "text", 7, 1.5, true, .timestamp(Timestamp(nanoseconds: 1)), .ip(IPAddress("10.0.0.1")!),
            [], ["a", "b"], ["a", 1], ["a", .null], [.ip(IPAddress("::1")!)], [["a"]], [["k": "v"]], ["k": "v"],
        ]
        for field in Schema.fields {
            for value in samples {
                #expect(Schema.index.accepts(field.id, value) == field.type.accepts(value), "\(field.name) \(value)")
            }
        }
    }

    @Test func mixedKnownAndCustomKeysKeepKeyOrder() {
        var event = Event()
        let keys = ["sshd.preauth", "source.port", "log.syslog.priority", "source.ip", "event.category", "a", "zeek.x",
                    "log.syslog.hostname", "source.geo.city_name", "source.geo.x", "event.type", "@timestamp", "user.name"]
        for key in keys { event[key] = "v" }
        #expect(event.fields.map(\.key) == keys.sorted(by: Event.keyPrecedes))
        // Conflicts between a custom prefix and known fields still resolve (last write wins).
        event["source.geo"] = "flat"
        #expect(event["source.geo.city_name"] == nil && event["source.geo.x"] == nil && event["source.geo"] == "flat")
        event["source.geo.city_name"] = "Oslo"
        #expect(event["source.geo"] == nil && event["source.geo.city_name"] == "Oslo")
        event["source"] = "x"
        #expect(event.fields.map(\.key).filter { $0.hasPrefix("source") } == ["source"])
    }

    @Test func keySubscriptMatchesStringSubscript() {
        let steps: [(String, FieldValue?)] = [
            ("source.ip", .ip(IPAddress("10.0.0.1")!)), ("sshd.preauth", true), ("source.geo.city_name", "Oslo"),
            ("source.geo", ["city_name": "Bergen", "x": 1]), ("message", "m"), ("source.geo.x", nil), ("source", "flat"),
            ("message", nil), ("custom.a", 1), ("custom", .null),
        ]
        var byString = Event(), byKey = Event()
        for (name, value) in steps {
            byString[name] = value
            byKey[Event.Key(name)] = value
            #expect(byKey == byString, "\(name)")
            #expect(byKey[Event.Key(name)] == byString[name])
        }
        #expect(byKey.fields.map(\.schemaID) == byKey.fields.map { Schema.id(named: $0.key) })
    }

    @Test func unsortedJSONSortsLikeTheSubscript() throws {
        let known = #"{"source":{"port":22,"ip":"10.0.0.1"},"@timestamp":"2026-03-14T09:10:11Z","event":{"kind":"event"},"message":"m"}"#
        let mixed = #"{"sshd":{"preauth":true},"source":{"port":22},"a":1,"event":{"kind":"event"}}"#
        for json in [known, mixed] {
            let decoded = try EventJSON.decode(json)
            var rebuilt = Event()
            for field in decoded.fields.reversed() { rebuilt[field.key] = field.value }
            #expect(decoded == rebuilt)
            #expect(decoded.fields.map(\.key) == decoded.fields.map(\.key).sorted(by: Event.keyPrecedes))
        }
    }
}

/// `Schema+Keys.swift` is generated from the schema; it must match it exactly.
@Suite struct SchemaKeysTests {
    @Test func generatedKeysMatchTheSchema() {
        #expect(Event.Key.generated.count == Schema.fields.count,
                "Schema+Keys.swift is stale: run scripts/generate-schema-keys.py")
        for (name, key) in Event.Key.generated {
            #expect(key == Event.Key(name), "Schema+Keys.swift is stale for \(name): run scripts/generate-schema-keys.py")
            #expect(key.name == name)
        }
    }

    @Test func customKeysSortAmongKnownOnes() {
        // A custom key's order puts it between the known names around it.
        var event = Event()
        for name in ["source.ipx", "source", "aaa", "zzz", "source.ip.x", "event.zzz", "labels.env", "~", ""] {
            event[name] = "v"
            event[.sourceIP] = .ip(IPAddress("10.0.0.1")!)
            event[.eventAction] = "a"
            let keys = event.fields.map(\.key)
            #expect(keys == keys.sorted(by: Event.keyPrecedes), "\(keys)")
        }
    }
}
