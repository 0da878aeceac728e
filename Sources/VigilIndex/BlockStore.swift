import CVigilShims
import Foundation
import GRDB
import GRDBSQLite
import VigilCore

/// How an alert index stores its alerts (docs/alerts.md).
public enum AlertIndexLayout: String, Sendable, Equatable, CaseIterable {
    /// One SQLite row per alert with five secondary indexes and an FTS5 entry each (schema v1, v2).
    case rows
    /// Blocks of up to 2,048 alerts per row, block-level rule and text indexes, and sorted runs
    /// of ids and addresses per write (schema v3).
    case blocks
}

/// Which index finds the blocks holding a text's tokens (`index_meta` `block_text`).
enum BlockTextIndex: String, Sendable, Equatable {
    /// One FTS5 document per block in `block_fts` (indexes written before the token runs).
    case fts5
    /// Token runs in `alert_runs` (``TokenKey``): the default.
    case runs
}

/// What the block writer remembers of an indexed alert version.
struct KnownAlert {
    var seq: Int64
    var count: Int64
    var fingerprint: UInt64
    var time: Int64
    /// Its rule: the writer's number for it when the writer knows it (an alert it wrote), or
    /// its id (an alert read from the disk).
    enum Rule { case number(Int), id(String) }
    var rule: Rule
    var severity: Int
}

/// The versions a writer wrote lately, by id hash (``BlockWriterState/recent``): one entry per
/// hash in an open-addressing table of fixed-size entries, the ids' bytes in an arena. (A
/// `Dictionary` of ``KnownAlert``s retained, released and, at each clearing, freed an id string
/// per alert: about 4 % of the indexer's CPU.) It grows rather than drop entries: it must hold
/// every alert of the transaction being written, whose id runs are not on disk yet.
struct RecentAlerts {
    private struct Entry {
        var seq: Int64
        var count: Int64
        var fingerprint: UInt64
        var time: Int64
        var idStart: UInt32
        var idLength: UInt32
        var rule: Int32
        var severity: Int32
    }
    /// Per slot the hash it holds (0: empty; a hash of 0 is kept as 1), probed alone: a miss,
    /// the common case, reads 8 bytes per slot rather than a whole entry.
    private var keys: [UInt64]
    private var entries: [Entry]
    private var ids: [UInt8] = []
    private var mask: Int
    private(set) var count = 0

    init(capacity: Int) {
        var size = 1024
        while size * 5 < capacity * 8 { size <<= 1 }
        keys = Array(repeating: 0, count: size)
        entries = Array(repeating: Entry(seq: 0, count: 0, fingerprint: 0, time: 0, idStart: 0, idLength: 0, rule: 0, severity: 0), count: size)
        mask = size - 1
        ids.reserveCapacity(capacity * 24)
    }

    /// Empties it, keeping its memory.
    mutating func removeAll() {
        keys.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        ids.removeAll(keepingCapacity: true)
        count = 0
    }

    @inline(__always) private static func key(_ hash: UInt64) -> UInt64 { hash == 0 ? 1 : hash }

    /// The slot of `key`, or the empty slot where it would go.
    @inline(__always)
    private func slot(_ key: UInt64) -> Int {
        keys.withUnsafeBufferPointer { keys in
            var s = Int(truncatingIfNeeded: key) & mask
            while keys[s] != 0 && keys[s] != key { s = (s + 1) & mask }
            return s
        }
    }

    /// Starts bringing in the slot where ``find(_:id:)`` of `hash` begins (the table is far
    /// larger than the caches: a lookup is a miss to memory).
    /// (Mutating, though it changes nothing: called on the writer state's property, a
    /// non-mutating method had the table copied out first, its three arrays retained and released.)
    @inline(__always)
    mutating func prefetch(_ hash: UInt64) {
        keys.withUnsafeBufferPointer { vigil_prefetch($0.baseAddress! + (Int(truncatingIfNeeded: Self.key(hash)) & mask)) }
    }

    /// The version of `id` (whose hash is `hash`) written lately, if any.
    func find(_ hash: UInt64, id: UnsafeRawBufferPointer) -> KnownAlert? {
        let s = slot(Self.key(hash))
        guard keys[s] != 0 else { return nil }
        let e = entries[s]
        let same = id.count == Int(e.idLength)
            && ids.withUnsafeBufferPointer { id.isEmpty || memcmp($0.baseAddress! + Int(e.idStart), id.baseAddress!, id.count) == 0 }
        guard same else { return nil }
        return KnownAlert(seq: e.seq, count: e.count, fingerprint: e.fingerprint, time: e.time, rule: .number(Int(e.rule)), severity: Int(e.severity))
    }

    /// Records the version of `id` just written (replacing what its hash held).
    mutating func set(_ hash: UInt64, id: UnsafeRawBufferPointer, seq: Int64, count: Int64, fingerprint: UInt64, time: Int64, rule: Int, severity: Int) {
        let key = Self.key(hash)
        var s = slot(key)
        if keys[s] == 0 {
            if (self.count + 1) * 8 > keys.count * 5 {
                grow()
                s = slot(key)
            }
            keys[s] = key
            self.count += 1
        }
        let start = ids.count
        ids.appendRaw(id)
        entries[s] = Entry(seq: seq, count: count, fingerprint: fingerprint, time: time, idStart: UInt32(truncatingIfNeeded: start),
                           idLength: UInt32(truncatingIfNeeded: ids.count - start), rule: Int32(truncatingIfNeeded: rule),
                           severity: Int32(truncatingIfNeeded: severity))
    }

    private mutating func grow() {
        let oldKeys = keys, oldEntries = entries
        keys = Array(repeating: 0, count: oldKeys.count * 2)
        entries += oldEntries
        mask = keys.count - 1
        for i in oldKeys.indices where oldKeys[i] != 0 {
            let s = slot(oldKeys[i])
            keys[s] = oldKeys[i]
            entries[s] = oldEntries[i]
        }
    }
}

/// A Bloom filter over alert id hashes: every id in the index is in it (a superset), so a miss
/// proves an id new without reading the disk.
struct IDBloom {
    var bits: [UInt64]
    var mask: UInt64
    var inserted = 0

    init(bitCount: Int) {
        var n = 1 << 20
        while n < bitCount { n <<= 1 }
        bits = Array(repeating: 0, count: n / 64)
        mask = UInt64(n - 1)
    }

    var capacity: Int { bits.count * 64 / 20 }

    // Blocked: the 4 bits of an id lie in one 512-bit block (one cache line).
    @inline(__always) private func word(_ h: UInt64, _ k: Int) -> (Int, UInt64) {
        let block = Int(truncatingIfNeeded: (h >> 9) & (mask >> 9)) << 3
        let bit = (h >> UInt64(32 + 9 * k)) & 511
        return (block + Int(bit >> 6), 1 << (bit & 63))
    }

    @inline(__always) mutating func insert(_ h: UInt64) {
        for k in 0..<3 {
            let (w, m) = word(h, k)
            bits[w] |= m
        }
        inserted += 1
    }

    /// Starts bringing in the cache line of `h`'s bits. (Mutating, though it changes nothing:
    /// see ``RecentAlerts/prefetch(_:)``.)
    @inline(__always) mutating func prefetch(_ h: UInt64) {
        bits.withUnsafeBufferPointer { vigil_prefetch($0.baseAddress! + word(h, 0).0) }
    }

    @inline(__always) func contains(_ h: UInt64) -> Bool {
        for k in 0..<3 {
            let (w, m) = word(h, k)
            if bits[w] & m == 0 { return false }
        }
        return true
    }
}

/// The block writer's state (writer connection only).
final class BlockWriterState {
    // exclusivity(unchecked): used by the writer thread alone, one access at a time (the
    // runtime's dynamic checks cost the writer about 1 % of its CPU).
    @exclusivity(unchecked) var nextSeq: Int64
    @exclusivity(unchecked) var nextSegment: Int64
    /// Segments (one per transaction, merged while small): id → alerts.
    @exclusivity(unchecked) var segments: [(id: Int64, alerts: Int)]
    /// Versions written by this process, by id hash (cleared past `recentLimit` at a batch
    /// start); an entry whose id differs (a hash collision) is looked up on disk.
    @exclusivity(unchecked) var recent = RecentAlerts(capacity: BlockWriterState.recentLimit + 65_536)
    @exclusivity(unchecked) var bloom: IDBloom
    @exclusivity(unchecked) var builder: AlertBlockBuilder
    /// Rule id → number, and per number the id, name, description and tags last noted.
    @exclusivity(unchecked) var ruleNumbers: [String: Int] = [:]
    @exclusivity(unchecked) var ruleInfo: [(id: String, name: String, description: String, tags: [String])] = []
    /// Per rule number, how many times its texts in ``ruleInfo`` changed.
    @exclusivity(unchecked) var ruleVersions: [Int32] = []
    /// Rule text objects seen lately, by ``AlertRuleText/serial`` (direct-mapped): a row whose
    /// rule object is there, under the current version of its number's texts, needs no lookup
    /// (and the writer does not touch the object, whose reference count the reading thread
    /// changes meanwhile).
    @exclusivity(unchecked) var knownRules = [KnownRule](repeating: KnownRule(serial: -1, number: 0, version: 0), count: 1024)
    struct KnownRule { var serial: Int; var number: Int32; var version: Int32 }
    /// The segment merge's buffers, kept from one merge to the next (``AlertIndex/mergeSmallSegments``).
    @exclusivity(unchecked) var mergeInput: [RunEntry] = [], mergeOutput: [RunEntry] = [], mergeStarts: [Int] = []
    /// The transaction's token run entries (``TokenKey``), when the index keeps token runs.
    @exclusivity(unchecked) var tokenEntries: [RunEntry] = []
    /// While the batch's blocks are sealed before its transaction begins
    /// (``AlertIndex/writeBlocks(_:arena:offsets:db:begin:)``): the sealed blocks, the sequence
    /// numbers of replaced versions, and the rules whose texts to note, all written once the
    /// transaction has begun.
    @exclusivity(unchecked) var deferring = false
    @exclusivity(unchecked) var sealed: [SealedBlock] = []
    @exclusivity(unchecked) var deadSeqs: [Int64] = []
    @exclusivity(unchecked) var rulesToNote: [(id: String, name: String, description: String, tags: [String])] = []
    /// Text arrays of inserted blocks, for the builder to reuse.
    @exclusivity(unchecked) var spareTexts: [[UInt8]] = []
    /// FTS5's tokenizer for tokens with bytes above 0x7F (made with the state, when the index
    /// keeps token runs).
    @exclusivity(unchecked) var unicodeTokenizer: FTS5Tokenizer?
    static let recentLimit = 262_144

    /// Numbers a rule id new to the writer, with the texts it is noted with; returns its number.
    func addRule(_ info: (id: String, name: String, description: String, tags: [String])) -> Int {
        let n = ruleInfo.count
        ruleNumbers[info.id] = n
        ruleInfo.append(info)
        ruleVersions.append(0)
        return n
    }

    init(nextSeq: Int64, nextSegment: Int64, segments: [(id: Int64, alerts: Int)], bloom: IDBloom, bodyPart: Int) {
        builder = AlertBlockBuilder(bodyPart: bodyPart)
        self.nextSeq = nextSeq
        self.nextSegment = nextSegment
        self.segments = segments
        self.bloom = bloom
    }
}

/// A sorted-run entry: a fixed-width key (big-endian, compared bytewise) and a sequence number.
struct RunEntry {
    var k0: UInt64
    var k1: UInt64
    var k2: UInt8
    var seq: Int64

    static func < (a: RunEntry, b: RunEntry) -> Bool {
        if a.k0 != b.k0 { return a.k0 < b.k0 }
        if a.k1 != b.k1 { return a.k1 < b.k1 }
        if a.k2 != b.k2 { return a.k2 < b.k2 }
        return a.seq < b.seq
    }

    init(k0: UInt64, k1: UInt64 = 0, k2: UInt8 = 0, seq: Int64) {
        self.k0 = k0; self.k1 = k1; self.k2 = k2; self.seq = seq
    }

    /// From a 17-byte fixed IP key.
    init(ip p: UnsafeRawBufferPointer, seq: Int64) {
        var a: UInt64 = 0, b: UInt64 = 0
        for i in 0..<8 { a = a << 8 | UInt64(p[i]) }
        for i in 8..<16 { b = b << 8 | UInt64(p[i]) }
        self.init(k0: a, k1: b, k2: p[16], seq: seq)
    }

    init(ip a: IPAddress, seq: Int64) {
        if a.isV4 {
            self.init(k0: 4 << 56 | UInt64(UInt32(truncatingIfNeeded: a.low)) << 24, k1: 0, k2: 0, seq: seq)
        } else {
            self.init(k0: UInt64(a.family.rawValue) << 56 | a.high >> 8, k1: a.high << 56 | a.low >> 8, k2: UInt8(truncatingIfNeeded: a.low), seq: seq)
        }
    }

    init(ip key: [UInt8], seq: Int64) {
        self = key.withUnsafeBytes { RunEntry(ip: $0, seq: seq) }
    }
}

/// A transaction's run entries: per alert its id hash, and its source and destination addresses
/// when it has them.
struct RunEntries {
    var ids: [RunEntry] = [], sources: [RunEntry] = [], destinations: [RunEntry] = []

    init(capacity: Int) {
        ids.reserveCapacity(capacity); sources.reserveCapacity(capacity); destinations.reserveCapacity(capacity)
    }

    /// Adds the entries of `row` with sequence number `seq`.
    @inline(__always)
    mutating func add(_ row: UnsafePointer<AlertRow>, seq: Int64) {
        ids.append(RunEntry(k0: row.pointee.idHash, seq: seq))
        if let s = row.pointee.sourceIP { sources.append(RunEntry(ip: s, seq: seq)) }
        if let d = row.pointee.destinationIP { destinations.append(RunEntry(ip: d, seq: seq)) }
    }

    /// Each list sorted by key (equal keys keep their order).
    mutating func sort() {
        AlertIndex.radixSort(&ids)
        AlertIndex.radixSort(&sources)
        AlertIndex.radixSort(&destinations)
    }
}

/// Kinds of sorted runs.
enum RunKind: Int, CaseIterable {
    /// Alert id hashes, source and destination IP keys (→ the alert's sequence number); tokens
    /// of the block text (``TokenKey`` → the block), in indexes that record `block_text` = `runs`.
    case id = 0, source = 1, destination = 2, token = 3
    var keyWidth: Int { self == .id ? 8 : 17 }
    /// Entries per row: about 3.2 KB, so that a row stays in its b-tree page (16 KB pages keep
    /// rows of up to ~4 KB inline; a longer row spills to overflow pages, mostly empty).
    var chunk: Int { self == .id ? 200 : 128 }

    func encodeKey(_ e: RunEntry, into out: inout [UInt8]) {
        out.appendInteger(e.k0.bigEndian)
        if self != .id {
            out.appendInteger(e.k1.bigEndian)
            out.append(e.k2)
        }
    }

    /// Writes entry `e` (key, then sequence number: ``decode(_:at:)``'s layout) at `offset`.
    @inline(__always)
    func store(_ e: RunEntry, into p: UnsafeMutableRawBufferPointer, at offset: Int) {
        p.storeBytes(of: e.k0.bigEndian, toByteOffset: offset, as: UInt64.self)
        if self == .id {
            p.storeBytes(of: e.seq.bigEndian, toByteOffset: offset + 8, as: Int64.self)
            return
        }
        p.storeBytes(of: e.k1.bigEndian, toByteOffset: offset + 8, as: UInt64.self)
        p[offset + 16] = e.k2
        p.storeBytes(of: e.seq.bigEndian, toByteOffset: offset + 17, as: Int64.self)
    }

    func decode(_ p: UnsafeRawBufferPointer, at offset: Int) -> RunEntry {
        let k0 = UInt64(bigEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
        if self == .id {
            return RunEntry(k0: k0, seq: Int64(bigEndian: p.loadUnaligned(fromByteOffset: offset + 8, as: Int64.self)))
        }
        let k1 = UInt64(bigEndian: p.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self))
        return RunEntry(k0: k0, k1: k1, k2: p[offset + 16], seq: Int64(bigEndian: p.loadUnaligned(fromByteOffset: offset + 17, as: Int64.self)))
    }

    var entryWidth: Int { keyWidth + 8 }
}

extension AlertIndex {
    static let blockSchema = """
        CREATE TABLE IF NOT EXISTS index_meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;
        CREATE TABLE alert_blocks(block INTEGER PRIMARY KEY, n INTEGER NOT NULL, alerts INTEGER NOT NULL, min_time INTEGER NOT NULL, max_time INTEGER NOT NULL,
          severities INTEGER NOT NULL);
        CREATE INDEX alert_blocks_time ON alert_blocks(max_time);
        CREATE INDEX alert_blocks_min_time ON alert_blocks(min_time);
        CREATE TABLE alert_block_columns(block INTEGER PRIMARY KEY, columns BLOB NOT NULL);
        CREATE TABLE alert_block_text(block INTEGER PRIMARY KEY, text BLOB NOT NULL);
        CREATE TABLE alert_block_bodies(part INTEGER PRIMARY KEY, bodies BLOB NOT NULL);
        CREATE TABLE alert_block_rules(rule_id TEXT NOT NULL, block INTEGER NOT NULL, min_time INTEGER NOT NULL, max_time INTEGER NOT NULL,
          PRIMARY KEY(rule_id, block)) WITHOUT ROWID;
        CREATE VIRTUAL TABLE block_fts USING fts5(tokens, content='', columnsize=0, detail=none);
        CREATE TABLE alert_runs(kind INTEGER NOT NULL, segment INTEGER NOT NULL, last_key BLOB NOT NULL, chunk INTEGER NOT NULL,
          first_key BLOB NOT NULL, entries BLOB NOT NULL, PRIMARY KEY(kind, segment, last_key, chunk)) WITHOUT ROWID;
        CREATE TABLE alert_segments(segment INTEGER PRIMARY KEY, alerts INTEGER NOT NULL);
        CREATE TABLE alert_dead(seq INTEGER PRIMARY KEY);
        """

    /// The layout recorded in the database; a database without one records `preferred`, or
    /// `rows` when it already holds alerts in rows.
    static func settleLayout(_ pool: DatabasePool, preferred: AlertIndexLayout) throws -> AlertIndexLayout {
        try pool.write { db in
            if let stored = try String.fetchOne(db, sql: "SELECT value FROM index_meta WHERE key = 'layout'"),
               let layout = AlertIndexLayout(rawValue: stored) {
                return layout
            }
            let hasRows = try Bool.fetchOne(db, sql: "SELECT EXISTS(SELECT 1 FROM alerts)") ?? false
            let layout: AlertIndexLayout = hasRows ? .rows : preferred
            try db.execute(sql: "INSERT INTO index_meta(key, value) VALUES ('layout', ?)", arguments: [layout.rawValue])
            return layout
        }
    }

    /// Alerts per row of bodies as the database records it; a database without the record
    /// records ``AlertBlockLayout/bodyPart`` when it holds no block yet, else
    /// ``AlertBlockLayout/legacyBodyPart`` (what it was written with).
    static func settleBodyPart(_ pool: DatabasePool) throws -> Int {
        try pool.write { db in
            if let stored = try Int.fetchOne(db, sql: "SELECT value FROM index_meta WHERE key = 'body_part'") {
                guard stored > 0, stored <= AlertBlockLayout.capacity else {
                    throw AlertIndexError(.database, "the index records \(stored) alerts per part of bodies (1 to \(AlertBlockLayout.capacity))")
                }
                return stored
            }
            let hasBlocks = try Bool.fetchOne(db, sql: "SELECT EXISTS(SELECT 1 FROM alert_blocks)") ?? false
            let part = hasBlocks ? AlertBlockLayout.legacyBodyPart : AlertBlockLayout.bodyPart
            try db.execute(sql: "INSERT INTO index_meta(key, value) VALUES ('body_part', ?)", arguments: [part])
            return part
        }
    }

    /// The block text index the database records (`index_meta` `block_text`); a database
    /// without the record records `preferred` when it holds no block yet, else FTS5 (what its
    /// blocks were written with).
    static func settleBlockText(_ pool: DatabasePool, preferred: BlockTextIndex) throws -> BlockTextIndex {
        try pool.write { db in
            if let stored = try String.fetchOne(db, sql: "SELECT value FROM index_meta WHERE key = 'block_text'") {
                guard let kind = BlockTextIndex(rawValue: stored) else {
                    throw AlertIndexError(.database, "the index records an unknown block text index '\(stored)' (fts5 or runs)")
                }
                return kind
            }
            let hasBlocks = try Bool.fetchOne(db, sql: "SELECT EXISTS(SELECT 1 FROM alert_blocks)") ?? false
            let kind = hasBlocks ? BlockTextIndex.fts5 : preferred
            try db.execute(sql: "INSERT INTO index_meta(key, value) VALUES ('block_text', ?)", arguments: [kind.rawValue])
            return kind
        }
    }

    // MARK: Writing blocks

    func loadBlockState(_ db: Database) throws -> BlockWriterState {
        let nextSeq = max(try Int64.fetchOne(db, sql: "SELECT value FROM index_meta WHERE key = 'next_seq'") ?? 1,
                          try Int64.fetchOne(db, sql: "SELECT coalesce(max(block + n), 1) FROM alert_blocks") ?? 1)
        let segments = try Row.fetchAll(db, sql: "SELECT segment, alerts FROM alert_segments ORDER BY segment").map { (id: $0[0] as Int64, alerts: $0[1] as Int) }
        let nextSegment = (segments.last?.id ?? 0) + 1
        let live = try Int.fetchOne(db, sql: "SELECT coalesce(sum(alerts), 0) FROM alert_segments") ?? 0
        var bloom = IDBloom(bitCount: max(1 << 27, live * 40))
        try forEachRunEntry(db, kind: .id) { bloom.insert($0.k0) }
        let state = BlockWriterState(nextSeq: nextSeq, nextSegment: nextSegment, segments: segments, bloom: bloom, bodyPart: bodyPart)
        if textRuns { state.unicodeTokenizer = FTS5Tokenizer(db.sqliteConnection!) }
        return state
    }

    /// Calls `body` with every entry of the runs of `kind` (of one segment, when given), in no
    /// particular order.
    func forEachRunEntry(_ db: Database, kind: RunKind, segment: Int64? = nil, _ body: (RunEntry) -> Void) throws {
        let rows: RowCursor
        if let segment {
            rows = try Row.fetchCursor(db, sql: "SELECT entries FROM alert_runs WHERE kind = ? AND segment = ?", arguments: [kind.rawValue, segment])
        } else {
            rows = try Row.fetchCursor(db, sql: "SELECT entries FROM alert_runs WHERE kind = ?", arguments: [kind.rawValue])
        }
        while let r = try rows.next() {
            let data: Data = r[0]
            data.withUnsafeBytes { p in
                var o = 0
                while o + kind.entryWidth <= p.count {
                    body(kind.decode(p, at: o))
                    o += kind.entryWidth
                }
            }
        }
    }


    /// Indexes `rows` in the block layout. It is called outside any transaction and calls
    /// `begin` to begin one (the caller commits it): first the batch's blocks are made and
    /// sealed without writing to the database (reading it only where an id may be indexed
    /// already), and only then does the transaction begin and write them. The checkpointer copies
    /// the previous transaction's log meanwhile, and a transaction that begins once the whole
    /// log is copied starts the log again from its beginning (SQLite restarts the log only for
    /// a writer whose snapshot needs none of it): the writer rarely waits for a restart.
    func writeBlocks(_ rows: [AlertRow], arena: AlertRowArena?, offsets: [IndexedOffset], db: Database, begin: () throws -> Void) throws -> WriteResult {
        var result = WriteResult()
        if blockWriter == nil { blockWriter = try loadBlockState(db) }
        let state = blockWriter!
        if state.recent.count > BlockWriterState.recentLimit { state.recent.removeAll() }
        if state.bloom.inserted > state.bloom.capacity {
            blockWriter = try loadBlockState(db)
            return try writeBlocks(rows, arena: arena, offsets: offsets, db: db, begin: begin)
        }
        let conn = db.sqliteConnection!
        let segment = state.nextSegment
        // (hour, rule number, severity) → change.
        var cells = CellCounts()
        let dead = try db.cachedStatement(sql: "INSERT OR IGNORE INTO alert_dead(seq) VALUES (?)").sqliteStatement
        var blockStart = state.nextSeq
        state.builder.removeAll()
        state.tokenEntries.removeAll(keepingCapacity: true)
        state.deferring = true
        state.sealed.removeAll()
        state.deadSeqs.removeAll()
        state.rulesToNote.removeAll()
        var begun = false
        // Begins the transaction and writes what was sealed before it.
        func beginTransaction() throws {
            try begin()
            begun = true
            state.deferring = false
            for r in state.rulesToNote { try noteRule(id: r.id, name: r.name, description: r.description, tags: r.tags, db: db) }
            for seq in state.deadSeqs {
                sqlite3_bind_int64(dead, 1, seq)
                try SQL.step(dead, conn)
            }
            for sealed in state.sealed { try insertSealed(sealed, db: db, writer: state) }
            try insertBodies(db, keeping: Self.maximumPendingBodies - 1)
            state.sealed.removeAll()
            state.deadSeqs.removeAll()
            state.rulesToNote.removeAll()
        }
        let arenaBytes = arena?.bytes ?? []
        // Run entries the reading thread sorted (by row index): the writer notes each row's
        // sequence number (-1: not written) and keeps their order. Without them, it collects the
        // entries itself and sorts them.
        let presorted = arena?.sortedRuns.flatMap { $0.ids.count == rows.count ? $0 : nil }
        var runs = RunEntries(capacity: presorted == nil ? rows.count : 0)
        var seqOfRow: [Int64] = presorted == nil ? [] : [Int64](repeating: -1, count: rows.count)
        try arenaBytes.withUnsafeBytes { arenaBytes in
            // Rows are borrowed in place: a copy of each would retain and release its strings.
            try rows.withUnsafeBufferPointer { rows in
                for i in rows.indices {
                    let row = rows.baseAddress! + i
                    // The id lookups of a row a few ahead: their memory arrives while these rows are written.
                    if i + Self.lookAhead < rows.count {
                        let h = (rows.baseAddress! + i + Self.lookAhead).pointee.idHash
                        state.recent.prefetch(h)
                        state.bloom.prefetch(h)
                    }
                    guard let seq = try appendRow(row, arena: arenaBytes, state: state, conn: conn, db: db, dead: dead, result: &result,
                                                  cells: &cells, blockStart: &blockStart) else { continue }
                    if presorted == nil { runs.add(row, seq: seq) } else { seqOfRow[i] = seq }
                    if !begun && state.sealed.count >= sealedBlockLimit { try beginTransaction() }
                }
            }
        }
        if !state.builder.isEmpty {
            let sealed = sealBlock(&state.builder, start: blockStart, deferBodies: true, writer: state)
            if begun { try insertSealed(sealed, db: db, writer: state) } else { state.sealed.append(sealed) }
            state.builder.removeAll()
        }
        if let presorted {
            // The sorted entries of the rows written, with their sequence numbers.
            func numbered(_ entries: [RunEntry]) -> [RunEntry] {
                var out: [RunEntry] = []
                out.reserveCapacity(entries.count)
                for var e in entries where seqOfRow[Int(e.seq)] >= 0 {
                    e.seq = seqOfRow[Int(e.seq)]
                    out.append(e)
                }
                return out
            }
            runs.ids = numbered(presorted.ids)
            runs.sources = numbered(presorted.sources)
            runs.destinations = numbered(presorted.destinations)
        } else {
            runs.sort()
        }
        if textRuns && !runs.ids.isEmpty { Self.radixSort(&state.tokenEntries) }
        if !begun { try beginTransaction() }
        try insertBodies(db)
        if !runs.ids.isEmpty {
            try writeRuns(db, segment: segment, kind: .id, runs.ids)
            try writeRuns(db, segment: segment, kind: .source, runs.sources)
            try writeRuns(db, segment: segment, kind: .destination, runs.destinations)
            if textRuns { try writeRuns(db, segment: segment, kind: .token, state.tokenEntries) }
            try db.execute(sql: "INSERT INTO alert_segments(segment, alerts) VALUES (?, ?)", arguments: [segment, runs.ids.count])
            state.segments.append((segment, runs.ids.count))
            state.nextSegment += 1
            try mergeSmallSegments(db, state)
        }
        try db.execute(sql: "INSERT INTO index_meta(key, value) VALUES ('next_seq', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                       arguments: [state.nextSeq])
        var counts: [CountKey: Int64] = [:]
        cells.flush()
        for (c, n) in cells.other where n != 0 {
            counts[CountKey(hour: c.hour, rule: state.ruleInfo[c.rule].id, severity: c.severity), default: 0] += n
        }
        try Self.applyCounts(counts, db: db)
        try Self.recordOffsets(offsets, db: db)
        return result
    }

    /// (hour, rule number, severity): a cell of the hourly counts a write changes.
    struct Cell: Hashable { var hour: Int64; var rule: Int; var severity: Int }

    /// The changes a write makes to the hourly counts. Alerts mostly arrive in time order, so the
    /// cells of one hour are counted in a flat array by rule number and severity 0…4 (no hashing
    /// per alert); another hour's, or another severity's, go to a dictionary, as does the array
    /// when the hour changes.
    struct CellCounts {
        private(set) var other: [Cell: Int64] = [:]
        private var hour = Int64.min
        private var counts: [Int64] = []
        /// Indices of `counts` that may be non-zero.
        private var touched: [Int] = []

        mutating func add(hour h: Int64, rule: Int, severity: Int, _ n: Int64) {
            guard (0...4).contains(severity) else {
                other[Cell(hour: h, rule: rule, severity: severity), default: 0] += n
                return
            }
            if h != hour {
                flush()
                hour = h
            }
            let i = rule &* 5 &+ severity
            if i >= counts.count { counts += [Int64](repeating: 0, count: max(i + 1 - counts.count, 64 * 5)) }
            if counts[i] == 0 { touched.append(i) }
            counts[i] += n
        }

        /// Moves the array's cells into ``other``.
        mutating func flush() {
            for i in touched where counts[i] != 0 {
                other[Cell(hour: hour, rule: i / 5, severity: i % 5), default: 0] += counts[i]
                counts[i] = 0
            }
            touched.removeAll(keepingCapacity: true)
        }
    }

    /// Notes the rule texts of the row at `rowAt`: at once inside the transaction, or once it
    /// has begun while the batch's blocks are sealed before it.
    private func noteRule(_ rowAt: UnsafePointer<AlertRow>, state: BlockWriterState, db: Database) throws {
        let row = rowAt.pointee
        if state.deferring {
            state.rulesToNote.append((row.ruleID, row.ruleName, row.ruleDescription, row.tags))
        } else {
            try noteRule(id: row.ruleID, name: row.ruleName, description: row.ruleDescription, tags: row.tags, db: db)
        }
    }

    /// Adds one row to the block being built (flushing it when full) and returns its sequence
    /// number, or counts it unchanged and returns nil.
    private func appendRow(_ rowAt: UnsafePointer<AlertRow>, arena: UnsafeRawBufferPointer, state: BlockWriterState, conn: OpaquePointer, db: Database, dead: OpaquePointer,
                           result: inout WriteResult, cells: inout CellCounts, blockStart: inout Int64) throws -> Int64? {
        if let span = rowAt.pointee.span, span.start < 0 || span.end > arena.count {
            throw AlertIndexError(.database, "a row lies outside its batch's bytes (\(span) of \(arena.count))")
        }
        let ruleNumber = try ruleNumber(rowAt, state: state, db: db)
        let fingerprint = rowAt.pointee.fingerprint
        let h = rowAt.pointee.idHash
        return try AlertRow.withStrings(rowAt, arena: arena) { id, user, key throws -> Int64? in
            var old = state.recent.find(h, id: id)
            if old == nil && state.bloom.contains(h) { old = try findLatest(db, id: id, hash: h, segments: state.segments.map { $0.id }) }
            if let old {
                if rowAt.pointee.count < old.count || (rowAt.pointee.count == old.count && fingerprint == old.fingerprint) {
                    result.unchanged += 1
                    return nil
                }
                if state.deferring {
                    state.deadSeqs.append(old.seq)
                } else {
                    sqlite3_bind_int64(dead, 1, old.seq)
                    try SQL.step(dead, conn)
                }
                let oldRule: Int
                switch old.rule {
                case .number(let n): oldRule = n
                case .id(let ruleID):
                    if let n = state.ruleNumbers[ruleID] { oldRule = n } else {
                        // Known by id only: its texts are noted when one of its alerts is written.
                        oldRule = state.addRule((ruleID, "\u{0}", "", []))
                    }
                }
                cells.add(hour: Self.hour(old.time), rule: oldRule, severity: old.severity, -1)
                result.updated += 1
            } else {
                result.inserted += 1
                state.bloom.insert(h)
            }
            let seq = state.nextSeq
            state.nextSeq += 1
            if let span = rowAt.pointee.span {
                state.builder.append(rowAt, ruleNumber: ruleNumber, id: id, user: user, key: key,
                                     body: UnsafeRawBufferPointer(rebasing: arena[span.start..<span.itemStart]),
                                     item: UnsafeRawBufferPointer(rebasing: arena[span.itemStart..<span.tokensStart]),
                                     tokens: UnsafeRawBufferPointer(rebasing: arena[span.tokensStart..<(span.tokensStart + 8 * Int(span.tokenCount))]),
                                     fingerprint: fingerprint)
            } else {
                state.builder.append(rowAt.pointee, ruleNumber: ruleNumber, body: rowAt.pointee.encoded, fingerprint: fingerprint)
            }
            state.recent.set(h, id: id, seq: seq, count: rowAt.pointee.count, fingerprint: fingerprint, time: rowAt.pointee.time,
                             rule: ruleNumber, severity: rowAt.pointee.severity)
            cells.add(hour: Self.hour(rowAt.pointee.time), rule: ruleNumber, severity: rowAt.pointee.severity, 1)
            if state.builder.count == AlertBlockLayout.capacity {
                let sealed = sealBlock(&state.builder, start: blockStart, deferBodies: true, writer: state)
                if state.deferring {
                    state.sealed.append(sealed)
                } else {
                    try insertSealed(sealed, db: db, writer: state)
                    try insertBodies(db, keeping: Self.maximumPendingBodies - 1)
                }
                state.builder.removeAll()
                blockStart = state.nextSeq
            }
            return seq
        }
    }

    /// The writer's number for the rule of the row at `rowAt`, noting its texts when they are
    /// new or changed.
    @inline(__always)
    private func ruleNumber(_ rowAt: UnsafePointer<AlertRow>, state: BlockWriterState, db: Database) throws -> Int {
        let serial = rowAt.pointee.ruleSerial
        let k = serial & (state.knownRules.count - 1)
        let known = state.knownRules[k]
        if known.serial == serial && state.ruleVersions[Int(known.number)] == known.version { return Int(known.number) }
        let rule = rowAt.pointee.rule
        let ruleNumber: Int
        if let n = state.ruleNumbers[rule.id] {
            ruleNumber = n
            let info = state.ruleInfo[n]
            if info.name != rule.name || info.description != rule.description || info.tags != rule.tags {
                try noteRule(rowAt, state: state, db: db)
                state.ruleInfo[n] = (rule.id, rule.name, rule.description, rule.tags)
                state.ruleVersions[n] &+= 1
            }
        } else {
            try noteRule(rowAt, state: state, db: db)
            ruleNumber = state.addRule((rule.id, rule.name, rule.description, rule.tags))
        }
        state.knownRules[k] = BlockWriterState.KnownRule(serial: serial, number: Int32(ruleNumber), version: state.ruleVersions[ruleNumber])
        return ruleNumber
    }

    /// Writes the block `b` holds, starting at sequence `start` (``sealBlock(_:start:deferBodies:writer:)``,
    /// then ``insertSealed(_:db:writer:)``).
    func flushBlock(_ b: inout AlertBlockBuilder, start: Int64, db: Database, deferBodies: Bool = false, writer: BlockWriterState? = nil) throws {
        let sealed = sealBlock(&b, start: start, deferBodies: deferBodies, writer: writer)
        try insertSealed(sealed, db: db, writer: writer)
    }

    /// Makes the rows of the block `b` holds, starting at sequence `start`, without touching the
    /// database (the writer seals the blocks of a batch before its transaction begins: see
    /// ``writeBlocks(_:arena:offsets:db:begin:)``). With `deferBodies`, its bodies are compressed
    /// on another thread while the writer goes on (``BodyJob``); they are inserted by
    /// ``insertBodies(_:keeping:)``, which must run before the transaction commits. The block's
    /// tokens go to `block_fts` with the block, or with token runs to the `writer`'s entries of
    /// the transaction (none without a writer: a block written again by retention holds a subset
    /// of its tokens, whose entries stay). `b` is left to be emptied by the caller.
    func sealBlock(_ b: inout AlertBlockBuilder, start: Int64, deferBodies: Bool, writer: BlockWriterState?) -> SealedBlock {
        var minTime = Int64.max, maxTime = Int64.min, severities: Int64 = 0
        for t in b.times {
            minTime = min(minTime, t)
            maxTime = max(maxTime, t)
        }
        for s in b.severities { severities |= 1 << Int64(min(s, 62)) }
        let sealed = SealedBlock(start: start, span: Int64((b.offsets.last ?? 0) + 1), count: b.count, minTime: minTime, maxTime: maxTime,
                                 severities: severities, columns: b.columnsBlob())
        // The text blob, in parts (BlockTextCodec), in a spare array of the writer's.
        var text = writer?.spareTexts.popLast() ?? []
        b.textBlob(into: &text, scratch: &textScratch)
        sealed.text = text
        sealed.rules = b.rules.enumerated().map { (i, r) in (r, b.ruleTimes[i].min, b.ruleTimes[i].max) }
        precondition(b.bodyPart == bodyPart, "a block builder of \(b.bodyPart) alerts per part of bodies for an index of \(bodyPart)")
        b.closeBodyPart()
        if deferBodies {
            waitForBodies(keeping: Self.maximumPendingBodies - 1)
            let job = BodyJob(start: start, bodies: spareBodies.popLast() ?? [], partEnds: b.bodyPartEnds)
            swap(&job.bodies, &b.bodies)
            pendingBodies.append(job)
            let compressor = jobCompressor, partSize = bodyPart
            bodyQueue.async { job.run(compressor, partSize: partSize) }
        } else {
            sealed.bodies = b.bodies.withUnsafeBytes {
                BodyJob.parts($0, partEnds: b.bodyPartEnds, start: start, partSize: bodyPart, bodyCompressor)
            }
        }
        if textRuns {
            writer.map { b.tokens.appendEntries(block: start, to: &$0.tokenEntries, unicode: $0.unicodeTokenizer) }
        } else {
            sealed.ftsTokens = b.tokens.arena
        }
        return sealed
    }

    /// Inserts the rows of a sealed block (its deferred bodies are inserted by ``insertBodies(_:keeping:)``);
    /// its text array goes back to the `writer`'s spares.
    func insertSealed(_ s: SealedBlock, db: Database, writer: BlockWriterState?) throws {
        let conn = db.sqliteConnection!
        let insert = try db.cachedStatement(sql: "INSERT INTO alert_blocks(block, n, alerts, min_time, max_time, severities) VALUES (?,?,?,?,?,?)").sqliteStatement
        sqlite3_bind_int64(insert, 1, s.start)
        sqlite3_bind_int64(insert, 2, s.span)
        sqlite3_bind_int64(insert, 3, Int64(s.count))
        sqlite3_bind_int64(insert, 4, s.minTime)
        sqlite3_bind_int64(insert, 5, s.maxTime)
        sqlite3_bind_int64(insert, 6, s.severities)
        try SQL.step(insert, conn)
        let columnsInsert = try db.cachedStatement(sql: "INSERT INTO alert_block_columns(block, columns) VALUES (?,?)").sqliteStatement
        sqlite3_bind_int64(columnsInsert, 1, s.start)
        try s.columns.withUnsafeBytes { c in
            // SQLITE_STATIC: SQLite reads the bytes during the step, so the step must run inside
            // this closure (the array may be freed after its last use).
            sqlite3_bind_blob(columnsInsert, 2, c.baseAddress, Int32(c.count), nil)
            try SQL.step(columnsInsert, conn)
        }
        let text = try db.cachedStatement(sql: "INSERT INTO alert_block_text(block, text) VALUES (?,?)").sqliteStatement
        try s.text.withUnsafeBytes { t in
            sqlite3_bind_int64(text, 1, s.start)
            sqlite3_bind_blob(text, 2, t.baseAddress, Int32(t.count), nil)
            try SQL.step(text, conn)
        }
        if let writer {
            s.text.removeAll(keepingCapacity: true)
            writer.spareTexts.append(s.text)
            s.text = []
        }
        try insertBodyParts(s.bodies, db: db)
        let rules = try db.cachedStatement(sql: "INSERT INTO alert_block_rules(rule_id, block, min_time, max_time) VALUES (?,?,?,?)").sqliteStatement
        for (r, lo, hi) in s.rules {
            SQL.bind(rules, 1, r)
            sqlite3_bind_int64(rules, 2, s.start)
            sqlite3_bind_int64(rules, 3, lo)
            sqlite3_bind_int64(rules, 4, hi)
            try SQL.step(rules, conn)
        }
        if let tokens = s.ftsTokens {
            let fts = try db.cachedStatement(sql: "INSERT INTO block_fts(rowid, tokens) VALUES (?,?)").sqliteStatement
            sqlite3_bind_int64(fts, 1, s.start)
            SQL.bindText(fts, 2, tokens)
            try SQL.step(fts, conn)
        }
    }

    /// Waits for the bodies compressed on the other thread, oldest first, until at most
    /// `keeping` remain pending; their arrays go back to later blocks, their parts wait in
    /// ``compressedBodies`` for ``insertBodies(_:keeping:)``.
    func waitForBodies(keeping: Int) {
        while pendingBodies.count > keeping {
            let job = pendingBodies.removeFirst()
            job.done.wait()
            job.bodies.removeAll(keepingCapacity: true)
            spareBodies.append(job.bodies)
            job.bodies = []
            compressedBodies.append(job)
        }
    }

    /// Inserts the bodies of the blocks compressed on the other thread, oldest first (waiting
    /// for them), until at most `keeping` remain pending.
    func insertBodies(_ db: Database, keeping: Int = 0) throws {
        waitForBodies(keeping: keeping)
        for job in compressedBodies { try insertBodyParts(job.parts, db: db) }
        compressedBodies.removeAll()
    }

    /// Inserts (part key, what to store) rows of bodies.
    private func insertBodyParts(_ parts: [(Int64, [UInt8])], db: Database) throws {
        guard !parts.isEmpty else { return }
        let conn = db.sqliteConnection!
        let insert = try db.cachedStatement(sql: "INSERT INTO alert_block_bodies(part, bodies) VALUES (?,?)").sqliteStatement
        for (part, stored) in parts {
            sqlite3_bind_int64(insert, 1, part)
            try stored.withUnsafeBytes { p in
                sqlite3_bind_blob(insert, 2, p.baseAddress, Int32(p.count), nil)
                try SQL.step(insert, conn)
            }
        }
    }

    /// Waits for the bodies compressed on the other thread and drops them (a failed transaction).
    func discardBodies() {
        for job in pendingBodies { job.done.wait() }
        pendingBodies.removeAll()
        compressedBodies.removeAll()
    }

    /// Writes `entries`, sorted by key, as chunks of ``RunKind/chunk`` entries of their kind.
    private func writeRuns(_ db: Database, segment: Int64, kind: RunKind, _ entries: [RunEntry]) throws {
        guard !entries.isEmpty else { return }
        let conn = db.sqliteConnection!
        let insert = try db.cachedStatement(sql: "INSERT INTO alert_runs(kind, segment, last_key, chunk, first_key, entries) VALUES (?,?,?,?,?,?)").sqliteStatement
        // One chunk's entries, written in place at their fixed width (appending each key and
        // sequence number to an array cost ~1,200 instructions per alert).
        let width = kind.entryWidth
        var blob = [UInt8](repeating: 0, count: kind.chunk * width)
        var first: [UInt8] = [], last: [UInt8] = []
        var chunk: Int64 = 0
        var i = 0
        while i < entries.count {
            let end = min(entries.count, i + kind.chunk)
            entries.withUnsafeBufferPointer { e in
                blob.withUnsafeMutableBytes { b in
                    for j in i..<end { kind.store(e[j], into: b, at: (j - i) * width) }
                }
            }
            first.removeAll(keepingCapacity: true); kind.encodeKey(entries[i], into: &first)
            last.removeAll(keepingCapacity: true); kind.encodeKey(entries[end - 1], into: &last)
            sqlite3_bind_int64(insert, 1, Int64(kind.rawValue))
            sqlite3_bind_int64(insert, 2, segment)
            SQL.bind(insert, 3, last)
            sqlite3_bind_int64(insert, 4, chunk)
            SQL.bind(insert, 5, first)
            blob.withUnsafeBytes { _ = sqlite3_bind_blob(insert, 6, $0.baseAddress, Int32((end - i) * width), SQL.transient) }
            try SQL.step(insert, conn)
            chunk += 1
            i = end
        }
    }

    /// Sorts by key, keeping the order of equal keys (entries are appended in sequence order):
    /// a least-significant-byte radix sort that skips the bytes every key shares.
    static func radixSort(_ a: inout [RunEntry]) {
        let n = a.count
        guard n > 1 else { return }
        var tmp = a
        var counts = [Int](repeating: 0, count: 256)
        @inline(__always) func byte(_ e: RunEntry, _ p: Int) -> Int {
            if p == 0 { return Int(e.k2) }
            if p <= 8 { return Int(truncatingIfNeeded: e.k1 >> UInt64(8 * (p - 1))) & 0xFF }
            return Int(truncatingIfNeeded: e.k0 >> UInt64(8 * (p - 9))) & 0xFF
        }
        // The bytes that differ between keys: the others need no pass.
        var or0: UInt64 = 0, and0: UInt64 = .max, or1: UInt64 = 0, and1: UInt64 = .max, or2: UInt8 = 0, and2: UInt8 = .max
        a.withUnsafeBufferPointer { src in
            for e in src {
                or0 |= e.k0; and0 &= e.k0; or1 |= e.k1; and1 &= e.k1; or2 |= e.k2; and2 &= e.k2
            }
        }
        let varying = RunEntry(k0: or0 ^ and0, k1: or1 ^ and1, k2: or2 ^ and2, seq: 0)
        for p in 0..<17 where byte(varying, p) != 0 {
            for i in 0..<256 { counts[i] = 0 }
            a.withUnsafeBufferPointer { src in
                for e in src { counts[byte(e, p)] += 1 }
            }
            var total = 0
            for i in 0..<256 {
                let c = counts[i]
                counts[i] = total
                total += c
            }
            a.withUnsafeBufferPointer { src in
                tmp.withUnsafeMutableBufferPointer { dst in
                    for e in src {
                        let b = byte(e, p)
                        dst[counts[b]] = e
                        counts[b] += 1
                    }
                }
            }
            swap(&a, &tmp)
        }
    }

    /// Merges the newest segments into one while at least 8 of them hold fewer than 65,536
    /// alerts each (so that a lookup seeks few segments), dropping entries of deleted blocks.
    /// Each segment's entries are read in key order (the table's key: segment, last key, chunk)
    /// and the sorted runs are merged in one pass (``mergeRuns``), into buffers the writer keeps:
    /// a merge handles a few hundred thousand entries per kind, and fresh buffers of that size
    /// were new memory, faulted in page by page, at every merge.
    private func mergeSmallSegments(_ db: Database, _ state: BlockWriterState) throws {
        let small = state.segments.reversed().prefix { $0.alerts < 65_536 }
        guard small.count >= 8 else { return }
        let ids = small.map { $0.id }.sorted()
        let oldest = try Int64.fetchOne(db, sql: "SELECT min(block) FROM alert_blocks") ?? 0
        let target = ids[0]
        let list = ids.map(String.init).joined(separator: ",")
        let conn = db.sqliteConnection!
        // Kept alive to the end (its SQLite statement is finalized with it).
        let statement = try db.makeStatement(sql: "SELECT segment, entries FROM alert_runs WHERE kind = ? AND segment IN (\(list)) ORDER BY segment, last_key, chunk")
        defer { withExtendedLifetime(statement) {} }
        let select = statement.sqliteStatement
        var total = 0
        for kind in [RunKind.id, .source, .destination] + (textRuns ? [.token] : []) {
            state.mergeInput.removeAll(keepingCapacity: true)
            state.mergeStarts.removeAll(keepingCapacity: true)
            sqlite3_reset(select)
            sqlite3_bind_int64(select, 1, Int64(kind.rawValue))
            var segment: Int64?
            while try SQL.nextRow(select, conn) {
                let s = sqlite3_column_int64(select, 0)
                if s != segment { state.mergeStarts.append(state.mergeInput.count); segment = s }
                let count = Int(sqlite3_column_bytes(select, 1))
                guard count > 0, let base = sqlite3_column_blob(select, 1) else { continue }
                let p = UnsafeRawBufferPointer(start: base, count: count)
                var o = 0
                while o + kind.entryWidth <= p.count {
                    let e = kind.decode(p, at: o)
                    if e.seq >= oldest { state.mergeInput.append(e) }
                    o += kind.entryWidth
                }
            }
            sqlite3_reset(select)
            state.mergeStarts.append(state.mergeInput.count)
            state.mergeInput.withUnsafeBufferPointer { Self.mergeRuns($0, starts: state.mergeStarts, into: &state.mergeOutput) }
            try db.execute(sql: "DELETE FROM alert_runs WHERE kind = ? AND segment IN (\(list))", arguments: [kind.rawValue])
            if kind == .id { total = state.mergeOutput.count }
            try writeRuns(db, segment: target, kind: kind, state.mergeOutput)
        }
        try db.execute(sql: "DELETE FROM alert_segments WHERE segment IN (\(list))")
        try db.execute(sql: "INSERT INTO alert_segments(segment, alerts) VALUES (?, ?)", arguments: [target, total])
        state.segments.removeAll { ids.contains($0.id) }
        state.segments.append((target, total))
        state.segments.sort { $0.id < $1.id }
    }

    /// Merges sorted runs — `input[starts[i] ..< starts[i + 1]]`, each in (key, sequence)
    /// order — into `out`, in (key, sequence) order: one pass, with a binary heap of the runs'
    /// first entries not yet taken.
    static func mergeRuns(_ input: UnsafeBufferPointer<RunEntry>, starts: [Int], into out: inout [RunEntry]) {
        out.removeAll(keepingCapacity: true)
        out.reserveCapacity(input.count)
        var heap: [(next: Int, end: Int)] = []
        for i in 0..<max(0, starts.count - 1) where starts[i] < starts[i + 1] { heap.append((starts[i], starts[i + 1])) }
        heap.withUnsafeMutableBufferPointer { h in
            var n = h.count
            @inline(__always) func less(_ a: Int, _ b: Int) -> Bool { input[h[a].next] < input[h[b].next] }
            func siftDown(_ start: Int) {
                var i = start
                while true {
                    let l = 2 * i + 1
                    if l >= n { return }
                    var m = l
                    if l + 1 < n, less(l + 1, l) { m = l + 1 }
                    if !less(m, i) { return }
                    h.swapAt(i, m)
                    i = m
                }
            }
            for i in stride(from: n / 2 - 1, through: 0, by: -1) { siftDown(i) }
            while n > 0 {
                out.append(input[h[0].next])
                h[0].next += 1
                if h[0].next == h[0].end {
                    n -= 1
                    if n == 0 { break }
                    h[0] = h[n]
                }
                siftDown(0)
            }
        }
    }

    /// Sequence numbers of run entries in [lo, hi] (inclusive keys), over the given segments;
    /// nil once more than `cap` are found.
    func runSeqs(_ db: Database, kind: RunKind, low: RunEntry, high: RunEntry, segments: [Int64], cap: Int = .max) throws -> [Int64]? {
        var lo: [UInt8] = [], hi: [UInt8] = []
        kind.encodeKey(low, into: &lo)
        kind.encodeKey(high, into: &hi)
        let stmt = try db.cachedStatement(sql: "SELECT first_key, entries FROM alert_runs WHERE kind = ? AND segment = ? AND last_key >= ? ORDER BY last_key, chunk")
        var out: [Int64] = []
        for s in segments {
            let rows = try Row.fetchCursor(stmt, arguments: [kind.rawValue, s, Data(lo)])
            while let r = try rows.next() {
                let first: Data = r[0]
                if Data(hi).lexicographicallyPrecedes(first) { break }
                let data: Data = r[1]
                data.withUnsafeBytes { p in
                    var o = 0
                    while o + kind.entryWidth <= p.count {
                        let e = kind.decode(p, at: o)
                        if Self.keyLess(e, low) { o += kind.entryWidth; continue }
                        if Self.keyLess(high, e) { break }
                        out.append(e.seq)
                        o += kind.entryWidth
                    }
                }
                if out.count > cap { return nil }
            }
        }
        return out
    }

    static func keyLess(_ a: RunEntry, _ b: RunEntry) -> Bool {
        if a.k0 != b.k0 { return a.k0 < b.k0 }
        if a.k1 != b.k1 { return a.k1 < b.k1 }
        return a.k2 < b.k2
    }

    /// The newest live version of `id` on disk, if any.
    func findLatest(_ db: Database, id: UnsafeRawBufferPointer, hash: UInt64, segments: [Int64]) throws -> KnownAlert? {
        let key = RunEntry(k0: hash, seq: 0)
        guard let seqs = try runSeqs(db, kind: .id, low: key, high: key, segments: segments), !seqs.isEmpty else { return nil }
        for seq in seqs.sorted(by: >) {
            if try Bool.fetchOne(db, sql: "SELECT EXISTS(SELECT 1 FROM alert_dead WHERE seq = ?)", arguments: [seq]) == true { continue }
            guard let found = try withBlock(db, containing: seq, body: { cols, slot -> KnownAlert? in
                guard cols.idEquals(slot, id) else { return nil }
                return KnownAlert(seq: seq, count: cols.count(slot), fingerprint: cols.fingerprint(slot), time: cols.time(slot),
                                  rule: .id(cols.rule(slot)), severity: cols.severity(slot))
            }) else { continue }
            if let found { return found }
        }
        return nil
    }

    /// Runs `body` on the columns of the block holding `seq` and its slot; nil when no block does.
    func withBlock<T>(_ db: Database, containing seq: Int64, body: (AlertBlockColumns, Int) throws -> T) throws -> T? {
        let stmt = try db.cachedStatement(sql: """
            SELECT b.block, b.n, c.columns FROM (SELECT block, n FROM alert_blocks WHERE block <= ? ORDER BY block DESC LIMIT 1) b
            JOIN alert_block_columns c ON c.block = b.block
            """).sqliteStatement
        sqlite3_bind_int64(stmt, 1, seq)
        defer { sqlite3_reset(stmt) }
        guard sqlite3_step(stmt) == SQLITE_ROW else { return nil }
        let block = sqlite3_column_int64(stmt, 0), n = sqlite3_column_int64(stmt, 1)
        guard seq < block + n else { return nil }
        let p = UnsafeRawBufferPointer(start: sqlite3_column_blob(stmt, 2), count: Int(sqlite3_column_bytes(stmt, 2)))
        let cols = try AlertBlockColumns(p)
        guard let slot = cols.slot(ofOffset: Int(seq - block)) else { return nil }
        return try body(cols, slot)
    }
}

/// A block's rows made without the database (``AlertIndex/sealBlock(_:start:deferBodies:writer:)``),
/// to insert (``AlertIndex/insertSealed(_:db:writer:)``).
final class SealedBlock {
    let start: Int64
    /// The sequence numbers it spans (up to its last alert's, plus one).
    let span: Int64
    let count: Int
    let minTime: Int64, maxTime: Int64
    /// Bit s set: an alert of severity s (62 and up in bit 62).
    let severities: Int64
    let columns: [UInt8]
    var text: [UInt8] = []
    /// Per rule id: its alerts' earliest and latest times.
    var rules: [(String, Int64, Int64)] = []
    /// (part key, what to store) when the bodies were compressed at once; empty when deferred.
    var bodies: [(Int64, [UInt8])] = []
    /// The block's `block_fts` document, in indexes without token runs.
    var ftsTokens: [UInt8]?

    init(start: Int64, span: Int64, count: Int, minTime: Int64, maxTime: Int64, severities: Int64, columns: [UInt8]) {
        self.start = start
        self.span = span
        self.count = count
        self.minTime = minTime
        self.maxTime = maxTime
        self.severities = severities
        self.columns = columns
    }
}

/// A block's bodies, compressed part by part on the index's body queue while the writer builds
/// the next block (``AlertIndex/flushBlock(_:start:db:deferBodies:)``).
final class BodyJob: @unchecked Sendable {
    // @unchecked: the queue fills `parts` before signalling `done`; the writer reads them after.
    let start: Int64
    /// The block's parts as stored before compression, one after another
    /// (``AlertBlockBuilder/bodies``), and where each ends.
    var bodies: [UInt8]
    let partEnds: [Int]
    /// (part key, what to store) in part order.
    var parts: [(Int64, [UInt8])] = []
    let done = DispatchSemaphore(value: 0)

    init(start: Int64, bodies: [UInt8], partEnds: [Int]) {
        self.start = start
        self.bodies = bodies
        self.partEnds = partEnds
    }

    /// Compresses each part of `partSize` alerts (its bodies, then their ends as `u32`).
    func run(_ compressor: BodyCompressor, partSize: Int) {
        parts = bodies.withUnsafeBytes { Self.parts($0, partEnds: partEnds, start: start, partSize: partSize, compressor) }
        done.signal()
    }

    /// (part key, what to store) for each part of the block starting at `start`: the parts lie
    /// one after another in `bodies`, each ending at its entry of `partEnds`, and hold `partSize`
    /// alerts each (the last one up to that).
    static func parts(_ bodies: UnsafeRawBufferPointer, partEnds: [Int], start: Int64, partSize: Int,
                      _ compressor: BodyCompressor) -> [(Int64, [UInt8])] {
        var out: [(Int64, [UInt8])] = []
        out.reserveCapacity(partEnds.count)
        var from = 0
        for (k, end) in partEnds.enumerated() {
            let stored = compressor.withStored(UnsafeRawBufferPointer(rebasing: bodies[from..<end])) { Array($0) }
            out.append((start + Int64(k * partSize), stored))
            from = end
        }
        return out
    }
}
