import VigilCore

/// Writes ASCII text for an emitted `String` in two passes over the same code: the first pass
/// (no buffer) counts bytes, the second writes them into the `String`'s own storage, so building a
/// field allocates nothing but the `String`.
///
/// Bytes that are not printable ASCII are written as `\xHH` (lowercase hex), the way Zeek's logs
/// show them. Shared by the DNS, HTTP and SSH analyzers.
struct TextSink {
    /// Where to write; `nil` while counting.
    private let out: UnsafeMutablePointer<UInt8>?
    /// Room in `out`; writes past it are dropped (they cannot happen when both passes agree).
    private let capacity: Int
    /// Bytes written (or counted) so far.
    private(set) var count = 0

    init(out: UnsafeMutablePointer<UInt8>?, capacity: Int) {
        self.out = out
        self.capacity = capacity
    }

    @inline(__always)
    mutating func append(_ byte: UInt8) {
        if let out {
            guard count < capacity else { return }
            out[count] = byte
        }
        count += 1
    }

    /// Appends a byte from input, escaping it unless it is printable ASCII.
    @inline(__always)
    mutating func appendEscaped(_ byte: UInt8) {
        if byte >= 0x20 && byte < 0x7F {
            append(byte)
        } else {
            append(UInt8(ascii: "\\"))
            append(UInt8(ascii: "x"))
            append(TextSink.hexDigit(byte >> 4))
            append(TextSink.hexDigit(byte & 0xF))
        }
    }

    mutating func appendEscaped(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress else { return }
        let n = bytes.count
        var i = 0
        while i < n {
            // A run of printable ASCII, found 8 bytes at a time, is counted or copied at once.
            var j = i
            while j + 8 <= n {
                let w = base.loadUnaligned(fromByteOffset: j, as: UInt64.self)
                // A byte below 0x20, at or above 0x7F: (b - 0x20) borrows or b + 1 reaches 0x80.
                let low = (w &- 0x2020_2020_2020_2020) & ~w & 0x8080_8080_8080_8080
                let high = (w | (w &+ 0x0101_0101_0101_0101)) & 0x8080_8080_8080_8080
                if low | high != 0 { break }
                j += 8
            }
            while j < n {
                let b = base.load(fromByteOffset: j, as: UInt8.self)
                if b < 0x20 || b >= 0x7F { break }
                j += 1
            }
            if j > i {
                appendRun(UnsafeRawBufferPointer(start: base + i, count: j - i))
                i = j
            }
            if i < n {
                appendEscaped(base.load(fromByteOffset: i, as: UInt8.self))
                i += 1
            }
        }
    }

    /// Appends bytes as they are.
    @inline(__always)
    private mutating func appendRun(_ run: UnsafeRawBufferPointer) {
        if let out {
            let k = min(run.count, capacity - count)
            if k > 0 { copyBytes(out + count, run.baseAddress!, k) }
        }
        count += run.count
    }

    mutating func append(_ text: StaticString) {
        let p = text.utf8Start
        for i in 0..<text.utf8CodeUnitCount { append(p[i]) }
    }

    mutating func appendDecimal<T: BinaryInteger>(_ value: T) {
        var v = UInt64(truncatingIfNeeded: value)
        if value < 0 {
            append(UInt8(ascii: "-"))
            v = 0 &- v
        }
        var digits: (UInt64, Int) = (1, 1)
        while v / digits.0 >= 10 { digits.0 *= 10; digits.1 += 1 }
        var d = digits.0
        while d > 0 {
            append(UInt8(truncatingIfNeeded: 48 + (v / d) % 10))
            d /= 10
        }
    }

    @inline(__always)
    static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? 48 + nibble : 87 + nibble
    }

    /// Runs `body` once to count and once to write into a new `String`.
    static func makeString(_ body: (inout TextSink) -> Void) -> String {
        var counter = TextSink(out: nil, capacity: 0)
        body(&counter)
        let n = counter.count
        if n == 0 { return "" }
        return String(unsafeUninitializedCapacity: n) { buffer in
            guard let base = buffer.baseAddress else { return 0 }
            var writer = TextSink(out: base, capacity: n)
            body(&writer)
            return min(writer.count, n)
        }
    }

    /// The bytes as a `String`, non-printable ASCII escaped as `\xHH`.
    static func escapedString(_ bytes: UnsafeRawBufferPointer) -> String {
        makeString { $0.appendEscaped(bytes) }
    }
}
