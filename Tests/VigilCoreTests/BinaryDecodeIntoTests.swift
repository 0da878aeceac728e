import Testing
@testable import VigilCore
import VigilTestSupport

/// `EventBinaryCodec.decode(_:into:arrays:)`: decoding record after record into one event, with
/// repeated arrays taken from a cache, gives exactly what a fresh `decode(_:)` gives.
@Suite struct BinaryDecodeIntoTests {
    /// Random events decoded into one reused event with one array cache, each twice (the second
    /// time every array of scalars comes from the cache): bit-identical to the original and to a
    /// fresh decode, and the cache was used.
    @Test func reusedEventAndArrayCacheDecodeExactly() throws {
        let seed: UInt64 = 0xDEC0_0001
        var g = RandomEventGenerator(seed: seed, jsonSafe: false)
        let cache = EventBinaryCodec.ArrayCache(slots: 64)
        var reused = Event()
        var buffer: [UInt8] = []
        for index in 0..<2000 {
            let event = g.event()
            buffer.removeAll(keepingCapacity: true)
            EventBinaryCodec.encode(event, into: &buffer)
            for pass in 0..<2 {
                try buffer.withUnsafeBytes { try EventBinaryCodec.decode($0, into: &reused, arrays: cache) }
                guard identical(reused, event), identical(reused, try EventBinaryCodec.decode(buffer)) else {
                    Issue.record("seed \(seed), event \(index), pass \(pass): decode into differs\n\(event)\n\(reused)")
                    return
                }
                // The encoding of the decoded event is the input again (arrays from the cache included).
                guard EventBinaryCodec.encode(reused) == buffer else {
                    Issue.record("seed \(seed), event \(index), pass \(pass): re-encoding differs")
                    return
                }
            }
        }
        #expect(cache.hits > 0)
        #expect(cache.misses > 0)
    }

    /// The sshd shape the stream stage sees most: the same category arrays on every event, kept
    /// once and shared; a copy of the event taken before the next decode keeps its own fields.
    @Test func repeatedArraysAreSharedAndCopiesSurvive() throws {
        let cache = EventBinaryCodec.ArrayCache()
        var first = Event()
        first["event.category"] = ["authentication", "session"]
        first["event.type"] = ["end"]
        first["user.name"] = "admin"
        first["sshd.preauth"] = false
        var second = first
        second["user.name"] = "root"
        second["source.ip"] = .ip(IPAddress("10.1.2.3")!)
        let a = EventBinaryCodec.encode(first), b = EventBinaryCodec.encode(second)
        var reused = Event()
        try a.withUnsafeBytes { try EventBinaryCodec.decode($0, into: &reused, arrays: cache) }
        let kept = reused
        try b.withUnsafeBytes { try EventBinaryCodec.decode($0, into: &reused, arrays: cache) }
        #expect(kept == first)
        #expect(reused == second)
        #expect(cache.misses == 2)
        #expect(cache.hits == 2)
        #expect(reused["event.category"] == ["authentication", "session"])
    }

    /// Malformed input fails through the reusing path with the same error as through
    /// `decode(_:)`, and the event decodes the next valid record correctly afterwards.
    @Test(arguments: [
        [UInt8](), [0x02, 0x00], [0x01], [0x01, 0x01], [0x01, 0x01, 0x00, 0x00], [0x01, 0x01, 0x05, 0x0B],
        [0x01, 0x01, 0xFF, 0x7F, 0x00], [0x01, 0x01, 0x00, 0x01, 0xFF, 0x00], [0x01, 0x01, 0x02, 0x05, 0x01, 0xFE],
        [0x01, 0x01, 0x02, 0x05, 0x05, 0x61], [0x01, 0x01, 0x02, 0x04, 0x00, 0x00], [0x01, 0x01, 0x15, 0x07, 0x0A, 0x00],
        [0x01, 0x01, 0x02, 0x03, 0x80, 0x80], [0x01, 0x01, 0x02, 0x00, 0x00], [0x01, 0x01, 0x02, 0x0A, 0x00],
        [0x01, 0x02, 0x02, 0x00, 0x02, 0x00], [0x01, 0x02, 0x15, 0x00, 0x02, 0x00],
        [0x01, 0x02, 0x00, 0x01, 0x61, 0x00, 0x00, 0x03, 0x61, 0x2E, 0x62, 0x00],
        [0x01, 0x01, 0x02, 0x09, 0x02, 0x00],                   // array of 2, one element present
        [0x01, 0x01, 0x02, 0x09, 0x01, 0x05, 0x01, 0xFE],       // array holding "\xFE"
        [0x01, 0x01, 0x02, 0x09, 0x01, 0x09, 0x00, 0x00],       // nested array, then a trailing byte
    ] as [[UInt8]])
    func malformedInputFailsTheSameWay(bytes: [UInt8]) throws {
        let cache = EventBinaryCodec.ArrayCache()
        var reused = Event(["message": "left over"])
        var fresh: EventCodecError?
        do { _ = try EventBinaryCodec.decode(bytes) } catch { fresh = error }
        var into: EventCodecError?
        // Twice: a second attempt must not find anything of the first in the cache.
        for _ in 0..<2 {
            do {
                try bytes.withUnsafeBytes { try EventBinaryCodec.decode($0, into: &reused, arrays: cache) }
                into = nil
            } catch {
                into = error as? EventCodecError
            }
            #expect(fresh != nil, "\(bytes)")
            #expect(into?.code == fresh?.code, "\(bytes)")
            #expect(into?.offset == fresh?.offset, "\(bytes)")
            #expect(into?.message == fresh?.message, "\(bytes)")
        }
        let valid = Event(["message": "next", "event.category": ["network"]])
        try EventBinaryCodec.encode(valid).withUnsafeBytes { try EventBinaryCodec.decode($0, into: &reused, arrays: cache) }
        #expect(identical(reused, valid))
    }

    /// Varints of ten bytes (the longest) decode on the unchecked path when ten bytes are left,
    /// and an eleventh byte or a tenth above 1 is an overflow at the varint's start either way.
    @Test func longVarintsAtTheEndsOfTheRange() throws {
        var e = Event()
        e["a.min"] = .int(.min)
        e["a.max"] = .int(.max)
        e["@timestamp"] = .timestamp(Timestamp(nanoseconds: .min))
        e["event.ingested"] = .timestamp(Timestamp(nanoseconds: .max))
        let bytes = EventBinaryCodec.encode(e)
        var reused = Event()
        try bytes.withUnsafeBytes { try EventBinaryCodec.decode($0, into: &reused) }
        #expect(identical(reused, e))
        for tail: [UInt8] in [[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02],
                              [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
                              [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02, 0x00, 0x00]] {
            var failure: EventCodecError?
            do { _ = try EventBinaryCodec.decode([0x01, 0x01, 0x02, 0x03] + tail) } catch { failure = error }
            #expect(failure?.code == .malformedVarint, "\(tail)")
            #expect(failure?.offset == 4, "\(tail)")
        }
        // Nine 0x80 bytes and a 0x01: the top bit alone.
        let top = try EventBinaryCodec.decode([0x01, 0x01, 0x02, 0x03] + [UInt8](repeating: 0x80, count: 9) + [0x01])
        #expect(top["message"] == .int(ByteWriter.unzigzag(1 << 63)))
    }
}
