import VigilCore

/// Decodes DNS messages (RFC 1035 and the record types of RFC 3596, 2782, 4034, 5155, 6672,
/// 7208, 8659) over borrowed bytes. Pure: no state, no I/O; allocates only the emitted arrays and
/// `String`s.
public enum DNSParser {
    /// Questions kept per message; the rest are skipped (a real message has one).
    public static let maximumQuestions = 16
    /// Answer records kept per message; decoding stops after this many.
    public static let maximumAnswers = 256
    /// Compression pointers followed in one name.
    static let maximumPointers = 64

    /// Decodes one DNS message (a UDP payload, or one frame from ``nextTCPFrame(_:)``).
    ///
    /// Throws when the header or the question section is malformed. A malformed answer section
    /// does not throw: the records before the fault are returned and ``DNSMessage/answerError``
    /// says why decoding stopped. The authority and additional sections are only counted.
    /// - Complexity: O(n) in the message length; every name walk is bounded by 255 octets and
    ///   64 pointers.
    public static func parse(_ message: UnsafeRawBufferPointer) throws(DNSError) -> DNSMessage {
        guard message.count >= 12 else { throw .truncatedHeader }
        let id = readU16(message, 0), flags = readU16(message, 2), qd = readU16(message, 4)
        let an = readU16(message, 6), ns = readU16(message, 8), ar = readU16(message, 10)

        var result = DNSMessage(
            id: id, isResponse: flags & 0x8000 != 0, opcode: UInt8(truncatingIfNeeded: flags >> 11 & 0xF),
            rcode: flags & 0xF, authoritative: flags & 0x0400 != 0, truncated: flags & 0x0200 != 0,
            recursionDesired: flags & 0x0100 != 0, recursionAvailable: flags & 0x0080 != 0,
            z: UInt8(truncatingIfNeeded: flags >> 4 & 0x7), questions: [], answers: [],
            authorityCount: Int(ns), additionalCount: Int(ar))

        var offset = 12
        let questionCount = Int(qd)
        // Each question takes at least 5 bytes: never reserve more than the input can hold.
        result.questions.reserveCapacity(min(questionCount, maximumQuestions, (message.count - offset) / 5))
        for _ in 0..<questionCount {
            let nameStart = offset
            offset = try scanName(message, at: offset)
            guard offset + 4 <= message.count else { throw .truncated }
            let type = readU16(message, offset), cls = readU16(message, offset + 2)
            offset += 4
            if result.questions.count < maximumQuestions {
                result.questions.append(DNSQuestion(name: nameString(message, at: nameStart), type: type, class: cls))
            }
        }

        let answerCount = min(Int(an), maximumAnswers)
        result.answers.reserveCapacity(min(answerCount, (message.count - offset) / 11))
        for _ in 0..<answerCount {
            do {
                let (record, next) = try parseRecord(message, at: offset)
                result.answers.append(record)
                offset = next
            } catch {
                result.answerError = error
                break
            }
        }
        return result
    }

    /// Splits DNS over TCP's framing (RFC 1035 §4.2.2: a 2-byte big-endian length before each
    /// message) off the front of `stream`.
    ///
    /// Returns `nil` until the whole frame is there; otherwise the message bytes (a slice of
    /// `stream`) and how many bytes of `stream` the frame took (2 + length), so the caller can
    /// drop them and call again for pipelined messages. A zero length yields an empty message,
    /// which ``parse(_:)`` rejects.
    public static func nextTCPFrame(_ stream: UnsafeRawBufferPointer) -> (message: UnsafeRawBufferPointer, consumed: Int)? {
        guard stream.count >= 2 else { return nil }
        let length = Int(readU16(stream, 0))
        guard stream.count - 2 >= length else { return nil }
        return (UnsafeRawBufferPointer(rebasing: stream[2..<(2 + length)]), 2 + length)
    }

    // MARK: - Records

    private static func parseRecord(_ m: UnsafeRawBufferPointer, at start: Int) throws(DNSError) -> (DNSRecord, Int) {
        let afterName = try scanName(m, at: start)
        guard afterName + 10 <= m.count else { throw .truncated }
        let type = readU16(m, afterName)
        let cls = readU16(m, afterName + 2)
        let ttl = UInt32(readU16(m, afterName + 4)) << 16 | UInt32(readU16(m, afterName + 6))
        let rdLength = Int(readU16(m, afterName + 8))
        let rdStart = afterName + 10
        guard rdLength <= m.count - rdStart else { throw .truncated }
        let rdEnd = rdStart + rdLength
        let owner = nameString(m, at: start)
        let rendered = try render(type: type, owner: owner, m, rdStart, rdEnd)
        return (DNSRecord(name: owner, type: type, class: cls, ttl: ttl, rendered: rendered), rdEnd)
    }

    /// The `answers` text Zeek's dns.log shows for one record.
    private static func render(type: UInt16, owner: String, _ m: UnsafeRawBufferPointer,
                               _ start: Int, _ end: Int) throws(DNSError) -> String {
        let length = end - start
        switch type {
        case 1: // A
            guard length == 4 else { throw .badRData }
            return TextSink.makeString { s in
                for k in 0..<4 {
                    s.appendDecimal(m[start + k])
                    if k != 3 { s.append(UInt8(ascii: ".")) }
                }
            }
        case 28: // AAAA; Zeek shows IPv4-mapped addresses as IPv4.
            guard length == 16,
                  let address = IPAddress(bytes: UnsafeRawBufferPointer(rebasing: m[start..<end]))
            else { throw .badRData }
            return address.unmappingIPv4.description
        case 2, 3, 4, 5, 7, 8, 9, 12, 39: // NS, MD, MF, CNAME, MB, MG, MR, PTR, DNAME
            return try nameInRData(m, at: start, end: end)
        case 15: // MX: preference, exchange
            guard length >= 3 else { throw .badRData }
            return try nameInRData(m, at: start + 2, end: end)
        case 33: // SRV: priority, weight, port, target
            guard length >= 7 else { throw .badRData }
            return try nameInRData(m, at: start + 6, end: end)
        case 6: // SOA: MNAME first
            return try nameInRData(m, at: start, end: end)
        case 16, 99: // TXT, SPF: one or more <length><bytes> strings
            var p = start
            while p < end {
                let n = Int(m[p])
                guard n <= end - p - 1 else { throw .badRData }
                p += 1 + n
            }
            return TextSink.makeString { s in
                var q = start
                while q < end {
                    let n = Int(m[q])
                    if q != start { s.append(UInt8(ascii: " ")) }
                    s.append(type == 16 ? "TXT " : "SPF ")
                    s.appendDecimal(n)
                    s.append(UInt8(ascii: " "))
                    s.appendEscaped(UnsafeRawBufferPointer(rebasing: m[(q + 1)..<(q + 1 + n)]))
                    q += 1 + n
                }
            }
        case 46: // RRSIG: type covered(2) alg(1) labels(1) ttl(4) expiration(4) inception(4) tag(2) signer
            guard length >= 19 else { throw .badRData }
            let covered = readU16(m, start)
            let signer = try nameInRData(m, at: start + 18, end: end)
            return TextSink.makeString { s in
                s.append("RRSIG ")
                s.appendDecimal(covered)
                s.append(UInt8(ascii: " "))
                if signer.isEmpty { s.append("<Root>") } else { appendString(signer, to: &s) }
            }
        case 48: // DNSKEY: flags(2) protocol(1) algorithm(1) key
            guard length >= 4 else { throw .badRData }
            let algorithm = m[start + 3]
            return TextSink.makeString { s in s.append("DNSKEY "); s.appendDecimal(algorithm) }
        case 43: // DS: key tag(2) algorithm(1) digest type(1) digest
            guard length >= 4 else { throw .badRData }
            let algorithm = m[start + 2], digestType = m[start + 3]
            return TextSink.makeString { s in
                s.append("DS ")
                s.appendDecimal(algorithm)
                s.append(UInt8(ascii: " "))
                s.appendDecimal(digestType)
            }
        case 47: // NSEC: next domain name, type bitmaps
            let next = try nameInRData(m, at: start, end: end)
            return TextSink.makeString { s in
                s.append("NSEC ")
                appendString(owner, to: &s)
                s.append(UInt8(ascii: " "))
                appendString(next, to: &s)
            }
        case 50: return "NSEC3"
        case 51: return "NSEC3PARAM"
        default:
            return TextSink.makeString { s in
                s.append("<unknown type=")
                s.appendDecimal(type)
                s.append(UInt8(ascii: ">"))
            }
        }
    }

    private static func appendString(_ text: String, to sink: inout TextSink) {
        for b in text.utf8 { sink.append(b) }
    }

    /// A name inside RDATA: it must start inside RDATA and its in-place labels must end there
    /// (pointers may go anywhere earlier in the message).
    private static func nameInRData(_ m: UnsafeRawBufferPointer, at start: Int, end: Int) throws(DNSError) -> String {
        guard start < end else { throw .badRData }
        let after = try scanName(m, at: start)
        guard after <= end else { throw .badRData }
        return nameString(m, at: start)
    }

    // MARK: - Names

    /// Validates the name at `start` and returns the offset just after it (after its first
    /// pointer, or after its terminating zero label).
    ///
    /// Every pointer must point strictly before the labels that contain it, so the walk always
    /// moves backwards and ends; at most ``maximumPointers`` are followed.
    static func scanName(_ m: UnsafeRawBufferPointer, at start: Int) throws(DNSError) -> Int {
        var p = start
        var segmentStart = start
        var end = -1
        var wireLength = 1 // the root label
        var pointers = 0
        while true {
            guard p >= 0, p < m.count else { throw .truncatedName }
            let length = Int(m[p])
            switch length & 0xC0 {
            case 0xC0:
                guard p + 1 < m.count else { throw .truncatedName }
                let target = (length & 0x3F) << 8 | Int(m[p + 1])
                if end < 0 { end = p + 2 }
                pointers += 1
                guard target < segmentStart, pointers <= maximumPointers else { throw .badPointer }
                segmentStart = target
                p = target
            case 0x00:
                if length == 0 { return end < 0 ? p + 1 : end }
                guard length < m.count - p else { throw .truncatedName }
                wireLength += length + 1
                guard wireLength <= 255 else { throw .nameTooLong }
                p += 1 + length
            default:
                throw .badLabelType
            }
        }
    }

    /// Writes the (already validated) name at `start` into `sink`, ASCII letters lower-cased as
    /// Zeek's DNS analyzer does. Safe on any input: it stops at
    /// anything ``scanName(_:at:)`` would reject.
    static func writeName(_ m: UnsafeRawBufferPointer, at start: Int, to sink: inout TextSink) {
        var p = start
        var segmentStart = start
        var first = true
        var pointers = 0
        while p >= 0, p < m.count {
            let length = Int(m[p])
            if length & 0xC0 == 0xC0 {
                guard p + 1 < m.count else { return }
                let target = (length & 0x3F) << 8 | Int(m[p + 1])
                pointers += 1
                guard target < segmentStart, pointers <= maximumPointers else { return }
                segmentStart = target
                p = target
                continue
            }
            guard length & 0xC0 == 0, length > 0, length < m.count - p else { return }
            if !first { sink.append(UInt8(ascii: ".")) }
            first = false
            for k in (p + 1)...(p + length) {
                let b = m[k]
                sink.appendEscaped(b >= 0x41 && b <= 0x5A ? b | 0x20 : b)
            }
            p += 1 + length
        }
    }

    /// The name at `start` as text (validate it with ``scanName(_:at:)`` first).
    static func nameString(_ m: UnsafeRawBufferPointer, at start: Int) -> String {
        TextSink.makeString { writeName(m, at: start, to: &$0) }
    }

    @inline(__always)
    static func readU16(_ m: UnsafeRawBufferPointer, _ offset: Int) -> UInt16 {
        UInt16(m[offset]) << 8 | UInt16(m[offset + 1])
    }
}
