/// Puts one direction of a TCP connection back in order for the protocol analyzers (HTTP, TLS,
/// SSH, DNS over TCP), which only need the first kilobytes of each message head.
///
/// - In-order payload is delivered straight from the packet, without copying.
/// - A segment that arrives early is copied and held until the bytes before it arrive; at most
///   `limit` bytes are held. When a hole is never filled (the held bytes exceed `limit`, or
///   ``skipGap()`` is called), delivery jumps over it and the gap is reported, so an analyzer
///   can resynchronize or give up.
/// - Bytes already delivered (retransmissions, overlaps) are not delivered again.
///
/// Sequence numbers compare in serial-number arithmetic (RFC 1982), so wraparound is handled.
/// A pure value: no I/O, no clock.
public struct TCPReassembler: Sendable {
    /// What happened to a segment.
    public enum Outcome: Sendable, Equatable {
        /// Delivered (possibly with held segments that became contiguous).
        case delivered
        /// Held until the bytes before it arrive.
        case held
        /// Nothing new: entirely before what was already delivered.
        case duplicate
        /// No sequence base yet and no payload to start from.
        case ignored
    }

    /// The most bytes held out of order.
    public let limit: Int
    /// The sequence number of the next byte to deliver; nil until known.
    public private(set) var next: UInt32?
    /// Bytes delivered so far.
    public private(set) var delivered: Int64 = 0
    /// Bytes skipped over holes.
    public private(set) var skipped: Int64 = 0
    /// Holes skipped.
    public private(set) var gaps = 0
    /// Whether a FIN was seen at the delivery point (nothing more will come).
    public private(set) var finished = false

    /// Held segments: start sequence number and bytes, in no particular order.
    private var held: [(seq: UInt32, bytes: [UInt8])] = []
    private var heldBytes = 0
    private var finSeq: UInt32?

    public init(limit: Int = 65_536) { self.limit = limit }

    /// Bytes currently held out of order.
    public var heldByteCount: Int { heldBytes }

    /// Feeds one segment: `seq` is its sequence number, `syn`/`fin` its flags, `payload` the bytes
    /// it carries. `deliver` receives contiguous new bytes in order (valid only during the call).
    @discardableResult
    public mutating func segment(seq: UInt32, syn: Bool, fin: Bool, payload: UnsafeRawBufferPointer,
                                 deliver: (UnsafeRawBufferPointer) -> Void) -> Outcome {
        var start = seq
        if syn {
            // The SYN takes one sequence number; data (rare) follows it.
            start = seq &+ 1
            if next == nil { next = start }
        }
        if fin { finSeq = start &+ UInt32(truncatingIfNeeded: payload.count) }
        guard let expected = next else {
            guard !payload.isEmpty else { return .ignored }
            // Picked up mid-stream: start at the first byte seen.
            next = start
            return segment(seq: start, syn: false, fin: false, payload: payload, deliver: deliver)
        }
        if payload.isEmpty {
            checkFin()
            return .duplicate
        }
        let end = start &+ UInt32(truncatingIfNeeded: payload.count)
        if !Self.before(expected, end) {
            checkFin()
            return .duplicate  // every byte is already delivered
        }
        if Self.before(expected, start) {
            hold(start, payload)
            if heldBytes > limit { skipGap(deliver: deliver) }
            return .held
        }
        // Overlaps what was delivered: deliver only the new part.
        let skip = Int(expected &- start)
        let fresh = UnsafeRawBufferPointer(rebasing: payload[skip...])
        deliver(fresh)
        delivered += Int64(fresh.count)
        next = end
        drainHeld(deliver: deliver)
        checkFin()
        return .delivered
    }

    /// The common cases without a delivery callback: a segment without SYN whose payload is
    /// empty, or continues the stream in order while nothing is held. Returns the new bytes to
    /// deliver (empty when none), with the same effect on the state as ``segment(seq:syn:fin:payload:deliver:)``
    /// once the caller has delivered them; nil (nothing changed) when the segment needs the general
    /// path: a SYN, no sequence base yet, a segment that arrives early or repeats old bytes, or held
    /// segments that may follow it.
    @inline(__always)
    public mutating func segmentInOrder(seq: UInt32, fin: Bool, payload: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        if payload.isEmpty {
            // As the general path: the FIN's place is noted; without a base the segment is ignored.
            if fin { finSeq = seq }
            if next != nil { checkFin() }
            return payload
        }
        guard held.isEmpty, let expected = next, !Self.before(expected, seq) else { return nil }
        let end = seq &+ UInt32(truncatingIfNeeded: payload.count)
        guard Self.before(expected, end) else { return nil }
        if fin { finSeq = end }
        let fresh = UnsafeRawBufferPointer(rebasing: payload[Int(expected &- seq)...])
        delivered += Int64(fresh.count)
        next = end
        checkFin()
        return fresh
    }

    /// Jumps over the first hole: delivers the earliest held segment and what follows it.
    public mutating func skipGap(deliver: (UnsafeRawBufferPointer) -> Void) {
        guard let expected = next, let earliest = held.indices.min(by: { Self.before(held[$0].seq, held[$1].seq) }) else { return }
        let gap = held[earliest].seq &- expected
        skipped += Int64(gap)
        gaps += 1
        next = held[earliest].seq
        drainHeld(deliver: deliver)
    }

    private mutating func hold(_ seq: UInt32, _ payload: UnsafeRawBufferPointer) {
        // A segment held twice (retransmitted while early) keeps its first copy.
        if held.contains(where: { $0.seq == seq && $0.bytes.count >= payload.count }) { return }
        held.append((seq, Array(payload)))
        heldBytes += payload.count
    }

    private mutating func drainHeld(deliver: (UnsafeRawBufferPointer) -> Void) {
        var progress = true
        while progress, !held.isEmpty, let expected = next {
            progress = false
            var k = 0
            while k < held.count {
                let (seq, bytes) = held[k]
                let end = seq &+ UInt32(truncatingIfNeeded: bytes.count)
                if !Self.before(expected, end) {
                    // Entirely delivered already.
                    heldBytes -= bytes.count
                    held.remove(at: k)
                    progress = true
                    continue
                }
                if !Self.before(expected, seq) {
                    let skip = Int(expected &- seq)
                    bytes.withUnsafeBytes { b in
                        let fresh = UnsafeRawBufferPointer(rebasing: b[skip...])
                        deliver(fresh)
                        delivered += Int64(fresh.count)
                    }
                    next = end
                    heldBytes -= bytes.count
                    held.remove(at: k)
                    progress = true
                    break
                }
                k += 1
            }
        }
    }

    private mutating func checkFin() {
        if let finSeq, let next, !Self.before(next, finSeq) { finished = true }
    }

    /// Whether `a` comes before `b` in serial-number arithmetic.
    @inline(__always)
    static func before(_ a: UInt32, _ b: UInt32) -> Bool { Int32(bitPattern: a &- b) < 0 }
}
