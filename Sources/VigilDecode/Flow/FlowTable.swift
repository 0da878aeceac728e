import VigilCore

/// Limits and timeouts of a ``FlowTable``. All times are nanoseconds of packet time.
public struct FlowConfiguration: Sendable {
    /// Idle timeout of TCP flows (Zeek's `tcp_inactivity_timeout`, 5 min).
    public var tcpInactivityTimeout: Int64 = 300_000_000_000
    /// Idle timeout of UDP flows (Zeek's `udp_inactivity_timeout`, 1 min).
    public var udpInactivityTimeout: Int64 = 60_000_000_000
    /// Idle timeout of ICMP/ICMPv6 and other flows (Zeek's `icmp_inactivity_timeout`, 1 min).
    public var icmpInactivityTimeout: Int64 = 60_000_000_000
    /// An unanswered TCP SYN ends the connection this long after the SYN (Zeek's `tcp_attempt_delay`, 5 s).
    public var tcpAttemptTimeout: Int64 = 5_000_000_000
    /// A closed or reset TCP connection ends after this much quiet (Zeek's `tcp_close_delay`, 5 s).
    public var tcpCloseTimeout: Int64 = 5_000_000_000
    /// A flow longer than this is ended at its next packet and continues as a new flow; 0 (the
    /// default, like Zeek) disables it.
    public var activeTimeout: Int64 = 0
    /// Flows held at once; beyond this the least recently active flow is ended (counted as an eviction).
    public var maxFlows: Int = 1 << 20
    /// Community ID seed (0 in the spec's default).
    public var communityIDSeed: UInt16 = 0
    /// Seed of the UIDs (each table numbers its flows; the seed makes runs distinguishable).
    public var uidSeed: UInt64 = 0
    /// Ports taken as servers when a flow starts mid-stream or from the server (Zeek's
    /// `likely_server_ports` as registered by its default analyzers).
    public var likelyTCPServerPorts: Set<UInt16> = [
        21, 22, 25, 53, 80, 81, 88, 110, 135, 139, 143, 389, 443, 445, 502, 563, 585, 587, 614, 631, 636,
        989, 990, 992, 993, 995, 1080, 1434, 1883, 2811, 3128, 3268, 3306, 3389, 5222, 5223, 5269, 5432,
        6379, 6666, 6667, 6668, 6669, 8000, 8080, 8888, 20000,
    ]
    /// UDP likely server ports.
    public var likelyUDPServerPorts: Set<UInt16> = [
        53, 67, 68, 88, 123, 137, 161, 162, 389, 443, 514, 1812, 2123, 2152, 3544, 4789, 5060, 5072, 5353,
        5355, 6081, 20000,
    ]

    public init() {}
}

/// Counters kept by a ``FlowTable``.
public struct FlowCounters: Sendable, Equatable {
    /// Packets added.
    public var packets: UInt64 = 0
    /// Flows created.
    public var flowsCreated: UInt64 = 0
    /// Records emitted.
    public var flowsEnded: UInt64 = 0
    /// Flows held now.
    public var activeFlows: Int = 0
    /// Flows ended by an idle timeout.
    public var idleTimeouts: UInt64 = 0
    /// TCP connection attempts ended by the attempt timeout.
    public var attemptTimeouts: UInt64 = 0
    /// Closed TCP connections ended after the close delay.
    public var closeTimeouts: UInt64 = 0
    /// Flows split by the active timeout.
    public var activeTimeouts: UInt64 = 0
    /// Flows ended because the table was full.
    public var evictions: UInt64 = 0
    /// TCP connections ended by a new SYN reusing the 5-tuple.
    public var reuses: UInt64 = 0
    /// Flows whose history passed the inline limit (32 letters); later letters are dropped.
    public var historyTruncations: UInt64 = 0

    public init() {}
}

/// Names a flow of a ``FlowTable`` for the packet just added.
public struct FlowHandle: Sendable, Equatable {
    /// The flow's slot in the table.
    public let index: Int32
    /// Distinguishes flows that reuse a slot.
    public let generation: UInt32
    /// Whether the packet came from the originator.
    public let isOriginator: Bool
}

/// Up to 32 history letters, stored inline.
struct History {
    static let capacity = 32
    var storage: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    var count: UInt8 = 0
    var truncated = false

    @inline(__always)
    mutating func append(_ c: UInt8) {
        guard Int(count) < History.capacity else { truncated = true; return }
        let k = Int(count)
        withUnsafeMutableBytes(of: &storage) { $0[k] = c }
        count += 1
    }

    var string: String {
        withUnsafeBytes(of: storage) { String(decoding: $0[0..<Int(count)], as: UTF8.self) }
    }

    /// Zeek's `/\^?S[^HAFGIQ]*R.*/`.
    var matchesRSTOS0: Bool {
        withUnsafeBytes(of: storage) { p in
            var i = 0
            let n = Int(count)
            if i < n && p[i] == UInt8(ascii: "^") { i += 1 }
            guard i < n, p[i] == UInt8(ascii: "S") else { return false }
            i += 1
            while i < n {
                switch p[i] {
                case UInt8(ascii: "R"): return true
                case UInt8(ascii: "H"), UInt8(ascii: "A"), UInt8(ascii: "F"), UInt8(ascii: "G"), UInt8(ascii: "I"),
                     UInt8(ascii: "Q"): return false
                default: i += 1
                }
            }
            return false
        }
    }
}

/// A compact bidirectional 5-tuple (+ VLANs): side A is the smaller (address, port).
struct FlowKey: Equatable {
    var aHigh: UInt64, aLow: UInt64, bHigh: UInt64, bLow: UInt64
    var aPort: UInt16, bPort: UInt16
    var transport: UInt8
    /// Bit 0: IPv6; bit 1: one-way ICMP (A is always the sender).
    var flags: UInt8
    /// `(vlan + 1) | (inner + 1) << 16`, 0 for untagged.
    var vlans: UInt32

    @inline(__always)
    var hash: UInt64 {
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15
        @inline(__always) func mix(_ v: UInt64) {
            h = (h ^ v) &* 0xBF58_476D_1CE4_E5B9
            h ^= h >> 31
        }
        mix(aHigh)
        mix(aLow)
        mix(bHigh)
        mix(bLow)
        mix(UInt64(aPort) << 48 | UInt64(bPort) << 32 | UInt64(transport) << 24 | UInt64(flags) << 16)
        mix(UInt64(vlans))
        h = (h ^ (h >> 29)) &* 0x94D0_49BB_1331_11EB
        return h ^ (h >> 32)
    }
}

/// A flow's uid and Community ID, and the roles the Community ID was computed for.
struct FlowIdentity {
    var uid: InlineText
    var communityID: InlineText
    var originatorIsA: Bool
}

/// One flow's state.
struct Flow {
    var key: FlowKey
    var hash: UInt32 = 0
    var generation: UInt32 = 0
    var inUse = false
    /// Whether the originator is side A of the key.
    var origIsA = true
    var lruClass: UInt8 = 0
    var prev: Int32 = -1
    var next: Int32 = -1
    var start: Int64 = 0
    /// Zeek's `last_time` (TCP stops advancing it once both sides closed).
    var lastTime: Int64 = 0
    /// The last packet of any kind, for timeouts.
    var lastPacket: Int64 = 0
    var origPackets: Int64 = 0, respPackets: Int64 = 0
    var origIPBytes: Int64 = 0, respIPBytes: Int64 = 0
    var origBytes: Int64 = 0, respBytes: Int64 = 0
    var history = History()
    var historySeen: UInt32 = 0
    var orig = TCPEndpoint()
    var resp = TCPEndpoint()
    var attemptDeadline: Int64 = 0
    var tcpActive = true
    var closeComplete = false
    var serial: UInt64 = 0
    var vlan: UInt16? = nil
    var innerVlan: UInt16? = nil

    init(key: FlowKey) { self.key = key }

    @inline(__always)
    mutating func countPacket(isOrig: Bool, ipBytes: Int64) {
        if isOrig {
            origPackets &+= 1
            origIPBytes &+= ipBytes
        } else {
            respPackets &+= 1
            respIPBytes &+= ipBytes
        }
    }

    /// Swaps the originator and responder and appends `^` (Zeek's `FlipRoles`).
    mutating func flipRoles(swapEndpoints: Bool = true) {
        origIsA.toggle()
        swap(&origPackets, &respPackets)
        swap(&origIPBytes, &respIPBytes)
        swap(&origBytes, &respBytes)
        if swapEndpoints { swap(&orig, &resp) }
        history.append(UInt8(ascii: "^"))
    }
}

/// The LRU classes a flow sits in, each with one idle timeout.
enum FlowClass {
    static let tcp: UInt8 = 0
    /// TCP connections waiting on an attempt or close timer.
    static let tcpShort: UInt8 = 1
    static let udp: UInt8 = 2
    static let other: UInt8 = 3
    static let count = 4
}

/// Bidirectional flows by 5-tuple (+ VLANs) with Zeek's conn.log semantics: originator detection
/// (first sender, corrected by Zeek's likely-server-port and SYN/SYN-ACK rules), the TCP endpoint
/// state machine, `conn_state`, history, sequence-number byte counts, duration and Community ID.
///
/// A pure mutating value: no I/O, no clock (time is packet time), no allocation per packet once
/// the table has grown (an open-addressing index over a flow array, keyed by a compact tuple with
/// a precomputed hash; per-class LRU lists for timeouts and eviction).
///
/// History letters written (uppercase originator, lowercase responder): `S` SYN, `H` SYN-ACK,
/// `A` pure ACK, `D` data, `F` FIN, `R` RST (S/H/F/R repeat when a new one carries another
/// sequence number), `T` retransmission and `W` zero window (at the 1st, 10th, 100th, …),
/// `I` FIN+RST, `Q` other multi-flag packets, `^` roles flipped. Not written: `C` (checksums are
/// not verified) and `G` (content gaps need stream reassembly, so `missedBytes` is 0).
public struct FlowTable {
    /// The configuration the table was made with.
    public let configuration: FlowConfiguration
    /// What the table has done so far.
    public private(set) var counters = FlowCounters()

    var flows: [Flow] = []
    /// By flow slot: the services analyzers named (kept apart so that a `Flow` is plain data,
    /// copied without reference counting).
    var services: [[String]] = []
    /// By flow slot: the uid and Community ID of a live flow once computed (for its first
    /// application record), so that its end record does not compute them again.
    var identities: [FlowIdentity?] = []
    var freeSlots: [Int32] = []
    var index: [UInt64]
    var indexMask: Int
    var heads = [Int32](repeating: -1, count: FlowClass.count)
    var tails = [Int32](repeating: -1, count: FlowClass.count)
    var pending: [ConnRecord] = []
    var nextSerial: UInt64 = 0
    let tcpServers: [UInt64]
    let udpServers: [UInt64]

    /// An empty table.
    public init(configuration: FlowConfiguration = .init()) {
        self.configuration = configuration
        index = [UInt64](repeating: 0, count: 1024)
        indexMask = 1023
        var tcp = [UInt64](repeating: 0, count: 1024), udp = [UInt64](repeating: 0, count: 1024)
        for p in configuration.likelyTCPServerPorts { tcp[Int(p) >> 6] |= 1 << UInt64(p & 63) }
        for p in configuration.likelyUDPServerPorts { udp[Int(p) >> 6] |= 1 << UInt64(p & 63) }
        tcpServers = tcp
        udpServers = udp
    }

    /// Flows held now.
    public var count: Int { counters.activeFlows }

    // MARK: - Adding packets

    /// Adds `packet` to its flow (creating the flow, or ending a timed-out or reused one and
    /// starting anew) and returns which flow and direction it was.
    /// - Complexity: O(1) expected.
    public mutating func add(_ packet: inout Packet) -> FlowHandle {
        counters.packets &+= 1
        let now = packet.timestamp
        var key: FlowKey
        var srcIsA: Bool
        (key, srcIsA) = FlowTable.key(for: packet)
        let h = key.hash
        if let i = find(key, UInt32(truncatingIfNeeded: h)) {
            let isOrig = srcIsA == flows[i].origIsA
            if let reason = endReason(i, packet, now) {
                end(i, reason)
            } else {
                update(i, &packet, isOrig: isOrig, now: now)
                return FlowHandle(index: Int32(i), generation: flows[i].generation, isOriginator: flows[i].origIsA == srcIsA)
            }
        }
        if counters.activeFlows >= max(1, configuration.maxFlows) { evictOldest() }
        let i = create(key, hash: UInt32(truncatingIfNeeded: h), packet, now: now)
        // Originator: the sender, unless Zeek's port heuristics say the sender is the server.
        let flip = shouldFlip(packet)
        flows[i].origIsA = srcIsA != flip
        if flip { flows[i].history.append(UInt8(ascii: "^")) }
        update(i, &packet, isOrig: !flip, now: now)
        return FlowHandle(index: Int32(i), generation: flows[i].generation, isOriginator: flows[i].origIsA == srcIsA)
    }

    /// Records that an analyzer recognized `name` on `flow` (ignored for a flow that has ended).
    public mutating func addService(_ flow: FlowHandle, _ name: String) {
        let i = Int(flow.index)
        guard i >= 0, i < flows.count, flows[i].inUse, flows[i].generation == flow.generation else { return }
        if !services[i].contains(name) { services[i].append(name) }
    }

    /// Swaps originator and responder of `flow` (for analyzers that see the reply first, as Zeek's
    /// DNS analyzer does); the history gets a `^`.
    public mutating func flipRoles(_ flow: FlowHandle) {
        let i = Int(flow.index)
        guard i >= 0, i < flows.count, flows[i].inUse, flows[i].generation == flow.generation else { return }
        flows[i].flipRoles()
    }

    @inline(__always)
    static func key(for p: Packet) -> (FlowKey, Bool) {
        var sp = p.sourcePort, dp = p.destinationPort
        var flags: UInt8 = p.ipVersion == 6 ? 1 : 0
        if p.transport == IPProtocol.icmp || p.transport == IPProtocol.icmpv6 {
            let (counterpart, oneWay) = icmpCounterpart(type: UInt8(truncatingIfNeeded: sp),
                                                        code: UInt8(truncatingIfNeeded: dp),
                                                        v6: p.transport == IPProtocol.icmpv6)
            dp = counterpart
            if oneWay { flags |= 2 }
        } else if p.transport != IPProtocol.tcp && p.transport != IPProtocol.udp && p.transport != 132 {
            sp = 0
            dp = 0
        }
        let s = p.source, d = p.destination
        let srcIsA = flags & 2 != 0
            || s.high < d.high || (s.high == d.high && (s.low < d.low || (s.low == d.low && sp <= dp)))
        var vlans: UInt32 = 0
        if let v = p.vlan { vlans = UInt32(v) + 1 }
        if let v = p.innerVlan { vlans |= (UInt32(v) + 1) << 16 }
        let key = srcIsA
            ? FlowKey(aHigh: s.high, aLow: s.low, bHigh: d.high, bLow: d.low, aPort: sp, bPort: dp,
                      transport: p.transport, flags: flags, vlans: vlans)
            : FlowKey(aHigh: d.high, aLow: d.low, bHigh: s.high, bLow: s.low, aPort: dp, bPort: sp,
                      transport: p.transport, flags: flags, vlans: vlans)
        return (key, srcIsA)
    }

    @inline(__always)
    func likely(_ table: [UInt64], _ port: UInt16) -> Bool {
        table[Int(port) >> 6] & (1 << UInt64(port & 63)) != 0
    }

    /// Zeek's `WantConnection` role guess for the first packet of a flow.
    func shouldFlip(_ p: Packet) -> Bool {
        switch p.transport {
        case IPProtocol.tcp:
            let syn = p.tcpFlags & TCPFlag.syn != 0, ack = p.tcpFlags & TCPFlag.ack != 0
            guard !syn || ack else { return false }
            guard likely(tcpServers, p.sourcePort) else { return false }
            if likely(tcpServers, p.destinationPort) { return !syn && p.sourcePort < p.destinationPort }
            return true
        case IPProtocol.udp:
            return likely(udpServers, p.sourcePort) && !likely(udpServers, p.destinationPort)
        default:
            return false
        }
    }

    /// Why an existing flow must end before `packet` (Zeek would have removed it by now).
    func endReason(_ i: Int, _ packet: Packet, _ now: Int64) -> EndReason? {
        // Read in place through a pointer: a copy of the flow would copy its history and retain
        // its services on every packet.
        flows.withUnsafeBufferPointer { buffer in
            let f = buffer.baseAddress! + i
            let idle = now &- f.pointee.lastPacket
            switch f.pointee.key.transport {
            case IPProtocol.tcp:
                if f.pointee.attemptExpired(now: now) { return .attempt }
                if f.pointee.closeExpired(now: now, delay: configuration.tcpCloseTimeout) { return .closed }
                if idle >= configuration.tcpInactivityTimeout { return .idle }
                if f.pointee.isReuse(packet) { return .reuse }
            case IPProtocol.udp:
                if idle >= configuration.udpInactivityTimeout { return .idle }
            default:
                if idle >= configuration.icmpInactivityTimeout { return .idle }
            }
            if configuration.activeTimeout > 0 && now &- f.pointee.start >= configuration.activeTimeout { return .active }
            return nil
        }
    }

    enum EndReason { case idle, attempt, closed, active, evicted, reuse, flush }

    @inline(__always)
    mutating func update(_ i: Int, _ packet: inout Packet, isOrig: Bool, now: Int64) {
        let ipBytes = Int64(packet.ipLength)
        let attemptTimeout = configuration.tcpAttemptTimeout
        // Through one pointer: `flows[i].…` checks bounds and uniqueness at every access, and
        // `flows[i].tcpPacket(…)` copied the 264-byte flow out and back.
        let flowClass = flows.withUnsafeMutableBufferPointer { b -> UInt8 in
            let f = b.baseAddress.unsafelyUnwrapped.advanced(by: i)
            f.pointee.lastPacket = now
            if f.pointee.key.transport == IPProtocol.tcp {
                // Zeek counts sizes after the TCP analyzer ran (which may have flipped roles).
                f.pointee.tcpPacket(packet, isOrig: isOrig, now: now, attemptTimeout: attemptTimeout)
                f.pointee.countPacket(isOrig: isOrig, ipBytes: ipBytes)
            } else {
                f.pointee.countPacket(isOrig: isOrig, ipBytes: ipBytes)
                let bytes = Int64(packet.payloadLength)
                if isOrig { f.pointee.origBytes &+= bytes } else { f.pointee.respBytes &+= bytes }
                if f.pointee.key.transport == IPProtocol.udp { _ = f.pointee.checkHistory(HistoryBit.data, UInt8(ascii: "D"), isOrig) }
                f.pointee.lastTime = now
            }
            return FlowTable.flowClass(f.pointee)
        }
        relink(i, flowClass)
    }


    @inline(__always)
    static func flowClass(_ f: Flow) -> UInt8 {
        switch f.key.transport {
        case IPProtocol.tcp:
            if f.closeComplete { return FlowClass.tcpShort }
            if f.attemptDeadline != 0 && f.tcpActive && (f.orig.state == .synSent || f.orig.state == .synAckSent)
                && f.resp.state == .inactive { return FlowClass.tcpShort }
            return FlowClass.tcp
        case IPProtocol.udp: return FlowClass.udp
        default: return FlowClass.other
        }
    }

    // MARK: - Expiry

    /// Emits every flow that has ended by `now` (packet time): idle timeouts per transport,
    /// unanswered TCP attempts, closed TCP connections past the close delay, and flows ended
    /// earlier by reuse, the active timeout or eviction.
    /// - Complexity: O(flows ended), amortized.
    public mutating func expire(now: Int64, _ emit: (ConnRecord) -> Void) {
        emitPending(emit)
        for c in 0..<FlowClass.count {
            let c = UInt8(c)
            var moved = 0
            while heads[Int(c)] >= 0 {
                let i = Int(heads[Int(c)])
                let f = flows[i]
                let idle = now &- f.lastPacket
                var reason: EndReason? = nil
                switch c {
                case FlowClass.tcp:
                    guard idle >= configuration.tcpInactivityTimeout else { break }
                    reason = .idle
                case FlowClass.tcpShort:
                    guard idle >= min(configuration.tcpAttemptTimeout, configuration.tcpCloseTimeout) else { break }
                    if f.attemptExpired(now: now) {
                        reason = .attempt
                    } else if f.closeExpired(now: now, delay: configuration.tcpCloseTimeout) {
                        reason = .closed
                    } else if idle >= configuration.tcpInactivityTimeout {
                        reason = .idle
                    } else if moved < counters.activeFlows {
                        // Waiting on nothing short any more: back among the long-lived.
                        relink(i, FlowClass.tcp)
                        moved += 1
                        continue
                    }
                case FlowClass.udp:
                    guard idle >= configuration.udpInactivityTimeout else { break }
                    reason = .idle
                default:
                    guard idle >= configuration.icmpInactivityTimeout else { break }
                    reason = .idle
                }
                guard let reason else { break }
                end(i, reason)
                emitPending(emit)
            }
        }
    }

    /// Emits every flow (end of input) and empties the table. Records come out in order of
    /// their first packet.
    public mutating func flush(_ emit: (ConnRecord) -> Void) {
        var live: [Int] = []
        for i in flows.indices where flows[i].inUse { live.append(i) }
        live.sort { flows[$0].start != flows[$1].start ? flows[$0].start < flows[$1].start : flows[$0].serial < flows[$1].serial }
        for i in live { end(i, .flush) }
        emitPending(emit)
    }

    /// Whether ended flows wait to be emitted.
    var hasPending: Bool { !pending.isEmpty }

    mutating func emitPending(_ emit: (ConnRecord) -> Void) {
        guard !pending.isEmpty else { return }
        for r in pending { emit(r) }
        pending.removeAll(keepingCapacity: true)
    }

    mutating func evictOldest() {
        var best = -1
        for c in 0..<FlowClass.count where heads[c] >= 0 {
            let i = Int(heads[c])
            if best < 0 || flows[i].lastPacket < flows[best].lastPacket { best = i }
        }
        if best >= 0 { end(best, .evicted) }
    }

    /// Ends flow `i`: its record goes to `pending`, its slot is freed.
    mutating func end(_ i: Int, _ reason: EndReason) {
        switch reason {
        case .idle: counters.idleTimeouts &+= 1
        case .attempt: counters.attemptTimeouts &+= 1
        case .closed: counters.closeTimeouts &+= 1
        case .active: counters.activeTimeouts &+= 1
        case .evicted: counters.evictions &+= 1
        case .reuse: counters.reuses &+= 1
        case .flush: break
        }
        var r = Self.record(flows[i], services: services[i], identity: identities[i], configuration: configuration)
        r.flowIndex = Int32(i)
        pending.append(r)
        if flows[i].history.truncated { counters.historyTruncations &+= 1 }
        unlink(i)
        removeFromIndex(i)
        flows[i].inUse = false
        services[i] = []
        identities[i] = nil
        freeSlots.append(Int32(i))
        counters.activeFlows -= 1
        counters.flowsEnded &+= 1
    }

    // MARK: - Records

    /// The originator and responder of `f` with their ports.
    @inline(__always)
    static func endpoints(_ f: Flow) -> (IPAddress, UInt16, IPAddress, UInt16) {
        let k = f.key
        let v6 = k.flags & 1 != 0
        func address(_ high: UInt64, _ low: UInt64) -> IPAddress {
            v6 ? IPAddress(v6High: high, low: low) : IPAddress(v4: UInt32(truncatingIfNeeded: low))
        }
        let a = address(k.aHigh, k.aLow), b = address(k.bHigh, k.bLow)
        return f.origIsA ? (a, k.aPort, b, k.bPort) : (b, k.bPort, a, k.aPort)
    }

    /// The uid and Community ID of `f`: `known` when it was computed for the same roles.
    /// Community ID takes ICMP type and code; the key holds type and counterpart, which the
    /// hash maps back to the same counterpart.
    static func identity(_ f: Flow, known: FlowIdentity?, configuration: FlowConfiguration) -> FlowIdentity {
        if let known, known.originatorIsA == f.origIsA { return known }
        let (o, op, r, rp) = endpoints(f)
        let community = CommunityID.hash(source: o, sourcePort: op, destination: r, destinationPort: rp,
                                         transport: f.key.transport, seed: configuration.communityIDSeed)
        return FlowIdentity(uid: known?.uid ?? FlowTable.uid(seed: configuration.uidSeed, serial: f.serial),
                            communityID: community, originatorIsA: f.origIsA)
    }

    /// Static: a method on the table would copy it (every array retained) when called from a
    /// mutating one.
    static func record(_ f: Flow, services: [String], identity known: FlowIdentity?, configuration: FlowConfiguration) -> ConnRecord {
        let k = f.key
        let (o, op, r, rp) = endpoints(f)
        let state: ConnState
        let ob: Int64, rb: Int64
        switch k.transport {
        case IPProtocol.tcp:
            state = f.tcpConnState
            ob = f.orig.size
            rb = f.resp.size
        case IPProtocol.udp:
            let oa = f.origPackets > 0, ra = f.respPackets > 0
            state = oa ? (ra ? .sf : .s0) : (ra ? .shr : .oth)
            ob = f.origBytes
            rb = f.respBytes
        default:
            state = .oth
            ob = f.origBytes
            rb = f.respBytes
        }
        let identity = identity(f, known: known, configuration: configuration)
        return ConnRecord(
            uid: identity.uid, start: f.start,
            duration: f.lastTime &- f.start, originator: o, originatorPort: op, responder: r, responderPort: rp,
            transport: k.transport, services: services, state: state, history: f.history.string,
            originatorBytes: ob, responderBytes: rb, originatorPackets: f.origPackets, responderPackets: f.respPackets,
            originatorIPBytes: f.origIPBytes, responderIPBytes: f.respIPBytes, missedBytes: 0,
            communityID: identity.communityID, vlan: f.vlan, innerVlan: f.innerVlan, flowIndex: -1, flowGeneration: f.generation)
    }

    /// The endpoints and uid of a live flow (nil when it has ended).
    public func info(_ flow: FlowHandle) -> FlowInfo? {
        let i = Int(flow.index)
        guard i >= 0, i < flows.count, flows[i].inUse, flows[i].generation == flow.generation else { return nil }
        return Self.info(flows[i], Self.identity(flows[i], known: identities[i], configuration: configuration))
    }

    /// ``info(_:)``, keeping the flow's uid and Community ID for its end record (computed once
    /// per flow).
    mutating func liveInfo(_ flow: FlowHandle) -> FlowInfo? {
        let i = Int(flow.index)
        guard i >= 0, i < flows.count, flows[i].inUse, flows[i].generation == flow.generation else { return nil }
        let identity = Self.identity(flows[i], known: identities[i], configuration: configuration)
        identities[i] = identity
        return Self.info(flows[i], identity)
    }

    static func info(_ f: Flow, _ identity: FlowIdentity) -> FlowInfo {
        let (o, op, r, rp) = endpoints(f)
        return FlowInfo(uid: identity.uid, start: f.start, originator: o, originatorPort: op, responder: r, responderPort: rp,
                        transport: f.key.transport, communityID: identity.communityID, vlan: f.vlan)
    }

    /// `C` followed by 96 pseudo-random bits in base62, like Zeek's UIDs.
    static func uid(seed: UInt64, serial: UInt64) -> InlineText {
        func splitmix(_ x: UInt64) -> UInt64 {
            var z = x &+ 0x9E37_79B9_7F4A_7C15
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        let alphabet: StaticString = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
        var x = splitmix(seed ^ splitmix(serial))
        var y = splitmix(x) & 0xFFFF_FFFF
        return InlineText { out in
            alphabet.withUTF8Buffer { alphabet in
                out[0] = UInt8(ascii: "C")
                for k in 1...11 { out[k] = alphabet[Int(x % 62)]; x /= 62 }
                for k in 12...17 { out[k] = alphabet[Int(y % 62)]; y /= 62 }
            }
            return 18
        }
    }

    // MARK: - Storage

    mutating func create(_ key: FlowKey, hash: UInt32, _ packet: Packet, now: Int64) -> Int {
        let i: Int
        if let free = freeSlots.popLast() {
            i = Int(free)
            let generation = flows[i].generation &+ 1
            flows[i] = Flow(key: key)
            flows[i].generation = generation
        } else {
            i = flows.count
            flows.append(Flow(key: key))
            services.append([])
            identities.append(nil)
        }
        flows[i].inUse = true
        flows[i].hash = hash
        flows[i].start = now
        flows[i].lastTime = now
        flows[i].lastPacket = now
        flows[i].serial = nextSerial
        flows[i].vlan = packet.vlan
        flows[i].innerVlan = packet.innerVlan
        nextSerial &+= 1
        counters.flowsCreated &+= 1
        counters.activeFlows += 1
        if counters.activeFlows * 2 > index.count { growIndex() } else { insertIntoIndex(i) }
        flows[i].lruClass = FlowTable.flowClass(flows[i])
        append(i, flows[i].lruClass)
        return i
    }

    @inline(__always)
    func find(_ key: FlowKey, _ h: UInt32) -> Int? {
        var s = Int(h) & indexMask
        while true {
            let e = index[s]
            if e == 0 { return nil }
            if UInt32(truncatingIfNeeded: e >> 32) == h {
                let i = Int(e & 0xFFFF_FFFF) - 1
                if flows[i].key == key { return i }
            }
            s = (s + 1) & indexMask
        }
    }

    mutating func insertIntoIndex(_ i: Int) {
        let h = flows[i].hash
        var s = Int(h) & indexMask
        while index[s] != 0 { s = (s + 1) & indexMask }
        index[s] = UInt64(h) << 32 | UInt64(i + 1)
    }

    /// Removes flow `i` from the index (backward-shift deletion, no tombstones).
    mutating func removeFromIndex(_ i: Int) {
        let h = flows[i].hash
        var s = Int(h) & indexMask
        while true {
            let e = index[s]
            if e == 0 { return }
            if Int(e & 0xFFFF_FFFF) - 1 == i { break }
            s = (s + 1) & indexMask
        }
        var hole = s
        var j = s
        while true {
            j = (j + 1) & indexMask
            let e = index[j]
            if e == 0 { break }
            let ideal = Int(UInt32(truncatingIfNeeded: e >> 32)) & indexMask
            // Move e into the hole unless its ideal slot lies cyclically in (hole, j].
            let inRange = hole <= j ? (ideal > hole && ideal <= j) : (ideal > hole || ideal <= j)
            if !inRange {
                index[hole] = e
                hole = j
            }
        }
        index[hole] = 0
    }

    mutating func growIndex() {
        let size = index.count * 2
        index = [UInt64](repeating: 0, count: size)
        indexMask = size - 1
        for i in flows.indices where flows[i].inUse { insertIntoIndex(i) }
    }

    // MARK: - LRU lists

    @inline(__always)
    mutating func append(_ i: Int, _ c: UInt8) {
        withLists { f, h, t in FlowTable.append(i, c, f, h, t) }
    }

    @inline(__always)
    mutating func unlink(_ i: Int) {
        withLists { f, h, t in FlowTable.unlink(i, f, h, t) }
    }

    /// Moves flow `i` to the tail of class `c` (every packet does: the list stays in order of
    /// last activity).
    @inline(__always)
    mutating func relink(_ i: Int, _ c: UInt8) {
        if tails[Int(c)] == Int32(i) && flows[i].lruClass == c { return }
        withLists { f, h, t in
            FlowTable.unlink(i, f, h, t)
            FlowTable.append(i, c, f, h, t)
        }
    }

    /// The flows and the lists' heads and tails as pointers: one uniqueness check per array
    /// instead of one per element written (a relink writes up to eight).
    @inline(__always)
    mutating func withLists(_ body: (UnsafeMutablePointer<Flow>, UnsafeMutablePointer<Int32>, UnsafeMutablePointer<Int32>) -> Void) {
        flows.withUnsafeMutableBufferPointer { f in
            heads.withUnsafeMutableBufferPointer { h in
                tails.withUnsafeMutableBufferPointer { t in
                    body(f.baseAddress!, h.baseAddress!, t.baseAddress!)
                }
            }
        }
    }

    @inline(__always)
    static func append(_ i: Int, _ c: UInt8, _ f: UnsafeMutablePointer<Flow>, _ heads: UnsafeMutablePointer<Int32>,
                       _ tails: UnsafeMutablePointer<Int32>) {
        let ci = Int(c)
        f[i].lruClass = c
        f[i].next = -1
        f[i].prev = tails[ci]
        if tails[ci] >= 0 { f[Int(tails[ci])].next = Int32(i) } else { heads[ci] = Int32(i) }
        tails[ci] = Int32(i)
    }

    @inline(__always)
    static func unlink(_ i: Int, _ f: UnsafeMutablePointer<Flow>, _ heads: UnsafeMutablePointer<Int32>,
                       _ tails: UnsafeMutablePointer<Int32>) {
        let ci = Int(f[i].lruClass)
        let p = f[i].prev, n = f[i].next
        if p >= 0 { f[Int(p)].next = n } else { heads[ci] = n }
        if n >= 0 { f[Int(n)].prev = p } else { tails[ci] = p }
        f[i].prev = -1
        f[i].next = -1
    }
}
