/// UTF-8 well-formedness checks over raw bytes (Unicode 15, table 3-7), without building strings.
package enum UTF8Validation {
    /// The length (1–4) of the well-formed sequence starting at `i`, or 0 if there is none.
    /// - Precondition: `i < p.count`.
    @inline(__always)
    package static func sequenceLength(_ p: UnsafeRawBufferPointer, at i: Int) -> Int {
        let b0 = p[i]
        if b0 < 0x80 { return 1 }
        let available = p.count - i
        @inline(__always) func cont(_ k: Int) -> Bool { p[i + k] & 0xC0 == 0x80 }
        switch b0 {
        case 0xC2...0xDF:
            return available >= 2 && cont(1) ? 2 : 0
        case 0xE0...0xEF:
            guard available >= 3 else { return 0 }
            let b1 = p[i + 1]
            let lowOK: Bool = switch b0 {
            case 0xE0: b1 >= 0xA0 && b1 <= 0xBF          // no overlongs
            case 0xED: b1 >= 0x80 && b1 <= 0x9F          // no surrogates
            default: b1 & 0xC0 == 0x80
            }
            return lowOK && cont(2) ? 3 : 0
        case 0xF0...0xF4:
            guard available >= 4 else { return 0 }
            let b1 = p[i + 1]
            let lowOK: Bool = switch b0 {
            case 0xF0: b1 >= 0x90 && b1 <= 0xBF          // no overlongs
            case 0xF4: b1 >= 0x80 && b1 <= 0x8F          // nothing above U+10FFFF
            default: b1 & 0xC0 == 0x80
            }
            return lowOK && cont(2) && cont(3) ? 4 : 0
        default:
            return 0
        }
    }

    /// Whether all of `p` is well-formed UTF-8.
    /// - Complexity: O(n)
    package static func isValid(_ p: UnsafeRawBufferPointer) -> Bool {
        var i = 0
        let n = p.count
        let high: UInt64 = 0x8080_8080_8080_8080
        @inline(__always) func word(_ at: Int) -> UInt64 { p.loadUnaligned(fromByteOffset: at, as: UInt64.self) }
        while i < n {
            // ASCII fast path: 32 bytes, then eight, at a time; a short ASCII tail in one
            // (overlapping) word.
            while n - i >= 32 && (word(i) | word(i + 8) | word(i + 16) | word(i + 24)) & high == 0 { i += 32 }
            while n - i >= 8 && word(i) & high == 0 { i += 8 }
            if i >= n { break }
            if n - i < 8 && n >= 8 && word(n - 8) & high == 0 { break }
            if p[i] < 0x80 { i += 1; continue }
            let length = sequenceLength(p, at: i)
            if length == 0 { return false }
            i += length
        }
        return true
    }
}
