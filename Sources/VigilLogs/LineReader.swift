#if canImport(Glibc)
import Glibc
#endif

/// Reads newline-terminated lines from a file descriptor into a reusable buffer and lends each
/// line (without its `\n` or `\r\n`) to a callback: no allocation per line.
///
/// A line longer than `maximumLineBytes` is delivered truncated with `truncated` set, and the
/// rest of it is skipped. A final line without a newline is delivered at end of input.
public struct LineReader: ~Copyable {
    public let fd: Int32
    public let maximumLineBytes: Int
    private var buffer: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0
    private var skippingLongLine = false
    /// Bytes consumed so far (the position after the last delivered line).
    public private(set) var position: Int64 = 0

    public init(fd: Int32, maximumLineBytes: Int = 1 << 20) {
        self.fd = fd
        self.maximumLineBytes = maximumLineBytes
        buffer = .allocate(byteCount: maximumLineBytes + 1, alignment: 16)
    }

    deinit { buffer.deallocate() }

    public enum ReadResult { case lines(Int), endOfInput }

    /// Reads what is available and delivers every complete line. At end of input a final
    /// unterminated line is delivered only when `flushPartial` is set (not when following a file
    /// that may still grow).
    public mutating func readLines(flushPartial: Bool,
                                   _ body: (UnsafeRawBufferPointer, _ truncated: Bool) throws -> Void) throws -> ReadResult {
        if start > 0 {
            if end > start { buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + start, byteCount: end - start) }
            end -= start
            start = 0
        }
        var n: Int
        repeat { n = read(fd, buffer.baseAddress! + end, buffer.count - end) } while n < 0 && errno == EINTR
        if n < 0 { throw LineReaderError(errno: errno) }
        if n == 0 {
            if flushPartial && end > start {
                let line = UnsafeRawBufferPointer(rebasing: buffer[start..<end])
                position += Int64(end - start)
                start = end
                if !skippingLongLine { try body(trimCR(line), false) }
                skippingLongLine = false
                return .lines(1)
            }
            return .endOfInput
        }
        end += n
        var delivered = 0
        while let nl = memchr(buffer.baseAddress! + start, 0x0A, end - start) {
            let lineEnd = buffer.baseAddress!.distance(to: nl)
            let line = UnsafeRawBufferPointer(rebasing: buffer[start..<lineEnd])
            position += Int64(lineEnd + 1 - start)
            start = lineEnd + 1
            if skippingLongLine {
                skippingLongLine = false
            } else {
                try body(trimCR(line), false)
                delivered += 1
            }
        }
        if end - start >= maximumLineBytes {
            // No newline within the limit: deliver the head, skip the rest of the line.
            if !skippingLongLine {
                try body(UnsafeRawBufferPointer(rebasing: buffer[start..<start + maximumLineBytes]), true)
                delivered += 1
            }
            position += Int64(end - start)
            skippingLongLine = true
            start = end
        }
        return .lines(delivered)
    }

    private func trimCR(_ line: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        if let last = line.last, last == 0x0D { return UnsafeRawBufferPointer(rebasing: line.dropLast()) }
        return line
    }
}

public struct LineReaderError: Error, CustomStringConvertible {
    public var errno: Int32
    public var description: String { "cannot read input: \(String(cString: strerror(errno)))" }
}
