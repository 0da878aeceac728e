import Foundation
import GRDB
import GRDBSQLite
import VigilCore

/// Retention and checks in the block layout.
extension AlertIndex {
    /// Deletes every live alert older than `limit` (ns): whole blocks when none of their live
    /// alerts is newer; otherwise the old alerts are marked dead, and a block left at least half
    /// dead is written again without its dead alerts (keeping their sequence numbers). The
    /// block's `min_time` becomes its oldest live alert's. Counts and triage follow. Returns how many.
    func blockDeleteBefore(_ limit: Int64) throws(AlertIndexError) -> Int {
        var total = 0
        while true {
            let n = try writeTransaction { db -> Int in
                let blocks = try Row.fetchAll(db, sql: "SELECT block, n FROM alert_blocks WHERE min_time < ? ORDER BY min_time LIMIT 16", arguments: [limit])
                guard !blocks.isEmpty else { return -1 }
                var deleted = 0
                var counts: [CountKey: Int64] = [:]
                let triage = try db.cachedStatement(sql: "DELETE FROM triage WHERE alert_id = ?")
                let history = try db.cachedStatement(sql: "DELETE FROM triage_history WHERE alert_id = ?")
                for r in blocks {
                    let block: Int64 = r[0], span: Int = r[1]
                    var dead = try deadOffsets(db, block: block, span: span)
                    let columns = try Data.fetchOne(db, sql: "SELECT columns FROM alert_block_columns WHERE block = ?", arguments: [block]) ?? Data()
                    var victims: [Int] = []
                    var liveMin = Int64.max
                    var victimIDs: [String] = []
                    var stored = 0
                    try columns.withUnsafeBytes { p throws in
                        let cols = try AlertBlockColumns(p)
                        stored = cols.n
                        for i in 0..<cols.n where !dead.contains(cols.offset(i)) {
                            let t = cols.time(i)
                            if t < limit {
                                victims.append(cols.offset(i))
                                victimIDs.append(cols.strings(i).id)
                                counts[CountKey(hour: Self.hour(t), rule: cols.rule(i), severity: cols.severity(i)), default: 0] -= 1
                            } else {
                                liveMin = min(liveMin, t)
                            }
                        }
                    }
                    if liveMin == Int64.max {
                        try dropBlock(db, block: block, span: span)
                    } else if (dead.count + victims.count) * 2 >= stored {
                        dead.formUnion(victims)
                        try rewriteBlock(db, block: block, span: span, dropping: dead)
                    } else {
                        for v in victims { try db.execute(sql: "INSERT OR IGNORE INTO alert_dead(seq) VALUES (?)", arguments: [block + Int64(v)]) }
                        try db.execute(sql: "UPDATE alert_blocks SET min_time = ? WHERE block = ?", arguments: [liveMin, block])
                    }
                    for id in victimIDs {
                        try triage.execute(arguments: [id])
                        try history.execute(arguments: [id])
                    }
                    deleted += victims.count
                }
                try Self.applyCounts(counts, db: db)
                return deleted
            }
            if n < 0 { break }
            total += n
        }
        if total > 0 { _ = try dropDeadSegments() }
        return total
    }

    /// Drops the oldest segments of sorted runs whose entries all lie below the oldest block
    /// (every alert and block they point to was deleted); returns how many. Entries of deleted
    /// blocks are otherwise dropped only when their segment is merged, and segments of 65,536
    /// alerts or more are not merged again: without this, retention left the runs of every
    /// deleted alert in the file for good. Segments hold increasing sequence numbers (one
    /// transaction each, or a merge of consecutive ones), so the first one still pointing at a
    /// kept block ends the scan.
    func dropDeadSegments() throws(AlertIndexError) -> Int {
        try writeTransaction { db -> Int in
            let oldest = try Int64.fetchOne(db, sql: "SELECT min(block) FROM alert_blocks") ?? Int64.max
            var dropped: [Int64] = []
            for segment in try Int64.fetchAll(db, sql: "SELECT segment FROM alert_segments ORDER BY segment") {
                var newest = Int64.min
                try forEachRunEntry(db, kind: .id, segment: segment) { newest = max(newest, $0.seq) }
                guard newest < oldest else { break }
                for kind in RunKind.allCases {
                    try db.execute(sql: "DELETE FROM alert_runs WHERE kind = ? AND segment = ?", arguments: [kind.rawValue, segment])
                }
                try db.execute(sql: "DELETE FROM alert_segments WHERE segment = ?", arguments: [segment])
                dropped.append(segment)
            }
            // The writer's list of segments follows (inside the writer's serialized closures).
            blockWriter?.segments.removeAll { dropped.contains($0.id) }
            return dropped.count
        }
    }

    /// Writes every block that holds dead alerts (replaced versions, or alerts deleted by
    /// retention from a block that also holds newer ones) again without them: `vacuum` gives
    /// all their space back, where retention rewrites only blocks left at least half dead.
    /// Returns the blocks written again.
    func compactBlocks() throws(AlertIndexError) -> Int {
        var total = 0
        var after = Int64.min
        while true {
            let n = try writeTransaction { db -> Int in
                let blocks = try Row.fetchAll(db, sql: """
                    SELECT b.block, b.n FROM alert_blocks b
                    WHERE b.block > ? AND EXISTS (SELECT 1 FROM alert_dead d WHERE d.seq >= b.block AND d.seq < b.block + b.n)
                    ORDER BY b.block LIMIT 16
                    """, arguments: [after])
                for r in blocks {
                    let block: Int64 = r[0], span: Int = r[1]
                    let dead = try deadOffsets(db, block: block, span: span)
                    try rewriteBlock(db, block: block, span: span, dropping: dead)
                    after = block
                }
                return blocks.count
            }
            if n == 0 { break }
            total += n
        }
        return total
    }

    /// The offsets in `block` (of `span` sequence numbers) of its dead alerts.
    func deadOffsets(_ db: Database, block: Int64, span: Int) throws -> Set<Int> {
        Set(try Int64.fetchAll(db, sql: "SELECT seq FROM alert_dead WHERE seq >= ? AND seq < ?", arguments: [block, block + Int64(span)]).map { Int($0 - block) })
    }

    /// The distinct tokens of a block's text (of `alerts` alerts), in slot order; nil when it
    /// has no text row.
    private func blockTokens(_ db: Database, block: Int64, alerts: Int) throws -> TokenSet? {
        guard let text = try Data.fetchOne(db, sql: "SELECT text FROM alert_block_text WHERE block = ?", arguments: [block]) else { return nil }
        var tokens = TokenSet()
        try BlockTextCodec.whole(text, alerts: alerts).withUnsafeBytes { p in
            let framed = FramedBlob(p, count: alerts)
            for i in 0..<alerts { tokens.add(framed.item(i)) }
        }
        return tokens
    }

    /// Removes a block with its text document, rule entries, dead marks and blobs (its run
    /// entries, token runs too, are dropped when their segment is next merged or once all of
    /// their segment is below the oldest block (``dropDeadSegments()``), and ignored until
    /// then: lookups keep blocks and alerts that exist).
    func dropBlock(_ db: Database, block: Int64, span: Int) throws {
        let alerts = try Int.fetchOne(db, sql: "SELECT alerts FROM alert_blocks WHERE block = ?", arguments: [block]) ?? 0
        if !textRuns, let tokens = try blockTokens(db, block: block, alerts: alerts) {
            // The FTS5 document the block was indexed with.
            try db.execute(sql: "INSERT INTO block_fts(block_fts, rowid, tokens) VALUES('delete', ?, ?)", arguments: [block, tokens.document])
        }
        try db.execute(sql: "DELETE FROM alert_blocks WHERE block = ?", arguments: [block])
        try db.execute(sql: "DELETE FROM alert_block_columns WHERE block = ?", arguments: [block])
        try db.execute(sql: "DELETE FROM alert_block_text WHERE block = ?", arguments: [block])
        try db.execute(sql: "DELETE FROM alert_block_bodies WHERE part >= ? AND part < ?", arguments: [block, block + Int64(span)])
        try db.execute(sql: "DELETE FROM alert_block_rules WHERE block = ?", arguments: [block])
        try db.execute(sql: "DELETE FROM alert_dead WHERE seq >= ? AND seq < ?", arguments: [block, block + Int64(span)])
    }

    /// Writes a block again without the alerts at offsets `dropping` (their dead marks go too).
    func rewriteBlock(_ db: Database, block: Int64, span: Int, dropping: Set<Int>) throws {
        guard let columns = try Data.fetchOne(db, sql: "SELECT columns FROM alert_block_columns WHERE block = ?", arguments: [block]),
              let text = try Data.fetchOne(db, sql: "SELECT text FROM alert_block_text WHERE block = ?", arguments: [block]) else { return }
        let parts = try Data.fetchAll(db, sql: "SELECT bodies FROM alert_block_bodies WHERE part >= ? AND part < ? ORDER BY part",
                                      arguments: [block, block + Int64(span)])
        var plainParts: [[UInt8]] = []
        for part in parts { plainParts.append(try BodyCodec.plain(part)) }
        var builder = AlertBlockBuilder(bodyPart: bodyPart)
        try columns.withUnsafeBytes { c throws in
            let cols = try AlertBlockColumns(c)
            guard parts.count == (cols.n + bodyPart - 1) / bodyPart else {
                throw AlertIndexError(.database, "block \(block) has \(parts.count) parts of bodies for \(cols.n) alerts")
            }
            try BlockTextCodec.whole(text, alerts: cols.n).withUnsafeBytes { t in
                let texts = FramedBlob(t, count: cols.n)
                for i in 0..<cols.n where !dropping.contains(cols.offset(i)) {
                    let p = i / bodyPart, first = p * bodyPart
                    plainParts[p].withUnsafeBytes { b in
                        let items = FramedBlob(b, count: min(bodyPart, cols.n - first))
                        builder.copy(cols, i, text: texts.item(i), body: items.item(i - first))
                    }
                }
            }
        }
        try dropBlock(db, block: block, span: span)
        guard !builder.isEmpty else { return }
        try flushBlock(&builder, start: block, db: db)
        // flushBlock records the span up to the last kept alert; keep the original one, so that
        // sequence numbers stay with their block.
        try db.execute(sql: "UPDATE alert_blocks SET n = ? WHERE block = ?", arguments: [span, block])
    }

    /// Problems of the block layout: the text index's structure, and the hourly counts against
    /// the live alerts of every block.
    func blockIntegrityProblems(_ db: Database) throws -> [String] {
        var problems: [String] = []
        do {
            try db.execute(sql: "INSERT INTO block_fts(block_fts, rank) VALUES('integrity-check', 1)")
        } catch {
            problems.append("text index: \(error)")
        }
        var cells: [CountKey: Int] = [:]
        var live = 0
        let nextSeq = try Int64.fetchOne(db, sql: "SELECT value FROM index_meta WHERE key = 'next_seq'") ?? 1
        var liveSeqs = SeqBits(below: nextSeq)
        let rows = try Row.fetchCursor(db, sql: "SELECT b.block, b.n, c.columns, b.alerts FROM alert_blocks b JOIN alert_block_columns c ON c.block = b.block")
        while let r = try rows.next() {
            let block: Int64 = r[0], span: Int = r[1], stored: Int = r[3]
            let dead = try deadOffsets(db, block: block, span: span)
            let data: Data = r[2]
            try data.withUnsafeBytes { p throws in
                let cols = try AlertBlockColumns(p)
                if cols.n != stored { problems.append("block \(block) holds \(cols.n) alerts, its row says \(stored)") }
                for i in 0..<cols.n where !dead.contains(cols.offset(i)) {
                    live += 1
                    liveSeqs.insert(block + Int64(cols.offset(i)))
                    cells[CountKey(hour: Self.hour(cols.time(i)), rule: cols.rule(i), severity: cols.severity(i)), default: 0] += 1
                }
            }
        }
        var counted: [CountKey: Int] = [:]
        for r in try Row.fetchAll(db, sql: "SELECT hour, rule_id, severity, alerts FROM alert_counts") {
            counted[CountKey(hour: r[0], rule: r[1], severity: r[2])] = r[3]
        }
        let countedTotal = counted.values.reduce(0, +)
        if countedTotal != live { problems.append("hourly counts hold \(countedTotal) alerts, the index \(live)") }
        let mismatched = Set(cells.keys).union(counted.keys).filter { cells[$0] ?? 0 != counted[$0] ?? 0 }.count
        if mismatched > 0 { problems.append("\(mismatched) hourly counts differ from the alerts") }
        if live != (try blockTotal(db)) { problems.append("the dead marks do not match the blocks") }
        problems += try runIntegrityProblems(db, liveSeqs: liveSeqs, nextSeq: nextSeq)
        if textRuns { problems += try tokenRunProblems(db) }
        return problems
    }

    /// Blocks whose text has tokens but that have no entry in the token runs (their text would
    /// never be found).
    func tokenRunProblems(_ db: Database) throws -> [String] {
        var indexed = Set<Int64>()
        try forEachRunEntry(db, kind: .token) { indexed.insert($0.seq) }
        var problems: [String] = []
        for r in try Row.fetchAll(db, sql: "SELECT block, alerts FROM alert_blocks") {
            let block: Int64 = r[0], alerts: Int = r[1]
            guard !indexed.contains(block), let tokens = try blockTokens(db, block: block, alerts: alerts) else { continue }
            if tokens.count > 0 { problems.append("block \(block) has \(tokens.count) tokens and no entry in the token runs") }
        }
        return problems
    }

    /// The sorted runs: each segment's entries in key order across its chunks, each chunk's
    /// first and last keys those of its entries, no sequence number past the index's next, the
    /// segment's alert count that of its id entries, and every live alert's sequence number in
    /// the id runs (a lookup by id, or an upsert of it, would miss an alert that is not).
    func runIntegrityProblems(_ db: Database, liveSeqs: SeqBits, nextSeq: Int64) throws -> [String] {
        var problems: [String] = []
        var idSeqs = SeqBits(below: nextSeq)
        var segmentAlerts: [Int64: Int] = [:]
        for r in try Row.fetchAll(db, sql: "SELECT segment, alerts FROM alert_segments") { segmentAlerts[r[0]] = r[1] }
        for kind in RunKind.allCases {
            var segment: Int64?
            var previous: RunEntry?
            var idEntries = 0
            func endSegment() {
                if kind == .id, let segment, segmentAlerts[segment] != idEntries {
                    problems.append("run segment \(segment) holds \(idEntries) ids, alert_segments says \(segmentAlerts[segment].map(String.init) ?? "none")")
                }
            }
            let rows = try Row.fetchCursor(db, sql: "SELECT segment, chunk, first_key, last_key, entries FROM alert_runs WHERE kind = ? ORDER BY segment, last_key, chunk",
                                           arguments: [kind.rawValue])
            while let r = try rows.next() {
                let s: Int64 = r[0], chunk: Int64 = r[1], first: Data = r[2], last: Data = r[3], entries: Data = r[4]
                if s != segment { endSegment(); segment = s; previous = nil; idEntries = 0 }
                let name = "run chunk \(kind)/\(s)/\(chunk)"
                guard !entries.isEmpty, entries.count % kind.entryWidth == 0 else { problems.append("\(name): \(entries.count) bytes"); continue }
                entries.withUnsafeBytes { p in
                    var firstKey: [UInt8] = [], lastKey: [UInt8] = []
                    kind.encodeKey(kind.decode(p, at: 0), into: &firstKey)
                    kind.encodeKey(kind.decode(p, at: p.count - kind.entryWidth), into: &lastKey)
                    if firstKey != [UInt8](first) || lastKey != [UInt8](last) { problems.append("\(name): its first or last key is not its entries'") }
                    for o in stride(from: 0, to: p.count, by: kind.entryWidth) {
                        let e = kind.decode(p, at: o)
                        if let previous, Self.keyLess(e, previous) { problems.append("\(name): entries out of key order") }
                        if e.seq < 0 || e.seq >= nextSeq { problems.append("\(name): sequence number \(e.seq) past the index's next (\(nextSeq))") }
                        if kind == .id { idSeqs.insert(e.seq); idEntries += 1 }
                        previous = e
                    }
                }
            }
            endSegment()
        }
        let missing = liveSeqs.count(notIn: idSeqs)
        if missing > 0 { problems.append("\(missing) live alerts have no entry in the id runs") }
        return Array(problems.prefix(20))
    }
}

/// A set of sequence numbers below a bound, a bit each.
struct SeqBits {
    private var words: [UInt64]
    init(below bound: Int64) { words = Array(repeating: 0, count: Int(max(0, bound) + 63) / 64) }
    mutating func insert(_ seq: Int64) {
        guard seq >= 0, Int(seq / 64) < words.count else { return }
        words[Int(seq / 64)] |= 1 << UInt64(seq % 64)
    }
    /// How many of these are not in `other`.
    func count(notIn other: SeqBits) -> Int {
        var n = 0
        for i in words.indices { n += (words[i] & ~(i < other.words.count ? other.words[i] : 0)).nonzeroBitCount }
        return n
    }
}

// MARK: Converting a row-layout index

extension AlertIndex {
    /// Copies this row-layout index into a new block-layout database at `destination` (which must
    /// not exist): every alert (from its stored JSON), the rules, triage status and history, and
    /// the stored offsets, so an indexer resumes where this one stopped. Sequence numbers start
    /// afresh. Run it with the indexer stopped; then replace the old file with the new one.
    /// - Returns: the alerts copied.
    public func convertToBlocks(destination: String, progress: (Int) -> Void = { _ in }) throws(AlertIndexError) -> Int {
        guard layout == .rows else {
            throw AlertIndexError(.database, "\(path) already stores alerts in blocks: nothing to convert")
        }
        guard !FileManager.default.fileExists(atPath: destination) else {
            throw AlertIndexError(.database, "\(destination) exists: give a new file to convert into")
        }
        var config = AlertIndexConfiguration(path: destination)
        config.layout = .blocks
        let target = try AlertIndex(configuration: config)
        defer { target.close() }
        var after: Int64 = 0
        var copied = 0
        while true {
            let chunk = try read { db in
                try Row.fetchAll(db, sql: "SELECT seq, json FROM alerts WHERE seq > ? ORDER BY seq LIMIT 20000", arguments: [after])
                    .map { ($0[0] as Int64, $0[1] as String) }
            }
            guard let last = chunk.last else { break }
            var rows: [AlertRow] = []
            rows.reserveCapacity(chunk.count)
            for (seq, json) in chunk {
                let event: Event
                do { event = try EventJSON.decode(json) } catch {
                    throw AlertIndexError(.database, "alert \(seq) of \(path) is not valid JSON", cause: "\(error)")
                }
                rows.append(try AlertRow(event: event, json: false))
            }
            try target.write(rows)
            copied += rows.count
            progress(copied)
            after = last.0
        }
        // Triage, its history and the offsets in one last transaction.
        let (triage, history, offsets) = try read { db in
            (try Row.fetchAll(db, sql: "SELECT alert_id, status, actor, at, comment FROM triage"),
             try Row.fetchAll(db, sql: "SELECT alert_id, status, actor, at, comment FROM triage_history ORDER BY n"),
             try Row.fetchAll(db, sql: "SELECT topic, partition, next_offset FROM offsets"))
        }
        try target.writeTransaction { db in
            for r in triage {
                try db.execute(sql: "INSERT INTO triage(alert_id, status, actor, at, comment) VALUES (?,?,?,?,?)", arguments: [r[0], r[1], r[2], r[3], r[4]])
            }
            for r in history {
                try db.execute(sql: "INSERT INTO triage_history(alert_id, status, actor, at, comment) VALUES (?,?,?,?,?)",
                               arguments: [r[0], r[1], r[2], r[3], r[4]])
            }
            for r in offsets {
                try db.execute(sql: "INSERT INTO offsets(topic, partition, next_offset) VALUES (?,?,?)", arguments: [r[0], r[1], r[2]])
            }
        }
        return copied
    }
}
