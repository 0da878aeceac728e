/// The link-layer header types (libpcap's DLT_/LINKTYPE_ values) the decoder reads.
public struct LinkType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// BSD loopback: a 4-byte address family in host byte order (DLT_NULL).
    public static let null = LinkType(rawValue: 0)
    /// Ethernet II / 802.3, with 802.1Q and QinQ tags (DLT_EN10MB).
    public static let ethernet = LinkType(rawValue: 1)
    /// Raw IPv4 or IPv6, version from the first nibble (DLT_RAW on Linux, and LINKTYPE_RAW).
    public static let raw = LinkType(rawValue: 12)
    public static let linktypeRaw = LinkType(rawValue: 101)
    /// OpenBSD loopback: a 4-byte address family in network byte order (DLT_LOOP).
    public static let loop = LinkType(rawValue: 108)
    /// Linux cooked capture v1 (DLT_LINUX_SLL, `tcpdump -i any`).
    public static let linuxSLL = LinkType(rawValue: 113)
    /// Raw IPv4 (LINKTYPE_IPV4).
    public static let ipv4 = LinkType(rawValue: 228)
    /// Raw IPv6 (LINKTYPE_IPV6).
    public static let ipv6 = LinkType(rawValue: 229)
    /// Linux cooked capture v2 (DLT_LINUX_SLL2).
    public static let linuxSLL2 = LinkType(rawValue: 276)

    public var description: String {
        switch self {
        case .null: "null"
        case .ethernet: "ethernet"
        case .raw, .linktypeRaw: "raw"
        case .loop: "loop"
        case .linuxSLL: "linux-sll"
        case .ipv4: "ipv4"
        case .ipv6: "ipv6"
        case .linuxSLL2: "linux-sll2"
        default: "link type \(rawValue)"
        }
    }
}
