import Foundation
import VigilCore

/// The block layout's unit of storage: up to ``AlertBlockLayout/capacity`` alerts, stored as
/// three blobs (docs/alerts.md, "Block layout"):
///
/// - **columns** (`alert_blocks.columns`): fixed-width arrays, then the strings.
///   ```
///   header  = version:u8(=1) n:u32 ruleCount:u16 stringsOffset:u32 (rule: len:u16 utf8)*
///   arrays  = time:i64[n] severity:u8[n] count:i64[n] risk:u64[n] (NaN payload 0xBAD = none)
///             rule:u16[n] source:ipkey17[n] destination:ipkey17[n] fingerprint:u64[n]
///             offset:u32[n] (sequence number - block; 0…n-1 until retention rewrites the block)
///   strings = stringEnd:u32[n] then per alert: idLen:u16 id userLen:u16 user keyLen:u16 key
///             (a length of 0xFFFF: none)
///   ```
/// - **text** (`alert_block_text.text`): per alert the searched text, ASCII letters lower-cased:
///   a flag byte (1: the text has bytes above 0x7F), then `key \u{1F} user \u{1F} sample's
///   string values`; stored in parts of 256 alerts, each compressed (LZ4) with a Bloom filter
///   of its tokens (``BlockTextCodec``). Blocks written before parts hold the items of the whole
///   block, then end:u32[n].
/// - **bodies** (`alert_block_bodies.bodies`, one row per part of the index's part size
///   (`index_meta` `body_part`: ``AlertBlockLayout/bodyPart``, or 64 in indexes written before
///   it was recorded) alerts, keyed by the block plus the part's first slot): per alert its event
///   in the broker's binary encoding (EventBinaryCodec), then end:u32[part's alerts]; stored as
///   an LZ4 frame (``BodyCodec``). Parts keep what a reader decompresses for one alert small; 256
///   alerts make a compressed part larger than a page, so that SQLite fills its pages (a row of
///   8 to 16 KiB would hold a 16 KiB page alone).
///
/// A block is written once, whole, and never changed: a newer version of an alert, or its
/// deletion by retention, marks its sequence number in `alert_dead`.
enum AlertBlockLayout {
    /// Alerts per block (at most; a transaction's last block may hold fewer).
    static let capacity = 2048
    static let version: UInt8 = 1
    /// Width of an IP key column entry: family byte then 16 address bytes (v4: 4, zero padded); all zero: none.
    static let ipWidth = 17
    static let noRisk: UInt64 = 0x7FF8_0000_0000_0BAD
    static let noString: UInt16 = 0xFFFF
    /// Alerts per row of bodies in new indexes.
    static let bodyPart = 256
    /// Alerts per row of bodies in indexes that do not record theirs.
    static let legacyBodyPart = 64
}

/// A stable 64-bit hash (FNV-1a, then a SplitMix finalizer): alert ids in the id runs and the
/// writer's Bloom filter, fingerprints of alert bodies.
enum StableHash {
    static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        h ^= h >> 30; h = h &* 0xBF58_476D_1CE4_E5B9
        h ^= h >> 27; h = h &* 0x94D0_49BB_1331_11EB
        return h ^ (h >> 31)
    }

    static func hash(_ s: String) -> UInt64 {
        var s = s
        return s.withUTF8 { hash(UnsafeRawBufferPointer($0)) }
    }

    static func hash(_ bytes: [UInt8]) -> UInt64 { bytes.withUnsafeBytes { hash($0) } }

    /// A fingerprint of long bytes, 32 at a time in four independent lanes (a long chain of
    /// dependent multiplies was 7 % of the indexer's reading thread). Stored with each alert of
    /// the block layout, to tell a new version of an alert with the same count from the same
    /// alert delivered again. An index written before the four lanes holds the earlier
    /// function's fingerprints: an alert delivered again with the same count then counts as an
    /// update, its identical new version replacing the old, never as a loss.
    static func fingerprint(_ bytes: [UInt8]) -> UInt64 {
        bytes.withUnsafeBytes { fingerprint($0) }
    }

    /// ``fingerprint(_:)-([UInt8])`` of borrowed bytes.
    static func fingerprint(_ p: UnsafeRawBufferPointer) -> UInt64 {
        let m: UInt64 = 0xFF51_AFD7_ED55_8CCD
        var a: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(p.count)
        var b: UInt64 = 0xC2B2_AE3D_27D4_EB4F, c: UInt64 = 0x1656_67B1_9E37_79F9, d: UInt64 = 0x27D4_EB2F_1656_67C5
        var i = 0
        @inline(__always) func word(_ o: Int) -> UInt64 { UInt64(littleEndian: p.loadUnaligned(fromByteOffset: o, as: UInt64.self)) }
        while i + 32 <= p.count {
            a = (a ^ word(i)) &* m; a ^= a >> 32
            b = (b ^ word(i + 8)) &* m; b ^= b >> 32
            c = (c ^ word(i + 16)) &* m; c ^= c >> 32
            d = (d ^ word(i + 24)) &* m; d ^= d >> 32
            i += 32
        }
        var h = a
        h = (h ^ b) &* m; h ^= h >> 32
        h = (h ^ c) &* m; h ^= h >> 32
        h = (h ^ d) &* m; h ^= h >> 32
        while i + 8 <= p.count {
            h = (h ^ word(i)) &* m
            h ^= h >> 32
            i += 8
        }
        while i < p.count {
            h = (h ^ UInt64(p[i])) &* 0xC4CE_B9FE_1A85_EC53
            i += 1
        }
        h ^= h >> 33; h = h &* 0xFF51_AFD7_ED55_8CCD
        return h ^ (h >> 33)
    }
}

/// Fixed-width IP keys (``IPKey`` padded to 17 bytes), which order like ``IPKey`` blobs.
enum FixedIPKey {
    static func write(_ a: IPAddress?, into out: inout [UInt8]) {
        // Made in place and appended once (17 appends of a byte cost ~400 instructions).
        withUnsafeTemporaryAllocation(byteCount: AlertBlockLayout.ipWidth, alignment: 8) { k in
            k.initializeMemory(as: UInt8.self, repeating: 0)
            if let a {
                k[0] = a.family.rawValue
                let (high, low) = a.isV4 ? (UInt64(UInt32(truncatingIfNeeded: a.low)) << 32, UInt64(0)) : (a.high, a.low)
                k.storeBytes(of: high.bigEndian, toByteOffset: 1, as: UInt64.self)
                k.storeBytes(of: low.bigEndian, toByteOffset: 9, as: UInt64.self)
            }
            out.appendRaw(UnsafeRawBufferPointer(k))
        }
    }

    static func key(_ a: IPAddress) -> [UInt8] {
        var out: [UInt8] = []
        write(a, into: &out)
        return out
    }

    /// The ``IPKey`` blob of a fixed key (nil for none).
    static func ipKey(_ p: UnsafeRawBufferPointer) -> [UInt8]? {
        switch p[0] {
        case 4: return Array(p[0..<5])
        case 6: return Array(p[0..<17])
        default: return nil
        }
    }

    /// The inclusive fixed-key range of a network.
    static func range(_ n: IPNetwork) -> (low: [UInt8], high: [UInt8]) {
        let (lo, hi) = IPKey.range(n)
        return (pad(lo), pad(hi))
    }

    static func pad(_ k: [UInt8]) -> [UInt8] { k + repeatElement(0, count: AlertBlockLayout.ipWidth - k.count) }
}

/// Distinct tokens of a block, as FTS5's `unicode61` tokenizer would split ASCII text: runs of
/// letters and digits, lower-cased; bytes above 0x7F count as token characters (FTS5 splits and
/// folds them again when it indexes the document). Open addressing over an arena; no allocation
/// per token.
struct TokenSet {
    /// The tokens, each followed by a space.
    private(set) var arena: [UInt8] = []
    /// Per slot: the token's hash (high 32 bits) and its start in the arena + 1 (low 32 bits;
    /// 0: an empty slot), so that a probe reads the slot alone before the token's bytes.
    private var slots: [UInt64]
    /// Per entry: hash (high 32 bits), start in the arena (low 32 bits).
    private var entries: [UInt64] = []
    private var mask: Int

    /// Token bytes: 0 for a separator, else the byte lower-cased.
    static let table: [UInt8] = (0..<256).map { c -> UInt8 in
        switch c {
        case 0x30...0x39, 0x61...0x7A, 0x80...0xFF: return UInt8(c)
        case 0x41...0x5A: return UInt8(c | 0x20)
        default: return 0
        }
    }

    init(capacity: Int = 8192) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = Array(repeating: 0, count: size)
        mask = size - 1
        arena.reserveCapacity(capacity * 8)
        entries.reserveCapacity(capacity)
    }

    var count: Int { entries.count }

    mutating func removeAll() {
        arena.removeAll(keepingCapacity: true)
        entries.removeAll(keepingCapacity: true)
        slots.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
    }

    /// Adds the tokens of `text`.
    mutating func add(_ text: UnsafeRawBufferPointer) {
        Self.forEachToken(text) { start, end, h in insert(UnsafeRawBufferPointer(rebasing: text[start..<end]), hash: h) }
    }

    /// Calls `body(start, end, hash)` for each token of `text` in order: a run of token bytes
    /// (``table``), and the FNV-1a hash of its lower-cased bytes.
    @inline(__always)
    static func forEachToken(_ text: UnsafeRawBufferPointer, _ body: (Int, Int, UInt32) -> Void) {
        let n = text.count
        table.withUnsafeBufferPointer { table in
            var i = 0
            while i < n {
                while i < n && table[Int(text[i])] == 0 { i += 1 }
                let start = i
                var h: UInt32 = 2_166_136_261
                while i < n {
                    let c = table[Int(text[i])]
                    if c == 0 { break }
                    h = (h ^ UInt32(c)) &* 16_777_619
                    i += 1
                }
                if i > start { body(start, i, h) }
            }
        }
    }

    @inline(__always) static func isTokenByte(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) || c >= 0x80
    }

    @inline(__always) static func lower(_ c: UInt8) -> UInt8 { (c >= 0x41 && c <= 0x5A) ? c | 0x20 : c }

    /// Adds one token: its bytes and the hash ``add(_:)`` computes for them. The set keeps tokens
    /// lower-cased; with `lowered` the bytes are lower-cased already (an item's: see
    /// ``AlertRow/textAndTokens(key:user:text:)``) and are compared with `memcmp` and copied as they
    /// are, otherwise through ``table``. The writer adds each token of each alert of a block.
    @inline(__always)
    mutating func insert(_ token: UnsafeRawBufferPointer, hash h: UInt32, lowered: Bool = false) {
        let len = token.count
        var s = Int(h) & mask
        let table: [UInt8] = lowered ? [] : Self.table  // the lowered path never reads it
        let found: Bool = slots.withUnsafeBufferPointer { slots in
            arena.withUnsafeBufferPointer { arena in
                while true {
                    let v = slots[s]
                    if v == 0 { return false }
                    if UInt32(truncatingIfNeeded: v >> 32) == h {
                        let start = Int(truncatingIfNeeded: v & 0xFFFF_FFFF) - 1
                        if start + len < arena.count && arena[start + len] == 0x20 {
                            if lowered {
                                if memcmp(arena.baseAddress! + start, token.baseAddress!, len) == 0 { return true }
                            } else {
                                var j = 0
                                while j < len && arena[start + j] == table[Int(token[j])] { j += 1 }
                                if j == len { return true }
                            }
                        }
                    }
                    s = (s + 1) & mask
                }
            }
        }
        if found { return }
        entries.append(UInt64(h) << 32 | UInt64(arena.count))
        slots[s] = UInt64(h) << 32 | UInt64(arena.count + 1)
        if lowered {
            arena.append(contentsOf: token)
        } else {
            for c in token { arena.append(table[Int(c)]) }
        }
        arena.append(0x20)
        if entries.count * 2 > mask { grow() }
    }

    private mutating func grow() {
        let size = (mask + 1) * 2
        slots = Array(repeating: 0, count: size)
        mask = size - 1
        for entry in entries {
            var s = Int(truncatingIfNeeded: entry >> 32) & mask
            while slots[s] != 0 { s = (s + 1) & mask }
            slots[s] = entry + 1
        }
    }

    /// The tokens separated by spaces (an FTS5 document).
    var document: String { String(decoding: arena, as: UTF8.self) }

    /// Appends the block `block`'s token run entries (``TokenKey``) to `out`: one per ASCII
    /// token, one per token FTS5's tokenizer makes of a token with bytes above 0x7F (the same
    /// key twice, for two such tokens, is harmless: lookups make sets), or without the
    /// tokenizer one marker for all of those.
    func appendEntries(block: Int64, to out: inout [RunEntry], unicode: FTS5Tokenizer? = nil) {
        var marked = false
        arena.withUnsafeBufferPointer { arena in
            for entry in entries {
                let start = Int(truncatingIfNeeded: entry & 0xFFFF_FFFF)
                var end = start
                var high: UInt8 = 0
                while arena[end] != 0x20 { high |= arena[end]; end += 1 }
                if high >= 0x80 {
                    if let unicode {
                        unicode.tokenize(UnsafeRawBufferPointer(start: arena.baseAddress! + start, count: end - start)) { t in
                            out.append(TokenKey.entry(t, hash: TokenKey.hash(t), block: block))
                        }
                    } else if !marked {
                        out.append(TokenKey.marker(block: block))
                        marked = true
                    }
                    continue
                }
                out.append(TokenKey.entry(UnsafeRawBufferPointer(start: arena.baseAddress! + start, count: end - start),
                                          hash: UInt32(truncatingIfNeeded: entry >> 32), block: block))
            }
        }
    }
}

/// Collects alerts into the three blobs of a block.
struct AlertBlockBuilder {
    var times: [Int64] = [], severities: [UInt8] = [], counts: [Int64] = [], risks: [UInt64] = []
    var ruleIndex: [UInt16] = [], rules: [String] = [], ruleIDs: [String: UInt16] = [:]
    var sources: [UInt8] = [], destinations: [UInt8] = [], fingerprints: [UInt64] = [], offsets: [UInt32] = []
    var stringEnds: [UInt32] = [], strings: [UInt8] = []
    var textEnds: [UInt32] = [], text: [UInt8] = []
    /// The bodies as their parts are stored before compression (``BodyJob``): per part of
    /// ``bodyPart`` alerts, their bodies, then the end of each within the part (`u32`). A part is
    /// closed (its ends appended) when full, or by ``closeBodyPart()`` when the block is sealed.
    var bodies: [UInt8] = []
    /// The end within its part of each body of the open part; the end in ``bodies`` of each closed part.
    private(set) var bodyEnds: [UInt32] = [], bodyPartEnds: [Int] = []
    /// Alerts per part of bodies: the index's (``AlertIndex/bodyPart``).
    let bodyPart: Int
    var tokens = TokenSet()
    /// Per part of the text (``BlockTextCodec/partSize`` alerts): a Bloom filter of its tokens
    /// (``BlockTextCodec/bloomWords`` words each), and whether an item has bytes above 0x7F.
    var blooms = [UInt64](repeating: 0, count: AlertBlockLayout.capacity / BlockTextCodec.partSize * BlockTextCodec.bloomWords)
    var partHigh = [Bool](repeating: false, count: AlertBlockLayout.capacity / BlockTextCodec.partSize)
    /// Per rule index: min and max time.
    var ruleTimes: [(min: Int64, max: Int64)] = []
    /// The writer's rule number → index in `rules` + 1 (0: not in this block).
    var localRule: [UInt16] = []

    var count: Int { times.count }
    var isEmpty: Bool { times.isEmpty }

    init(bodyPart: Int) {
        self.bodyPart = bodyPart
        let c = AlertBlockLayout.capacity
        times.reserveCapacity(c); severities.reserveCapacity(c); counts.reserveCapacity(c); risks.reserveCapacity(c)
        ruleIndex.reserveCapacity(c); sources.reserveCapacity(c * 17); destinations.reserveCapacity(c * 17)
        fingerprints.reserveCapacity(c); stringEnds.reserveCapacity(c); textEnds.reserveCapacity(c); bodyEnds.reserveCapacity(bodyPart)
        strings.reserveCapacity(c * 48); text.reserveCapacity(c * 160); bodies.reserveCapacity(c * 700)
    }

    mutating func removeAll() {
        times.removeAll(keepingCapacity: true); severities.removeAll(keepingCapacity: true); counts.removeAll(keepingCapacity: true)
        risks.removeAll(keepingCapacity: true); ruleIndex.removeAll(keepingCapacity: true); rules.removeAll(); ruleIDs.removeAll()
        sources.removeAll(keepingCapacity: true); destinations.removeAll(keepingCapacity: true); fingerprints.removeAll(keepingCapacity: true)
        offsets.removeAll(keepingCapacity: true)
        stringEnds.removeAll(keepingCapacity: true); strings.removeAll(keepingCapacity: true)
        textEnds.removeAll(keepingCapacity: true); text.removeAll(keepingCapacity: true)
        bodyEnds.removeAll(keepingCapacity: true); bodies.removeAll(keepingCapacity: true); bodyPartEnds.removeAll(keepingCapacity: true)
        tokens.removeAll()
        blooms.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        for i in partHigh.indices { partHigh[i] = false }
        ruleTimes.removeAll()
        for i in localRule.indices { localRule[i] = 0 }
    }

    private static func appendString(_ s: String?, into out: inout [UInt8]) {
        var s = s
        AlertRow.withOptionalUTF8(&s) { appendString($0, into: &out) }
    }

    @inline(__always)
    private static func appendString(_ b: UnsafeRawBufferPointer?, into out: inout [UInt8]) {
        guard let b else {
            out.append(0xFF); out.append(0xFF)
            return
        }
        let n = min(b.count, 0xFFFE)
        out.append(UInt8(n & 0xFF)); out.append(UInt8(n >> 8))
        out.appendRaw(UnsafeRawBufferPointer(rebasing: b[0..<n]))
    }

    private mutating func addRule(_ rule: String, time: Int64) {
        let r: UInt16
        if let known = ruleIDs[rule] {
            r = known
            ruleTimes[Int(r)].min = min(ruleTimes[Int(r)].min, time)
            ruleTimes[Int(r)].max = max(ruleTimes[Int(r)].max, time)
        } else {
            r = UInt16(rules.count)
            rules.append(rule)
            ruleIDs[rule] = r
            ruleTimes.append((time, time))
        }
        ruleIndex.append(r)
    }

    /// Appends an alert whose rule the writer numbers `ruleNumber`; returns its slot.
    @discardableResult
    mutating func append(_ row: AlertRow, ruleNumber: Int, body: [UInt8], fingerprint: UInt64) -> Int {
        body.withUnsafeBytes { b in
            row.textItem.withUnsafeBytes { item in
                row.tokens.withUnsafeBytes { tokens in
                    withUnsafePointer(to: row) { rowAt in
                        AlertRow.withStrings(rowAt, arena: UnsafeRawBufferPointer(start: nil, count: 0)) { id, user, key in
                            append(rowAt, ruleNumber: ruleNumber, id: id, user: user, key: key, body: b, item: item, tokens: tokens, fingerprint: fingerprint)
                        }
                    }
                }
            }
        }
    }

    /// Appends an alert whose id, user name, key, body, text item and tokens (8 bytes each,
    /// little-endian) are given as bytes; returns its slot.
    @discardableResult
    mutating func append(_ rowAt: UnsafePointer<AlertRow>, ruleNumber: Int, id: UnsafeRawBufferPointer, user: UnsafeRawBufferPointer?,
                         key: UnsafeRawBufferPointer?, body: UnsafeRawBufferPointer, item: UnsafeRawBufferPointer,
                         tokens rowTokens: UnsafeRawBufferPointer, fingerprint: UInt64) -> Int {
        // Fields are read in place (a copy of the row would retain and release all its strings).
        let slot = times.count
        offsets.append(UInt32(slot))
        times.append(rowAt.pointee.time)
        severities.append(UInt8(clamping: rowAt.pointee.severity))
        counts.append(rowAt.pointee.count)
        risks.append(rowAt.pointee.risk.map { $0.isNaN ? AlertBlockLayout.noRisk &- 1 : $0.bitPattern } ?? AlertBlockLayout.noRisk)
        if ruleNumber >= localRule.count { localRule += repeatElement(0, count: ruleNumber + 1 - localRule.count) }
        let local = Int(localRule[ruleNumber])
        if local == 0 {
            addRule(rowAt.pointee.ruleID, time: rowAt.pointee.time)
            localRule[ruleNumber] = UInt16(rules.count)
        } else {
            ruleIndex.append(UInt16(local - 1))
            ruleTimes[local - 1].min = min(ruleTimes[local - 1].min, rowAt.pointee.time)
            ruleTimes[local - 1].max = max(ruleTimes[local - 1].max, rowAt.pointee.time)
        }
        FixedIPKey.write(rowAt.pointee.sourceIP, into: &sources)
        FixedIPKey.write(rowAt.pointee.destinationIP, into: &destinations)
        fingerprints.append(fingerprint)
        Self.appendString(id, into: &strings)
        Self.appendString(user, into: &strings)
        Self.appendString(key, into: &strings)
        stringEnds.append(UInt32(strings.count))
        let textStart = text.count
        text.appendRaw(item)
        textEnds.append(UInt32(text.count))
        text.withUnsafeBytes { p in
            Self.addTokens(UnsafeRawBufferPointer(start: p.baseAddress! + textStart, count: item.count), slot: slot, rowTokens: rowTokens,
                           to: &tokens, blooms: &blooms, partHigh: &partHigh)
        }
        appendBody(body)
        return slot
    }

    /// Appends a body to the open part, closing it once it holds ``bodyPart``.
    private mutating func appendBody(_ body: UnsafeRawBufferPointer) {
        bodies.appendRaw(body)
        bodyEnds.append(UInt32(bodies.count - (bodyPartEnds.last ?? 0)))
        if bodyEnds.count == bodyPart { closeBodyPart() }
    }

    /// Closes the open part, if it holds a body: appends the ends of its bodies.
    mutating func closeBodyPart() {
        guard !bodyEnds.isEmpty else { return }
        Self.putArray(bodyEnds, &bodies)
        bodyEnds.removeAll(keepingCapacity: true)
        bodyPartEnds.append(bodies.count)
    }

    /// Adds the tokens of slot `slot`'s text `item` to the block's set and to its part's Bloom
    /// filter, and notes whether the item has bytes above 0x7F: the tokens ``TokenSet`` finds in
    /// it, or those the reading thread found (`rowTokens`: 8 bytes each, little-endian, hash << 32 |
    /// start << 16 | length). Static, so that `item` may lie in the builder's own text.
    private static func addTokens(_ item: UnsafeRawBufferPointer, slot: Int, rowTokens: UnsafeRawBufferPointer,
                                  to tokens: inout TokenSet, blooms: inout [UInt64], partHigh: inout [Bool]) {
        let part = slot / BlockTextCodec.partSize
        if item.first == 1 { partHigh[part] = true }
        blooms.withUnsafeMutableBufferPointer { blooms in
            let bloom = blooms.baseAddress! + part * BlockTextCodec.bloomWords, bits = BlockTextCodec.bloomWords * 64
            guard !rowTokens.isEmpty else {
                TokenSet.forEachToken(item) { start, end, h in
                    tokens.insert(UnsafeRawBufferPointer(rebasing: item[start..<end]), hash: h, lowered: true)
                    BlockTextCodec.bloomAdd(h, into: bloom, bits: bits)
                }
                return
            }
            var o = 0
            while o + 8 <= rowTokens.count {
                let t = UInt64(littleEndian: rowTokens.loadUnaligned(fromByteOffset: o, as: UInt64.self))
                let h = UInt32(t >> 32)
                tokens.insert(UnsafeRawBufferPointer(start: item.baseAddress! + Int(t >> 16 & 0xFFFF), count: Int(t & 0xFFFF)), hash: h, lowered: true)
                BlockTextCodec.bloomAdd(h, into: bloom, bits: bits)
                o += 8
            }
        }
    }

    /// Appends slot `i` of a stored block as it is (retention rewriting a block without its dead alerts).
    mutating func copy(_ cols: AlertBlockColumns, _ i: Int, text item: UnsafeRawBufferPointer, body: UnsafeRawBufferPointer) {
        offsets.append(UInt32(cols.offset(i)))
        let t = cols.time(i)
        times.append(t)
        severities.append(UInt8(cols.severity(i)))
        counts.append(cols.count(i))
        risks.append(UInt64(littleEndian: cols.base.loadUnaligned(fromByteOffset: cols.riskAt + 8 * i, as: UInt64.self)))
        addRule(cols.rule(i), time: t)
        sources.appendRaw(cols.source(i))
        destinations.appendRaw(cols.destination(i))
        fingerprints.append(cols.fingerprint(i))
        let (id, user, key) = cols.strings(i)
        Self.appendString(id, into: &strings)
        Self.appendString(user, into: &strings)
        Self.appendString(key, into: &strings)
        stringEnds.append(UInt32(strings.count))
        let slot = textEnds.count
        text.appendRaw(item)
        textEnds.append(UInt32(text.count))
        Self.addTokens(item, slot: slot, rowTokens: UnsafeRawBufferPointer(start: nil, count: 0), to: &tokens, blooms: &blooms, partHigh: &partHigh)
        appendBody(body)
    }

    /// Lower-cases the ASCII letters of `out[start...]`; ORs those bytes into `high`.
    static func lowerTail(_ out: inout [UInt8], from start: Int, _ high: inout UInt8) {
        var h: UInt8 = 0
        out.withUnsafeMutableBufferPointer { b in
            for i in start..<b.count {
                let c = b[i]
                h |= c
                if c &- 0x41 < 26 { b[i] = c | 0x20 }
            }
        }
        high |= h
    }

    static func put<T: FixedWidthInteger>(_ v: T, _ out: inout [UInt8]) {
        out.appendInteger(v.littleEndian)
    }

    static func putArray<T: FixedWidthInteger>(_ a: [T], _ out: inout [UInt8]) {
        #if _endian(little)
        a.withUnsafeBytes { out.appendRaw($0) }
        #else
        if T.self == UInt8.self {
            a.withUnsafeBytes { out.appendRaw($0) }
        } else {
            for v in a { put(v, &out) }
        }
        #endif
    }

    func columnsBlob() -> [UInt8] {
        var out: [UInt8] = []
        let n = count
        out.reserveCapacity(16 + n * (8 + 1 + 8 + 8 + 2 + 34 + 8 + 4) + strings.count + rules.count * 24)
        out.append(AlertBlockLayout.version)
        Self.put(UInt32(n), &out)
        Self.put(UInt16(rules.count), &out)
        let stringsOffsetAt = out.count
        Self.put(UInt32(0), &out)
        for r in rules {
            var r = r
            r.withUTF8 { b in
                Self.put(UInt16(b.count), &out)
                out.append(contentsOf: b)
            }
        }
        Self.putArray(times, &out)
        Self.putArray(severities, &out)
        Self.putArray(counts, &out)
        Self.putArray(risks, &out)
        Self.putArray(ruleIndex, &out)
        out.append(contentsOf: sources)
        out.append(contentsOf: destinations)
        Self.putArray(fingerprints, &out)
        Self.putArray(offsets, &out)
        let so = UInt32(out.count)
        withUnsafeBytes(of: so.littleEndian) { b in for i in 0..<4 { out[stringsOffsetAt + i] = b[i] } }
        Self.putArray(stringEnds, &out)
        out.append(contentsOf: strings)
        return out
    }

    /// The text blob (``BlockTextCodec``) in `out`; `scratch` holds a part while it is compressed.
    func textBlob(into out: inout [UInt8], scratch: inout [UInt8]) {
        text.withUnsafeBytes { t in
            blooms.withUnsafeBufferPointer { b in
                BlockTextCodec.encode(text: t, ends: textEnds, count: count, blooms: b, high: partHigh, scratch: &scratch, into: &out)
            }
        }
    }
}

/// Reads a columns blob in place (the bytes must outlive it).
struct AlertBlockColumns {
    let base: UnsafeRawBufferPointer
    let n: Int
    let rules: [String]
    let timeAt: Int, severityAt: Int, countAt: Int, riskAt: Int, ruleAt: Int, sourceAt: Int, destinationAt: Int, fingerprintAt: Int
    let offsetAt: Int
    let stringEndsAt: Int, stringsAt: Int

    init(_ b: UnsafeRawBufferPointer) throws(AlertIndexError) {
        guard b.count >= 11, b[0] == AlertBlockLayout.version else { throw AlertIndexError(.database, "unreadable alert block (version \(b.first ?? 0))") }
        base = b
        n = Int(b.loadUnaligned(fromByteOffset: 1, as: UInt32.self).littleEndian)
        let ruleCount = Int(b.loadUnaligned(fromByteOffset: 5, as: UInt16.self).littleEndian)
        stringEndsAt = Int(b.loadUnaligned(fromByteOffset: 7, as: UInt32.self).littleEndian)
        let bad = AlertIndexError(.database, "unreadable alert block (bad layout)")
        var p = 11
        var rules: [String] = []
        for _ in 0..<ruleCount {
            guard p + 2 <= b.count else { throw bad }
            let len = Int(b.loadUnaligned(fromByteOffset: p, as: UInt16.self).littleEndian)
            guard p + 2 + len <= b.count else { throw bad }
            rules.append(String(decoding: UnsafeRawBufferPointer(rebasing: b[(p + 2)..<(p + 2 + len)]), as: UTF8.self))
            p += 2 + len
        }
        self.rules = rules
        timeAt = p; p += 8 * n
        severityAt = p; p += n
        countAt = p; p += 8 * n
        riskAt = p; p += 8 * n
        ruleAt = p; p += 2 * n
        sourceAt = p; p += AlertBlockLayout.ipWidth * n
        destinationAt = p; p += AlertBlockLayout.ipWidth * n
        fingerprintAt = p; p += 8 * n
        offsetAt = p; p += 4 * n
        stringsAt = stringEndsAt + 4 * n
        guard p == stringEndsAt, stringsAt <= b.count else { throw bad }
        // What the accessors trust: rule numbers in range, and each slot's three strings within
        // its part of the strings (a damaged block is an error, not a crash).
        for i in 0..<n where Int(UInt16(littleEndian: b.loadUnaligned(fromByteOffset: ruleAt + 2 * i, as: UInt16.self))) >= ruleCount {
            throw bad
        }
        var start = stringsAt
        for i in 0..<n {
            let end = stringsAt + Int(UInt32(littleEndian: b.loadUnaligned(fromByteOffset: stringEndsAt + 4 * i, as: UInt32.self)))
            guard end >= start, end <= b.count else { throw bad }
            var q = start
            for _ in 0..<3 {
                guard q + 2 <= end else { throw bad }
                let len = UInt16(littleEndian: b.loadUnaligned(fromByteOffset: q, as: UInt16.self))
                q += 2 + (len == AlertBlockLayout.noString ? 0 : Int(len))
            }
            guard q <= end else { throw bad }
            start = end
        }
    }

    @inline(__always) func time(_ i: Int) -> Int64 { Int64(littleEndian: base.loadUnaligned(fromByteOffset: timeAt + 8 * i, as: Int64.self)) }
    @inline(__always) func severity(_ i: Int) -> Int { Int(base[severityAt + i]) }
    @inline(__always) func count(_ i: Int) -> Int64 { Int64(littleEndian: base.loadUnaligned(fromByteOffset: countAt + 8 * i, as: Int64.self)) }
    func risk(_ i: Int) -> Double? {
        let bits = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: riskAt + 8 * i, as: UInt64.self))
        if bits == AlertBlockLayout.noRisk { return nil }
        if bits == AlertBlockLayout.noRisk &- 1 { return .nan }
        return Double(bitPattern: bits)
    }
    @inline(__always) func ruleIndex(_ i: Int) -> Int { Int(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: ruleAt + 2 * i, as: UInt16.self))) }
    func rule(_ i: Int) -> String { rules[ruleIndex(i)] }
    @inline(__always) func source(_ i: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: base[(sourceAt + 17 * i)..<(sourceAt + 17 * i + 17)])
    }
    @inline(__always) func destination(_ i: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: base[(destinationAt + 17 * i)..<(destinationAt + 17 * i + 17)])
    }
    /// Sequence number of slot i minus the block's.
    @inline(__always) func offset(_ i: Int) -> Int { Int(UInt32(littleEndian: base.loadUnaligned(fromByteOffset: offsetAt + 4 * i, as: UInt32.self))) }

    /// The slot holding offset `o`, if any (offsets ascend).
    func slot(ofOffset o: Int) -> Int? {
        if o < n && offset(o) == o { return o }
        var lo = 0, hi = n
        while lo < hi {
            let mid = (lo + hi) / 2
            if offset(mid) < o { lo = mid + 1 } else { hi = mid }
        }
        return lo < n && offset(lo) == o ? lo : nil
    }

    @inline(__always) func fingerprint(_ i: Int) -> UInt64 { UInt64(littleEndian: base.loadUnaligned(fromByteOffset: fingerprintAt + 8 * i, as: UInt64.self)) }

    /// id, user, key of slot i.
    func strings(_ i: Int) -> (id: String, user: String?, key: String?) {
        var p = stringsAt + (i == 0 ? 0 : Int(UInt32(littleEndian: base.loadUnaligned(fromByteOffset: stringEndsAt + 4 * (i - 1), as: UInt32.self))))
        func next() -> String? {
            let len = UInt16(littleEndian: base.loadUnaligned(fromByteOffset: p, as: UInt16.self))
            p += 2
            if len == AlertBlockLayout.noString { return nil }
            defer { p += Int(len) }
            return String(decoding: UnsafeRawBufferPointer(rebasing: base[p..<(p + Int(len))]), as: UTF8.self)
        }
        let id = next() ?? ""
        let user = next()
        let key = next()
        return (id, user, key)
    }

    /// Whether slot i's id is `id` (without making a String).
    func idEquals(_ i: Int, _ id: UnsafeRawBufferPointer) -> Bool {
        let p = stringsAt + (i == 0 ? 0 : Int(UInt32(littleEndian: base.loadUnaligned(fromByteOffset: stringEndsAt + 4 * (i - 1), as: UInt32.self))))
        let len = Int(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: p, as: UInt16.self)))
        guard len == id.count else { return false }
        return memcmp(base.baseAddress! + p + 2, id.baseAddress!, len) == 0
    }
}

/// Reads a framed blob (the items, then `end:u32[n]`) in place.
struct FramedBlob {
    let base: UnsafeRawBufferPointer
    let n: Int
    let endsAt: Int
    init(_ b: UnsafeRawBufferPointer, count: Int) {
        base = b
        n = count
        endsAt = b.count - 4 * count
    }

    @inline(__always) func end(_ i: Int) -> Int { Int(UInt32(littleEndian: base.loadUnaligned(fromByteOffset: endsAt + 4 * i, as: UInt32.self))) }

    /// Marks the items holding one of `needles` as a token (or, for a prefix needle, the start
    /// of one), and those whose first byte (the text's flag) is 1.
    func markMatches(_ needles: [BlockTextQuery.Token], into marks: inout [Bool]) {
        guard n > 0, endsAt >= 0 else { return }
        let total = end(n - 1)
        let data = base.baseAddress!
        for i in 0..<n {
            let start = i == 0 ? 0 : end(i - 1)
            if start < total && data.load(fromByteOffset: start, as: UInt8.self) == 1 { marks[i] = true }
        }
        let table = TokenSet.table
        for token in needles where !token.text.isEmpty {
            let needle = token.text
            var at = 0
            while at < total {
                guard let offset = Self.find(needle, in: data, from: at, to: total) else { break }
                // A whole token (or a token's start, for a prefix): separators around it.
                let before = offset == 0 ? 0 : table[Int(data.load(fromByteOffset: offset - 1, as: UInt8.self))]
                let afterAt = offset + needle.count
                let after = afterAt >= total ? 0 : table[Int(data.load(fromByteOffset: afterAt, as: UInt8.self))]
                guard before == 0 && (token.prefix || after == 0) else {
                    at = offset + 1
                    continue
                }
                // The item holding offset: the first whose end is past it.
                var lo = 0, hi = n
                while lo < hi {
                    let mid = (lo + hi) / 2
                    if end(mid) <= offset { lo = mid + 1 } else { hi = mid }
                }
                guard lo < n else { break }
                marks[lo] = true
                at = end(lo)
            }
        }
    }

    /// The offset of the first `needle` in `data[from..<to]`: 16 positions at a time, those
    /// whose first and last bytes match the needle's (SIMD compares) are compared in full.
    static func find(_ needle: [UInt8], in data: UnsafeRawPointer, from: Int, to: Int) -> Int? {
        let m = needle.count
        guard m > 0, m <= to - from else { return nil }
        return needle.withUnsafeBytes { nb -> Int? in
            let n0 = nb[0], nl = nb[m - 1]
            let first = SIMD16<UInt8>(repeating: n0), last = SIMD16<UInt8>(repeating: nl)
            var i = from
            // Positions i…i+15 whose whole needle fits before `to`.
            while i + 15 + m <= to {
                let a = data.loadUnaligned(fromByteOffset: i, as: SIMD16<UInt8>.self)
                let b = data.loadUnaligned(fromByteOffset: i + m - 1, as: SIMD16<UInt8>.self)
                let hits = (a .== first) .& (b .== last)
                if any(hits) {
                    for j in 0..<16 where hits[j] {
                        if m <= 2 || memcmp(data + i + j + 1, nb.baseAddress! + 1, m - 2) == 0 { return i + j }
                    }
                }
                i += 16
            }
            while i + m <= to {
                if data.load(fromByteOffset: i, as: UInt8.self) == n0 && memcmp(data + i, nb.baseAddress!, m) == 0 { return i }
                i += 1
            }
            return nil
        }
    }

    func item(_ i: Int) -> UnsafeRawBufferPointer {
        let start = i == 0 ? 0 : end(i - 1)
        return UnsafeRawBufferPointer(rebasing: base[start..<end(i)])
    }
}

/// The block-level form of a full-text query and the per-alert pre-check.
///
/// A block's text document holds its distinct tokens (no positions, no columns), so a query is
/// relaxed for it: every token of the query (phrases split, columns and `^` ignored, prefixes
/// kept) is required when the query has no `OR` or `NOT`, otherwise any one is enough. The alerts
/// of the candidate blocks are pre-checked for the longest required token (or any token) as a
/// whole token of their lower-cased text (the start of one, for a prefix), text with bytes above
/// 0x7F always passing; then the exact FTS5 query runs on those alerts alone.
struct BlockTextQuery {
    struct Token: Equatable {
        var text: [UInt8]
        var prefix: Bool
        var ascii: Bool
    }
    var tokens: [Token] = []
    /// Every token is required (no OR, no NOT).
    var all = true

    init(_ query: String) {
        let b = Array(query.utf8)
        var i = 0
        var inBraces = false
        var afterComma = false
        func addWord(_ w: ArraySlice<UInt8>, quoted: Bool) {
            var start = w.startIndex
            var j = w.startIndex
            var added = false
            while j <= w.endIndex {
                if j == w.endIndex || !TokenSet.isTokenByte(w[j]) {
                    if j > start {
                        let t = w[start..<j].map(TokenSet.lower)
                        tokens.append(Token(text: t, prefix: false, ascii: t.allSatisfy { $0 < 0x80 }))
                        added = true
                    }
                    start = j + 1
                }
                j += 1
            }
            _ = added
            _ = quoted
        }
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: "\"") {
                var j = i + 1
                var phrase: [UInt8] = []
                while j < b.count {
                    if b[j] == UInt8(ascii: "\"") {
                        if j + 1 < b.count && b[j + 1] == UInt8(ascii: "\"") { phrase.append(b[j]); j += 2; continue }
                        break
                    }
                    phrase.append(b[j]); j += 1
                }
                if !inBraces { addWord(phrase[...], quoted: true) }
                i = j + 1
                afterComma = false
                continue
            }
            if c == UInt8(ascii: "*") {
                if !tokens.isEmpty { tokens[tokens.count - 1].prefix = true }
                i += 1; continue
            }
            if c == UInt8(ascii: "{") { inBraces = true; i += 1; continue }
            if c == UInt8(ascii: "}") { inBraces = false; i += 1; continue }
            if c == UInt8(ascii: ",") { afterComma = true; i += 1; continue }
            if TokenSet.isTokenByte(c) || c == UInt8(ascii: "_") {
                var j = i
                while j < b.count && (TokenSet.isTokenByte(b[j]) || b[j] == UInt8(ascii: "_")) { j += 1 }
                let word = b[i..<j]
                var k = j
                while k < b.count && b[k] == 0x20 { k += 1 }
                let isColumn = k < b.count && b[k] == UInt8(ascii: ":")
                let text = String(decoding: word, as: UTF8.self)
                if text == "OR" || text == "NOT" {
                    all = false
                } else if text == "AND" || text.hasPrefix("NEAR") || isColumn || inBraces || afterComma {
                    // an operator, a column name, or NEAR's distance
                } else {
                    addWord(word, quoted: false)
                }
                afterComma = false
                i = j
                continue
            }
            i += 1
        }
    }

    /// The FTS5 query over the blocks' token documents; nil when no block can be ruled out.
    var blockMatch: String? {
        let usable = all ? tokens.filter(\.ascii) : tokens
        guard !usable.isEmpty, usable.allSatisfy(\.ascii) else { return nil }
        return usable.map { "\"" + String(decoding: $0.text, as: UTF8.self) + "\"" + ($0.prefix ? "*" : "") }
            .joined(separator: all ? " " : " OR ")
    }

    /// The tokens an alert's text must contain one of; nil: no pre-check.
    var needles: [Token]? {
        if all {
            guard let longest = tokens.filter(\.ascii).max(by: { $0.text.count < $1.text.count }) else { return nil }
            return [longest]
        }
        guard !tokens.isEmpty, tokens.allSatisfy(\.ascii) else { return nil }
        return tokens
    }
}
