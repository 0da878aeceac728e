import VigilCore

/// Packets in, records out: decodes each packet, keeps the flow table, runs each connection's
/// application analysis, and reports records as ECS events (``NetworkEvents``): one per
/// connection when it ends, and one per DNS transaction, HTTP transaction, TLS handshake and SSH
/// handshake. A pure value: time is the packets' own, so a replay gives the same records as the
/// live capture did.
public struct NetworkAnalyzer {
    public struct Configuration: Sendable {
        public var flows = FlowConfiguration()
        public var decoder = PacketDecoder.Configuration()
        /// Application protocols to analyze (none: flows only).
        public var protocols: Set<AppProtocol> = Set(AppProtocol.allCases)
        public init() {}
    }

    /// Counts of what was seen, for the summary and metrics.
    public struct Counters: Sendable {
        public var decode = DecodeCounters()
        public var flows = FlowCounters()
        public var app = AppCounters()
        public var connections: Int64 = 0
        public var dns: Int64 = 0
        public var http: Int64 = 0
        public var tls: Int64 = 0
        public var ssh: Int64 = 0
        public var records: Int64 { connections + dns + http + tls + ssh }
    }

    public private(set) var linkType: LinkType
    private var decoder: PacketDecoder
    /// Everything but the decoder, so that the decoder's callback can update it.
    private var core: Core
    private let configuration: Configuration
    /// Packet time of the last expiry pass.
    private var lastExpiry: Int64 = 0

    public init(linkType: LinkType, configuration: Configuration = Configuration()) {
        self.linkType = linkType
        self.configuration = configuration
        decoder = PacketDecoder(linkType: linkType, configuration: configuration.decoder)
        core = Core(configuration: configuration)
    }

    /// Starts a new source with its own link type (the flows go on).
    public mutating func setLinkType(_ linkType: LinkType) {
        guard linkType != self.linkType else { return }
        self.linkType = linkType
        let counters = decoder.counters
        decoder = PacketDecoder(linkType: linkType, configuration: configuration.decoder)
        decoder.counters = counters
    }

    public var counters: Counters {
        var c = Counters()
        c.decode = decoder.counters
        c.flows = core.flows.counters
        c.app = core.app
        (c.connections, c.dns, c.http, c.tls, c.ssh) = core.recordCounts
        return c
    }

    /// One captured packet. `emit` receives the events that are complete (valid during the call).
    public mutating func packet(_ bytes: UnsafeRawBufferPointer, timestamp: Int64, emit: (inout Event) -> Void) {
        // Two distinct stored properties: the decoder runs while its callback updates the core.
        withUnsafeMutablePointer(to: &core) { core in
            decoder.decode(bytes, timestamp: timestamp) { packet in core.pointee.add(&packet, emit: emit) }
        }
        // Timeouts run on packet time, once a second of it.
        if timestamp - lastExpiry >= 1_000_000_000 {
            lastExpiry = timestamp
            expire(now: timestamp, emit: emit)
        }
    }

    /// No packet for a while (live capture): times flows out by the wall clock.
    public mutating func idle(now: Int64, emit: (inout Event) -> Void) {
        expire(now: now, emit: emit)
    }

    /// End of input: reports every flow and pending transaction.
    public mutating func finish(emit: (inout Event) -> Void) {
        var ended = core.takeEndedBuffer()
        core.flows.flush { ended.append($0) }
        for r in ended { core.connectionEnded(r, emit: emit) }
        core.returnEndedBuffer(&ended)
    }

    private mutating func expire(now: Int64, emit: (inout Event) -> Void) {
        decoder.expireFragments(now: now)
        var ended = core.takeEndedBuffer()
        core.flows.expire(now: now) { ended.append($0) }
        for r in ended { core.connectionEnded(r, emit: emit) }
        core.returnEndedBuffer(&ended)
    }
}

extension NetworkAnalyzer {
    /// The flow table and the connections' analyses.
    struct Core {
        let configuration: Configuration
        var flows: FlowTable
        /// By flow slot: the connection's analysis and the generation of the flow it belongs to.
        var analyzers: [ConnectionAnalyzer?] = []
        var generations: [UInt32] = []
        /// By flow slot: 0 no analysis, 1 an analysis that wants payload, 2 one that is done.
        /// Checked on every packet without touching (or copying) the analysis itself.
        var states: [UInt8] = []
        /// By flow slot: the flow's endpoints, uid and Community ID, computed at its first
        /// application record (valid while `states` is not 0).
        var infos: [FlowInfo?] = []
        var app = AppCounters()
        var recordCounts = (connections: Int64(0), dns: Int64(0), http: Int64(0), tls: Int64(0), ssh: Int64(0))
        var scratch = Event()
        /// Arrays lent to each packet's and each ended connection's records (taken out and put
        /// back, so their storage is allocated once, not per call).
        var endedBuffer: [ConnRecord] = []
        var recordBuffer: [AppRecord] = []

        /// Whether any application protocol is analyzed (read per packet without touching the
        /// configuration).
        let analyzesApplications: Bool
        /// `configuration.protocols` as a mask, for each new connection's analysis.
        let enabledProtocols: AppProtocolMask

        init(configuration: Configuration) {
            self.configuration = configuration
            analyzesApplications = !configuration.protocols.isEmpty
            enabledProtocols = AppProtocolMask(configuration.protocols)
            flows = FlowTable(configuration: configuration.flows)
        }

        @inline(__always)
        mutating func add(_ packet: inout Packet, emit: (inout Event) -> Void) {
            let h = flows.add(&packet)
            // A flow this packet ended (timed out, reused or evicted) may have left its slot to
            // the new one: finish its analysis now, before the slot's analyzer is replaced.
            if flows.hasPending {
                var ended = takeEndedBuffer()
                flows.emitPending { ended.append($0) }
                for r in ended { connectionEnded(r, emit: emit) }
                returnEndedBuffer(&ended)
            }
            if analyzesApplications { analyze(packet, h, emit: emit) }
        }

        // MARK: Application layer

        mutating func analyze(_ packet: Packet, _ h: FlowHandle, emit: (inout Event) -> Void) {
            let i = Int(h.index)
            guard i >= 0 else { return }
            if i >= analyzers.count {
                let n = max(i + 1, analyzers.count * 2, 64)
                analyzers.reserveCapacity(n)
                while analyzers.count < n { analyzers.append(nil); generations.append(0); states.append(0); infos.append(nil) }
            }
            if states[i] == 0 || generations[i] != h.generation {
                // A new flow in this slot. Ports as the originator sees them.
                let (op, rp) = h.isOriginator ? (packet.sourcePort, packet.destinationPort) : (packet.destinationPort, packet.sourcePort)
                if ConnectionAnalyzer.wantsPayload(transport: packet.transport, originatorPort: op, responderPort: rp,
                                                   enabled: enabledProtocols) {
                    // Built in place (a local copied into the slot costs a copy and a destroy).
                    analyzers[i] = ConnectionAnalyzer(transport: packet.transport, originatorPort: op, responderPort: rp,
                                                      enabled: enabledProtocols)
                    states[i] = analyzers[i]!.wantsPayloadInPlace() ? 1 : 2
                } else {
                    // Nothing to analyze (ICMP, UDP on other ports): no analysis built or destroyed.
                    analyzers[i] = nil
                    states[i] = 2
                }
                infos[i] = nil
                generations[i] = h.generation
            }
            guard states[i] == 1, !packet.payload.isEmpty || packet.transport == 6 else { return }
            // Changed in place, in one mutating access (no copy of the analysis, no reference
            // counting): reading its properties through the array element copied it whole.
            var records = recordBuffer
            recordBuffer = []
            defer {
                if !records.isEmpty { records.removeAll(keepingCapacity: true) }
                recordBuffer = records
            }
            let outcome = analyzers[i]!.packet(packet, fromOriginator: h.isOriginator, counters: &app) { records.append($0) }
            // Zeek's DNS analyzer turns the flow around when the first message is a reply, but
            // not towards a multicast or broadcast group (an mDNS announcement's sender is the
            // originator).
            if outcome.flip, !packet.destination.isMulticast, packet.destination != Self.broadcast {
                flows.flipRoles(h)
            }
            if let service = outcome.newService { flows.addService(h, service.rawValue) }
            states[i] = outcome.wantsPayload ? 1 : 2
            guard !records.isEmpty else { return }
            // `infos[i] == nil` would go through `FlowInfo`'s `==`: both sides copied (their
            // strings retained) and destroyed on every packet.
            if case .none = infos[i] { infos[i] = flows.liveInfo(h) }
            guard let info = infos[i] else { return }
            for r in records { report(r, info, emit: emit) }
        }

        static let broadcast = IPAddress(v4: 0xFFFF_FFFF)

        /// The array for ended connections' records, empty; give it back with
        /// ``returnEndedBuffer(_:)``. A nested use (none today) would get a new array.
        @inline(__always)
        mutating func takeEndedBuffer() -> [ConnRecord] {
            var b: [ConnRecord] = []
            swap(&b, &endedBuffer)
            return b
        }

        @inline(__always)
        mutating func returnEndedBuffer(_ b: inout [ConnRecord]) {
            if !b.isEmpty { b.removeAll(keepingCapacity: true) }
            swap(&b, &endedBuffer)
        }

        mutating func connectionEnded(_ r: ConnRecord, emit: (inout Event) -> Void) {
            let i = Int(r.flowIndex)
            if i >= 0, i < analyzers.count, generations[i] == r.flowGeneration, states[i] != 0, analyzers[i] != nil {
                states[i] = 0
                var records = recordBuffer
                recordBuffer = []
                defer {
                    if !records.isEmpty { records.removeAll(keepingCapacity: true) }
                    recordBuffer = records
                }
                // Finished in place, then dropped (taking the large analysis out moved it twice).
                analyzers[i]!.finish(counters: &app) { records.append($0) }
                analyzers[i] = nil
                let info = FlowInfo(uid: r.uid, start: r.start, originator: r.originator, originatorPort: r.originatorPort,
                                    responder: r.responder, responderPort: r.responderPort, transport: r.transport,
                                    communityID: r.communityID, vlan: r.vlan)
                for record in records { report(record, info, emit: emit) }
            }
            recordCounts.connections += 1
            scratch.removeAll()
            NetworkEvents.connection(r, into: &scratch)
            emit(&scratch)
        }

        mutating func report(_ record: AppRecord, _ info: FlowInfo, emit: (inout Event) -> Void) {
            scratch.removeAll()
            switch record {
            case .dns(let t):
                recordCounts.dns += 1
                NetworkEvents.dns(t, info, into: &scratch)
            case .http(let t):
                recordCounts.http += 1
                NetworkEvents.http(t, info, into: &scratch)
            case .tls(let t):
                recordCounts.tls += 1
                NetworkEvents.tls(t, info, into: &scratch)
            case .ssh(let t):
                recordCounts.ssh += 1
                NetworkEvents.ssh(t, info, into: &scratch)
            }
            emit(&scratch)
        }
    }
}


extension ConnectionAnalyzer {
    /// What one packet's analysis leaves for the flow table.
    struct PacketOutcome {
        /// The service this packet identified (nil when it was known before or is still unknown).
        var newService: AppProtocol?
        /// Whether the flow's roles should be swapped (a UDP flow whose first DNS message is a
        /// reply from the originator).
        var flip: Bool
        /// Whether later packets' payload is still wanted.
        var wantsPayload: Bool
    }

    /// One TCP segment or UDP datagram of the connection, with what the flow table needs to know
    /// afterwards: all in one mutating access, so that an analysis kept in an array is neither
    /// copied nor destroyed per packet (a read of a property through the element copies it).
    mutating func packet(_ packet: Packet, fromOriginator: Bool, counters: inout AppCounters,
                         emit: (AppRecord) -> Void) -> PacketOutcome {
        let hadService = service != nil
        var flip = false
        if packet.transport == 6 {
            tcp(fromOriginator: fromOriginator, time: packet.timestamp, sequence: packet.tcpSequence,
                flags: packet.tcpFlags, payload: packet.payload, counters: &counters, emit: emit)
        } else if packet.transport == 17 {
            udp(fromOriginator: fromOriginator, time: packet.timestamp, payload: packet.payload, counters: &counters, emit: emit)
            flip = takeFlipRequest()
        }
        return PacketOutcome(newService: hadService ? nil : service, flip: flip, wantsPayload: wantsPayload)
    }

    /// ``wantsPayload`` through a mutating access (see ``packet(_:fromOriginator:counters:emit:)``).
    mutating func wantsPayloadInPlace() -> Bool { wantsPayload }
}
