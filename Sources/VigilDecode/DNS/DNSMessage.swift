/// One DNS message (RFC 1035 §4.1), as far as Vigil's dns records need it.
///
/// Names are label bytes joined by `.` with no trailing dot (the root is the empty string);
/// bytes that are not printable ASCII are written `\xHH`, as Zeek's dns.log shows them. ASCII
/// letters are lower-cased, as Zeek's DNS analyzer does (so 0x20-style case randomization is not
/// visible in the emitted names).
public struct DNSMessage: Sendable, Hashable {
    /// The transaction ID.
    public var id: UInt16
    /// QR: a response rather than a query.
    public var isResponse: Bool
    /// The 4-bit OPCODE (0 query, 1 inverse query, 2 status, 4 notify, 5 update).
    public var opcode: UInt8
    /// The 4-bit RCODE from the header (extended RCODEs from EDNS are not folded in, as in Zeek).
    public var rcode: UInt16
    /// AA: the answer is authoritative.
    public var authoritative: Bool
    /// TC: the message was truncated by the sender.
    public var truncated: Bool
    /// RD: recursion desired.
    public var recursionDesired: Bool
    /// RA: recursion available.
    public var recursionAvailable: Bool
    /// The 3 bits between RA and RCODE (Z, AD, CD), as Zeek's `Z` column.
    public var z: UInt8
    /// The question section (at most ``DNSParser/maximumQuestions`` entries are kept).
    public var questions: [DNSQuestion]
    /// The answer section (at most ``DNSParser/maximumAnswers`` entries are kept).
    public var answers: [DNSRecord]
    /// NSCOUNT from the header (the authority section is not decoded).
    public var authorityCount: Int
    /// ARCOUNT from the header (the additional section is not decoded).
    public var additionalCount: Int
    /// Why decoding stopped inside the answer section, if it did; `answers` holds the records
    /// decoded before that point. `nil` when the whole answer section was read.
    public var answerError: DNSError?

    public init(id: UInt16, isResponse: Bool, opcode: UInt8, rcode: UInt16, authoritative: Bool,
                truncated: Bool, recursionDesired: Bool, recursionAvailable: Bool, z: UInt8,
                questions: [DNSQuestion], answers: [DNSRecord], authorityCount: Int,
                additionalCount: Int, answerError: DNSError? = nil) {
        self.id = id
        self.isResponse = isResponse
        self.opcode = opcode
        self.rcode = rcode
        self.authoritative = authoritative
        self.truncated = truncated
        self.recursionDesired = recursionDesired
        self.recursionAvailable = recursionAvailable
        self.z = z
        self.questions = questions
        self.answers = answers
        self.authorityCount = authorityCount
        self.additionalCount = additionalCount
        self.answerError = answerError
    }
}

/// One entry of the question section.
public struct DNSQuestion: Sendable, Hashable {
    /// QNAME, escaped as described on ``DNSMessage``.
    public var name: String
    /// QTYPE; ``DNSNames/qtypeName(_:)`` gives Zeek's name for it.
    public var type: UInt16
    /// QCLASS (the top bit is mDNS's unicast-response flag).
    public var `class`: UInt16

    public init(name: String, type: UInt16, class: UInt16) {
        self.name = name
        self.type = type
        self.class = `class`
    }
}

/// One resource record of the answer section.
public struct DNSRecord: Sendable, Hashable {
    /// The owner name.
    public var name: String
    /// TYPE.
    public var type: UInt16
    /// CLASS (the top bit is mDNS's cache-flush flag).
    public var `class`: UInt16
    /// TTL in seconds.
    public var ttl: UInt32
    /// RDATA as Zeek writes it in dns.log's `answers`: the address for A/AAAA, the target name for
    /// CNAME/NS/PTR/DNAME/MX/SRV, the MNAME for SOA, `TXT <len> <text>` per string for TXT (`SPF`
    /// for SPF), `RRSIG <type covered> <signer>`, `DNSKEY <algorithm>`, `DS <algorithm> <digest
    /// type>`, `NSEC <owner> <next>`, `NSEC3`, `NSEC3PARAM`, and `<unknown type=N>` otherwise.
    public var rendered: String

    public init(name: String, type: UInt16, class: UInt16, ttl: UInt32, rendered: String) {
        self.name = name
        self.type = type
        self.class = `class`
        self.ttl = ttl
        self.rendered = rendered
    }
}

/// Why a DNS message could not be decoded. Carries no payload bytes.
public enum DNSError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Fewer than the 12 header bytes.
    case truncatedHeader
    /// A question, record header or RDATA runs past the end of the message.
    case truncated
    /// A name runs past the end of the message.
    case truncatedName
    /// A label length byte with the reserved 0x40/0x80 prefixes (RFC 6891 §5 retired them).
    case badLabelType
    /// A compression pointer that does not point strictly before the labels that contain it
    /// (loops, self and forward pointers), or too many pointers in one name.
    case badPointer
    /// A name longer than 255 octets on the wire (RFC 1035 §3.1).
    case nameTooLong
    /// RDATA whose length does not fit its type (an A record that is not 4 bytes, a TXT string
    /// running past RDLENGTH, a name not ending inside RDATA, …).
    case badRData
    /// DNS over TCP: a length prefix of zero.
    case emptyTCPMessage

    public var description: String {
        switch self {
        case .truncatedHeader: "DNS message shorter than its 12-byte header"
        case .truncated: "DNS question or record runs past the end of the message"
        case .truncatedName: "DNS name runs past the end of the message"
        case .badLabelType: "DNS label with a reserved length prefix (0x40 or 0x80)"
        case .badPointer: "DNS compression pointer that loops or points forward"
        case .nameTooLong: "DNS name longer than 255 octets"
        case .badRData: "DNS RDATA that does not fit its type or length"
        case .emptyTCPMessage: "DNS over TCP message of length zero"
        }
    }
}
