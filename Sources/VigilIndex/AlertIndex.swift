import Foundation
import GRDB
import GRDBSQLite
import VigilCore

/// Version of the index schema written by this build (the number of migrations).
public enum AlertIndexSchema {
    public static let version = 3
    /// Nanoseconds in one rollup bucket (an hour): `alert_counts` rows and retention work in whole hours.
    public static let bucket: Int64 = 3_600_000_000_000
}

/// Settings of an alert index.
public struct AlertIndexConfiguration: Sendable, Equatable {
    /// Path of the SQLite database (created with its directory when missing, unless `mustExist`).
    public var path: String
    /// Alerts older than this (ns) are deleted, in whole hours; nil keeps them.
    public var retention: Int64?
    /// Once the database holds more than this many bytes, the oldest hours of alerts are deleted; nil: no limit.
    public var maxSize: Int64?
    /// Fail instead of creating a database that does not exist (query commands).
    public var mustExist = false
    /// Page cache of the writer connection, KiB; nil: 64 MiB in the block layout (about two
    /// transactions' pages: blocks are written once and read back through the memory map, and
    /// each page of cache is memory the process touches), 256 MiB in the row layout (its five
    /// indexes are updated all over).
    public var cacheKiB: Int?
    /// The layout of a new database (`index.layout`). An existing database keeps the layout it
    /// records; one made before layouts existed (schema v2) keeps its rows. Default: blocks.
    public var layout: AlertIndexLayout = .blocks
    /// Once the write-ahead log holds more than this many bytes, the writer waits between
    /// transactions for the checkpointer to copy it all and start it again (``Checkpointer``):
    /// a writer under sustained load would otherwise grow it without end. 128 MiB, about four
    /// transactions of 50,000 alerts: a log of 512 MiB cost ~5 % more CPU per alert over
    /// 10,000,000 alerts (every page of a larger log is new memory to the page cache, and stays
    /// out of the processor's caches), for fewer waits.
    public var logRestartBytes: Int64 = 128 << 20
    /// The block text index of a new database in the block layout (tests make FTS5 ones, as
    /// indexes made before the token runs have).
    var blockText: BlockTextIndex = .runs

    public init(path: String, retention: Int64? = nil, maxSize: Int64? = nil, mustExist: Bool = false) {
        self.path = path
        self.retention = retention
        self.maxSize = maxSize
        self.mustExist = mustExist
    }
}

/// A partition's position in a topic, stored with the rows it produced.
public struct IndexedOffset: Sendable, Equatable {
    public var topic: String
    public var partition: Int
    /// The next offset to index.
    public var next: Int64
    public init(topic: String, partition: Int, next: Int64) {
        self.topic = topic
        self.partition = partition
        self.next = next
    }
}

/// The alert index: one SQLite database (WAL) through GRDB.
///
/// Two layouts (``AlertIndexLayout``, recorded in `index_meta`): **blocks** (schema v3, the
/// default for a new database; BlockStore.swift, BlockQuery.swift, BlockRetention.swift) keeps
/// alerts in blocks of up to 2,048 with block-level indexes; **rows** (below) keeps one row per
/// alert. The rules, counts, offsets and triage tables are shared.
///
/// Row layout (migration `v1`; docs/alerts.md has the full description):
/// - `alerts`: one row per `vigil.alert.id` with typed columns (time ns, rule id, severity, risk,
///   count, source/destination IP as ``IPKey`` blobs, user, key) and the alert JSON. `seq` (the rowid) grows with every insert and update: `--follow` reads
///   `seq > last`. Indexes on id (unique), time, (rule, time), source IP and destination IP
///   (migration `v2` dropped (severity, time) and (seq, time, rule, severity): each index costs
///   every insert).
/// - `alerts_fts`: FTS5 over key, user and the sample's text (its string values), rowid = `seq`;
///   contentless (the values are derived again from the row to delete an entry).
/// - `rules` and `rules_fts`: each rule's name, description and tags, searched with the alerts' text.
/// - `alert_counts`, `alert_counts_daily`: alerts per hour (day), rule and severity, kept with
///   the rows (stats and histograms without scanning alerts).
/// - `offsets`: the next offset per topic partition, written in the transaction of its rows.
/// - `triage`, `triage_history`: the status of an alert, who set it and when; every change.
///
/// Writes are serialized (one writer connection); reads run concurrently on snapshots.
///
/// `@unchecked Sendable`: the pool is thread-safe; `knownRules` is touched only inside writer
/// closures, which GRDB serializes.
public final class AlertIndex: @unchecked Sendable {
    public let configuration: AlertIndexConfiguration
    let pool: DatabasePool
    /// Rule id → name, description, tags as last written to `rules` (writer only).
    private var knownRules: [String: (name: String, description: String, tags: [String])] = [:]
    /// The block layout's writer state (writer only; nil until the first write and after a failed one).
    var blockWriter: BlockWriterState?
    /// Compresses the block layout's bodies (used inside write transactions only), and on the
    /// body queue those of the block before (``BodyJob``), with the arrays they recycle.
    lazy var bodyCompressor = BodyCompressor()
    let jobCompressor = BodyCompressor()
    let bodyQueue = DispatchQueue(label: "vigil.index.bodies")
    /// Blocks whose bodies the body queue compresses, oldest first (at most
    /// ``maximumPendingBodies``, all inserted before a commit), and arrays to recycle.
    var pendingBodies: [BodyJob] = []
    /// Jobs done whose parts are not inserted yet (the blocks were sealed before the transaction
    /// began), oldest first.
    var compressedBodies: [BodyJob] = []
    /// A part of a block's text while it is compressed (writer only).
    var textScratch: [UInt8] = []
    static let maximumPendingBodies = 3
    /// How many rows ahead the block writer prefetches the id lookups' memory.
    static let lookAhead = 8
    /// Blocks a writer seals before its transaction begins, at most (48: about 100,000 alerts;
    /// a larger batch writes the rest of its blocks as it goes, inside the transaction). A
    /// variable for tests.
    var sealedBlockLimit = 48
    var spareBodies: [[UInt8]] = []
    /// How this database stores its alerts.
    public let layout: AlertIndexLayout
    /// The block layout's alerts per row of bodies (``settleBodyPart(_:)``).
    let bodyPart: Int
    /// The block layout's text index is the token runs (``TokenKey``), not `block_fts`.
    let textRuns: Bool
    /// Copies the log into the database off the writer's thread; started by the first
    /// ``write(_:offsets:)`` (query commands never start one).
    private var checkpointer: Checkpointer?
    private let checkpointerLock = NSLock()

    public var path: String { configuration.path }

    /// Opens (creating unless `mustExist`) and migrates the index.
    public init(configuration: AlertIndexConfiguration) throws(AlertIndexError) {
        self.configuration = configuration
        let fm = FileManager.default
        if !fm.fileExists(atPath: configuration.path) {
            if configuration.mustExist {
                throw AlertIndexError(.notFound, "no alert index at \(configuration.path) (run `vigil index` or `vigil run` to build it)")
            }
            let dir = (configuration.path as NSString).deletingLastPathComponent
            if !dir.isEmpty { try? fm.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        }
        var config = Configuration()
        config.busyMode = .timeout(30)
        config.maximumReaderCount = 4
        let cache = configuration.cacheKiB ?? 262_144
        config.prepareDatabase { db in
            if db.configuration.readonly {
                try db.execute(sql: "PRAGMA cache_size = -65536; PRAGMA mmap_size = 1073741824; PRAGMA temp_store = MEMORY")
            } else {
                // Before the first table exists, so that retention can give space back to the file.
                try db.execute(sql: "PRAGMA page_size = 16384; PRAGMA auto_vacuum = INCREMENTAL")
                try db.execute(sql: "PRAGMA synchronous = NORMAL; PRAGMA cache_size = -\(cache); PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 8192; PRAGMA mmap_size = 1073741824")
            }
        }
        do {
            pool = try DatabasePool(path: configuration.path, configuration: config)
            try Self.migrator.migrate(pool)
            layout = try Self.settleLayout(pool, preferred: configuration.layout)
            bodyPart = layout == .blocks ? try Self.settleBodyPart(pool) : AlertBlockLayout.bodyPart
            textRuns = layout == .blocks ? try Self.settleBlockText(pool, preferred: configuration.blockText) == .runs : false
            if layout == .blocks && configuration.cacheKiB == nil {
                try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA cache_size = -65536") }
            }
        } catch {
            throw AlertIndexError(.database, "cannot open the alert index \(configuration.path)", cause: "\(error)")
        }
    }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE alerts(
                  seq INTEGER PRIMARY KEY,
                  id TEXT NOT NULL,
                  time INTEGER NOT NULL,
                  rule_id TEXT NOT NULL,
                  severity INTEGER NOT NULL,
                  risk REAL,
                  count INTEGER NOT NULL,
                  source_ip BLOB,
                  destination_ip BLOB,
                  user_name TEXT,
                  key TEXT,
                  json TEXT NOT NULL);
                CREATE UNIQUE INDEX alerts_id ON alerts(id);
                CREATE INDEX alerts_time ON alerts(time);
                CREATE INDEX alerts_rule_time ON alerts(rule_id, time);
                CREATE INDEX alerts_severity_time ON alerts(severity, time);
                CREATE INDEX alerts_source ON alerts(source_ip);
                CREATE INDEX alerts_destination ON alerts(destination_ip);
                CREATE INDEX alerts_seq_time ON alerts(seq, time, rule_id, severity);
                CREATE VIRTUAL TABLE alerts_fts USING fts5(key, user_name, text, content='', columnsize=0);
                CREATE TABLE rules(id TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT NOT NULL, tags TEXT NOT NULL) WITHOUT ROWID;
                CREATE VIRTUAL TABLE rules_fts USING fts5(rule_id UNINDEXED, name, description, tags);
                CREATE TABLE alert_counts(hour INTEGER NOT NULL, rule_id TEXT NOT NULL, severity INTEGER NOT NULL, alerts INTEGER NOT NULL,
                  PRIMARY KEY(hour, rule_id, severity)) WITHOUT ROWID;
                CREATE TABLE alert_counts_daily(day INTEGER NOT NULL, rule_id TEXT NOT NULL, severity INTEGER NOT NULL, alerts INTEGER NOT NULL,
                  PRIMARY KEY(day, rule_id, severity)) WITHOUT ROWID;
                CREATE TABLE offsets(topic TEXT NOT NULL, partition INTEGER NOT NULL, next_offset INTEGER NOT NULL,
                  PRIMARY KEY(topic, partition)) WITHOUT ROWID;
                CREATE TABLE triage(alert_id TEXT PRIMARY KEY, status TEXT NOT NULL, actor TEXT NOT NULL, at INTEGER NOT NULL, comment TEXT) WITHOUT ROWID;
                CREATE TABLE triage_history(n INTEGER PRIMARY KEY, alert_id TEXT NOT NULL, status TEXT NOT NULL, actor TEXT NOT NULL,
                  at INTEGER NOT NULL, comment TEXT);
                CREATE INDEX triage_history_alert ON triage_history(alert_id, n);
                """)
        }
        // v2: fewer indexes to keep up with the writer. A minimum severity is a filter over the
        // time index (five levels select too much for an index of their own), and text matches
        // are ordered by reading their rows' times (the covering index cost every insert).
        m.registerMigration("v2") { db in
            try db.execute(sql: "DROP INDEX IF EXISTS alerts_severity_time; DROP INDEX IF EXISTS alerts_seq_time")
        }
        // v3: the block layout's tables (docs/alerts.md, "Block layout"), and `index_meta`,
        // which records the layout: a database with alerts in rows keeps them there.
        m.registerMigration("v3") { db in
            try db.execute(sql: Self.blockSchema)
        }
        // v4: the full-text indexes merge their segments 8 at a time (FTS5's default is 4) and
        // keep up to 32 MiB of pending terms (default 1 MiB), so that a transaction's terms go
        // to disk as one segment and are rewritten by fewer merges. Inserting 2,400 blocks of
        // the bench's tokens (transactions of 25 blocks) cost 7.2 s of CPU with the defaults and
        // 4.8 s with these; looking a term up costs about 0.05 ms more (docs/alerts.md). The
        // settings are stored in each table's config and apply to indexes made before.
        m.registerMigration("v4") { db in
            for table in ["block_fts", "alerts_fts"] {
                try db.execute(sql: "INSERT INTO \(table)(\(table), rank) VALUES ('automerge', \(Self.ftsAutomerge))")
                try db.execute(sql: "INSERT INTO \(table)(\(table), rank) VALUES ('hashsize', \(Self.ftsHashSize))")
            }
        }
        return m
    }

    /// FTS5 settings of the alert text indexes (migration `v4`).
    static let ftsAutomerge = 8
    static let ftsHashSize = 32 << 20

    // MARK: Writing

    /// What one ``write(_:offsets:)`` did.
    public struct WriteResult: Sendable, Equatable {
        /// New alert ids.
        public var inserted = 0
        /// Alerts replaced by a later version (a higher count, or the same count with other content).
        public var updated = 0
        /// Versions already indexed, or older than the indexed one: left alone.
        public var unchanged = 0
        public init() {}
    }

    /// Indexes `rows` and records `offsets`, in one transaction: either all of it is in the index
    /// afterwards or none of it.
    ///
    /// Each row is upserted by id: a new id is inserted; an indexed id is replaced when the row's
    /// count is higher (a suppression merge), or equal with different content; a lower count (an
    /// older version, replayed) leaves the indexed one.
    /// - Parameter arena: the bytes of rows read into an ``AlertRowArena`` (the indexer's block layout path).
    /// - Complexity: O(n log N) for n rows into an index of N.
    @discardableResult
    public func write(_ rows: [AlertRow], offsets: [IndexedOffset] = [], arena: AlertRowArena? = nil) throws(AlertIndexError) -> WriteResult {
        try startCheckpointer()
        let checkpointer = checkpointerForWriter
        defer { notifyCheckpointer() }
        do {
            return try pool.writeWithoutTransaction { db in
                self.writes += 1
                let number = self.writes
                do {
                    if let failWrite = self.failWrite, failWrite(number) { throw AlertIndexError(.database, "write \(number) failed (injected)") }
                    let result: WriteResult
                    if self.layout == .blocks {
                        // The blocks are made before the transaction begins (see writeBlocks).
                        result = try self.writeBlocks(rows, arena: arena, offsets: offsets, db: db) {
                            checkpointer?.restartIfLogExceedsLimit()
                            try db.beginTransaction(.immediate)
                        }
                    } else {
                        checkpointer?.restartIfLogExceedsLimit()
                        try db.beginTransaction(.immediate)
                        result = try self.write(rows, offsets: offsets, db: db)
                    }
                    try db.commit()
                    return result
                } catch {
                    // The transaction rolls back: so does what this writer remembers of it.
                    if db.isInsideTransaction { try? db.rollback() }
                    self.discardBodies()
                    self.knownRules.removeAll()
                    self.blockWriter = nil
                    throw error
                }
            }
        } catch let e as AlertIndexError {
            throw e
        } catch {
            throw AlertIndexError(.database, "cannot write to the alert index \(path)", cause: "\(error)")
        }
    }

    private func write(_ rows: [AlertRow], offsets: [IndexedOffset], db: Database) throws -> WriteResult {
        var result = WriteResult()
        let conn = db.sqliteConnection!
        var seq = try Int64.fetchOne(db, sql: "SELECT coalesce(max(seq), 0) + 1 FROM alerts") ?? 1
        let insert = try db.cachedStatement(sql: """
            INSERT INTO alerts(seq, id, time, rule_id, severity, risk, count, source_ip, destination_ip, user_name, key, json)
            VALUES (?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO NOTHING
            """).sqliteStatement
        let ftsInsert = try db.cachedStatement(sql: "INSERT INTO alerts_fts(rowid, key, user_name, text) VALUES (?,?,?,?)").sqliteStatement
        var counts: [CountKey: Int64] = [:]
        for var row in rows {
            try noteRule(row, db: db)
            if row.json.isEmpty { row.json = EventJSON.encode(try EventBinaryCodec.decode(row.encoded)) }
            let s = insert
            sqlite3_bind_int64(s, 1, seq)
            SQL.bind(s, 2, row.id)
            sqlite3_bind_int64(s, 3, row.time)
            SQL.bind(s, 4, row.ruleID)
            sqlite3_bind_int64(s, 5, Int64(row.severity))
            if let r = row.risk { sqlite3_bind_double(s, 6, r) } else { sqlite3_bind_null(s, 6) }
            sqlite3_bind_int64(s, 7, row.count)
            SQL.bind(s, 8, row.sourceIP.map(IPKey.key))
            SQL.bind(s, 9, row.destinationIP.map(IPKey.key))
            SQL.bind(s, 10, row.userName)
            SQL.bind(s, 11, row.key)
            SQL.bindText(s, 12, row.json)
            try SQL.step(s, conn)
            if sqlite3_changes(conn) == 1 {
                try ftsAdd(ftsInsert, conn, seq: seq, row)
                counts[CountKey(hour: Self.hour(row.time), rule: row.ruleID, severity: row.severity), default: 0] += 1
                seq += 1
                result.inserted += 1
                continue
            }
            // The id is indexed: replace it with a later version.
            guard let old = try Row.fetchOne(db, sql: "SELECT seq, time, rule_id, severity, count, key, user_name, CASE WHEN json_type(json, '$.vigil.alert.sample') = 'text' THEN json_extract(json, '$.vigil.alert.sample') END AS sample, json FROM alerts WHERE id = ?",
                                             arguments: [row.id]) else { continue }
            let oldCount: Int64 = old["count"]
            let oldJSON: String = old["json"]
            if row.count < oldCount || (row.count == oldCount && oldJSON.utf8.elementsEqual(row.json)) {
                result.unchanged += 1
                continue
            }
            let oldSeq: Int64 = old["seq"]
            try Self.deleteText(db, seq: oldSeq, old)
            let update = try db.cachedStatement(sql: """
                UPDATE alerts SET seq = ?, time = ?, rule_id = ?, severity = ?, risk = ?, count = ?, source_ip = ?, destination_ip = ?,
                  user_name = ?, key = ?, json = ? WHERE seq = ?
                """).sqliteStatement
            sqlite3_bind_int64(update, 1, seq)
            sqlite3_bind_int64(update, 2, row.time)
            SQL.bind(update, 3, row.ruleID)
            sqlite3_bind_int64(update, 4, Int64(row.severity))
            if let r = row.risk { sqlite3_bind_double(update, 5, r) } else { sqlite3_bind_null(update, 5) }
            sqlite3_bind_int64(update, 6, row.count)
            SQL.bind(update, 7, row.sourceIP.map(IPKey.key))
            SQL.bind(update, 8, row.destinationIP.map(IPKey.key))
            SQL.bind(update, 9, row.userName)
            SQL.bind(update, 10, row.key)
            SQL.bindText(update, 11, row.json)
            sqlite3_bind_int64(update, 12, oldSeq)
            try SQL.step(update, conn)
            try ftsAdd(ftsInsert, conn, seq: seq, row)
            counts[CountKey(hour: Self.hour(old["time"]), rule: old["rule_id"], severity: old["severity"]), default: 0] -= 1
            counts[CountKey(hour: Self.hour(row.time), rule: row.ruleID, severity: row.severity), default: 0] += 1
            seq += 1
            result.updated += 1
        }
        try Self.applyCounts(counts, db: db)
        try Self.recordOffsets(offsets, db: db)
        return result
    }

    /// Stores each partition's next offset, in the transaction of the rows it follows.
    static func recordOffsets(_ offsets: [IndexedOffset], db: Database) throws {
        let offset = try db.cachedStatement(sql: """
            INSERT INTO offsets(topic, partition, next_offset) VALUES (?,?,?)
            ON CONFLICT(topic, partition) DO UPDATE SET next_offset = excluded.next_offset
            """)
        for o in offsets { try offset.execute(arguments: [o.topic, o.partition, o.next]) }
    }

    /// Removes an alert's entry from the (contentless) text index: FTS5 needs the values it
    /// indexed, which are derived again from the row (`key`, `user_name`, `sample` columns of `old`).
    static func deleteText(_ db: Database, seq: Int64, _ old: Row) throws {
        let sample = old["sample"] as String?
        try db.cachedStatement(sql: "INSERT INTO alerts_fts(alerts_fts, rowid, key, user_name, text) VALUES('delete', ?, ?, ?, ?)")
            .execute(arguments: [seq, old["key"] as String?, old["user_name"] as String?, sample.map(AlertRow.searchText)])
    }

    /// Adds per-(hour, rule, severity) changes to the hourly and daily counts.
    static func applyCounts(_ counts: [CountKey: Int64], db: Database) throws {
        var daily: [CountKey: Int64] = [:]
        for (k, n) in counts where n != 0 {
            daily[CountKey(hour: floor(k.hour, 24) / 24, rule: k.rule, severity: k.severity), default: 0] += n
        }
        for (table, unit, deltas) in [("alert_counts", "hour", counts), ("alert_counts_daily", "day", daily)] {
            let add = try db.cachedStatement(sql: """
                INSERT INTO \(table)(\(unit), rule_id, severity, alerts) VALUES (?,?,?,?)
                ON CONFLICT(\(unit), rule_id, severity) DO UPDATE SET alerts = alerts + excluded.alerts
                """)
            for (k, n) in deltas where n != 0 { try add.execute(arguments: [k.hour, k.rule, k.severity, n]) }
            let drop = try db.cachedStatement(sql: "DELETE FROM \(table) WHERE \(unit) = ? AND rule_id = ? AND severity = ? AND alerts <= 0")
            for (k, n) in deltas where n < 0 { try drop.execute(arguments: [k.hour, k.rule, k.severity]) }
        }
    }

    static func floor(_ t: Int64, _ size: Int64) -> Int64 {
        t >= 0 ? t / size * size : (t - size + 1) / size * size
    }

    struct CountKey: Hashable {
        var hour: Int64
        var rule: String
        var severity: Int
    }

    static func hour(_ time: Int64) -> Int64 {
        time >= 0 ? time / AlertIndexSchema.bucket : (time - AlertIndexSchema.bucket + 1) / AlertIndexSchema.bucket
    }

    private func ftsAdd(_ s: OpaquePointer, _ conn: OpaquePointer, seq: Int64, _ row: AlertRow) throws {
        sqlite3_bind_int64(s, 1, seq)
        SQL.bind(s, 2, row.key)
        SQL.bind(s, 3, row.userName)
        SQL.bind(s, 4, row.searchText)
        try SQL.step(s, conn)
    }

    /// Keeps `rules` (names, descriptions, tags for the text search) current.
    func noteRule(_ row: AlertRow, db: Database) throws {
        try noteRule(id: row.ruleID, name: row.ruleName, description: row.ruleDescription, tags: row.tags, db: db)
    }

    func noteRule(id: String, name: String, description: String, tags tagList: [String], db: Database) throws {
        if let known = knownRules[id], known.name == name, known.description == description, known.tags == tagList { return }
        let tags = tagList.joined(separator: " ")
        let signature = name + "\u{1F}" + description + "\u{1F}" + tags
        let stored = try Row.fetchOne(db, sql: "SELECT name, description, tags FROM rules WHERE id = ?", arguments: [id])
        if let stored, (stored["name"] as String) + "\u{1F}" + (stored["description"] as String) + "\u{1F}" + (stored["tags"] as String) == signature {
            knownRules[id] = (name, description, tagList)
            return
        }
        try db.execute(sql: "INSERT INTO rules(id, name, description, tags) VALUES (?,?,?,?) ON CONFLICT(id) DO UPDATE SET name = excluded.name, description = excluded.description, tags = excluded.tags",
                       arguments: [id, name, description, tags])
        try db.execute(sql: "DELETE FROM rules_fts WHERE rule_id = ?", arguments: [id])
        try db.execute(sql: "INSERT INTO rules_fts(rule_id, name, description, tags) VALUES (?,?,?,?)",
                       arguments: [id, name, description, tags])
        knownRules[id] = (name, description, tagList)
    }

    /// The next offset to index for a topic partition, as recorded with the rows; nil when none is.
    public func nextOffset(topic: String, partition: Int) throws(AlertIndexError) -> Int64? {
        try read { db in
            try Int64.fetchOne(db, sql: "SELECT next_offset FROM offsets WHERE topic = ? AND partition = ?", arguments: [topic, partition])
        }
    }

    /// Every recorded offset.
    public func offsets() throws(AlertIndexError) -> [IndexedOffset] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT topic, partition, next_offset FROM offsets ORDER BY topic, partition").map {
                IndexedOffset(topic: $0["topic"], partition: $0["partition"], next: $0["next_offset"])
            }
        }
    }

    /// Runs `body` in a read transaction (a consistent snapshot), mapping database errors.
    func read<T>(_ body: (Database) throws -> T) throws(AlertIndexError) -> T {
        do {
            return try pool.read(body)
        } catch let e as AlertIndexError {
            throw e
        } catch {
            throw AlertIndexError(.database, "cannot read the alert index \(path)", cause: "\(error)")
        }
    }

    /// Runs `body` in a write transaction, mapping database errors.
    func writeTransaction<T>(_ body: (Database) throws -> T) throws(AlertIndexError) -> T {
        defer { notifyCheckpointer() }
        do {
            return try pool.write(body)
        } catch let e as AlertIndexError {
            throw e
        } catch {
            throw AlertIndexError(.database, "cannot write to the alert index \(path)", cause: "\(error)")
        }
    }

    // MARK: Retention

    /// What retention removed.
    public struct RetentionResult: Sendable, Equatable {
        public var deletedByAge = 0
        public var deletedBySize = 0
        /// Bytes of the database (pages in use) afterwards.
        public var bytes: Int64 = 0
    }

    /// Deletes alerts older than `configuration.retention` (whole hours: every alert of an hour
    /// that ended before `now - retention`), then, while the database is larger than
    /// `configuration.maxSize`, the oldest hours of alerts (keeping about 90 % of the limit's worth,
    /// estimated from the bytes per alert); gives the freed pages back to the file. The text
    /// index releases deleted entries as it merges; ``vacuum()`` compacts everything at once.
    @discardableResult
    public func applyRetention(now: Int64 = Timestamp.now().nanoseconds) throws(AlertIndexError) -> RetentionResult {
        var result = RetentionResult()
        if let age = configuration.retention {
            let cutoffHour = Self.hour(now - age)
            result.deletedByAge = try deleteHours(before: cutoffHour)
        }
        if let max = configuration.maxSize, case let used = try usedBytes(), used > max {
            // Deleted text entries leave the text index only as its segments merge, so the size
            // cannot be watched shrink alert by alert: from the bytes per alert, keep what fits
            // in 90 % of the limit, deleting the oldest hours.
            let total = try totalAlerts()
            if total > 0 {
                let keep = Int(Double(max) * 0.9 / (Double(used) / Double(total)))
                while total - result.deletedBySize > keep {
                    guard let oldest = try read({ db in
                        try (layout == .blocks ? blockExtent(db).0 : Int64.fetchOne(db, sql: "SELECT min(time) FROM alerts"))
                    }) else { break }
                    result.deletedBySize += try deleteHours(before: Self.hour(oldest) + 1)
                }
            }
        }
        if result.deletedByAge + result.deletedBySize > 0 {
            // Merge the text index's segments so that deleted entries leave it.
            let fts = layout == .blocks ? "block_fts" : "alerts_fts"
            try writeTransaction { db in try db.execute(sql: "INSERT INTO \(fts)(\(fts), rank) VALUES('merge', 2000)") }
        }
        if result.deletedByAge + result.deletedBySize > 0 {
            do { try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA incremental_vacuum") } } catch {
                throw AlertIndexError(.database, "cannot shrink the alert index \(path)", cause: "\(error)")
            }
        }
        result.bytes = try usedBytes()
        return result
    }

    /// Bytes in the database's pages in use (the file without its free pages and WAL).
    public func usedBytes() throws(AlertIndexError) -> Int64 {
        try read { db in
            let pages = try Int64.fetchOne(db, sql: "PRAGMA page_count") ?? 0
            let free = try Int64.fetchOne(db, sql: "PRAGMA freelist_count") ?? 0
            let size = try Int64.fetchOne(db, sql: "PRAGMA page_size") ?? 4096
            return (pages - free) * size
        }
    }

    /// Deletes every alert of the hours before `hour` (with its text index entries, counts and
    /// triage); returns how many.
    func deleteHours(before hour: Int64) throws(AlertIndexError) -> Int {
        let cutoff = hour.multipliedReportingOverflow(by: AlertIndexSchema.bucket)
        let limit = cutoff.overflow ? (hour < 0 ? Int64.min : Int64.max) : cutoff.partialValue
        if layout == .blocks { return try blockDeleteBefore(limit) }
        var total = 0
        while true {
            let n = try writeTransaction { db -> Int in
                let rows = try Row.fetchAll(db, sql: "SELECT seq, id, time, rule_id, severity, key, user_name, CASE WHEN json_type(json, '$.vigil.alert.sample') = 'text' THEN json_extract(json, '$.vigil.alert.sample') END AS sample FROM alerts WHERE time < ? ORDER BY time LIMIT 20000",
                                            arguments: [limit])
                guard !rows.isEmpty else { return 0 }
                let del = try db.cachedStatement(sql: "DELETE FROM alerts WHERE seq = ?")
                let triage = try db.cachedStatement(sql: "DELETE FROM triage WHERE alert_id = ?")
                let history = try db.cachedStatement(sql: "DELETE FROM triage_history WHERE alert_id = ?")
                var counts: [CountKey: Int64] = [:]
                for r in rows {
                    let seq: Int64 = r["seq"]
                    counts[CountKey(hour: Self.hour(r["time"]), rule: r["rule_id"], severity: r["severity"]), default: 0] -= 1
                    try Self.deleteText(db, seq: seq, r)
                    try del.execute(arguments: [seq])
                    let id: String = r["id"]
                    try triage.execute(arguments: [id])
                    try history.execute(arguments: [id])
                }
                try Self.applyCounts(counts, db: db)
                return rows.count
            }
            total += n
            if n == 0 { break }
        }
        return total
    }

    /// Applies retention, merges the text index, rebuilds the file (VACUUM) and truncates the WAL.
    public func vacuum() throws(AlertIndexError) -> RetentionResult {
        let r = try applyRetention()
        if layout == .blocks { _ = try compactBlocks() }
        do {
            try pool.barrierWriteWithoutTransaction { db in
                try db.execute(sql: "INSERT INTO alerts_fts(alerts_fts) VALUES('optimize')")
                try db.execute(sql: "INSERT INTO block_fts(block_fts) VALUES('optimize')")
                try db.execute(sql: "VACUUM")
                try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)")
            }
        } catch {
            throw AlertIndexError(.database, "cannot vacuum the alert index \(path)", cause: "\(error)")
        }
        var after = r
        after.bytes = try usedBytes()
        return after
    }

    /// Refreshes the query planner's statistics (`ANALYZE`), which choose between the time index
    /// and a filter's own (a wide CIDR is better read by time): `full` after bulk loads; otherwise
    /// sampled (`analysis_limit`, cheap), as the indexer does every minute.
    public func optimize(full: Bool = true) throws(AlertIndexError) {
        do {
            try pool.writeWithoutTransaction { db in
                try db.execute(sql: full ? "ANALYZE" : "PRAGMA analysis_limit = 2000; ANALYZE; PRAGMA analysis_limit = 0")
            }
        } catch {
            throw AlertIndexError(.database, "cannot analyze the alert index \(path)", cause: "\(error)")
        }
    }

    /// Checks the database (SQLite's integrity check), the text index's structure (FTS5's
    /// integrity check; it is contentless, so not against the rows), and the hourly and daily
    /// counts against the rows; returns the problems found.
    public func integrityProblems() throws(AlertIndexError) -> [String] {
        var problems: [String] = []
        do {
            try pool.writeWithoutTransaction { db in
                let sqlite = try String.fetchAll(db, sql: "PRAGMA integrity_check")
                if sqlite != ["ok"] { problems += sqlite.prefix(20).map { "sqlite: \($0)" } }
                if layout == .blocks {
                    problems += try blockIntegrityProblems(db)
                    let days = try Int.fetchOne(db, sql: """
                        SELECT count(*) FROM (SELECT day, rule_id, severity, alerts FROM alert_counts_daily EXCEPT
                        SELECT hour / 24, rule_id, severity, sum(alerts) FROM alert_counts WHERE hour >= 0 GROUP BY 1, 2, 3)
                        """) ?? 0
                    if days > 0 { problems.append("daily counts differ from the hourly counts") }
                    return
                }
                do {
                    try db.execute(sql: "INSERT INTO alerts_fts(alerts_fts, rank) VALUES('integrity-check', 1)")
                } catch {
                    problems.append("text index: \(error)")
                }
                let rows = try Int.fetchOne(db, sql: "SELECT count(*) FROM alerts") ?? 0
                let counted = try Int.fetchOne(db, sql: "SELECT coalesce(sum(alerts), 0) FROM alert_counts") ?? 0
                if rows != counted { problems.append("hourly counts hold \(counted) alerts, the index \(rows)") }
                let mismatched = try Int.fetchOne(db, sql: """
                    SELECT count(*) FROM (SELECT hour, rule_id, severity, alerts FROM alert_counts EXCEPT
                    SELECT time / \(AlertIndexSchema.bucket), rule_id, severity, count(*) FROM alerts WHERE time >= 0 GROUP BY 1, 2, 3)
                    """) ?? 0
                if mismatched > 0 { problems.append("\(mismatched) hourly counts differ from the alerts") }
                let days = try Int.fetchOne(db, sql: """
                    SELECT count(*) FROM (SELECT day, rule_id, severity, alerts FROM alert_counts_daily EXCEPT
                    SELECT hour / 24, rule_id, severity, sum(alerts) FROM alert_counts WHERE hour >= 0 GROUP BY 1, 2, 3)
                    """) ?? 0
                let dayTotal = try Int.fetchOne(db, sql: "SELECT coalesce(sum(alerts), 0) FROM alert_counts_daily") ?? 0
                if days > 0 || dayTotal != rows { problems.append("daily counts differ from the hourly counts") }
            }
        } catch {
            throw AlertIndexError(.database, "cannot check the alert index \(path)", cause: "\(error)")
        }
        return problems
    }

    /// Ends background work and closes the database's connections.
    public func close() {
        checkpointerLock.lock()
        let c = checkpointer
        checkpointer = nil
        checkpointerLock.unlock()
        c?.stop()
        try? pool.close()
    }

    deinit {
        checkpointer?.stop()
    }

    /// Tests only: called with the number of each ``write(_:offsets:arena:)`` (from 1); `true`
    /// makes that transaction fail, as a full disk or an I/O error would.
    var failWrite: ((Int) -> Bool)?
    private var writes = 0

    /// RESTART checkpoints the writer waited for (``AlertIndexConfiguration/logRestartBytes``).
    public var logRestarts: Int { checkpointerForWriter?.restarts ?? 0 }
    /// How long the writer waited for those, in seconds.
    public var logRestartWaitSeconds: Double { Double(checkpointerForWriter?.restartWaitNanoseconds ?? 0) / 1e9 }

    /// The checkpointer, for the writer's thread.
    private var checkpointerForWriter: Checkpointer? {
        checkpointerLock.lock()
        defer { checkpointerLock.unlock() }
        return checkpointer
    }

    private func notifyCheckpointer() {
        checkpointerLock.lock()
        let c = checkpointer
        checkpointerLock.unlock()
        c?.committed()
    }

    /// Hands checkpoints to a ``Checkpointer`` thread: the writer connection stops checkpointing
    /// in its commits.
    private func startCheckpointer() throws(AlertIndexError) {
        checkpointerLock.lock()
        defer { checkpointerLock.unlock() }
        guard checkpointer == nil else { return }
        do {
            try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_autocheckpoint = 0") }
        } catch {
            throw AlertIndexError(.database, "cannot configure the alert index \(path)", cause: "\(error)")
        }
        let c = Checkpointer(path: configuration.path, restartBytes: configuration.logRestartBytes)
        c.start()
        checkpointer = c
    }
}

/// Raw binding for the hot insert path (GRDB's statement arguments allocate per value).
enum SQL {
    /// SQLITE_TRANSIENT: SQLite copies the bytes.
    static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
    private static let empty: StaticString = ""

    static func bind(_ s: OpaquePointer, _ i: Int32, _ text: String?) {
        guard var text else { sqlite3_bind_null(s, i); return }
        _ = text.withUTF8 { b in
            if b.isEmpty {
                sqlite3_bind_text(s, i, UnsafeRawPointer(empty.utf8Start).assumingMemoryBound(to: CChar.self), 0, nil)
            } else {
                b.withMemoryRebound(to: CChar.self) { sqlite3_bind_text(s, i, $0.baseAddress, Int32($0.count), transient) }
            }
        }
    }

    static func bindText(_ s: OpaquePointer, _ i: Int32, _ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { b in
            if b.isEmpty {
                sqlite3_bind_text(s, i, UnsafeRawPointer(empty.utf8Start).assumingMemoryBound(to: CChar.self), 0, nil)
            } else {
                sqlite3_bind_text(s, i, b.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(b.count), transient)
            }
        }
    }

    static func bind(_ s: OpaquePointer, _ i: Int32, _ blob: [UInt8]?) {
        guard let blob else { sqlite3_bind_null(s, i); return }
        _ = blob.withUnsafeBytes { sqlite3_bind_blob(s, i, $0.baseAddress, Int32($0.count), transient) }
    }

    /// Runs a statement once (an insert, an update) and resets it.
    static func step(_ s: OpaquePointer, _ conn: OpaquePointer) throws {
        let rc = sqlite3_step(s)
        guard rc == SQLITE_DONE || rc == SQLITE_ROW else { throw failure(rc, s, conn) }
        sqlite3_reset(s)
    }

    /// Steps a query: true at a row, false once it is done; an error resets it and is thrown.
    static func nextRow(_ s: OpaquePointer, _ conn: OpaquePointer) throws -> Bool {
        let rc = sqlite3_step(s)
        if rc == SQLITE_ROW { return true }
        if rc == SQLITE_DONE { return false }
        throw failure(rc, s, conn)
    }

    private static func failure(_ rc: Int32, _ s: OpaquePointer, _ conn: OpaquePointer) -> AlertIndexError {
        let message = String(cString: sqlite3_errmsg(conn))
        sqlite3_reset(s)
        return AlertIndexError(.database, "SQLite error \(rc)", cause: message)
    }
}
