import CLZ4
import Foundation

/// How a block's text blob is stored (docs/alerts.md, "Block layout"): in parts of
/// ``partSize`` alerts, each compressed with LZ4 and described by a Bloom filter of its tokens,
/// so that a full-text query reads and decompresses only the parts that may hold its token.
///
/// ```
/// header    = marker:u8(=0xA5) version:u8(=1) partSize:u16 parts:u16 bloomWords:u16
/// directory = per part: storedStart:u32 storedSize:u32 plainSize:u32 flags:u8 0:u8[3]
///             (flags: 1 = an item has bytes above 0x7F, 2 = stored as an LZ4 block)
/// blooms    = per part: bloomWords × u64 (3 bits per token hash)
/// stored    = per part: its plain bytes (items, then end:u32[its alerts] from the part's
///             start), as an LZ4 block when that is smaller
/// ```
/// Blobs written before it hold the plain items of the whole block, then their ends: their
/// first byte is an item's flag byte (0 or 1), never the marker.
enum BlockTextCodec {
    static let marker: UInt8 = 0xA5
    static let version: UInt8 = 1
    /// Alerts per part: 256 alerts' text (~40 KB) compresses to about a page.
    static let partSize = 256
    /// 8,192 bits per part: about 3 % false positives at 800 distinct tokens.
    static let bloomWords = 128
    static let headerSize = 8
    static let entrySize = 16

    struct Part {
        var storedStart: Int
        var storedSize: Int
        var plainSize: Int
        var flags: UInt8
        var hasHighBytes: Bool { flags & 1 != 0 }
        var compressed: Bool { flags & 2 != 0 }
    }

    /// A parted blob's header and directory.
    struct Layout {
        var partSize: Int
        var bloomWords: Int
        var parts: [Part]
        /// Where the blooms start.
        var bloomsAt: Int { BlockTextCodec.headerSize + BlockTextCodec.entrySize * parts.count }
        /// Bytes from the blob's start through the last bloom.
        var prefixSize: Int { bloomsAt + 8 * bloomWords * parts.count }
    }

    /// Whether the blob (or its first bytes) is in parts.
    static func isParted(_ head: UnsafeRawBufferPointer) -> Bool { head.count >= 1 && head[0] == marker }

    /// The bytes of the header and directory of a blob of `parts` parts.
    static func directorySize(parts: Int) -> Int { headerSize + entrySize * parts }

    /// Reads the header (`prefix` holds at least its first ``headerSize`` bytes): the part
    /// count, or an error when the blob cannot be a block's text of `alerts` alerts.
    static func partCount(_ prefix: UnsafeRawBufferPointer, alerts: Int) throws(AlertIndexError) -> (parts: Int, partSize: Int, bloomWords: Int) {
        guard prefix.count >= headerSize, prefix[0] == marker else { throw AlertIndexError(.database, "unreadable block text (no header)") }
        guard prefix[1] == version else { throw AlertIndexError(.database, "unreadable block text (version \(prefix[1]))") }
        let partSize = Int(UInt16(littleEndian: prefix.loadUnaligned(fromByteOffset: 2, as: UInt16.self)))
        let parts = Int(UInt16(littleEndian: prefix.loadUnaligned(fromByteOffset: 4, as: UInt16.self)))
        let bloomWords = Int(UInt16(littleEndian: prefix.loadUnaligned(fromByteOffset: 6, as: UInt16.self)))
        guard partSize > 0, parts == (alerts + partSize - 1) / partSize else {
            throw AlertIndexError(.database, "unreadable block text (\(parts) parts of \(partSize) for \(alerts) alerts)")
        }
        return (parts, partSize, bloomWords)
    }

    /// The header and directory, checked against the blob's `size` (`prefix` holds at least
    /// ``directorySize(parts:)`` bytes).
    static func layout(_ prefix: UnsafeRawBufferPointer, alerts: Int, size: Int) throws(AlertIndexError) -> Layout {
        let (count, partSize, bloomWords) = try partCount(prefix, alerts: alerts)
        guard prefix.count >= directorySize(parts: count) else { throw AlertIndexError(.database, "unreadable block text (a short directory)") }
        var parts: [Part] = []
        parts.reserveCapacity(count)
        let storedFrom = directorySize(parts: count) + 8 * bloomWords * count
        for i in 0..<count {
            let o = headerSize + entrySize * i
            let p = Part(storedStart: Int(UInt32(littleEndian: prefix.loadUnaligned(fromByteOffset: o, as: UInt32.self))),
                         storedSize: Int(UInt32(littleEndian: prefix.loadUnaligned(fromByteOffset: o + 4, as: UInt32.self))),
                         plainSize: Int(UInt32(littleEndian: prefix.loadUnaligned(fromByteOffset: o + 8, as: UInt32.self))),
                         flags: prefix[o + 12])
            let alertsInPart = min(partSize, alerts - i * partSize)
            guard p.storedStart >= storedFrom, p.storedSize <= size - p.storedStart, p.plainSize >= 4 * alertsInPart,
                  p.plainSize <= BodyCodec.maximumPart, p.compressed || p.plainSize == p.storedSize else {
                throw AlertIndexError(.database, "unreadable block text (part \(i) outside the blob)")
            }
            parts.append(p)
        }
        return Layout(partSize: partSize, bloomWords: bloomWords, parts: parts)
    }

    // MARK: Bloom filters

    @inline(__always) static func bloomBits(_ h: UInt32, bits: Int) -> (Int, Int, Int) {
        let mask = bits - 1
        return (Int(h) & mask, Int(h >> 13) & mask, Int((h &* 0x9E37_79B1) >> 19) & mask)
    }

    @inline(__always) static func bloomAdd(_ h: UInt32, into words: UnsafeMutablePointer<UInt64>, bits: Int) {
        let (a, b, c) = bloomBits(h, bits: bits)
        words[a >> 6] |= 1 << UInt64(a & 63)
        words[b >> 6] |= 1 << UInt64(b & 63)
        words[c >> 6] |= 1 << UInt64(c & 63)
    }

    /// Whether the bloom (of `bits` bits, a power of two) may hold a token of hash `h`.
    static func bloomMayContain(_ bloom: UnsafeRawBufferPointer, _ h: UInt32) -> Bool {
        let bits = bloom.count * 8
        guard bits >= 64, bits & (bits - 1) == 0 else { return true }
        let (a, b, c) = bloomBits(h, bits: bits)
        @inline(__always) func bit(_ i: Int) -> Bool {
            UInt64(littleEndian: bloom.loadUnaligned(fromByteOffset: 8 * (i >> 6), as: UInt64.self)) & (1 << UInt64(i & 63)) != 0
        }
        return bit(a) && bit(b) && bit(c)
    }

    /// The hash ``TokenSet`` gives a token's lower-cased bytes (FNV-1a).
    static func tokenHash(_ token: [UInt8]) -> UInt32 {
        var h: UInt32 = 2_166_136_261
        for c in token { h = (h ^ UInt32(c)) &* 16_777_619 }
        return h
    }

    // MARK: Writing

    /// Appends the parted blob of `count` items laid out in `text` (item i ends at `ends[i]`) to
    /// `out`; `blooms` holds ``bloomWords`` words per part, `high` per part whether an item has
    /// bytes above 0x7F.
    static func encode(text: UnsafeRawBufferPointer, ends: [UInt32], count: Int, blooms: UnsafeBufferPointer<UInt64>, high: [Bool],
                       scratch: inout [UInt8], into out: inout [UInt8]) {
        let parts = (count + partSize - 1) / partSize
        out.removeAll(keepingCapacity: true)
        out.append(marker)
        out.append(version)
        out.appendInteger(UInt16(partSize).littleEndian)
        out.appendInteger(UInt16(parts).littleEndian)
        out.appendInteger(UInt16(bloomWords).littleEndian)
        let directoryAt = out.count
        out.append(contentsOf: repeatElement(0, count: entrySize * parts))
        out.append(contentsOf: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: blooms[0..<(parts * bloomWords)])))
        for p in 0..<parts {
            let first = p * partSize, last = min(count, first + partSize)
            let start = first == 0 ? 0 : Int(ends[first - 1])
            let end = Int(ends[last - 1])
            // The part's plain bytes: its items, then their ends from the part's start.
            let plainSize = end - start + 4 * (last - first)
            if scratch.count < plainSize { scratch = [UInt8](repeating: 0, count: plainSize) }
            scratch.withUnsafeMutableBytes { s in
                s.baseAddress!.copyMemory(from: text.baseAddress! + start, byteCount: end - start)
                for i in first..<last {
                    s.storeBytes(of: (ends[i] - UInt32(start)).littleEndian, toByteOffset: end - start + 4 * (i - first), as: UInt32.self)
                }
            }
            let storedStart = out.count
            let bound = Int(LZ4_compressBound(Int32(plainSize)))
            out.append(contentsOf: repeatElement(0, count: bound))
            let n = scratch.withUnsafeBytes { s in
                out.withUnsafeMutableBytes { o in
                    LZ4_compress_fast(s.baseAddress!.assumingMemoryBound(to: CChar.self),
                                      (o.baseAddress! + storedStart).assumingMemoryBound(to: CChar.self),
                                      Int32(plainSize), Int32(bound), 2)
                }
            }
            var flags: UInt8 = high[p] ? 1 : 0
            let storedSize: Int
            if n > 0 && Int(n) < plainSize {
                flags |= 2
                storedSize = Int(n)
            } else {
                scratch.withUnsafeBytes { s in
                    out.withUnsafeMutableBytes { o in (o.baseAddress! + storedStart).copyMemory(from: s.baseAddress!, byteCount: plainSize) }
                }
                storedSize = plainSize
            }
            out.removeSubrange((storedStart + storedSize)...)
            out.withUnsafeMutableBytes { o in
                let e = directoryAt + entrySize * p
                o.storeBytes(of: UInt32(storedStart).littleEndian, toByteOffset: e, as: UInt32.self)
                o.storeBytes(of: UInt32(storedSize).littleEndian, toByteOffset: e + 4, as: UInt32.self)
                o.storeBytes(of: UInt32(plainSize).littleEndian, toByteOffset: e + 8, as: UInt32.self)
                o[e + 12] = flags
            }
        }
    }

    // MARK: Reading

    /// Puts part `part`'s plain bytes (items, then ends) at the start of `buffer`, which only
    /// grows; `stored` is the part as stored. Returns the plain size.
    static func plain(_ stored: UnsafeRawBufferPointer, part: Part, alerts: Int, into buffer: inout [UInt8]) throws(AlertIndexError) -> Int {
        BodyCodec.reserve(&buffer, part.plainSize)
        let result: Result<Int, AlertIndexError> = buffer.withUnsafeMutableBytes { b in
            do throws(AlertIndexError) { return .success(try plain(stored, part: part, alerts: alerts, into: b)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// Puts part `part`'s plain bytes at the start of `out` (at least its plain size).
    static func plain(_ stored: UnsafeRawBufferPointer, part: Part, alerts: Int, into out: UnsafeMutableRawBufferPointer) throws(AlertIndexError) -> Int {
        precondition(out.count >= part.plainSize)
        if part.compressed {
            let n = LZ4_decompress_safe(stored.baseAddress!.assumingMemoryBound(to: CChar.self), out.baseAddress!.assumingMemoryBound(to: CChar.self),
                                        Int32(stored.count), Int32(part.plainSize))
            guard Int(n) == part.plainSize else { throw AlertIndexError(.database, "unreadable block text (a damaged LZ4 block)") }
        } else {
            guard stored.count == part.plainSize else { throw AlertIndexError(.database, "unreadable block text (a short part)") }
            out.baseAddress!.copyMemory(from: stored.baseAddress!, byteCount: stored.count)
        }
        // Ends that rise and stay inside the items: FramedBlob reads them as they are.
        let itemsEnd = part.plainSize - 4 * alerts
        var last = 0
        for i in 0..<alerts {
            let e = Int(UInt32(littleEndian: out.loadUnaligned(fromByteOffset: itemsEnd + 4 * i, as: UInt32.self)))
            guard e >= last, e <= itemsEnd else { throw AlertIndexError(.database, "unreadable block text (ends outside a part)") }
            last = e
        }
        guard alerts == 0 || last == itemsEnd else { throw AlertIndexError(.database, "unreadable block text (ends outside a part)") }
        return part.plainSize
    }

    static func whole(_ blob: Data, alerts: Int) throws(AlertIndexError) -> [UInt8] {
        let result: Result<[UInt8], AlertIndexError> = blob.withUnsafeBytes { p in
            do throws(AlertIndexError) { return .success(try whole(p, alerts: alerts)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// The whole block's text in the plain layout (items, then their ends), from a blob in
    /// either layout of `alerts` alerts.
    static func whole(_ blob: UnsafeRawBufferPointer, alerts: Int) throws(AlertIndexError) -> [UInt8] {
        guard isParted(blob) else { return Array(blob) }
        let layout = try layout(blob, alerts: alerts, size: blob.count)
        var items: [UInt8] = [], ends: [UInt32] = []
        ends.reserveCapacity(alerts)
        var buffer: [UInt8] = []
        for (p, part) in layout.parts.enumerated() {
            let count = min(layout.partSize, alerts - p * layout.partSize)
            let stored = UnsafeRawBufferPointer(rebasing: blob[part.storedStart..<(part.storedStart + part.storedSize)])
            let n = try plain(stored, part: part, alerts: count, into: &buffer)
            let base = UInt32(items.count)
            buffer.withUnsafeBytes { b in
                let itemsEnd = n - 4 * count
                items.append(contentsOf: UnsafeRawBufferPointer(rebasing: b[0..<itemsEnd]))
                for i in 0..<count { ends.append(base + UInt32(littleEndian: b.loadUnaligned(fromByteOffset: itemsEnd + 4 * i, as: UInt32.self))) }
            }
        }
        for e in ends { items.appendInteger(e.littleEndian) }
        return items
    }
}
