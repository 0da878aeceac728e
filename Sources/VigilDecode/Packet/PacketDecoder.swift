import VigilCore

@inline(__always) func be16(_ p: UnsafeRawBufferPointer, _ o: Int) -> UInt16 {
    UInt16(p[o]) << 8 | UInt16(p[o + 1])
}

@inline(__always) func be32(_ p: UnsafeRawBufferPointer, _ o: Int) -> UInt32 {
    UInt32(p[o]) << 24 | UInt32(p[o + 1]) << 16 | UInt32(p[o + 2]) << 8 | UInt32(p[o + 3])
}

@inline(__always) func be64(_ p: UnsafeRawBufferPointer, _ o: Int) -> UInt64 {
    UInt64(be32(p, o)) << 32 | UInt64(be32(p, o + 4))
}

/// Decodes link-layer frames into ``Packet``s: Ethernet (802.1Q, QinQ, PPPoE session, MPLS),
/// Linux SLL/SLL2, raw IP and BSD loopback; IPv4 (options, padding trimmed) and IPv6 (extension
/// headers); IPv4/IPv6 fragment reassembly; TCP, UDP, ICMP and ICMPv6 headers.
///
/// A pure value: no I/O, no allocation per packet (fragments allocate their reassembly buffers,
/// bounded by ``Configuration/maxFragmentedDatagrams``). Every read is bounds-checked; malformed
/// or truncated frames are counted in ``counters`` by ``MalformedReason`` and never trap.
public struct PacketDecoder {
    /// Decoder limits. Defaults are chosen for a sensor on one busy link.
    public struct Configuration: Sendable {
        /// Incomplete fragmented datagrams held at once; the oldest is dropped beyond this (default 256).
        public var maxFragmentedDatagrams: Int
        /// An incomplete datagram is dropped when a fragment arrives this long (packet time, ns)
        /// after its first fragment (default 30 s, Linux's `ipfrag_time`).
        public var fragmentTimeout: Int64

        public init(maxFragmentedDatagrams: Int = 256, fragmentTimeout: Int64 = 30_000_000_000) {
            self.maxFragmentedDatagrams = maxFragmentedDatagrams
            self.fragmentTimeout = fragmentTimeout
        }
    }

    /// The link type of every frame handed to ``decode(_:timestamp:_:)``.
    public let linkType: LinkType
    /// The limits this decoder was made with.
    public let configuration: Configuration
    /// What the decoder has seen so far.
    public var counters = DecodeCounters()
    var fragments: FragmentReassembler

    /// A decoder for frames of `linkType`.
    public init(linkType: LinkType, configuration: Configuration = .init()) {
        self.linkType = linkType
        self.configuration = configuration
        fragments = FragmentReassembler(capacity: max(1, configuration.maxFragmentedDatagrams),
                                        timeout: configuration.fragmentTimeout)
    }

    /// Fragmented datagrams currently held.
    public var fragmentsInFlight: Int { fragments.datagrams.count }

    /// Decodes one frame and calls `body` once with the IP packet it carries, or not at all when
    /// the frame is malformed, not IP, or a fragment being held for reassembly (the fragment that
    /// completes a datagram delivers the whole datagram).
    /// - Complexity: O(headers); a fragment costs O(fragments held).
    public mutating func decode(_ bytes: UnsafeRawBufferPointer, timestamp: Int64, _ body: (inout Packet) -> Void) {
        counters.packets &+= 1
        var packet = Packet(timestamp: timestamp)
        let n = bytes.count
        var offset = 0
        var kind: NetworkKind
        switch linkType {
        case .ethernet:
            guard n >= 14 else { return malformed(.truncatedLinkHeader) }
            offset = 14
            kind = etherType(be16(bytes, 12), bytes, &offset, &packet)
        case .linuxSLL:
            guard n >= 16 else { return malformed(.truncatedLinkHeader) }
            offset = 16
            kind = etherType(be16(bytes, 14), bytes, &offset, &packet)
        case .linuxSLL2:
            guard n >= 20 else { return malformed(.truncatedLinkHeader) }
            offset = 20
            kind = etherType(be16(bytes, 0), bytes, &offset, &packet)
        case .null, .loop:
            guard n >= 4 else { return malformed(.truncatedLinkHeader) }
            var family = linkType == .loop
                ? be32(bytes, 0)
                : UInt32(bytes[0]) | UInt32(bytes[1]) << 8 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 24
            if family > 0xFFFF { family = family.byteSwapped }   // written by a host of the other byte order
            offset = 4
            switch family {
            case 2: kind = .ipv4
            case 10, 24, 28, 30: kind = .ipv6
            default: kind = .notIP
            }
        case .raw, .linktypeRaw:
            kind = .byVersion
        case .ipv4:
            kind = .ipv4
        case .ipv6:
            kind = .ipv6
        default:
            kind = .notIP
        }
        let ip = UnsafeRawBufferPointer(rebasing: bytes[offset..<n])
        if kind == .byVersion {
            guard ip.count >= 1 else { return malformed(.badIPVersion) }
            switch ip[0] >> 4 {
            case 4: kind = .ipv4
            case 6: kind = .ipv6
            default: return malformed(.badIPVersion)
            }
        }
        switch kind {
        case .ipv4: decodeIPv4(ip, &packet, body)
        case .ipv6: decodeIPv6(ip, &packet, body)
        case .malformed(let reason): malformed(reason)
        case .notIP, .byVersion: counters.notIP &+= 1
        }
    }

    /// Drops held fragments older than the timeout at `now` (packet time, ns). The decoder also
    /// does this whenever a fragment arrives.
    public mutating func expireFragments(now: Int64) {
        counters.fragmentTimeouts &+= UInt64(fragments.expire(now: now))
    }

    enum NetworkKind: Equatable {
        case ipv4, ipv6, byVersion, notIP
        case malformed(MalformedReason)
    }

    @inline(__always)
    mutating func malformed(_ reason: MalformedReason) { counters.count(reason) }

    /// Walks VLAN tags, PPPoE session and MPLS headers from `type` at `offset`.
    @inline(__always)
    func etherType(_ type: UInt16, _ p: UnsafeRawBufferPointer, _ offset: inout Int,
                   _ packet: inout Packet) -> NetworkKind {
        var type = type
        let n = p.count
        while true {
            switch type {
            case 0x0800: return .ipv4
            case 0x86DD: return .ipv6
            case 0x8100, 0x88A8, 0x9100:
                guard offset + 4 <= n else { return .malformed(.truncatedVLANTag) }
                let id = be16(p, offset) & 0x0FFF
                if packet.vlan == nil { packet.vlan = id } else if packet.innerVlan == nil { packet.innerVlan = id }
                type = be16(p, offset + 2)
                offset += 4
            case 0x8864:
                guard offset + 8 <= n else { return .malformed(.truncatedPPPoE) }
                let proto = be16(p, offset + 6)
                offset += 8
                switch proto {
                case 0x0021: return .ipv4
                case 0x0057: return .ipv6
                default: return .notIP
                }
            case 0x8847, 0x8848:
                while true {
                    guard offset + 4 <= n else { return .malformed(.truncatedMPLS) }
                    let bottom = p[offset + 2] & 1 != 0
                    offset += 4
                    if bottom { break }
                }
                guard offset < n else { return .malformed(.truncatedMPLS) }
                switch p[offset] >> 4 {
                case 4: return .ipv4
                case 6: return .ipv6
                default: return .notIP
                }
            default:
                return .notIP
            }
        }
    }

    // MARK: - IPv4

    mutating func decodeIPv4(_ ip: UnsafeRawBufferPointer, _ packet: inout Packet, _ body: (inout Packet) -> Void) {
        guard ip.count >= 20 else { return malformed(.truncatedIPv4Header) }
        let vihl = ip[0]
        guard vihl >> 4 == 4 else { return malformed(.badIPVersion) }
        let headerLength = Int(vihl & 0x0F) &* 4
        guard headerLength >= 20 else { return malformed(.badIPv4HeaderLength) }
        guard ip.count >= headerLength else { return malformed(.truncatedIPv4Header) }
        var total = Int(be16(ip, 2))
        if total == 0 {
            total = ip.count
            counters.zeroTotalLength &+= 1
        }
        guard total >= headerLength else { return malformed(.badIPv4TotalLength) }
        let captured = min(ip.count, total)                 // trims Ethernet padding
        let fragmentField = be16(ip, 6)
        let more = fragmentField & 0x2000 != 0
        let fragmentOffset = Int(fragmentField & 0x1FFF) &* 8
        packet.ipVersion = 4
        packet.ttl = ip[8]
        packet.transport = ip[9]
        packet.source = IPAddress(v4: be32(ip, 12))
        packet.destination = IPAddress(v4: be32(ip, 16))
        packet.ipLength = total
        if more || fragmentOffset != 0 {
            return ipv4Fragment(ip, headerLength: headerLength, total: total, captured: captured,
                                offset: fragmentOffset, more: more, &packet, body)
        }
        let segment = UnsafeRawBufferPointer(rebasing: ip[headerLength..<captured])
        if let reason = decodeTransport(segment, length: total - headerLength, &packet) { return malformed(reason) }
        counters.decoded &+= 1
        body(&packet)
    }

    @inline(never)
    mutating func ipv4Fragment(_ ip: UnsafeRawBufferPointer, headerLength: Int, total: Int, captured: Int,
                               offset: Int, more: Bool, _ packet: inout Packet, _ body: (inout Packet) -> Void) {
        counters.fragments &+= 1
        guard captured == total else { return malformed(.truncatedFragment) }
        let data = UnsafeRawBufferPointer(rebasing: ip[headerLength..<total])
        guard !data.isEmpty else { return malformed(.badFragment) }
        guard headerLength + offset + data.count <= 65535 else { return malformed(.fragmentTooLarge) }
        let key = FragmentKey(source: packet.source, destination: packet.destination,
                              id: UInt32(be16(ip, 4)), proto: packet.transport)
        let header = offset == 0 ? UnsafeRawBufferPointer(rebasing: ip[0..<headerLength]) : nil
        let result = fragments.add(key: key, time: packet.timestamp, offset: offset, data: data, last: !more,
                                   header: header, nextHeaderOffset: -1, nextHeader: 0)
        account(result)
        guard case .complete(var buffer) = result.outcome else { return }
        // Rebuild a whole IPv4 packet: the first fragment's header, total length fixed, no fragment bits.
        let length = buffer.count
        guard length <= 65535 else { return malformed(.fragmentTooLarge) }
        buffer[2] = UInt8(truncatingIfNeeded: length >> 8)
        buffer[3] = UInt8(truncatingIfNeeded: length)
        buffer[6] = 0
        buffer[7] = 0
        buffer.withUnsafeBytes { whole in
            packet.wasReassembled = true
            decodeIPv4(whole, &packet, body)
        }
    }

    mutating func account(_ result: FragmentReassembler.AddResult) {
        counters.fragmentOverlaps &+= UInt64(result.overlaps)
        counters.fragmentInconsistencies &+= UInt64(result.inconsistencies)
        counters.fragmentTimeouts &+= UInt64(result.timedOut)
        counters.fragmentEvictions &+= UInt64(result.evicted)
        if case .complete = result.outcome { counters.reassembled &+= 1 }
    }

    // MARK: - IPv6

    mutating func decodeIPv6(_ ip: UnsafeRawBufferPointer, _ packet: inout Packet, _ body: (inout Packet) -> Void) {
        guard ip.count >= 40 else { return malformed(.truncatedIPv6Header) }
        guard ip[0] >> 4 == 6 else { return malformed(.badIPVersion) }
        var payloadLength = Int(be16(ip, 4))
        if payloadLength == 0 { payloadLength = ip.count - 40 }     // jumbogram: trust the capture
        let end = 40 + payloadLength
        let captured = min(ip.count, end)
        packet.ipVersion = 6
        packet.ttl = ip[7]
        packet.source = IPAddress(v6High: be64(ip, 8), low: be64(ip, 16))
        packet.destination = IPAddress(v6High: be64(ip, 24), low: be64(ip, 32))
        packet.ipLength = end
        var next = ip[6]
        var offset = 40
        var nextHeaderOffset = 6
        walk: while true {
            switch next {
            case 0, 43, 60, 135, 139, 140, 51:
                guard offset + 2 <= captured else { return malformed(.truncatedIPv6Extension) }
                let length = next == 51 ? (Int(ip[offset + 1]) + 2) * 4 : (Int(ip[offset + 1]) + 1) * 8
                guard offset + length <= captured else { return malformed(.truncatedIPv6Extension) }
                nextHeaderOffset = offset
                next = ip[offset]
                offset += length
            case 44:
                guard offset + 8 <= captured else { return malformed(.truncatedIPv6Extension) }
                let field = be16(ip, offset + 2)
                let fragmentOffset = Int(field & 0xFFF8)
                let more = field & 1 != 0
                if fragmentOffset == 0 && !more {              // atomic fragment (RFC 6946)
                    nextHeaderOffset = offset
                    next = ip[offset]
                    offset += 8
                    continue walk
                }
                return ipv6Fragment(ip, fragmentHeader: offset, nextHeaderOffset: nextHeaderOffset, end: end,
                                    captured: captured, offset: fragmentOffset, more: more, &packet, body)
            default:
                break walk
            }
        }
        packet.transport = next
        let segment = UnsafeRawBufferPointer(rebasing: ip[offset..<captured])
        if let reason = decodeTransport(segment, length: end - offset, &packet) { return malformed(reason) }
        counters.decoded &+= 1
        body(&packet)
    }

    @inline(never)
    mutating func ipv6Fragment(_ ip: UnsafeRawBufferPointer, fragmentHeader: Int, nextHeaderOffset: Int, end: Int,
                               captured: Int, offset: Int, more: Bool, _ packet: inout Packet,
                               _ body: (inout Packet) -> Void) {
        counters.fragments &+= 1
        guard captured == end else { return malformed(.truncatedFragment) }
        let dataStart = fragmentHeader + 8
        let data = UnsafeRawBufferPointer(rebasing: ip[dataStart..<end])
        guard !data.isEmpty else { return malformed(.badFragment) }
        guard fragmentHeader - 40 + offset + data.count <= 65535 else { return malformed(.fragmentTooLarge) }
        let key = FragmentKey(source: packet.source, destination: packet.destination,
                              id: be32(ip, fragmentHeader + 4), proto: 44)
        let header = offset == 0 ? UnsafeRawBufferPointer(rebasing: ip[0..<fragmentHeader]) : nil
        let result = fragments.add(key: key, time: packet.timestamp, offset: offset, data: data, last: !more,
                                   header: header, nextHeaderOffset: nextHeaderOffset, nextHeader: ip[fragmentHeader])
        account(result)
        guard case .complete(var buffer) = result.outcome else { return }
        let payload = buffer.count - 40
        guard payload <= 65535 else { return malformed(.fragmentTooLarge) }
        buffer[4] = UInt8(truncatingIfNeeded: payload >> 8)
        buffer[5] = UInt8(truncatingIfNeeded: payload)
        buffer.withUnsafeBytes { whole in
            packet.wasReassembled = true
            decodeIPv6(whole, &packet, body)
        }
    }

    // MARK: - Transport

    /// Reads the transport header from `segment` (captured bytes); `length` is the segment length
    /// per the IP header. Returns the reason when the header is unusable.
    @inline(__always)
    func decodeTransport(_ segment: UnsafeRawBufferPointer, length: Int, _ packet: inout Packet) -> MalformedReason? {
        switch packet.transport {
        case IPProtocol.tcp:
            guard segment.count >= 20, length >= 20 else { return .truncatedTCPHeader }
            let dataOffset = Int(segment[12] >> 4) &* 4
            guard dataOffset >= 20, dataOffset <= length else { return .badTCPDataOffset }
            guard dataOffset <= segment.count else { return .truncatedTCPHeader }
            packet.sourcePort = be16(segment, 0)
            packet.destinationPort = be16(segment, 2)
            packet.tcpSequence = be32(segment, 4)
            packet.tcpAcknowledgement = be32(segment, 8)
            packet.tcpFlags = segment[13]
            packet.tcpWindow = be16(segment, 14)
            packet.payload = UnsafeRawBufferPointer(rebasing: segment[dataOffset...])
            packet.payloadLength = length - dataOffset
        case IPProtocol.udp:
            guard segment.count >= 8, length >= 8 else { return .truncatedUDPHeader }
            packet.sourcePort = be16(segment, 0)
            packet.destinationPort = be16(segment, 2)
            let udpLength = Int(be16(segment, 4))
            // Zeek counts the UDP length field; 0 (jumbogram) falls back to the IP length.
            let payloadLength = udpLength == 0 ? length - 8 : max(0, udpLength - 8)
            packet.payloadLength = payloadLength
            packet.payload = UnsafeRawBufferPointer(rebasing: segment[8..<min(segment.count, 8 + payloadLength)])
        case IPProtocol.icmp, IPProtocol.icmpv6:
            guard segment.count >= 8, length >= 8 else { return .truncatedICMPHeader }
            packet.sourcePort = UInt16(segment[0])
            packet.destinationPort = UInt16(segment[1])
            packet.payload = UnsafeRawBufferPointer(rebasing: segment[8...])
            packet.payloadLength = length - 8
        default:
            packet.payload = segment
            packet.payloadLength = length
        }
        return nil
    }
}
