import Testing
@testable import VigilCore

/// `Event.Writer` and `Event.PresetGroup` must store exactly what the event's own setters store:
/// values, replacements, conflicts, shared bytes, the schema-mismatch flag, and copy-on-write.
@Suite struct EventWriterTests {
    static let custom = Event.Key("sudo.tty")

    @Test func writerSettersEqualEventSetters() {
        let texts: [[UInt8]] = [[], Array("a".utf8), Array("abc".utf8), Array("abcd".utf8), Array("abcdefgh".utf8),
                                Array("0123456789abcdef".utf8), Array("0123456789abcdefg".utf8),
                                Array(String(repeating: "x", count: 32).utf8), Array(String(repeating: "y", count: 33).utf8),
                                Array(String(repeating: "z", count: 700).utf8), Array("héllo".utf8), [0x61, 0xFF, 0x62]]
        for text in texts {
            var viaEvent = Event(), viaWriter = Event()
            text.withUnsafeBytes { bytes in
                viaEvent.setInt(.sourcePort, 22)
                viaEvent.setBool(Event.Key("sshd.invalid_user"), true)
                viaEvent.setTimestamp(.timestamp, Timestamp(nanoseconds: 1_700_000_000_000_000_001))
                viaEvent.setIP(.sourceIP, IPAddress("2001:db8::7")!)
                viaEvent.setString(.userName, utf8: bytes)
                viaEvent.setString(Self.custom, utf8: bytes)
                viaEvent.setString(.eventAction, "ssh_login")
                viaEvent.setString(.logSyslogHostname, utf8: bytes)
                viaEvent.setString(.hostHostname, utf8: bytes)

                let w = viaWriter.writer()
                w.setInt(.sourcePort, 22)
                w.setBool(Event.Key("sshd.invalid_user"), true)
                w.setTimestamp(.timestamp, Timestamp(nanoseconds: 1_700_000_000_000_000_001))
                w.setIP(.sourceIP, IPAddress("2001:db8::7")!)
                w.setString(.userName, utf8: bytes)
                w.setString(Self.custom, utf8: bytes)
                w.setString(.eventAction, "ssh_login")
                if text.last != 0x62 {  // well-formed: the checked and unchecked setters agree
                    w.setString(.logSyslogHostname, .hostHostname, validUTF8: bytes)
                } else {
                    w.setString(.logSyslogHostname, utf8: bytes)
                    w.setString(.hostHostname, utf8: bytes)
                }
            }
            #expect(viaWriter == viaEvent)
            #expect(EventJSON.encodeString(viaWriter) == EventJSON.encodeString(viaEvent))
            #expect(!viaWriter.mayMismatchSchema)
        }
    }

    @Test func writerReplacesResolvesConflictsAndNotesMismatches() {
        var e = Event()
        e[Event.Key("source")] = .string("whole")   // a custom prefix of source.*
        let w = e.writer()
        w.setInt(.sourcePort, 1)                      // removes the conflicting "source"
        w.setInt(.sourcePort, 2)                      // replaces
        #expect(e.fields.map(\.key) == ["source.port"])
        #expect(e["source.port"] == .int(2))
        #expect(!e.mayMismatchSchema)
        w.setString(.sourcePort, "22")                 // source.port is an int in the schema
        #expect(e["source.port"] == .string("22"))
        #expect(e.mayMismatchSchema)
    }

    @Test func writerMakesASharedStorageUniqueFirst() {
        var e = Event()
        e.setInt(.sourcePort, 1)
        let copy = e
        let w = e.writer()
        w.setInt(.sourcePort, 2)
        w.setString(.message, "changed")
        #expect(copy["source.port"] == .int(1))
        #expect(copy["message"] == nil)
        #expect(e["source.port"] == .int(2))
        #expect(e["message"] == .string("changed"))
    }

    @Test func presetGroupsEqualPresetsSetInOrder() {
        let presets = [
            Event.Preset(.eventAction, "ssh_login"),
            Event.Preset(.eventCategory, .array([.string("authentication"), .string("session")])),
            Event.Preset(.eventType, .array([.string("start")])),
            Event.Preset(.eventOutcome, ""),
            Event.Preset(Self.custom, .int(3)),
            Event.Preset(.sourcePort, "not a port"),
            Event.Preset(.eventAction, "ssh_login_again"),
        ]
        for count in 0...presets.count {
            let chosen = Array(presets.prefix(count))
            let group = Event.PresetGroup(chosen)
            #expect(group.presets.count == count)
            for round in 0..<2 {
                var one = Event(), grouped = Event(), written = Event()
                one[Event.Key("source")] = .string("conflicts with source.port")
                grouped[Event.Key("source")] = .string("conflicts with source.port")
                written[Event.Key("source")] = .string("conflicts with source.port")
                for p in chosen { one.set(p) }
                grouped.set(group)
                written.writer().set(group)
                #expect(grouped == one, "round \(round), \(count) presets")
                #expect(written == one)
                #expect(grouped.mayMismatchSchema == one.mayMismatchSchema)
                #expect(EventJSON.encodeString(grouped) == EventJSON.encodeString(one))
                #expect(EventBinaryCodec.encode(grouped) == EventBinaryCodec.encode(one))
            }
        }
    }
}
