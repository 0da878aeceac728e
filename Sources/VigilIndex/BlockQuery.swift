import Foundation
import GRDB
import GRDBSQLite
import VigilCore

/// Queries over the block layout: the block indexes (time ranges, rules, severities, sorted runs
/// of addresses, the blocks' token documents) choose candidate blocks; their alerts are checked
/// in Swift on what can be checked exactly (time, rule, severity, addresses, sequence) and
/// roughly on text, and the survivors are copied into connection-local TEMP tables with the row
/// layout's shape (`temp.alerts`, `temp.alerts_fts`), on which the row layout's SQL runs
/// unchanged. So both layouts answer every filter, sort and page the same way.
extension AlertIndex {
    /// In which order candidate blocks are read, and when reading may stop.
    enum BlockOrder {
        /// Newest first; stop once `kth` (the page's last time, from the TEMP tables) is newer than every block left.
        case newest(need: Int)
        /// Oldest first, likewise.
        case oldest(need: Int)
        /// Every candidate.
        case all
    }

    struct BlockInfo {
        var block: Int64
        var n: Int
        var minTime: Int64
        var maxTime: Int64
        var severities: Int64
        /// Alerts stored (n less those retention dropped when it wrote the block again).
        var alerts: Int
    }

    static let tempSchema = """
        CREATE TEMP TABLE IF NOT EXISTS alerts(seq INTEGER PRIMARY KEY, id TEXT NOT NULL, time INTEGER NOT NULL, rule_id TEXT NOT NULL,
          severity INTEGER NOT NULL, risk REAL, count INTEGER NOT NULL, source_ip BLOB, destination_ip BLOB, user_name TEXT, key TEXT,
          json TEXT NOT NULL);
        CREATE VIRTUAL TABLE IF NOT EXISTS temp.alerts_fts USING fts5(key, user_name, text);
        DELETE FROM temp.alerts;
        DELETE FROM temp.alerts_fts;
        """

    /// Copies into `temp.alerts` (and `temp.alerts_fts` when the filter has text) a superset of the
    /// alerts `f` selects: every one of them, unless `order` stops early, in which case every one
    /// that can be on the page `kth` describes.
    /// - Parameter kth: the time of the page's last alert among those copied so far (nil: not full yet).
    func materialize(_ db: Database, _ f: AlertFilter, afterSequence: Int64? = nil, order: BlockOrder,
                     kth: ((Database) throws -> Int64?)? = nil) throws {
        try db.execute(sql: Self.tempSchema)
        var blocks = try candidateBlocks(db, f, afterSequence: afterSequence)
        guard !blocks.list.isEmpty else { return }
        switch order {
        case .newest: blocks.list.sort { ($0.maxTime, $0.block) > ($1.maxTime, $1.block) }
        case .oldest: blocks.list.sort { ($0.minTime, $0.block) < ($1.minTime, $1.block) }
        case .all: break
        }
        var copier = try BlockCopier(db: db, bodyPart: bodyPart, filter: f, afterSequence: afterSequence, slots: blocks.slots,
                                     text: f.text.map { BlockTextQuery($0.match) }, textRules: blocks.textRules)
        var copied = 0
        for (i, b) in blocks.list.enumerated() {
            copied += try copier.copy(b)
            guard i + 1 < blocks.list.count, let kth else { continue }
            switch order {
            case .newest(let need) where copied >= need:
                if let t = try kth(db), blocks.list[(i + 1)...].allSatisfy({ $0.maxTime < t }) { return }
            case .oldest(let need) where copied >= need:
                if let t = try kth(db), blocks.list[(i + 1)...].allSatisfy({ $0.minTime > t }) { return }
            default: break
            }
        }
    }

    /// The blocks that may hold alerts `f` selects, and for address filters the slots within them.
    func candidateBlocks(_ db: Database, _ f: AlertFilter, afterSequence: Int64?) throws
        -> (list: [BlockInfo], slots: [Int64: Set<Int>]?, textRules: Set<String>) {
        let from = f.from ?? Int64.min, to = f.to ?? Int64.max
        var list: [BlockInfo] = []
        let rows = try Row.fetchCursor(db, sql: "SELECT block, n, min_time, max_time, severities, alerts FROM alert_blocks WHERE max_time >= ? AND min_time < ? AND block + n > ?",
                                       arguments: [from, to, afterSequence ?? Int64.min])
        while let r = try rows.next() {
            list.append(BlockInfo(block: r[0], n: r[1], minTime: r[2], maxTime: r[3], severities: r[4], alerts: r[5]))
        }
        if let s = f.minSeverity {
            let shift = Int64(max(0, min(s, 62)))
            list.removeAll { $0.severities >> shift == 0 }
        }
        if !f.rules.isEmpty {
            var keep = Set<Int64>()
            for rule in f.rules {
                let ids = try Int64.fetchAll(db, sql: "SELECT block FROM alert_block_rules WHERE rule_id = ? AND max_time >= ? AND min_time < ?",
                                             arguments: [rule, from, to])
                keep.formUnion(ids)
            }
            list.removeAll { !keep.contains($0.block) }
        }
        var textRules = Set<String>()
        if let text = f.text, !list.isEmpty {
            let q = BlockTextQuery(text.match)
            let found: Set<Int64>?
            if textRuns {
                found = try tokenRunBlocks(db, q)
            } else {
                found = try q.blockMatch.map { Set(try Int64.fetchAll(db, sql: "SELECT rowid FROM block_fts WHERE block_fts MATCH ?", arguments: [$0])) }
            }
            if var keep = found {
                if text.searchesRules {
                    textRules = Set(try String.fetchAll(db, sql: "SELECT rule_id FROM rules_fts WHERE rules_fts MATCH ?", arguments: [text.match]))
                    for rule in textRules {
                        keep.formUnion(try Int64.fetchAll(db, sql: "SELECT block FROM alert_block_rules WHERE rule_id = ? AND max_time >= ? AND min_time < ?",
                                                          arguments: [rule, from, to]))
                    }
                }
                list.removeAll { !keep.contains($0.block) }
            } else if text.searchesRules {
                textRules = Set(try String.fetchAll(db, sql: "SELECT rule_id FROM rules_fts WHERE rules_fts MATCH ?", arguments: [text.match]))
            }
        }
        // Addresses: the sorted runs give the matching alerts themselves, unless a range holds
        // more than 20,000 of them (then the blocks are read in order and their columns checked).
        var slots: [Int64: Set<Int>]?
        if !list.isEmpty && (!f.sources.isEmpty || !f.destinations.isEmpty) {
            let segments = try Int64.fetchAll(db, sql: "SELECT segment FROM alert_segments ORDER BY segment DESC")
            var found: [Int64]? = []
            for (kind, networks) in [(RunKind.source, f.sources), (.destination, f.destinations)] where !networks.isEmpty && found != nil {
                var seqs: [Int64] = []
                for n in networks {
                    let (lo, hi) = FixedIPKey.range(n)
                    guard let s = try runSeqs(db, kind: kind, low: RunEntry(ip: lo, seq: 0), high: RunEntry(ip: hi, seq: 0),
                                              segments: segments, cap: 20_000 - seqs.count) else { found = nil; break }
                    seqs += s
                }
                if found != nil {
                    // Both address filters: an alert must be in both.
                    if kind == .destination && !f.sources.isEmpty { found = Array(Set(found!).intersection(seqs)) } else { found = seqs }
                }
            }
            if let found {
                let starts = list.map(\.block).sorted()
                var bySlot: [Int64: Set<Int>] = [:]
                for seq in found {
                    // The block holding seq: the last start at or before it.
                    var lo = 0, hi = starts.count
                    while lo < hi {
                        let mid = (lo + hi) / 2
                        if starts[mid] <= seq { lo = mid + 1 } else { hi = mid }
                    }
                    guard lo > 0 else { continue }
                    let block = starts[lo - 1]
                    bySlot[block, default: []].insert(Int(seq - block))
                }
                list.removeAll { bySlot[$0.block] == nil }
                slots = bySlot
            }
        }
        return (list, slots, textRules)
    }

    // MARK: Block-layout answers

    func blockAlerts(_ q: AlertQuery) throws(AlertIndexError) -> [AlertSummary] {
        let f = q.filter
        let (whereSQL, args) = Self.whereClause(f, afterSequence: q.afterSequence)
        let k = max(0, q.limit) + max(0, q.offset)
        let order: BlockOrder
        if q.afterSequence == nil && q.sort == .time && k > 0 {
            order = q.ascending ? .oldest(need: k) : .newest(need: k)
        } else {
            order = .all
        }
        let dir = q.ascending ? "ASC" : "DESC"
        let kthSQL = """
            SELECT a.time FROM alerts a LEFT JOIN triage t ON t.alert_id = a.id \(whereSQL)
            ORDER BY a.time \(dir), a.seq \(dir) LIMIT 1 OFFSET ?
            """
        var kthArgs = args
        kthArgs += [max(0, k - 1)]
        var arguments = args
        arguments += [max(0, q.limit), max(0, q.offset)]
        let sql = """
            SELECT \(Self.summaryColumns) FROM alerts a LEFT JOIN rules r ON r.id = a.rule_id LEFT JOIN triage t ON t.alert_id = a.id
            \(whereSQL) \(Self.orderClause(q)) LIMIT ? OFFSET ?
            """
        return try read { db in
            try materialize(db, f, afterSequence: q.afterSequence, order: order,
                            kth: { db in try Int64.fetchOne(db, sql: kthSQL, arguments: kthArgs) })
            return try Row.fetchAll(db, sql: sql, arguments: arguments).map(Self.summary)
        }
    }

    func blockCount(_ filter: AlertFilter, cap: Int?) throws(AlertIndexError) -> Int {
        let (whereSQL, args) = Self.whereClause(filter)
        var arguments = args
        let limit: String
        if let cap { limit = " LIMIT ?"; arguments += [cap] } else { limit = "" }
        return try read { db in
            try materialize(db, filter, order: .all)
            return try Int.fetchOne(db, sql: "SELECT count(*) FROM (SELECT 1 FROM alerts a \(Self.triageJoin(filter)) \(whereSQL)\(limit))", arguments: arguments) ?? 0
        }
    }

    /// The newest live version of `id` copied into `temp.alerts` (nothing when there is none).
    func materializeID(_ db: Database, _ id: String) throws {
        try db.execute(sql: Self.tempSchema)
        let segments = try Int64.fetchAll(db, sql: "SELECT segment FROM alert_segments ORDER BY segment DESC")
        var idBytes = id
        guard let found = try idBytes.withUTF8({ try findLatest(db, id: UnsafeRawBufferPointer($0), hash: StableHash.hash(id), segments: segments) }) else { return }
        guard let block = try Int64.fetchOne(db, sql: "SELECT block FROM alert_blocks WHERE block <= ? ORDER BY block DESC LIMIT 1", arguments: [found.seq]) else { return }
        var copier = try BlockCopier(db: db, bodyPart: bodyPart, filter: AlertFilter(), afterSequence: nil, slots: [block: [Int(found.seq - block)]], text: nil, textRules: [])
        let info = try Row.fetchOne(db, sql: "SELECT block, n, min_time, max_time, severities, alerts FROM alert_blocks WHERE block = ?", arguments: [block])!
        _ = try copier.copy(BlockInfo(block: info[0], n: info[1], minTime: info[2], maxTime: info[3], severities: info[4], alerts: info[5]))
    }

    /// The sources with most alerts, counted on the blocks' columns; nil when the filter needs the
    /// alerts' bodies or triage (then the TEMP tables answer).
    func blockTopSources(_ db: Database, _ f: AlertFilter, limit: Int) throws -> [(ip: IPAddress, count: Int)]? {
        guard f.fields.isEmpty, f.text == nil, f.status == nil else { return nil }
        struct Key: Hashable { var a: UInt64, b: UInt64, c: UInt8 }
        var counts: [Key: Int] = [:]
        let blocks = try candidateBlocks(db, f, afterSequence: nil)
        var copier = try BlockCopier(db: db, bodyPart: bodyPart, filter: f, afterSequence: nil, slots: blocks.slots, text: nil, textRules: [])
        copier.onSelected = { cols, slots in
            for i in slots {
                let p = cols.source(i)
                guard p[0] != 0 else { continue }
                let e = RunEntry(ip: p, seq: 0)
                counts[Key(a: e.k0, b: e.k1, c: e.k2), default: 0] += 1
            }
        }
        for b in blocks.list { _ = try copier.copy(b) }
        return counts.sorted { ($0.value, $1.key.a, $1.key.b, $1.key.c) > ($1.value, $0.key.a, $0.key.b, $0.key.c) }.prefix(limit).compactMap { e in
            var key: [UInt8] = []
            withUnsafeBytes(of: e.key.a.bigEndian) { key.append(contentsOf: $0) }
            withUnsafeBytes(of: e.key.b.bigEndian) { key.append(contentsOf: $0) }
            key.append(e.key.c)
            return key.withUnsafeBytes { FixedIPKey.ipKey($0) }.flatMap(IPKey.address).map { ($0, e.value) }
        }
    }

    /// Alerts in the block layout: block sizes less the dead (replaced or deleted) versions.
    func blockTotal(_ db: Database) throws -> Int {
        let n = try Int.fetchOne(db, sql: "SELECT coalesce(sum(alerts), 0) FROM alert_blocks") ?? 0
        let dead = try Int.fetchOne(db, sql: "SELECT count(*) FROM alert_dead") ?? 0
        return n - dead
    }

    /// The oldest and newest alert times (live blocks' bounds).
    func blockExtent(_ db: Database) throws -> (Int64?, Int64?) {
        let r = try Row.fetchOne(db, sql: "SELECT min(min_time), max(max_time) FROM alert_blocks")
        return (r?[0], r?[1])
    }
}

/// Copies the selected alerts of blocks into the TEMP tables.
struct BlockCopier {
    let db: Database
    let conn: OpaquePointer
    let filter: AlertFilter
    let afterSequence: Int64?
    let slots: [Int64: Set<Int>]?
    let needles: [BlockTextQuery.Token]?
    let hasText: Bool
    let textRules: Set<String>
    let sourceRanges: [([UInt8], [UInt8])]
    let destinationRanges: [([UInt8], [UInt8])]
    let ruleSet: Set<String>
    let insert: OpaquePointer
    let ftsInsert: OpaquePointer
    let columnsStmt: OpaquePointer
    let deadStmt: OpaquePointer
    /// The index's alerts per row of bodies.
    let bodyPart: Int
    /// When set, selected slots are handed to it instead of being copied.
    var onSelected: ((AlertBlockColumns, [Int]) -> Void)?
    /// A part of bodies as stored, and decompressed: kept from one part to the next.
    private var storedBuffer: [UInt8] = [], partBuffer: [UInt8] = []

    init(db: Database, bodyPart: Int, filter: AlertFilter, afterSequence: Int64?, slots: [Int64: Set<Int>]?, text: BlockTextQuery?, textRules: Set<String>) throws {
        self.db = db
        self.bodyPart = bodyPart
        conn = db.sqliteConnection!
        self.filter = filter
        self.afterSequence = afterSequence
        self.slots = slots
        hasText = filter.text != nil
        needles = text?.needles
        self.textRules = textRules
        sourceRanges = filter.sources.map { FixedIPKey.range($0) }
        destinationRanges = filter.destinations.map { FixedIPKey.range($0) }
        ruleSet = Set(filter.rules)
        insert = try db.cachedStatement(sql: """
            INSERT INTO temp.alerts(seq, id, time, rule_id, severity, risk, count, source_ip, destination_ip, user_name, key, json)
            VALUES (?,?,?,?,?,?,?,?,?,?,?,?)
            """).sqliteStatement
        ftsInsert = try db.cachedStatement(sql: "INSERT INTO temp.alerts_fts(rowid, key, user_name, text) VALUES (?,?,?,?)").sqliteStatement
        columnsStmt = try db.cachedStatement(sql: "SELECT columns FROM main.alert_block_columns WHERE block = ?").sqliteStatement
        deadStmt = try db.cachedStatement(sql: "SELECT seq FROM main.alert_dead WHERE seq >= ? AND seq < ?").sqliteStatement
    }

    static func inRanges(_ key: UnsafeRawBufferPointer, _ ranges: [([UInt8], [UInt8])]) -> Bool {
        guard key[0] != 0 else { return false }
        for (lo, hi) in ranges {
            let geLo = lo.withUnsafeBytes { memcmp(key.baseAddress!, $0.baseAddress!, 17) >= 0 }
            let leHi = hi.withUnsafeBytes { memcmp(key.baseAddress!, $0.baseAddress!, 17) <= 0 }
            if geLo && leHi { return true }
        }
        return false
    }

    /// Copies the block's selected live alerts; returns how many.
    mutating func copy(_ b: AlertIndex.BlockInfo) throws -> Int {
        // Dead versions in the block.
        var dead = Set<Int>()
        sqlite3_bind_int64(deadStmt, 1, b.block)
        sqlite3_bind_int64(deadStmt, 2, b.block + Int64(b.n))
        while sqlite3_step(deadStmt) == SQLITE_ROW { dead.insert(Int(sqlite3_column_int64(deadStmt, 0) - b.block)) }
        sqlite3_reset(deadStmt)

        let wanted = slots?[b.block]
        let from = filter.from ?? .min, to = filter.to ?? .max
        // Text: the alerts holding a needle (a SIMD scan of the block's lower-cased text), or
        // flagged as having bytes above 0x7F.
        let text = hasText ? try BlockTextReader(conn: conn, block: b.block, alerts: b.alerts) : nil
        var textCandidates: [Bool]?
        if let text, let needles { textCandidates = try text.mark(needles) }
        // A few known alerts of a large block: read only theirs of the columns (incremental
        // blob I/O) into a compact block; otherwise the whole columns blob.
        var sparse: SparseColumns?
        if let wanted, wanted.count * 8 < b.alerts {
            sparse = try SparseColumns(conn: conn, block: b.block, offsets: wanted, slots: nil)
        } else if let textCandidates, textRules.isEmpty, case let picked = textCandidates.indices.filter({ textCandidates[$0] }),
                  picked.count * 8 < b.alerts {
            if picked.isEmpty { return 0 }
            sparse = try SparseColumns(conn: conn, block: b.block, offsets: nil, slots: picked)
        }
        sqlite3_bind_int64(columnsStmt, 1, b.block)
        defer { sqlite3_reset(columnsStmt) }
        let cols: AlertBlockColumns
        var storage: UnsafeMutableRawBufferPointer?
        defer { storage?.deallocate() }
        if let sparse {
            let st = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, sparse.buffer.count), alignment: 8)
            st.copyBytes(from: sparse.buffer)
            storage = st
            cols = try AlertBlockColumns(UnsafeRawBufferPointer(rebasing: st[0..<sparse.buffer.count]))
        } else {
            guard sqlite3_step(columnsStmt) == SQLITE_ROW else { return 0 }
            cols = try AlertBlockColumns(UnsafeRawBufferPointer(start: sqlite3_column_blob(columnsStmt, 0), count: Int(sqlite3_column_bytes(columnsStmt, 0))))
        }
        // The slot in the stored block of each slot of `cols`.
        let original = sparse?.slots
        var selected: [Int] = []
        for i in 0..<cols.n {
            let slot = original?[i] ?? i
            let off = cols.offset(i)
            if let wanted, !wanted.contains(off) { continue }
            if dead.contains(off) { continue }
            let seq = b.block + Int64(off)
            if let after = afterSequence, seq <= after { continue }
            let t = cols.time(i)
            if t < from || t >= to { continue }
            if let s = filter.minSeverity, cols.severity(i) < s { continue }
            if !ruleSet.isEmpty && !ruleSet.contains(cols.rule(i)) { continue }
            if !sourceRanges.isEmpty && !Self.inRanges(cols.source(i), sourceRanges) { continue }
            if !destinationRanges.isEmpty && !Self.inRanges(cols.destination(i), destinationRanges) { continue }
            if let textCandidates, !textCandidates[slot], !textRules.contains(cols.rule(i)) { continue }
            selected.append(i)
        }
        guard !selected.isEmpty else { return 0 }
        if let onSelected {
            onSelected(cols, selected)
            return selected.count
        }
        // Bodies, one by one with incremental blob I/O from the rows of their parts; a compressed
        // part (BodyCodec) is read and decompressed whole.
        var blob: OpaquePointer?
        var openPart = -1
        defer { if let blob { sqlite3_blob_close(blob) } }
        var ends = [UInt32](repeating: 0, count: bodyPart)
        // The open part's size in `partBuffer` when it was compressed; nil: read from its blob.
        var plainCount: Int?
        var body = [UInt8]()
        for i in selected {
            let slot = original?[i] ?? i
            let first = slot / bodyPart * bodyPart
            let count = min(bodyPart, b.alerts - first)
            if first != openPart {
                if let open = blob { sqlite3_blob_close(open); blob = nil }
                guard sqlite3_blob_open(conn, "main", "alert_block_bodies", "bodies", b.block + Int64(first), 0, &blob) == SQLITE_OK, let open = blob else {
                    throw AlertIndexError(.database, "cannot read the bodies of block \(b.block)", cause: String(cString: sqlite3_errmsg(conn)))
                }
                let size = Int(sqlite3_blob_bytes(open))
                var head: UInt32 = 0
                if size >= 4 { _ = withUnsafeMutableBytes(of: &head) { sqlite3_blob_read(open, $0.baseAddress, 4, 0) } }
                if withUnsafeBytes(of: head, { BodyCodec.isCompressed($0) }) {
                    // Both buffers are kept from part to part (see BodyCodec.plain(_:into:)).
                    BodyCodec.reserve(&storedBuffer, size)
                    let rc = storedBuffer.withUnsafeMutableBytes { sqlite3_blob_read(open, $0.baseAddress, Int32(size), 0) }
                    guard rc == SQLITE_OK else { throw AlertIndexError(.database, "cannot read the bodies of block \(b.block)") }
                    let n = try storedBuffer.withUnsafeBytes { (p: UnsafeRawBufferPointer) throws(AlertIndexError) -> Int in
                        try BodyCodec.plain(UnsafeRawBufferPointer(rebasing: p[0..<size]), into: &partBuffer)
                    }
                    guard n >= 4 * count else { throw AlertIndexError(.database, "unreadable bodies of block \(b.block)") }
                    partBuffer.withUnsafeBytes { p in
                        for k in 0..<count { ends[k] = p.loadUnaligned(fromByteOffset: n - 4 * count + 4 * k, as: UInt32.self) }
                    }
                    plainCount = n
                } else {
                    let endsAt = size - 4 * count
                    guard endsAt >= 0 else { throw AlertIndexError(.database, "unreadable bodies of block \(b.block)") }
                    _ = ends.withUnsafeMutableBytes { sqlite3_blob_read(open, $0.baseAddress, Int32(4 * count), Int32(endsAt)) }
                    plainCount = nil
                }
                openPart = first
            }
            let local = slot - first
            let start = local == 0 ? 0 : Int(UInt32(littleEndian: ends[local - 1]))
            let end = Int(UInt32(littleEndian: ends[local]))
            guard local < count, start <= end, end <= (plainCount ?? Int(Int32.max)) else {
                throw AlertIndexError(.database, "unreadable bodies of block \(b.block)")
            }
            if plainCount != nil {
                body = Array(partBuffer[start..<end])
            } else {
                body = [UInt8](repeating: 0, count: end - start)
                if end > start {
                    let rc = body.withUnsafeMutableBytes { sqlite3_blob_read(blob!, $0.baseAddress, Int32(end - start), Int32(start)) }
                    guard rc == SQLITE_OK else { throw AlertIndexError(.database, "cannot read an alert of block \(b.block)") }
                }
            }
            let event = try EventBinaryCodec.decode(body)
            let json = EventJSON.encode(event)
            let (id, user, key) = cols.strings(i)
            let s = insert
            let seq = b.block + Int64(cols.offset(i))
            sqlite3_bind_int64(s, 1, seq)
            SQL.bind(s, 2, id)
            sqlite3_bind_int64(s, 3, cols.time(i))
            SQL.bind(s, 4, cols.rule(i))
            sqlite3_bind_int64(s, 5, Int64(cols.severity(i)))
            if let r = cols.risk(i) { sqlite3_bind_double(s, 6, r) } else { sqlite3_bind_null(s, 6) }
            sqlite3_bind_int64(s, 7, cols.count(i))
            SQL.bind(s, 8, FixedIPKey.ipKey(cols.source(i)))
            SQL.bind(s, 9, FixedIPKey.ipKey(cols.destination(i)))
            SQL.bind(s, 10, user)
            SQL.bind(s, 11, key)
            SQL.bindText(s, 12, json)
            try SQL.step(s, conn)
            if let text {
                // flag, then key \u{1F} user \u{1F} text
                let whole = try text.item(original?[i] ?? i)
                let item = whole.isEmpty ? whole : UnsafeRawBufferPointer(rebasing: whole[1...])
                var parts: [UnsafeRawBufferPointer] = []
                var start = 0
                for (j, c) in item.enumerated() where c == 0x1F && parts.count < 2 {
                    parts.append(UnsafeRawBufferPointer(rebasing: item[start..<j]))
                    start = j + 1
                }
                parts.append(UnsafeRawBufferPointer(rebasing: item[start...]))
                sqlite3_bind_int64(ftsInsert, 1, seq)
                if key == nil { sqlite3_bind_null(ftsInsert, 2) } else { Self.bindText(ftsInsert, 2, parts[0]) }
                if user == nil { sqlite3_bind_null(ftsInsert, 3) } else { Self.bindText(ftsInsert, 3, parts.count > 1 ? parts[1] : UnsafeRawBufferPointer(start: nil, count: 0)) }
                Self.bindText(ftsInsert, 4, parts.count > 2 ? parts[2] : UnsafeRawBufferPointer(start: nil, count: 0))
                try SQL.step(ftsInsert, conn)
            }
        }
        return selected.count
    }

    static func bindText(_ s: OpaquePointer, _ i: Int32, _ b: UnsafeRawBufferPointer) {
        if b.isEmpty {
            // The literal's pointer lives only for the call: SQLite copies (nothing).
            sqlite3_bind_text(s, i, "", 0, SQL.transient)
        } else {
            sqlite3_bind_text(s, i, b.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(b.count), SQL.transient)
        }
    }
}

/// A block's text, read with incremental blob I/O: of a parted blob (``BlockTextCodec``) its
/// directory and Bloom filters, then only the parts a query needs (those whose filter may hold
/// a needle, or that hold a wanted item), each decompressed once; a blob written before parts
/// is read whole.
final class BlockTextReader {
    private let conn: OpaquePointer
    private let blob: OpaquePointer
    private let block: Int64
    private let size: Int
    private let alerts: Int
    /// The directory of a parted blob; nil for one written before parts.
    private var layout: BlockTextCodec.Layout?
    /// The header, directory and blooms (parted), or the whole blob.
    private var prefix: [UInt8] = []
    private var stored: [UInt8] = []
    /// The open part's plain bytes (parted), in memory that stays put while it is open.
    private var plain = UnsafeMutableRawBufferPointer(start: nil, count: 0)
    private var plainCount = 0
    private var openPart = -1

    /// Nil when the block has no text row.
    init?(conn: OpaquePointer, block: Int64, alerts: Int) throws {
        var handle: OpaquePointer?
        guard sqlite3_blob_open(conn, "main", "alert_block_text", "text", block, 0, &handle) == SQLITE_OK, let handle else {
            if let handle { sqlite3_blob_close(handle) }
            return nil
        }
        self.conn = conn
        self.blob = handle
        self.block = block
        self.alerts = alerts
        size = Int(sqlite3_blob_bytes(handle))
        try read(0, min(size, BlockTextCodec.headerSize), into: &prefix)
        let parted = prefix.withUnsafeBytes { BlockTextCodec.isParted(UnsafeRawBufferPointer(rebasing: $0[0..<min(size, 1)])) }
        guard parted else {
            // Written before parts: the whole block's items, then their ends.
            plain = UnsafeMutableRawBufferPointer.allocate(byteCount: max(size, 1), alignment: 8)
            try read(0, size, into: plain)
            plainCount = size
            return
        }
        let (parts, _, bloomWords) = try prefix.withUnsafeBytes { (p: UnsafeRawBufferPointer) throws(AlertIndexError) in
            try BlockTextCodec.partCount(UnsafeRawBufferPointer(rebasing: p[0..<BlockTextCodec.headerSize]), alerts: alerts)
        }
        let prefixSize = BlockTextCodec.directorySize(parts: parts) + 8 * bloomWords * parts
        guard prefixSize <= size else { throw AlertIndexError(.database, "unreadable text of block \(block) (a short blob)") }
        try read(0, prefixSize, into: &prefix)
        layout = try prefix.withUnsafeBytes { (p: UnsafeRawBufferPointer) throws(AlertIndexError) in
            try BlockTextCodec.layout(UnsafeRawBufferPointer(rebasing: p[0..<prefixSize]), alerts: alerts, size: size)
        }
    }

    deinit {
        sqlite3_blob_close(blob)
        plain.deallocate()
    }

    private func read(_ offset: Int, _ count: Int, into buffer: inout [UInt8]) throws {
        BodyCodec.reserve(&buffer, count)
        try buffer.withUnsafeMutableBytes { try read(offset, count, into: $0) }
    }

    private func read(_ offset: Int, _ count: Int, into buffer: UnsafeMutableRawBufferPointer) throws {
        guard count == 0 || sqlite3_blob_read(blob, buffer.baseAddress, Int32(count), Int32(offset)) == SQLITE_OK else {
            throw AlertIndexError(.database, "cannot read the text of block \(block)", cause: String(cString: sqlite3_errmsg(conn)))
        }
    }

    /// Makes part `p` the open one.
    private func open(_ p: Int) throws {
        guard p != openPart, let layout else { return }
        let part = layout.parts[p]
        let count = min(layout.partSize, alerts - p * layout.partSize)
        try read(part.storedStart, part.storedSize, into: &stored)
        if plain.count < part.plainSize {
            plain.deallocate()
            plain = UnsafeMutableRawBufferPointer.allocate(byteCount: max(part.plainSize, 64 << 10), alignment: 8)
        }
        openPart = -1
        let target = plain
        plainCount = try stored.withUnsafeBytes { (s: UnsafeRawBufferPointer) throws(AlertIndexError) -> Int in
            try BlockTextCodec.plain(UnsafeRawBufferPointer(rebasing: s[0..<part.storedSize]), part: part, alerts: count, into: target)
        }
        openPart = p
    }

    /// Per slot, whether its text holds one of `needles` (or has bytes above 0x7F): of a parted
    /// blob only the parts whose Bloom filter may hold a needle are read (all of them for a
    /// prefix needle).
    func mark(_ needles: [BlockTextQuery.Token]) throws -> [Bool] {
        var marks = [Bool](repeating: false, count: alerts)
        guard let layout else {
            FramedBlob(UnsafeRawBufferPointer(rebasing: plain[0..<plainCount]), count: alerts).markMatches(needles, into: &marks)
            return marks
        }
        // The needles' hashes, when each is a whole token (a prefix cannot be looked up).
        let hashes: [UInt32]? = needles.contains(where: \.prefix) ? nil : needles.map { BlockTextCodec.tokenHash($0.text) }
        var partMarks: [Bool] = []
        for (p, part) in layout.parts.enumerated() {
            if !part.hasHighBytes, let hashes {
                let bloomAt = layout.bloomsAt + 8 * layout.bloomWords * p
                let maybe = prefix.withUnsafeBytes { b in
                    let bloom = UnsafeRawBufferPointer(rebasing: b[bloomAt..<(bloomAt + 8 * layout.bloomWords)])
                    return hashes.contains { BlockTextCodec.bloomMayContain(bloom, $0) }
                }
                if !maybe { continue }
            }
            try open(p)
            let first = p * layout.partSize, count = min(layout.partSize, alerts - first)
            partMarks.removeAll(keepingCapacity: true)
            partMarks.append(contentsOf: repeatElement(false, count: count))
            FramedBlob(UnsafeRawBufferPointer(rebasing: plain[0..<plainCount]), count: count).markMatches(needles, into: &partMarks)
            for i in 0..<count where partMarks[i] { marks[first + i] = true }
        }
        return marks
    }

    /// Slot `slot`'s text item; valid until the next call.
    func item(_ slot: Int) throws -> UnsafeRawBufferPointer {
        guard let layout else { return FramedBlob(UnsafeRawBufferPointer(rebasing: plain[0..<plainCount]), count: alerts).item(slot) }
        let p = slot / layout.partSize
        try open(p)
        let count = min(layout.partSize, alerts - p * layout.partSize)
        return FramedBlob(UnsafeRawBufferPointer(rebasing: plain[0..<plainCount]), count: count).item(slot - p * layout.partSize)
    }
}

/// The columns of a few alerts of a stored block, read with incremental blob I/O and laid out as
/// a block of their own (same format, `n` = their number; offsets kept), so that a query for a
/// handful of alerts in a 2,048-alert block does not copy the whole columns blob.
struct SparseColumns {
    /// The compact columns blob.
    var buffer: [UInt8] = []
    /// Per slot of `buffer`, the slot in the stored block.
    var slots: [Int] = []

    /// The alerts at sequence `offsets` (or at `slots`), in slot order.
    init(conn: OpaquePointer, block: Int64, offsets: Set<Int>?, slots picked: [Int]?) throws {
        var blob: OpaquePointer?
        guard sqlite3_blob_open(conn, "main", "alert_block_columns", "columns", block, 0, &blob) == SQLITE_OK, let blob else {
            throw AlertIndexError(.database, "cannot read the columns of block \(block)", cause: String(cString: sqlite3_errmsg(conn)))
        }
        defer { sqlite3_blob_close(blob) }
        let size = Int(sqlite3_blob_bytes(blob))
        func read(_ at: Int, _ count: Int, into out: inout [UInt8]) throws {
            guard count > 0 else { return }
            let start = out.count
            out += repeatElement(0, count: count)
            let rc = out.withUnsafeMutableBytes { sqlite3_blob_read(blob, $0.baseAddress! + start, Int32(count), Int32(at)) }
            guard rc == SQLITE_OK else { throw AlertIndexError(.database, "cannot read the columns of block \(block)") }
        }
        // The header: version, n, rule count, strings offset, the rules.
        var head: [UInt8] = []
        try read(0, min(size, 11), into: &head)
        guard head.count == 11, head[0] == AlertBlockLayout.version else { throw AlertIndexError(.database, "unreadable alert block \(block)") }
        let n = head.withUnsafeBytes { Int(UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 1, as: UInt32.self))) }
        let ruleCount = head.withUnsafeBytes { Int(UInt16(littleEndian: $0.loadUnaligned(fromByteOffset: 5, as: UInt16.self))) }
        var p = 11
        for _ in 0..<ruleCount {
            var len: [UInt8] = []
            try read(p, 2, into: &len)
            let l = Int(len[0]) | Int(len[1]) << 8
            try read(p + 2, l, into: &head)
            head.insert(contentsOf: len, at: head.count - l)
            p += 2 + l
        }
        let timeAt = p, severityAt = timeAt + 8 * n, countAt = severityAt + n, riskAt = countAt + 8 * n, ruleAt = riskAt + 8 * n
        let sourceAt = ruleAt + 2 * n, destinationAt = sourceAt + 17 * n, fingerprintAt = destinationAt + 17 * n
        let offsetAt = fingerprintAt + 8 * n, stringEndsAt = offsetAt + 4 * n, stringsAt = stringEndsAt + 4 * n
        guard stringsAt <= size else { throw AlertIndexError(.database, "unreadable alert block \(block)") }
        // Which slots.
        var chosen: [Int]
        if let picked {
            chosen = picked
        } else {
            var raw: [UInt8] = []
            try read(offsetAt, 4 * n, into: &raw)
            chosen = []
            raw.withUnsafeBytes { r in
                for i in 0..<n where offsets!.contains(Int(UInt32(littleEndian: r.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))) {
                    chosen.append(i)
                }
            }
        }
        let m = chosen.count
        slots = chosen
        // The compact block: the header with n = m, then each array gathered.
        buffer = head
        withUnsafeBytes(of: UInt32(m).littleEndian) { b in for i in 0..<4 { buffer[1 + i] = b[i] } }
        for (at, width) in [(timeAt, 8), (severityAt, 1), (countAt, 8), (riskAt, 8), (ruleAt, 2), (sourceAt, 17), (destinationAt, 17),
                            (fingerprintAt, 8), (offsetAt, 4)] {
            for s in chosen { try read(at + width * s, width, into: &buffer) }
        }
        let newStringEndsAt = buffer.count
        withUnsafeBytes(of: UInt32(newStringEndsAt).littleEndian) { b in for i in 0..<4 { buffer[7 + i] = b[i] } }
        var strings: [UInt8] = []
        var ends: [UInt32] = []
        for s in chosen {
            var e: [UInt8] = []
            if s > 0 { try read(stringEndsAt + 4 * (s - 1), 8, into: &e) } else { try read(stringEndsAt, 4, into: &e) }
            let (start, end) = e.withUnsafeBytes { r -> (Int, Int) in
                s > 0 ? (Int(UInt32(littleEndian: r.loadUnaligned(fromByteOffset: 0, as: UInt32.self))),
                         Int(UInt32(littleEndian: r.loadUnaligned(fromByteOffset: 4, as: UInt32.self))))
                      : (0, Int(UInt32(littleEndian: r.loadUnaligned(fromByteOffset: 0, as: UInt32.self))))
            }
            try read(stringsAt + start, end - start, into: &strings)
            ends.append(UInt32(strings.count))
        }
        AlertBlockBuilder.putArray(ends, &buffer)
        buffer += strings
    }
}
