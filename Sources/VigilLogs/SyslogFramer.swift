import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// What `SyslogFramer` found at the front of the bytes it was given. Ranges and counts are
/// offsets into those bytes.
package enum SyslogFramingStep: Equatable, Sendable {
    /// No complete frame yet: drop `discard` bytes from the front (separators, or parts of an
    /// oversize frame being thrown away) and call again when more bytes arrive.
    case needMore(discard: Int)
    /// A message (framing removed); `consumed` bytes are used up.
    case message(Range<Int>, consumed: Int)
    /// A message longer than the limit. `prefix` is its first `maxMessageBytes` bytes (for the
    /// error path); `length` is its full length when known. The rest of the frame is skipped:
    /// the stream resynchronizes on the next frame.
    case oversize(prefix: Range<Int>, consumed: Int, length: Int?)
    /// The stream cannot be framed any more (a bad octet count, or the end of input inside an
    /// octet-counted frame): the connection must be closed. `evidence` holds the offending bytes
    /// (at most `maxMessageBytes`); the framer discards everything after this.
    case invalid(reason: String, evidence: Range<Int>)
}

/// Cuts a syslog byte stream into messages: newline-terminated or RFC 6587 octet-counted
/// (`MSG-LEN SP MSG`), or either per frame (`auto`).
///
/// A pure state machine: it does no I/O and keeps no bytes. The caller holds the unconsumed
/// bytes, passes them all to `next(_:)` on every call, and drops what each step consumed or
/// discarded. Lines are scanned once however finely the input is split.
///
/// - Newline frames end at LF; one CR before it is removed; empty lines are skipped. A line
///   longer than `maxMessageBytes` is reported as oversize and skipped up to its LF.
/// - Octet-counted frames: `MSG-LEN` is 1–10 digits without a leading zero, then one space. A
///   single LF (or CRLF) ending the message is removed, and LFs or CRs between frames are
///   skipped. A count above `maxMessageBytes` is oversize (its bytes are skipped); a malformed
///   count is `invalid`.
/// - `auto`: digits followed by a space start an octet-counted frame; anything else is a line.
package struct SyslogFramer: Sendable {
    package let framing: SyslogFraming
    package let maxMessageBytes: Int

    private enum State: Sendable {
        /// Between frames.
        case frameStart
        /// Inside a newline frame starting at offset 0, the first `scanned` bytes known to hold no LF.
        case line(scanned: Int)
        /// Inside an octet-counted frame at offset 0: a `header`-byte count of `length`.
        case octet(header: Int, length: Int)
        /// Throwing away the rest of an oversize line, up to and including its LF.
        case discardingLine
        /// Throwing away the `remaining` bytes of an oversize octet-counted frame.
        case skipping(remaining: Int)
        /// After `invalid`: everything is discarded.
        case failed
    }

    private var state = State.frameStart

    package init(framing: SyslogFraming, maxMessageBytes: Int) {
        precondition(maxMessageBytes >= 1)
        self.framing = framing
        self.maxMessageBytes = maxMessageBytes
    }

    /// True after an `invalid` step: the stream is unusable.
    package var hasFailed: Bool { if case .failed = state { true } else { false } }

    private static let lf: UInt8 = 0x0A, cr: UInt8 = 0x0D, space: UInt8 = 0x20
    private static let maxCountDigits = 10

    /// The next step for `bytes`, the unconsumed input (starting where the previous step left off).
    package mutating func next(_ bytes: UnsafeRawBufferPointer) -> SyslogFramingStep {
        var p = 0
        while true {
            switch state {
            case .failed:
                return .needMore(discard: bytes.count)

            case .skipping(let remaining):
                let available = bytes.count - p
                if available < remaining {
                    state = .skipping(remaining: remaining - available)
                    return .needMore(discard: bytes.count)
                }
                p += remaining
                state = .frameStart

            case .discardingLine:
                guard let lf = Self.firstLF(bytes, from: p, to: bytes.count) else { return .needMore(discard: bytes.count) }
                p = lf + 1
                state = .frameStart

            case .frameStart:
                guard p < bytes.count else { return .needMore(discard: p) }
                let c = bytes[p]
                if c == Self.lf || (c == Self.cr && framing == .octetCounted) {
                    p += 1
                    continue
                }
                switch framing {
                case .newline:
                    state = .line(scanned: 0)
                case .octetCounted, .auto:
                    switch Self.readCount(bytes, at: p, strict: framing == .octetCounted) {
                    case .needMore:
                        return .needMore(discard: p)
                    case .line:
                        state = .line(scanned: 0)
                    case .count(let header, let length):
                        state = .octet(header: header, length: length)
                    case .invalid(let reason, let end):
                        state = .failed
                        return .invalid(reason: reason, evidence: p..<min(end, p + maxMessageBytes))
                    }
                }

            case .line(let scanned):
                // The frame starts at p. A message of maxMessageBytes may be followed by its LF.
                let limit = min(bytes.count, p + maxMessageBytes + 1)
                if let lf = Self.firstLF(bytes, from: p + scanned, to: limit) {
                    state = .frameStart
                    var end = lf
                    if end > p && bytes[end - 1] == Self.cr { end -= 1 }
                    if end == p { p = lf + 1; continue }  // an empty line
                    return .message(p..<end, consumed: lf + 1)
                }
                if bytes.count - p > maxMessageBytes {
                    let prefix = p..<(p + maxMessageBytes)
                    if let lf = Self.firstLF(bytes, from: limit, to: bytes.count) {
                        state = .frameStart
                        return .oversize(prefix: prefix, consumed: lf + 1, length: lf - p)
                    }
                    state = .discardingLine
                    return .oversize(prefix: prefix, consumed: bytes.count, length: nil)
                }
                state = .line(scanned: bytes.count - p)
                return .needMore(discard: p)

            case .octet(let header, let length):
                let available = bytes.count - p - header
                if length > maxMessageBytes {
                    guard available >= maxMessageBytes else { return .needMore(discard: p) }
                    let start = p + header
                    state = .skipping(remaining: length - maxMessageBytes)
                    return .oversize(prefix: start..<(start + maxMessageBytes), consumed: start + maxMessageBytes, length: length)
                }
                guard available >= length else { return .needMore(discard: p) }
                state = .frameStart
                let start = p + header
                var end = start + length
                if end > start && bytes[end - 1] == Self.lf {
                    end -= 1
                    if end > start && bytes[end - 1] == Self.cr { end -= 1 }
                }
                if end == start { p = start + length; continue }  // nothing but a newline
                return .message(start..<end, consumed: start + length)
            }
        }
    }

    /// The last step at the end of input, called once `next` returned `needMore` and its discard
    /// was dropped: an unterminated last line is a message; a partial octet-counted frame is
    /// invalid; anything else yields `needMore` (nothing).
    package mutating func finish(_ bytes: UnsafeRawBufferPointer) -> SyslogFramingStep {
        defer { state = .failed }
        var unterminatedLine = false
        switch state {
        case .line: unterminatedLine = true
        case .frameStart: unterminatedLine = !bytes.isEmpty && framing != .octetCounted
        default: break
        }
        switch state {
        case _ where unterminatedLine:
            var end = bytes.count
            if end > 0 && bytes[end - 1] == Self.cr { end -= 1 }
            // After `next` returned needMore, a line here is at most maxMessageBytes long.
            return end == 0 ? .needMore(discard: bytes.count) : .message(0..<end, consumed: bytes.count)
        case .octet(let header, let length):
            return .invalid(reason: "connection closed inside an octet-counted frame (\(bytes.count - header) of \(length) bytes)",
                            evidence: 0..<min(bytes.count, maxMessageBytes))
        case .frameStart where !bytes.isEmpty:
            return .invalid(reason: "connection closed inside an octet count", evidence: 0..<min(bytes.count, maxMessageBytes))
        case .line, .frameStart, .discardingLine, .skipping, .failed:
            return .needMore(discard: bytes.count)
        }
    }

    private enum CountResult {
        case needMore
        /// Not an octet count (auto framing only): the frame is a line.
        case line
        case count(header: Int, length: Int)
        case invalid(String, end: Int)
    }

    /// Reads `MSG-LEN SP` at `p`. With `strict` (octet_counted framing) anything else is invalid;
    /// otherwise a frame that does not start with digits and a space is a line.
    private static func readCount(_ bytes: UnsafeRawBufferPointer, at p: Int, strict: Bool) -> CountResult {
        var i = p
        var value = 0
        while i < bytes.count, bytes[i] &- 0x30 < 10 {
            if i - p == maxCountDigits {
                // Eleven digits: not a count a sender would write.
                return strict ? .invalid("octet count longer than \(maxCountDigits) digits", end: i + 1) : .line
            }
            value = value * 10 + Int(bytes[i] &- 0x30)
            i += 1
        }
        guard i < bytes.count else { return .needMore }
        let digits = i - p
        guard bytes[i] == space, digits > 0 else {
            if !strict { return .line }
            return .invalid(digits == 0 ? "expected an octet count (RFC 6587 octet-counted framing)"
                                        : "octet count not followed by a space", end: i + 1)
        }
        if bytes[p] == 0x30 {
            return .invalid(value == 0 ? "octet count of zero" : "octet count with a leading zero", end: i + 1)
        }
        return .count(header: digits + 1, length: value)
    }

    private static func firstLF(_ bytes: UnsafeRawBufferPointer, from: Int, to: Int) -> Int? {
        guard from < to, let base = bytes.baseAddress else { return nil }
        guard let found = memchr(base + from, Int32(lf), to - from) else { return nil }
        return base.distance(to: UnsafeRawPointer(found))
    }
}

/// What the stream decoder reports besides messages, as a user inbound event (messages travel
/// as plain `ByteBuffer`s, which NIO passes along without boxing).
package enum SyslogFramingEvent: Sendable {
    /// The first `maxMessageBytes` bytes of a message that was too long, and its length if known.
    case oversize(ByteBuffer, length: Int?)
    /// The stream cannot be framed: close the connection.
    case invalid(reason: String, ByteBuffer)
}

/// The NIO side of `SyslogFramer`: messages out of the connection's bytes, as zero-copy slices
/// (`channelRead`); oversize and unframeable input as `SyslogFramingEvent`s, in stream order.
package struct SyslogFrameDecoder: ByteToMessageDecoder {
    package typealias InboundOut = ByteBuffer
    private var framer: SyslogFramer

    package init(framing: SyslogFraming, maxMessageBytes: Int) {
        framer = SyslogFramer(framing: framing, maxMessageBytes: maxMessageBytes)
    }

    package mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) -> DecodingState {
        let step = buffer.withUnsafeReadableBytes { framer.next($0) }
        return Self.emit(step, context: context, buffer: &buffer)
    }

    package mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) -> DecodingState {
        if decode(context: context, buffer: &buffer) == .continue { return .continue }
        let step = buffer.withUnsafeReadableBytes { framer.finish($0) }
        _ = Self.emit(step, context: context, buffer: &buffer)
        return .needMoreData
    }

    private static func emit(_ step: SyslogFramingStep, context: ChannelHandlerContext, buffer: inout ByteBuffer) -> DecodingState {
        func slice(_ range: Range<Int>) -> ByteBuffer {
            buffer.getSlice(at: buffer.readerIndex + range.lowerBound, length: range.count) ?? ByteBuffer()
        }
        switch step {
        case .needMore(let discard):
            buffer.moveReaderIndex(forwardBy: discard)
            return .needMoreData
        case .message(let range, let consumed):
            let message = slice(range)
            buffer.moveReaderIndex(forwardBy: consumed)
            context.fireChannelRead(wrapInboundOut(message))
            return .continue
        case .oversize(let prefix, let consumed, let length):
            let bytes = slice(prefix)
            buffer.moveReaderIndex(forwardBy: consumed)
            context.fireUserInboundEventTriggered(SyslogFramingEvent.oversize(bytes, length: length))
            return .continue
        case .invalid(let reason, let evidence):
            let bytes = slice(evidence)
            buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
            context.fireUserInboundEventTriggered(SyslogFramingEvent.invalid(reason: reason, bytes))
            return .needMoreData
        }
    }
}
