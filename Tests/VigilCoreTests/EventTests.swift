import Foundation
import Testing
@testable import VigilCore
import VigilTestSupport

@Suite struct EventTests {
    @Test func fieldsAreSortedAndEqualityIsOrderIndependent() {
        var a = Event()
        a["source.port"] = 22
        a["@timestamp"] = .timestamp(Timestamp(nanoseconds: 5))
        a["source.ip"] = .ip(IPAddress("10.0.0.1")!)
        a["message"] = "hi"
        var b = Event()
        b["message"] = "hi"
        b["source.ip"] = .ip(IPAddress("10.0.0.1")!)
        b["@timestamp"] = .timestamp(Timestamp(nanoseconds: 5))
        b["source.port"] = 22
        #expect(a == b)
        #expect(a.hashValue == b.hashValue)
        #expect(a.fields.map(\.key) == ["@timestamp", "message", "source.ip", "source.port"])
        #expect(a.count == 4)
        b["source.port"] = 23
        #expect(a != b)
    }

    @Test func keyOrderSortsDotBeforeEverything() {
        let keys = ["a-b", "a.b", "a", "a.b.c", "ab", "a/b", "", ".", "b", "a..b", "a.", "@timestamp"]
        let sorted = keys.sorted(by: Event.keyPrecedes)
        #expect(sorted == ["", ".", "@timestamp", "a", "a.", "a..b", "a.b", "a.b.c", "a-b", "a/b", "ab", "b"])
    }

    @Test func subscriptGetSetRemove() {
        var e = Event()
        #expect(e.isEmpty)
        e["x"] = 1
        #expect(e["x"] == .int(1))
        e["x"] = "two"
        #expect(e["x"] == .string("two"))
        #expect(e.count == 1)
        e["x"] = nil
        #expect(e["x"] == nil && e.isEmpty)
        e["y"] = .null
        #expect(e["y"] == .null && e.contains(key: "y"))
        #expect(e.removeValue(forKey: "y") == .null)
        #expect(e.removeValue(forKey: "y") == nil)
    }

    @Test func objectsFlattenIntoDottedKeys() {
        var e = Event()
        e["source.geo.city_name"] = "Old"
        e["source"] = ["ip": .ip(IPAddress("10.0.0.1")!), "port": 22, "geo": ["country_iso_code": "DE"]]
        #expect(e.fields.map(\.key) == ["source.geo.country_iso_code", "source.ip", "source.port"])
        #expect(e["source"] == nil)
        #expect(e.sourcePort == 22)
        // An empty object clears the subtree.
        e["source"] = .object(FieldObject())
        #expect(e.isEmpty)
        // Objects inside arrays survive.
        e["list"] = [["k": 1], ["k": 2]]
        #expect(e["list"] == .array([.object(["k": 1]), .object(["k": 2])]))
    }

    @Test func prefixConflictsLastWriteWins() {
        var e = Event()
        e["a.b"] = 1
        e["a.c.d"] = 2
        e["ab"] = 3
        e["a-b"] = 4
        e["a"] = 5                        // removes a.b and a.c.d, keeps ab and a-b
        #expect(e.fields.map(\.key) == ["a", "a-b", "ab"])
        e["a.x.y"] = 6                    // removes a
        #expect(e.fields.map(\.key) == ["a.x.y", "a-b", "ab"])
        e["a.x"] = 7                      // removes a.x.y
        #expect(e.fields.map(\.key) == ["a.x", "a-b", "ab"])
        e["a.x"] = nil
        #expect(e.fields.map(\.key) == ["a-b", "ab"])
        // Empty segments are ordinary segments.
        e[""] = 1
        e["."] = 2
        #expect(e.fields.map(\.key) == [".", "a-b", "ab"])
    }

    @Test func randomAssignmentsKeepInvariants() {
        let seed: UInt64 = 42
        var g = RandomEventGenerator(seed: seed)
        for _ in 0..<300 {
            let e = g.event()
            let keys = e.fields.map(\.key)
            for (a, b) in zip(keys, keys.dropFirst()) {
                #expect(Event.keyPrecedes(a, b), "seed \(seed): \(a) !< \(b)")
                #expect(!Event.isDottedPrefix(a, of: b), "seed \(seed): \(a) prefixes \(b)")
            }
            for f in e.fields {
                if case .object = f.value { Issue.record("object at event level under \(f.key)") }
                #expect(e[f.key] == f.value)
            }
        }
    }

    /// Random assignments, removals and object assignments over known and custom keys that are
    /// dotted prefixes of each other, checked step by step against a plain dictionary that
    /// applies the documented rules; every result also survives both codecs.
    @Test func matchesAReferenceModelOnConflictingKeys() throws {
        let keys = ["source", "source.ip", "source.ip.x", "source.port", "source.ipx", "user", "user.name", "user.name.first",
                    "user.namex", "sshd", "sshd.auth_method", "sshd.auth_method.x", "event.action", "a", "a.b", "a.b.c", "zzz",
                    "", ".", "message", "message.x", "labels.env"]
        var g = SplitMix64(seed: 7)
        var typedRounds = 0
        for round in 0..<400 {
            var event = Event()
            var model: [String: FieldValue] = [:]
            func apply(_ key: String, _ value: FieldValue) {
                if case .object(let o) = value {
                    model = model.filter { $0.key != key && !Event.isDottedPrefix(key, of: $0.key) }
                    for m in o.members { apply(key + "." + m.key, m.value) }
                    return
                }
                model = model.filter { !Event.isDottedPrefix($0.key, of: key) && !Event.isDottedPrefix(key, of: $0.key) }
                model[key] = value
            }
            for step in 0..<24 {
                let key = keys[Int(g.next() % UInt64(keys.count))]
                switch g.next() % 6 {
                case 0:
                    event[key] = nil
                    model[key] = nil
                case 1:
                    let value: FieldValue = ["x": .int(Int64(step)), "y.z": "w"]
                    event[key] = value
                    apply(key, value)
                case 2:
                    event[Event.Key(key)] = .string("k\(step)")
                    apply(key, .string("k\(step)"))
                default:
                    let value: FieldValue = g.next() % 2 == 0 ? .int(Int64(step)) : .string(String(repeating: "v", count: step))
                    event[key] = value
                    apply(key, value)
                }
                let expected = model.keys.sorted(by: Event.keyPrecedes)
                #expect(event.fields.map(\.key) == expected, "round \(round) step \(step)")
                #expect(event.count == model.count)
                for (k, v) in model { #expect(event[k] == v, "round \(round) step \(step) \(k)") }
            }
            // The codecs check known fields' types: round-trip the events that fit the schema.
            if event.fields.allSatisfy({ Schema.check(key: $0.key, value: $0.value) }) {
                #expect(try EventBinaryCodec.decode(EventBinaryCodec.encode(event)) == event)
                #expect(try EventJSON.decode(EventJSON.encode(event)) == event)
                typedRounds += 1
            }
        }
        #expect(typedRounds > 0)
    }

    @Test func checkedSetRejectsWrongTypesForKnownFields() throws {
        var e = Event()
        try e.set("source.ip", .ip(IPAddress("1.2.3.4")!))
        try e.set("source.ip", .null)
        try e.set("custom.thing", .ip(IPAddress("1.2.3.4")!))
        try e.set("dns.resolved_ip", [.ip(IPAddress("1.2.3.4")!), .null])
        try e.set("vigil.score", 0.5)
        #expect(throws: EventError.self) { try e.set("source.ip", "1.2.3.4") }
        do {
            try e.set("source.port", "22")
            Issue.record("expected a type mismatch")
        } catch {
            #expect(error.code == .typeMismatch)
            #expect(error.key == "source.port")
            #expect(error.message.contains("source.port") && error.message.contains("int") && error.message.contains("string"))
        }
        #expect(throws: EventError.self) { try e.set("dns.resolved_ip", ["1.2.3.4"]) }
        #expect(throws: EventError.self) { try e.set("vigil.score", 1) }
        #expect(throws: EventError.self) { try e.set("tags", "one") }
        // Objects are checked member by member, and nothing is applied on failure.
        let before = e
        #expect(throws: EventError.self) { try e.set("source", ["port": 22, "ip": "nope"]) }
        #expect(e == before)
        try e.set("source", ["port": 22, "ip": .ip(IPAddress("::1")!)])
        #expect(e.sourceIP == IPAddress("::1"))
    }

    @Test func typedAccessors() {
        var e = Event()
        e.timestamp = Timestamp(nanoseconds: 1)
        e.message = "m"
        e.sourceIP = IPAddress("10.0.0.1")
        e.sourcePort = 1234
        e.destinationIP = IPAddress("::1")
        e.destinationPort = 443
        e.networkTransport = "tcp"
        e.eventKind = "event"
        e.eventDataset = "zeek.conn"
        e.vigilSensor = "s1"
        e.vigilTopic = "events"
        e.vigilPartition = 3
        e.vigilOffset = 99
        #expect(e["@timestamp"] == .timestamp(Timestamp(nanoseconds: 1)))
        #expect(e["destination.port"] == .int(443))
        #expect(e.timestamp == Timestamp(nanoseconds: 1) && e.message == "m" && e.sourcePort == 1234)
        #expect(e.destinationIP == IPAddress("::1") && e.networkTransport == "tcp" && e.eventKind == "event")
        #expect(e.eventDataset == "zeek.conn" && e.vigilSensor == "s1" && e.vigilTopic == "events")
        #expect(e.vigilPartition == 3 && e.vigilOffset == 99)
        #expect(e.vigilErrors.isEmpty)
        e.appendVigilError("first")
        e.appendVigilError("second")
        #expect(e.vigilErrors == ["first", "second"])
        #expect(e["vigil.errors"] == ["first", "second"])
        e.sourcePort = nil
        #expect(e["source.port"] == nil)
        e["source.ip"] = "not typed"
        #expect(e.sourceIP == nil)
        for (k, v) in Event(["a": 1, "b": 2]).fields.map({ ($0.key, $0.value) }) { #expect(k == "a" ? v == 1 : v == 2) }
    }

    @Test func fieldObjectSubscript() {
        var o: FieldObject = ["a": 1, "b": 2, "a": 3]
        #expect(o["a"] == 1)
        #expect(o.count == 3)
        o["a"] = 9
        #expect(o.members == [FieldObject.Member("a", 9), FieldObject.Member("b", 2)])
        o["c"] = 4
        o["b"] = nil
        #expect(o.map(\.key) == ["a", "c"])
        #expect(FieldValue.object(o).nestingDepth == 1)
        #expect(FieldValue.array([.array([]), .object(["x": [1]])]).nestingDepth == 3)
    }
}

@Suite struct SchemaTests {
    @Test func idsAreUniqueDenseAndStable() {
        let ids = Schema.fields.map(\.id)
        #expect(Set(ids).count == ids.count)
        #expect(ids == Array(1...UInt16(ids.count)), "ids are appended in order, starting at 1")
        #expect(Schema.field(id: 0) == nil)
        #expect(Schema.field(id: UInt16(ids.count + 1)) == nil)
        // Pinned ids: these are on disk in broker segments and must never change.
        let pinned: [(String, UInt16)] = [("@timestamp", 1), ("message", 2), ("tags", 3), ("event.kind", 4),
                                          ("source.ip", 21), ("destination.ip", 35), ("dns.answers", 77),
                                          ("tls.client.ja3", 104), ("vigil.sensor", 154), ("vigil.score", 161),
                                          ("zeek.conn.local_resp", 167)]
        for (name, id) in pinned {
            #expect(Schema.field(named: name)?.id == id, "\(name)")
        }
    }

    @Test func namesAreUniqueAndConflictFree() {
        let names = Schema.fields.map(\.name)
        #expect(Set(names).count == names.count)
        for a in names {
            for b in names where Event.isDottedPrefix(a, of: b) {
                Issue.record("known field \(a) is a dotted prefix of \(b)")
            }
            #expect(Schema.field(named: a)?.name == a)
        }
        #expect(Schema.field(named: "source") == nil)
        #expect(Schema.field(named: "source.ip.x") == nil)
        #expect(Schema.field(named: "labels.env") == nil)
        #expect(Schema.field(named: "") == nil)
    }

    @Test func checkMatchesDeclaredTypes() {
        #expect(Schema.check(key: "@timestamp", value: .timestamp(Timestamp(nanoseconds: 0))))
        #expect(!Schema.check(key: "@timestamp", value: "2024-01-01T00:00:00Z"))
        #expect(Schema.check(key: "tags", value: ["a", "b", .null]))
        #expect(!Schema.check(key: "tags", value: ["a", 1]))
        #expect(Schema.check(key: "dns.answers", value: [["name": "x", "ttl": 5]]))
        #expect(!Schema.check(key: "dns.answers", value: ["x"]))
        #expect(Schema.check(key: "anything.custom", value: [["deep": [1]]]))
        #expect(Schema.check(key: "tls.established", value: .null))
        #expect(Schema.FieldType.array(.ip).description == "array of ip")
        #expect(Schema.field(named: "dns.resolved_ip")?.type == .array(.ip))
    }

    /// docs/schema.md lists every known field with its id and type.
    @Test func documentationListsEveryField() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let doc = try String(contentsOf: root.appendingPathComponent("docs/schema.md"), encoding: .utf8)
        for field in Schema.fields {
            let row = "| \(field.id) | `\(field.name)` | \(field.type) |"
            #expect(doc.contains(row), "docs/schema.md lacks the row: \(row)")
        }
    }
}

extension EventTests {
    /// ``Event/compareKeys(_:_:)-(UnsafeBufferPointer<UInt8>,UnsafeBufferPointer<UInt8>)`` (eight
    /// bytes at a time to the first difference) against the byte-at-a-time rule, on keys that
    /// share prefixes of every length and differ at every position, '.' included.
    @Test func keyComparisonMatchesTheByteRule() {
        func reference(_ a: [UInt8], _ b: [UInt8]) -> Int {
            for (x, y) in zip(a, b) where x != y {
                let rx = x == 0x2E ? 0 : Int(x) + 1, ry = y == 0x2E ? 0 : Int(y) + 1
                return rx < ry ? -1 : 1
            }
            return a.count < b.count ? -1 : (a.count > b.count ? 1 : 0)
        }
        var r = SplitMix64(seed: 5)
        let alphabet = Array("._-azAZ09\u{7F}".utf8) + [0x80, 0xFF, 0x2F, 0x2D]
        var differing = 0
        for _ in 0..<20_000 {
            let shared = (0..<Int(r.next() % 40)).map { _ in alphabet[Int(r.next() % UInt64(alphabet.count))] }
            let a = shared + (0..<Int(r.next() % 12)).map { _ in alphabet[Int(r.next() % UInt64(alphabet.count))] }
            let b = r.next() % 8 == 0 ? a : shared + (0..<Int(r.next() % 12)).map { _ in alphabet[Int(r.next() % UInt64(alphabet.count))] }
            let got = a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in Event.compareKeys(pa, pb) } }
            let back = a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in Event.compareKeys(pb, pa) } }
            #expect(got == reference(a, b) && back == -got, "\(a) \(b)")
            if got != 0 { differing += 1 }
        }
        #expect(differing > 15_000)
    }
}
