import Testing
@testable import VigilCore
import VigilTestSupport

@Suite struct BinaryCodecTests {
    /// Golden bytes: the format is on disk in broker segments, so it must not drift.
    @Test func goldenEncoding() throws {
        var e = Event()
        e["x"] = true
        e["source.port"] = 22
        e["@timestamp"] = .timestamp(Timestamp(nanoseconds: 1))
        let expected: [UInt8] = [0x01, 0x03, 0x01, 0x06, 0x02, 0x16, 0x03, 0x2C, 0x00, 0x01, 0x78, 0x02]
        #expect(EventBinaryCodec.encode(e) == expected)
        #expect(try EventBinaryCodec.decode(expected) == e)

        var f = Event()
        f["source.ip"] = .ip(IPAddress("10.0.0.1")!)
        f["destination.ip"] = .ip(IPAddress("::1")!)
        f["a"] = [.null, false, -1, 1.0, "é", ["k": "v"]]
        var golden: [UInt8] = [0x01, 0x03]
        golden += [0x00, 0x01, 0x61, 0x09, 0x06, 0x00, 0x01, 0x03, 0x01, 0x04, 0, 0, 0, 0, 0, 0, 0xF0, 0x3F,
                   0x05, 0x02, 0xC3, 0xA9, 0x0A, 0x01, 0x01, 0x6B, 0x05, 0x01, 0x76]
        golden += [0x23, 0x08] + [UInt8](repeating: 0, count: 15) + [0x01]
        golden += [0x15, 0x07, 0x0A, 0x00, 0x00, 0x01]
        #expect(EventBinaryCodec.encode(f) == golden)
        #expect(try EventBinaryCodec.decode(golden) == f)
    }

    @Test func appendsToExistingBuffer() throws {
        let e = Event(["message": "hello", "n": .int(Int64.min)])
        var buffer: [UInt8] = [0xAA]
        EventBinaryCodec.encode(e, into: &buffer)
        #expect(buffer.first == 0xAA)
        let decoded = try buffer.withUnsafeBytes { try EventBinaryCodec.decode(UnsafeRawBufferPointer(rebasing: $0[1...])) }
        #expect(decoded == e)
        #expect(try EventBinaryCodec.decode(EventBinaryCodec.encode(Event())) == Event())
    }

    @Test func extremeValuesRoundTripBitExactly() throws {
        var e = Event()
        e["i.min"] = .int(.min)
        e["i.max"] = .int(.max)
        e["f.nan"] = .float(Double(bitPattern: 0x7FF8_0000_0000_1234))
        e["f.negzero"] = .float(-0.0)
        e["f.inf"] = .float(-.infinity)
        e["t.min"] = .timestamp(Timestamp(nanoseconds: .min))
        e["t.max"] = .timestamp(Timestamp(nanoseconds: .max))
        e["s.empty"] = ""
        e["s.nul"] = "\u{0}\u{10FFFF}"
        let decoded = try EventBinaryCodec.decode(EventBinaryCodec.encode(e))
        #expect(identical(decoded, e))
    }

    static func decodeError(_ bytes: [UInt8]) -> EventCodecError? {
        do {
            _ = try EventBinaryCodec.decode(bytes)
            return nil
        } catch {
            return error
        }
    }

    @Test(arguments: [
        ([UInt8](), EventCodecError.Code.truncated),
        ([0x02, 0x00], .unsupportedVersion),
        ([0x00], .unsupportedVersion),
        ([0x01], .truncated),
        ([0x01, 0x01], .countTooLarge),                          // one field, no bytes for it
        ([0x01, 0x01, 0x00, 0x00], .truncated),                  // custom key, then nothing
        ([0x01, 0x01, 0x05, 0x0B], .unknownValueType),
        ([0x01, 0x01, 0xFF, 0x7F, 0x00], .unknownTag),           // tag 16383
        ([0x01, 0x01, 0xFF, 0xFF, 0x04, 0x00], .unknownTag),     // tag > UInt16.max
        ([0x01, 0x01, 0x00, 0x01, 0xFF, 0x00], .invalidUTF8),    // key byte 0xFF
        ([0x01, 0x01, 0x00, 0x02, 0xC0, 0x80, 0x00], .invalidUTF8),   // overlong NUL
        ([0x01, 0x01, 0x00, 0x03, 0xED, 0xA0, 0x80, 0x00], .invalidUTF8), // surrogate
        ([0x01, 0x01, 0x02, 0x05, 0x01, 0xFE], .invalidUTF8),    // message = "\xFE"
        ([0x01, 0x01, 0x02, 0x05, 0x05, 0x61], .countTooLarge),  // string longer than the input
        ([0x01, 0x01, 0x02, 0x04, 0x00, 0x00], .truncated),      // float needs 8 bytes
        ([0x01, 0x01, 0x15, 0x07, 0x0A, 0x00], .truncated),      // IPv4 needs 4 bytes
        ([0x01, 0x01, 0x15, 0x08, 0x00, 0x00, 0x00, 0x00], .truncated), // IPv6 needs 16
        ([0x01, 0x01, 0x02, 0x03, 0x80, 0x80], .truncated),      // varint runs off the end
        ([0x01, 0x01, 0x02, 0x03] + [UInt8](repeating: 0xFF, count: 10) + [0x01], .malformedVarint),
        ([0x01, 0x01, 0x02, 0x03, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02], .malformedVarint),
        ([0x01, 0x01, 0x02, 0x00, 0x00], .trailingBytes),
        ([0x01, 0x01, 0x02, 0x0A, 0x00], .invalidValue),         // object directly under a key
        ([0x01, 0x02, 0x02, 0x00, 0x02, 0x00], .conflictingFields),                 // duplicate
        ([0x01, 0x02, 0x15, 0x00, 0x02, 0x00], .conflictingFields),                 // out of order
        ([0x01, 0x02, 0x00, 0x01, 0x61, 0x00, 0x00, 0x03, 0x61, 0x2E, 0x62, 0x00], .conflictingFields), // a, a.b
        ([0x01, 0x01, 0x02, 0x09, 0x02, 0x00], .countTooLarge),  // array of 2, one element present
        ([0x01, 0x01, 0x02, 0x0A, 0x01, 0x01, 0x6B, 0x00], .invalidValue), // {"k": null} under a key
    ])
    func rejectsMalformedInput(bytes: [UInt8], code: EventCodecError.Code) {
        let error = Self.decodeError(bytes)
        #expect(error?.code == code, "\(bytes): \(String(describing: error))")
    }

    @Test func errorsNameTheVersionAndCarryOffsets() {
        let error = Self.decodeError([0x07, 0x00])
        #expect(error?.code == .unsupportedVersion)
        #expect(error?.message.contains("version 7") == true)
        #expect(error?.offset == 0)
        let utf8 = Self.decodeError([0x01, 0x01, 0x02, 0x05, 0x01, 0xFE])
        #expect(utf8?.offset == 4)
        #expect(utf8?.description.hasPrefix("invalidUTF8 at byte 4:") == true)
    }

    @Test func nestingLimit() throws {
        func nested(_ depth: Int) -> FieldValue {
            var v: FieldValue = 1
            for k in 0..<depth { v = k % 2 == 0 ? .array([v]) : .array([.object(["k": v])]) }
            return v
        }
        func deepArray(_ depth: Int) -> FieldValue {
            var v: FieldValue = .null
            for _ in 0..<depth { v = .array([v]) }
            return v
        }
        let ok = Event(["deep": deepArray(FieldValue.maximumNestingDepth)])
        #expect(try EventBinaryCodec.decode(EventBinaryCodec.encode(ok)) == ok)
        let tooDeep = Event(["deep": deepArray(FieldValue.maximumNestingDepth + 1)])
        #expect(Self.decodeError(EventBinaryCodec.encode(tooDeep))?.code == .depthLimitExceeded)
        let mixed = Event(["deep": nested(20)])
        #expect(mixed["deep"]!.nestingDepth <= FieldValue.maximumNestingDepth)
        #expect(try EventBinaryCodec.decode(EventBinaryCodec.encode(mixed)) == mixed)
        // A long run of nested-array headers must not exhaust the stack.
        let bomb: [UInt8] = [0x01, 0x01, 0x02] + Array(repeating: [0x09, 0x01], count: 100_000).flatMap { $0 } + [0x00]
        #expect(Self.decodeError(bomb)?.code == .depthLimitExceeded)
    }

    @Test func customTagWithKnownNameIsAccepted() throws {
        // A writer that does not know a field yet sends it as custom; it decodes to the same event.
        let bytes: [UInt8] = [0x01, 0x01, 0x00, 0x07] + Array("message".utf8) + [0x05, 0x01, 0x68]
        #expect(try EventBinaryCodec.decode(bytes) == Event(["message": "h"]))
    }
}
