/// Zeek's TCP endpoint states (`TCP_ENDPOINT_*`).
enum TCPEndpointState: UInt8 {
    case inactive, synSent, synAckSent, partial, established, closed, reset
}

/// Bits of a flow's "history seen" mask; the responder's are shifted left by 16.
enum HistoryBit {
    static let syn: UInt32 = 0x1
    static let fin: UInt32 = 0x2
    static let rst: UInt32 = 0x4
    static let finRst: UInt32 = 0x8
    static let data: UInt32 = 0x10
    static let ack: UInt32 = 0x20
    static let multiFlag: UInt32 = 0x40
}

/// One side of a TCP connection, tracked the way Zeek's `TCP_Endpoint` does.
struct TCPEndpoint {
    var state = TCPEndpointState.inactive
    var previousState = TCPEndpointState.inactive
    var startSeq: UInt32 = 0
    var lastSeq: UInt32 = 0
    var seqWraps: UInt32 = 0
    var ackSeq: UInt32 = 0
    var ackWraps: UInt32 = 0
    /// Whether sequence numbers were initialized from a packet of this side.
    var initialized = false
    var didClose = false
    var finCount: UInt32 = 0
    var lastSYN: UInt64 = 0
    var lastFIN: UInt64 = 0
    var lastRST: UInt64 = 0
    var retransmits: UInt32 = 0
    var retransmitThreshold: UInt32 = 1
    var zeroWindows: UInt32 = 0
    var zeroWindowThreshold: UInt32 = 1

    @inline(__always)
    mutating func setState(_ s: TCPEndpointState) {
        if s != state {
            previousState = state
            state = s
        }
    }

    @inline(__always)
    mutating func initSequence(_ start: UInt32, last: UInt32) {
        startSeq = start
        ackSeq = start
        ackWraps = 0
        lastSeq = last
        seqWraps = 0
    }

    @inline(__always)
    mutating func updateLastSeq(_ seq: UInt32) {
        if seq < lastSeq { seqWraps &+= 1 }
        lastSeq = seq
    }

    /// Zeek's `update_ack_seq`: the peer acknowledged up to `ack`.
    @inline(__always)
    mutating func acknowledge(_ ack: UInt32) {
        let delta = Int32(bitPattern: ack &- ackSeq)
        if ack == 0 && delta > tooLargeSeqDelta { return }
        if delta > 0 {
            if ack < ackSeq { ackWraps &+= 1 }
            ackSeq = ack
        }
    }

    /// The payload size from sequence numbers (Zeek's `TCP_Endpoint::Size`).
    var size: Int64 {
        guard initialized else { return 0 }
        let last = UInt64(seqWraps) << 32 | UInt64(lastSeq)
        let ack = UInt64(ackWraps) << 32 | UInt64(ackSeq)
        let top = max(last, ack)
        let start = UInt64(startSeq)
        guard top > start else { return 0 }
        var size = top - start
        if size > 0 { size -= 1 }                      // the SYN's octet
        if finCount > 0 && size > 0 { size -= 1 }      // the FIN's octet
        return Int64(truncatingIfNeeded: min(size, UInt64(Int64.max)))
    }

    /// Zeek's `get_relative_seq`.
    func relativeSeq(_ seq: UInt32) -> UInt64 {
        var wraps = seqWraps
        let delta = Int32(bitPattern: seq &- lastSeq)
        if delta < 0 {
            if wraps > 0 && seq > lastSeq { wraps -= 1 }
        } else if delta > 0 {
            if seq < lastSeq { wraps &+= 1 }
        }
        if wraps == 0 {
            return UInt64(bitPattern: Int64(Int32(bitPattern: seq &- startSeq)))
        }
        return (UInt64(wraps) << 32 | UInt64(seq)) &- UInt64(startSeq)
    }
}

let tooLargeSeqDelta: Int32 = 1_048_576

/// What a TCP packet did to the connection.
struct TCPUpdate {
    var flipped = false
    var reset = false
}

extension Flow {
    /// Zeek's `TCPSessionAdapter::DeliverPacket` for the parts conn.log depends on.
    mutating func tcpPacket(_ packet: Packet, isOrig: Bool, now: Int64, attemptTimeout: Int64) {
        // The endpoints are changed in place through pointers (copying both out and back cost a
        // tenth of the packet's TCP work).
        withUnsafeMutablePointer(to: &self) { f in
            let base = UnsafeMutableRawPointer(f)
            let o = (base + MemoryLayout<Flow>.offset(of: \Flow.orig)!).assumingMemoryBound(to: TCPEndpoint.self)
            let r = (base + MemoryLayout<Flow>.offset(of: \Flow.resp)!).assumingMemoryBound(to: TCPEndpoint.self)
            Flow.tcpPacket(f, packet, isOrig: isOrig, ep: isOrig ? o : r, peer: isOrig ? r : o, now: now, attemptTimeout: attemptTimeout)
        }
    }

    @inline(__always)
    private static func tcpPacket(_ f: UnsafeMutablePointer<Flow>, _ packet: Packet, isOrig: Bool,
                                  ep: UnsafeMutablePointer<TCPEndpoint>, peer: UnsafeMutablePointer<TCPEndpoint>,
                                  now: Int64, attemptTimeout: Int64) {
        let flags = packet.tcpFlags
        let syn = flags & TCPFlag.syn != 0, fin = flags & TCPFlag.fin != 0
        let rst = flags & TCPFlag.rst != 0, ack = flags & TCPFlag.ack != 0
        let len = packet.payloadLength
        let base = packet.tcpSequence
        let segmentLength = len + (syn ? 1 : 0) + (fin ? 1 : 0)
        let onePast = base &+ UInt32(truncatingIfNeeded: segmentLength)

        var flipped = false

        // init_endpoint
        switch ep.pointee.state {
        case .inactive:
            if syn { ep.pointee.initSequence(base, last: onePast) } else { ep.pointee.initSequence(base &- 1, last: base) }
            ep.pointee.initialized = true
        case .synSent, .synAckSent:
            if syn && base != ep.pointee.startSeq { ep.pointee.initSequence(base, last: onePast) }
        case .established, .partial:
            if syn { ep.pointee.initSequence(base, last: onePast) }
        case .reset:
            if syn && ep.pointee.previousState == .inactive { ep.pointee.initSequence(base, last: onePast) }
        case .closed:
            break
        }

        let rel = ep.pointee.relativeSeq(base)
        f.pointee.updateHistory(syn: syn, fin: fin, rst: rst, ack: ack, endpoint: &ep.pointee, isOrig: isOrig, rel: rel, len: len)

        if packet.tcpWindow == 0 && !syn && !fin && !rst && ep.pointee.state != .closed && ep.pointee.state != .reset {
            f.pointee.scaled(isOrig ? "W" : "w", count: &ep.pointee.zeroWindows, threshold: &ep.pointee.zeroWindowThreshold)
        }

        if !f.pointee.orig.didClose || !f.pointee.resp.didClose { f.pointee.lastTime = now }
        if fin { ep.pointee.finCount &+= 1 }

        // update_last_seq
        let deltaLast = Int32(bitPattern: onePast &- ep.pointee.lastSeq)
        if (syn || rst) && (deltaLast > tooLargeSeqDelta || deltaLast < -tooLargeSeqDelta) {
        } else if fin && ep.pointee.lastSeq == ep.pointee.startSeq &+ 1 {
            ep.pointee.updateLastSeq(onePast)
        } else if ep.pointee.state == .reset {
        } else if deltaLast > 0 {
            ep.pointee.updateLastSeq(onePast)
        } else if len > 0 {
            f.pointee.scaled(isOrig ? "T" : "t", count: &ep.pointee.retransmits, threshold: &ep.pointee.retransmitThreshold)
        }

        // State machine.
        var doClose = false
        switch ep.pointee.state {
        case .inactive:
            if syn {
                if isOrig {
                    ep.pointee.setState(ack ? .synAckSent : .synSent)
                    if attemptTimeout > 0 { f.pointee.attemptDeadline = now &+ attemptTimeout }
                } else {
                    if !ack && peer.pointee.state == .synAckSent {
                        flipped = true                         // SYN / SYN-ACK reversal
                        peer.pointee.setState(.established)
                    }
                    if peer.pointee.state == .synSent { peer.pointee.setState(.established) }
                    ep.pointee.setState(.established)
                }
            }
            if fin {
                ep.pointee.setState(.closed)
                doClose = true
            }
            if rst {
                ep.pointee.setState(.reset)
                doClose = true
                let reject = isOrig ? peer.pointee.state == .established
                                    : (peer.pointee.state == .synSent || peer.pointee.state == .synAckSent)
                if !reject && peer.pointee.state != .inactive { f.pointee.tcpActive = false }
            }
            if ep.pointee.state == .inactive {
                if !isOrig && len == 0 && peer.pointee.state == .synSent {
                    // An ACK of the SYN ahead of the SYN-ACK: not a partial connection.
                } else if ack && peer.pointee.state == .established {
                    ep.pointee.setState(.established)
                } else {
                    ep.pointee.setState(.partial)
                }
            }
        case .synSent, .synAckSent:
            if fin {
                ep.pointee.setState(.closed)
                doClose = true
            }
            if rst {
                ep.pointee.setState(.reset)
                f.pointee.tcpActive = false
                doClose = true
            }
        case .established, .partial:
            if syn && ep.pointee.state == .partial && peer.pointee.state == .inactive && !ack { ep.pointee.setState(.synSent) }
            if fin && !rst {
                ep.pointee.setState(.closed)
                doClose = true
            }
            if rst {
                ep.pointee.setState(.reset)
                doClose = true
                if peer.pointee.state != .reset || peer.pointee.previousState != .established { f.pointee.tcpActive = false }
            }
        case .closed:
            if rst && peer.pointee.state != .closed {
                ep.pointee.setState(.reset)
                f.pointee.tcpActive = false
                doClose = true
            }
        case .reset:
            break
        }

        if ack && peer.pointee.initialized { peer.pointee.acknowledge(packet.tcpAcknowledgement) }

        if doClose && !ep.pointee.didClose {
            ep.pointee.didClose = true
            if ep.pointee.state == .reset || peer.pointee.didClose || peer.pointee.state == .inactive { f.pointee.closeComplete = true }
        }

        // Changed in place; after a flip the sender is the originator: the endpoints trade places
        // (the flip swaps them back) along with the counts.
        if flipped {
            swap(&f.pointee.orig, &f.pointee.resp)
            f.pointee.flipRoles()
        }
    }

    /// Zeek's `update_history`.
    @inline(__always)
    mutating func updateHistory(syn: Bool, fin: Bool, rst: Bool, ack: Bool, endpoint ep: inout TCPEndpoint,
                                isOrig: Bool, rel: UInt64, len: Int) {
        let bits = (syn ? 1 : 0) + (fin ? 1 : 0) + (rst ? 1 : 0)
        if bits > 1 {
            if fin && rst { _ = checkHistory(HistoryBit.finRst, UInt8(ascii: "I"), isOrig) } else { _ = checkHistory(HistoryBit.multiFlag, UInt8(ascii: "Q"), isOrig) }
        } else if bits == 1 {
            if syn {
                let code: UInt8 = ack ? UInt8(ascii: "H") : UInt8(ascii: "S")
                if checkHistory(HistoryBit.syn, code, isOrig) && rel != ep.lastSYN { addHistory(code, isOrig) }
                ep.lastSYN = rel
            }
            if fin {
                let end = rel &+ UInt64(bitPattern: Int64(len))
                if checkHistory(HistoryBit.fin, UInt8(ascii: "F"), isOrig) && end != ep.lastFIN { addHistory(UInt8(ascii: "F"), isOrig) }
                ep.lastFIN = end
            }
            if rst {
                if checkHistory(HistoryBit.rst, UInt8(ascii: "R"), isOrig) && rel != ep.lastRST { addHistory(UInt8(ascii: "R"), isOrig) }
                ep.lastRST = rel
            }
        } else if len > 0 {
            _ = checkHistory(HistoryBit.data, UInt8(ascii: "D"), isOrig)
        } else if ack {
            _ = checkHistory(HistoryBit.ack, UInt8(ascii: "A"), isOrig)
        }
    }

    /// Adds `code` (lowercased for the responder) the first time `bit` is seen; returns whether it
    /// had been seen before (Zeek's `CheckHistory`).
    @inline(__always)
    mutating func checkHistory(_ bit: UInt32, _ code: UInt8, _ isOrig: Bool) -> Bool {
        let mask = isOrig ? bit : bit << 16
        if historySeen & mask == 0 {
            historySeen |= mask
            addHistory(code, isOrig)
            return false
        }
        return true
    }

    @inline(__always)
    mutating func addHistory(_ code: UInt8, _ isOrig: Bool) {
        history.append(isOrig ? code : code | 0x20)
    }

    /// Zeek's `ScaledHistoryEntry`: the letter at the 1st, 10th, 100th, … occurrence.
    mutating func scaled(_ code: Unicode.Scalar, count: inout UInt32, threshold: inout UInt32) {
        count &+= 1
        if count == threshold {
            history.append(UInt8(code.value))
            let next = threshold &* 10
            threshold = next > threshold ? next : UInt32.max
        }
    }

    /// Zeek's `conn_state` for a TCP connection.
    var tcpConnState: ConnState {
        let os = orig.state, rs = resp.state
        let oInactive = os == .inactive || os == .partial
        let rInactive = rs == .inactive || rs == .partial
        if rs == .reset {
            if os == .synSent || os == .synAckSent || (os == .reset && orig.size == 0 && resp.size == 0) { return .rej }
            return oInactive ? .rstrh : .rstr
        }
        if os == .reset {
            if rInactive { return history.matchesRSTOS0 ? .rstos0 : .oth }
            return .rsto
        }
        if rs == .closed && os == .closed { return .sf }
        if os == .closed { return rInactive ? .sh : .s2 }
        if rs == .closed { return oInactive ? .shr : .s3 }
        if os == .synSent && rs == .inactive { return .s0 }
        if os == .established && rs == .established { return .s1 }
        return .oth
    }

    /// Whether Zeek's attempt timer would remove this connection at `now`.
    @inline(__always)
    func attemptExpired(now: Int64) -> Bool {
        attemptDeadline != 0 && now >= attemptDeadline && tcpActive
            && (orig.state == .synSent || orig.state == .synAckSent) && resp.state == .inactive
    }

    /// Whether a closed connection is gone by `now` (Zeek's close/reset delay, no activity meanwhile).
    @inline(__always)
    func closeExpired(now: Int64, delay: Int64) -> Bool {
        guard closeComplete, now &- lastPacket >= delay else { return false }
        return (orig.didClose && resp.didClose) || orig.state == .reset || resp.state == .reset
            || orig.state == .inactive || resp.state == .inactive
    }

    /// Zeek's `TCPSessionAdapter::IsReuse`: a new SYN on a closed connection.
    @inline(__always)
    func isReuse(_ packet: Packet) -> Bool {
        let flags = packet.tcpFlags
        guard flags & TCPFlag.syn != 0 else { return false }
        var connOrig = orig
        if flags & TCPFlag.ack != 0 {
            guard orig.state == .inactive else { return false }
            connOrig = resp
        }
        guard orig.didClose || resp.didClose else { return false }
        let base = packet.tcpSequence
        if base == connOrig.startSeq { return false }
        if flags & TCPFlag.ack == 0 && connOrig.state == .synAckSent && resp.state == .inactive && base == resp.startSeq {
            return false
        }
        return true
    }
}
