import Testing
import VigilCore
import VigilTestSupport

/// Seeded property tests: every failure message names the seed and the event index.
@Suite struct RoundTripPropertyTests {
    static let eventCount = 3000

    @Test func binaryRoundTripIsExact() {
        let seed: UInt64 = 0xB1A5_0001
        var g = RandomEventGenerator(seed: seed, jsonSafe: false)
        var buffer: [UInt8] = []
        for index in 0..<Self.eventCount {
            let event = g.event()
            buffer.removeAll(keepingCapacity: true)
            EventBinaryCodec.encode(event, into: &buffer)
            do {
                let decoded = try EventBinaryCodec.decode(buffer)
                guard identical(decoded, event) else {
                    Issue.record("seed \(seed), event \(index): binary round trip differs\n\(event)\n\(decoded)")
                    return
                }
            } catch {
                Issue.record("seed \(seed), event \(index): \(error)\n\(event)")
                return
            }
        }
    }

    @Test func jsonRoundTripIsExact() {
        let seed: UInt64 = 0x15_0001
        var g = RandomEventGenerator(seed: seed)
        var buffer: [UInt8] = []
        for index in 0..<Self.eventCount {
            let event = g.event()
            buffer.removeAll(keepingCapacity: true)
            EventJSON.encode(event, into: &buffer)
            do {
                let decoded = try EventJSON.decode(buffer)
                guard identical(decoded, event) else {
                    Issue.record("seed \(seed), event \(index): JSON round trip differs\n\(event)\n\(decoded)")
                    return
                }
                // The output is canonical: re-encoding gives the same bytes, and both codecs agree.
                #expect(EventJSON.encode(decoded) == buffer, "seed \(seed), event \(index)")
                #expect(EventBinaryCodec.encode(decoded) == EventBinaryCodec.encode(event), "seed \(seed), event \(index)")
            } catch {
                Issue.record("seed \(seed), event \(index): \(error)\n\(String(decoding: buffer, as: UTF8.self))")
                return
            }
        }
    }

    @Test func checkedSetAcceptsEveryGeneratedKnownValue() throws {
        let seed: UInt64 = 0x5E7
        var g = RandomEventGenerator(seed: seed)
        for _ in 0..<500 {
            let field = Schema.fields[g.below(Schema.fields.count)]
            let value = g.value(of: field.type)
            var e = Event()
            try e.set(field.name, value)
            #expect(Schema.check(key: field.name, value: value))
        }
    }
}

/// Arbitrary and mutated input must make the decoders throw or succeed, never trap.
@Suite struct DecoderRobustnessTests {
    static let inputCount = 25_000

    @Test func binaryDecoderNeverTraps() {
        let seed: UInt64 = 0xF022_0001
        var g = RandomEventGenerator(seed: seed, jsonSafe: false)
        g.maximumKnownFields = 6
        g.maximumCustomFields = 4
        var samples: [[UInt8]] = (0..<200).map { _ in EventBinaryCodec.encode(g.event()) }
        samples.append([0x01, 0x00])
        var accepted = 0
        for index in 0..<Self.inputCount {
            let input: [UInt8]
            switch index % 4 {
            case 0: input = [0x01] + g.bytes(maximumLength: 48)
            case 1: input = g.bytes(maximumLength: 64)
            default: input = g.mutate(samples[g.below(samples.count)])
            }
            do {
                let event = try EventBinaryCodec.decode(input)
                accepted += 1
                // Whatever decodes re-encodes to something that decodes to the same event.
                let again = try EventBinaryCodec.decode(EventBinaryCodec.encode(event))
                #expect(identical(again, event), "seed \(seed), input \(index)")
            } catch {
                #expect(!error.message.isEmpty)
                #expect(error.offset >= 0 && error.offset <= input.count, "seed \(seed), input \(index): \(error)")
            }
        }
        #expect(accepted > 0)
    }

    @Test func jsonParserNeverTraps() {
        let seed: UInt64 = 0xF022_0002
        var g = RandomEventGenerator(seed: seed)
        g.maximumKnownFields = 6
        g.maximumCustomFields = 4
        let samples: [[UInt8]] = (0..<200).map { _ in EventJSON.encode(g.event()) } + [
            Array(#"{"a":"\ud83d\ude00","b":[1,-0.5e-3,true,false,null,{"c":"\u0000"}],"source":{"ip":"::1"}}"#.utf8),
            Array(#"{"@timestamp":"2024-05-01T12:00:00.123+02:00","source.port":22,"vigil.score":1e2}"#.utf8),
        ]
        let alphabet = Array(#"{}[]:,"\ .-+0123456789eEtrufalsnbu/x"#.utf8) + [0xC3, 0xA9, 0xFF, 0x00, 0x0A]
        var accepted = 0
        for index in 0..<Self.inputCount {
            let input: [UInt8]
            switch index % 5 {
            case 0: input = [0x7B] + g.bytes(maximumLength: 40, alphabet: alphabet)
            case 1: input = g.bytes(maximumLength: 40)
            default: input = g.mutate(samples[g.below(samples.count)])
            }
            do {
                let event = try EventJSON.decode(input)
                accepted += 1
                let again = try EventJSON.decode(EventJSON.encode(event))
                #expect(identical(again, event), "seed \(seed), input \(index)")
            } catch {
                #expect(!error.message.isEmpty)
                #expect(error.offset >= 0 && error.offset <= input.count, "seed \(seed), input \(index): \(error)")
            }
            _ = try? input.withUnsafeBytes { try EventJSON.decodeValue($0) }
        }
        #expect(accepted > 0)
    }

    @Test func textParsersNeverTrap() {
        let seed: UInt64 = 0xF022_0003
        var g = RandomEventGenerator(seed: seed)
        let samples = ["2024-05-01T12:00:00.123456789+05:30", "::ffff:1.2.3.4", "2001:db8::1/64", "10.0.0.0/8", "1.2.3.4"]
            .map { Array($0.utf8) }
        for _ in 0..<20_000 {
            let input = g.chance(50) ? g.mutate(samples[g.below(samples.count)]) : g.bytes(maximumLength: 50)
            input.withUnsafeBytes { raw in
                _ = Timestamp(rfc3339: raw)
                if let address = IPAddress(parsing: raw) { #expect(IPAddress(address.description) == address) }
                _ = IPNetwork(parsing: raw)
            }
        }
    }
}
