import VigilCore

/// One decoded IP packet: the L2–L4 fields the flow table and the protocol analyzers read.
///
/// A `Packet` borrows its ``payload`` from the buffer handed to ``PacketDecoder/decode(_:timestamp:_:)``
/// (or from the decoder's reassembly buffer); it is valid only inside that call's closure.
public struct Packet {
    /// Capture time, nanoseconds since the Unix epoch.
    public var timestamp: Int64
    /// The outer 802.1Q/802.1ad VLAN id, if the frame was tagged.
    public var vlan: UInt16?
    /// The inner VLAN id of a QinQ frame.
    public var innerVlan: UInt16?
    /// 4 or 6.
    public var ipVersion: UInt8
    /// The IP source address.
    public var source: IPAddress
    /// The IP destination address.
    public var destination: IPAddress
    /// The IP protocol number of the transport (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6, …).
    public var transport: UInt8
    /// TCP/UDP source port; for ICMP and ICMPv6 the message type (Zeek's convention).
    public var sourcePort: UInt16
    /// TCP/UDP destination port; for ICMP and ICMPv6 the message code (Zeek's convention).
    public var destinationPort: UInt16
    /// The IP total length as the headers say (IPv6: payload length + 40), header included.
    public var ipLength: Int
    /// IPv4 TTL or IPv6 hop limit.
    public var ttl: UInt8
    /// TCP flags (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, URG 0x20, ECE 0x40, CWR 0x80).
    public var tcpFlags: UInt8
    /// TCP sequence number.
    public var tcpSequence: UInt32
    /// TCP acknowledgement number.
    public var tcpAcknowledgement: UInt32
    /// TCP window (unscaled).
    public var tcpWindow: UInt16
    /// The transport payload bytes actually captured (may be shorter than ``payloadLength``).
    public var payload: UnsafeRawBufferPointer
    /// The transport payload length per the headers: TCP segment data, UDP length − 8, ICMP
    /// message body after the 8-byte header. May exceed `payload.count` in a snaplen-cut capture.
    public var payloadLength: Int
    /// Whether the packet was rebuilt from IP fragments.
    public var wasReassembled: Bool

    /// An empty packet (addresses `0.0.0.0`), for building packets by hand in tests and tools.
    public init(timestamp: Int64 = 0) {
        self.timestamp = timestamp
        vlan = nil
        innerVlan = nil
        ipVersion = 4
        source = IPAddress(v4: 0)
        destination = IPAddress(v4: 0)
        transport = 0
        sourcePort = 0
        destinationPort = 0
        ipLength = 0
        ttl = 0
        tcpFlags = 0
        tcpSequence = 0
        tcpAcknowledgement = 0
        tcpWindow = 0
        payload = UnsafeRawBufferPointer(start: nil, count: 0)
        payloadLength = 0
        wasReassembled = false
    }
}

/// TCP flag bits as they appear in ``Packet/tcpFlags``.
public enum TCPFlag {
    public static let fin: UInt8 = 0x01
    public static let syn: UInt8 = 0x02
    public static let rst: UInt8 = 0x04
    public static let psh: UInt8 = 0x08
    public static let ack: UInt8 = 0x10
    public static let urg: UInt8 = 0x20
}

/// IP protocol numbers the decoder understands.
public enum IPProtocol {
    public static let icmp: UInt8 = 1
    public static let tcp: UInt8 = 6
    public static let udp: UInt8 = 17
    public static let icmpv6: UInt8 = 58
}

/// Why a packet could not be decoded. The raw values are stable snake_case names for metrics.
public enum MalformedReason: String, CaseIterable, Sendable {
    /// Shorter than the link-layer header (Ethernet, SLL, SLL2, NULL/LOOP).
    case truncatedLinkHeader = "truncated_link_header"
    /// A VLAN tag cut short.
    case truncatedVLANTag = "truncated_vlan_tag"
    /// A PPPoE session header cut short.
    case truncatedPPPoE = "truncated_pppoe"
    /// An MPLS label stack cut short.
    case truncatedMPLS = "truncated_mpls"
    /// The IP version nibble is neither 4 nor 6 where an IP packet was expected.
    case badIPVersion = "bad_ip_version"
    /// Fewer than 20 bytes, or fewer than the IHL says.
    case truncatedIPv4Header = "truncated_ipv4_header"
    /// IHL below 5.
    case badIPv4HeaderLength = "bad_ipv4_header_length"
    /// Total length below the header length.
    case badIPv4TotalLength = "bad_ipv4_total_length"
    /// Fewer than 40 bytes.
    case truncatedIPv6Header = "truncated_ipv6_header"
    /// An IPv6 extension header cut short or running past the payload length.
    case truncatedIPv6Extension = "truncated_ipv6_extension"
    /// TCP header cut short.
    case truncatedTCPHeader = "truncated_tcp_header"
    /// TCP data offset below 5 or past the segment.
    case badTCPDataOffset = "bad_tcp_data_offset"
    /// UDP header cut short.
    case truncatedUDPHeader = "truncated_udp_header"
    /// ICMP/ICMPv6 header cut short.
    case truncatedICMPHeader = "truncated_icmp_header"
    /// A fragment whose data was not captured completely (cannot be reassembled).
    case truncatedFragment = "truncated_fragment"
    /// A fragment that would make the datagram longer than 65,535 bytes.
    case fragmentTooLarge = "fragment_too_large"
    /// A zero-length or otherwise impossible fragment.
    case badFragment = "bad_fragment"
}

/// Counters kept by ``PacketDecoder``. Plain integers: read them, diff them, export them.
public struct DecodeCounters: Sendable, Equatable {
    /// Frames handed to the decoder.
    public var packets: UInt64 = 0
    /// IP packets delivered to the closure (whole or reassembled).
    public var decoded: UInt64 = 0
    /// Frames that carry something other than IP (ARP, LLC, PPPoE discovery, …).
    public var notIP: UInt64 = 0
    /// IPv4 or IPv6 fragments received.
    public var fragments: UInt64 = 0
    /// Datagrams rebuilt from fragments.
    public var reassembled: UInt64 = 0
    /// Fragments overlapping data already held.
    public var fragmentOverlaps: UInt64 = 0
    /// Overlaps with different bytes, and conflicting ends of a datagram.
    public var fragmentInconsistencies: UInt64 = 0
    /// Incomplete datagrams dropped after the reassembly timeout.
    public var fragmentTimeouts: UInt64 = 0
    /// Incomplete datagrams dropped because too many were in flight.
    public var fragmentEvictions: UInt64 = 0
    /// IPv4 packets with total length 0 (TCP segmentation offload), read by captured length.
    public var zeroTotalLength: UInt64 = 0
    private var malformedCounts = [UInt64](repeating: 0, count: MalformedReason.allCases.count)

    public init() {}

    /// The number of frames dropped for `reason`.
    public func malformed(_ reason: MalformedReason) -> UInt64 { malformedCounts[reason.index] }

    /// Frames dropped as malformed, all reasons.
    public var malformedTotal: UInt64 { malformedCounts.reduce(0, &+) }

    /// `(name, count)` for every reason with a non-zero count.
    public var malformedByReason: [(reason: MalformedReason, count: UInt64)] {
        MalformedReason.allCases.compactMap { r in malformedCounts[r.index] == 0 ? nil : (r, malformedCounts[r.index]) }
    }

    @inline(__always)
    mutating func count(_ reason: MalformedReason) { malformedCounts[reason.index] &+= 1 }
}

extension MalformedReason {
    @inline(__always)
    var index: Int {
        switch self {
        case .truncatedLinkHeader: 0
        case .truncatedVLANTag: 1
        case .truncatedPPPoE: 2
        case .truncatedMPLS: 3
        case .badIPVersion: 4
        case .truncatedIPv4Header: 5
        case .badIPv4HeaderLength: 6
        case .badIPv4TotalLength: 7
        case .truncatedIPv6Header: 8
        case .truncatedIPv6Extension: 9
        case .truncatedTCPHeader: 10
        case .badTCPDataOffset: 11
        case .truncatedUDPHeader: 12
        case .truncatedICMPHeader: 13
        case .truncatedFragment: 14
        case .fragmentTooLarge: 15
        case .badFragment: 16
        }
    }
}
