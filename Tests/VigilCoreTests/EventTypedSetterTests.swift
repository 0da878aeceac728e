import Testing
@testable import VigilCore
import VigilTestSupport

/// The typed setters and presets parsers use on hot paths must store exactly what the subscript
/// stores, including the flattening/conflict rules and the schema-mismatch flag.
@Suite struct EventTypedSetterTests {
    static let customKey = Event.Key("sudo.tty")
    static let conflictKey = Event.Key("source")

    @Test func typedSettersEqualSubscriptAssignments() {
        var typed = Event()
        typed.setInt(.sourcePort, 22)
        typed.setBool(Event.Key("sshd.invalid_user"), true)
        typed.setTimestamp(.timestamp, Timestamp(nanoseconds: 1_700_000_000_123_456_789))
        typed.setIP(.sourceIP, IPAddress("2001:db8::1")!)
        typed.setIP(.destinationIP, IPAddress("10.1.2.3")!)
        typed.setString(.eventAction, "ssh_login")
        typed.setString(Self.customKey, "pts/0")
        typed.setInt(Event.Key("custom.count"), -5)

        var plain = Event()
        plain["source.port"] = .int(22)
        plain["sshd.invalid_user"] = .bool(true)
        plain["@timestamp"] = .timestamp(Timestamp(nanoseconds: 1_700_000_000_123_456_789))
        plain["source.ip"] = .ip(IPAddress("2001:db8::1")!)
        plain["destination.ip"] = .ip(IPAddress("10.1.2.3")!)
        plain["event.action"] = .string("ssh_login")
        plain["sudo.tty"] = .string("pts/0")
        plain["custom.count"] = .int(-5)

        #expect(typed == plain)
        #expect(typed.hashValue == plain.hashValue)
        #expect(typed.description == plain.description)
        #expect(!typed.mayMismatchSchema)
    }

    @Test func typedSettersReplaceAndResolveConflictsLikeTheSubscript() {
        var typed = Event()
        typed[Self.conflictKey] = .string("whole")    // a custom prefix of source.*
        typed.setInt(.sourcePort, 1)                   // removes the conflicting "source"
        typed.setInt(.sourcePort, 2)                   // replaces
        var plain = Event()
        plain["source"] = .string("whole")
        plain["source.port"] = .int(1)
        plain["source.port"] = .int(2)
        #expect(typed == plain)
        #expect(typed.fields.map(\.key) == ["source.port"])
        #expect(typed["source.port"] == .int(2))
    }

    @Test func aMismatchedTypedValueIsNotedForNormalization() {
        var e = Event()
        e.setString(.sourcePort, "22")   // source.port is an int in the schema
        #expect(e.mayMismatchSchema)
        var fitting = Event()
        fitting.setInt(.sourcePort, 22)
        #expect(!fitting.mayMismatchSchema)
    }

    @Test func presetsStoreTheirValueAndSchemaFit() {
        let category = Event.Preset(.eventCategory, .array([.string("authentication"), .string("session")]))
        let action = Event.Preset(.eventAction, "ssh_login")
        let custom = Event.Preset(Self.customKey, .int(3))
        let wrongType = Event.Preset(.sourcePort, "not a port")
        #expect(category.value == .array([.string("authentication"), .string("session")]))
        #expect(action.key == .eventAction)

        var e = Event()
        e.set(category)
        e.set(action)
        e.set(custom)
        #expect(e["event.category"] == .array([.string("authentication"), .string("session")]))
        #expect(e["event.action"] == .string("ssh_login"))
        #expect(e["sudo.tty"] == .int(3))
        #expect(!e.mayMismatchSchema)
        e.set(wrongType)
        #expect(e["source.port"] == .string("not a port"))
        #expect(e.mayMismatchSchema)
    }

    @Test func clearingKeepsArraysApartAndCopiesStayIndependent() {
        let category = Event.Preset(.eventCategory, .array([.string("process")]))
        var e = Event()
        for round in 0..<3 {
            e.removeAll(keepingCapacity: true)
            e.set(category)
            e["tags"] = .array([.int(Int64(round)), .string("x")])
            #expect(e["event.category"] == .array([.string("process")]))
            #expect(e["tags"] == .array([.int(Int64(round)), .string("x")]))
        }
        let copy = e
        e.setInt(.sourcePort, 9)
        e["tags"] = .array([])
        #expect(copy["source.port"] == nil)
        #expect(copy["tags"] == .array([.int(2), .string("x")]))
        #expect(e["tags"] == .array([]))
    }

    /// A preset array of scalars is stored as its binary encoding (made once, copied as it is by
    /// the encoder): reading, comparing, hashing and both encodings must be those of the same
    /// array assigned through the subscript.
    @Test func presetArraysStoredEncodedReadAndEncodeLikeAssignedOnes() throws {
        let values: [(Event.Key, FieldValue)] = [
            (.eventCategory, .array([.string("network"), .string("web")])),
            (.eventType, .array([.string("protocol")])),
            (.tags, .array([])),
            (.relatedIP, .array([.ip(IPAddress("10.0.0.1")!), .ip(IPAddress("2001:db8::7")!)])),
            (Event.Key("custom.mixed"), .array([.int(-3), .bool(true), .null, .float(1.5), .string("é"),
                                                .timestamp(Timestamp(nanoseconds: 1_700_000_000_000_000_001))])),
            (Event.Key("custom.nested"), .array([.array([.string("a")]), .string("b")])),  // kept boxed
        ]
        var preset = Event(), assigned = Event()
        preset.setInt(.sourcePort, 1)
        assigned.setInt(.sourcePort, 1)
        for (key, value) in values {
            preset.set(Event.Preset(key, value))
            assigned[key] = value
        }
        for (key, value) in values { #expect(preset[key] == value) }
        #expect(preset == assigned)
        #expect(preset.hashValue == assigned.hashValue)
        #expect(preset.fields.map(\.key) == assigned.fields.map(\.key))
        #expect(EventBinaryCodec.encode(preset) == EventBinaryCodec.encode(assigned))
        var presetJSON: [UInt8] = [], assignedJSON: [UInt8] = []
        EventJSON.encode(preset, into: &presetJSON)
        EventJSON.encode(assigned, into: &assignedJSON)
        #expect(presetJSON == assignedJSON)
        #expect(try EventBinaryCodec.decode(EventBinaryCodec.encode(preset)) == assigned)
        #expect(!preset.mayMismatchSchema)

        // Replaced, copied and cleared like any field.
        var copy = preset
        copy.set(Event.Preset(.eventCategory, .array([.string("process")])))
        #expect(copy["event.category"] == .array([.string("process")]))
        #expect(preset["event.category"] == .array([.string("network"), .string("web")]))
        copy.removeAll(keepingCapacity: true)
        copy.set(Event.Preset(.eventType, .array([.string("start")])))
        #expect(copy.fields.map(\.key) == ["event.type"])
        #expect(copy["event.type"] == .array([.string("start")]))

        // Elements of another type than the schema declares are still noted.
        var wrong = Event()
        wrong.set(Event.Preset(.eventCategory, .array([.int(1)])))
        #expect(wrong.mayMismatchSchema)
        #expect(wrong["event.category"] == .array([.int(1)]))
    }

    @Test func literalAndValidatedStringsMatchTheRepairingSetter() {
        var a = Event(), b = Event()
        let text: [UInt8] = Array("héllo wörld".utf8)
        text.withUnsafeBytes { a.setString(.message, utf8: $0) }
        text.withUnsafeBytes { b.setString(.message, validUTF8: $0) }
        #expect(a == b)
        var c = Event()
        let broken: [UInt8] = [0x61, 0xFF, 0x62]
        broken.withUnsafeBytes { c.setString(.message, utf8: $0) }
        #expect(c["message"] == .string("a\u{FFFD}b"))
    }

    /// Fields sharing bytes (`setString(_:sameAs:)`) are encoded once each: the binary encoder's
    /// bound counts every field's text, not the byte buffer (a fuzzer found a syslog line with a
    /// long invalid host name overflowing it).
    @Test func sharedBytesEncodeAndDecode() throws {
        for length in [1, 15, 16, 300, 5_000] {
            var e = Event()
            let host = String(repeating: "h\u{FFFD}", count: length)
            e[Event.Key("log.syslog.hostname")] = .string(host)
            let shared = e.setString(Event.Key("host.hostname"), sameAs: Event.Key("log.syslog.hostname"))
            #expect(shared)
            e[.message] = .string(String(repeating: "x", count: length))
            let bytes = EventBinaryCodec.encode(e)
            let back = try bytes.withUnsafeBytes { try EventBinaryCodec.decode($0) }
            #expect(back == e)
            #expect(back["host.hostname"]?.stringValue == host)
        }
    }
}
