import VigilCore

/// Zeek's `conn_state` values, with Zeek's names as raw values.
public enum ConnState: String, Sendable, CaseIterable {
    /// Connection attempt seen, no reply.
    case s0 = "S0"
    /// Established, not terminated.
    case s1 = "S1"
    /// Normal establishment and termination.
    case sf = "SF"
    /// Connection attempt rejected.
    case rej = "REJ"
    /// Established, close attempt by the originator seen (no reply from the responder).
    case s2 = "S2"
    /// Established, close attempt by the responder seen (no reply from the originator).
    case s3 = "S3"
    /// Established, the originator aborted (sent a RST).
    case rsto = "RSTO"
    /// Established, the responder aborted.
    case rstr = "RSTR"
    /// The originator sent a SYN followed by a RST; no SYN-ACK from the responder.
    case rstos0 = "RSTOS0"
    /// The responder sent a SYN-ACK followed by a RST; no SYN from the (purported) originator.
    case rstrh = "RSTRH"
    /// The originator sent a SYN followed by a FIN; no SYN-ACK from the responder (half open).
    case sh = "SH"
    /// The responder sent a SYN-ACK followed by a FIN; no SYN from the originator.
    case shr = "SHR"
    /// No SYN seen, just midstream traffic (or any non-TCP flow that is not S0/SF/SHR).
    case oth = "OTH"
}

/// One finished flow, with the fields of Zeek's conn.log.
public struct ConnRecord: Sendable, Equatable {
    /// A unique id in Zeek's style (`C` + base62), deterministic for a given ``FlowConfiguration/uidSeed``.
    public var uid: InlineText
    /// Time of the first packet, ns since the Unix epoch.
    public var start: Int64
    /// Last packet time − first packet time, ns (TCP stops counting once both sides closed, as Zeek does).
    public var duration: Int64
    public var originator: IPAddress
    /// Originator port; for ICMP the message type.
    public var originatorPort: UInt16
    public var responder: IPAddress
    /// Responder port; for ICMP the counterpart type (echo request ↔ reply, …) or else the code.
    public var responderPort: UInt16
    /// IP protocol number.
    public var transport: UInt8
    /// Application protocols named by analyzers (``FlowTable/addService(_:_:)``).
    public var services: [String]
    public var state: ConnState
    /// Zeek's history letters (see ``FlowTable``).
    public var history: String
    /// TCP: payload bytes from sequence numbers, as Zeek computes them; UDP/ICMP: payload bytes.
    public var originatorBytes: Int64
    public var responderBytes: Int64
    public var originatorPackets: Int64
    public var responderPackets: Int64
    /// Sum of IP total lengths.
    public var originatorIPBytes: Int64
    public var responderIPBytes: Int64
    /// Bytes in sequence-space gaps; always 0 (no stream reassembly in the flow table).
    public var missedBytes: Int64
    /// Community ID v1 (`1:` + base64 SHA-1) with ``FlowConfiguration/communityIDSeed``.
    public var communityID: InlineText
    public var vlan: UInt16?
    public var innerVlan: UInt16?
    /// The flow's slot in its table while it lived (to find what the analyzers kept for it).
    package var flowIndex: Int32 = -1
    package var flowGeneration: UInt32 = 0
}

/// Who a live flow's endpoints are, for records the analyzers report before the flow ends.
public struct FlowInfo: Sendable, Equatable {
    public var uid: InlineText
    public var start: Int64
    public var originator: IPAddress
    public var originatorPort: UInt16
    public var responder: IPAddress
    public var responderPort: UInt16
    public var transport: UInt8
    public var communityID: InlineText
    public var vlan: UInt16?
}
