import Foundation
import GRDB
import VigilCore

/// Triage status of an alert. Alerts without a recorded status are `open`.
public enum TriageStatus: String, Sendable, CaseIterable {
    case open, acknowledged, closed
}

/// A condition on any field of the alert JSON: `field=value`.
public struct FieldCondition: Sendable, Equatable {
    /// The dotted field name as given (`source.port`).
    public let field: String
    /// The SQLite JSON path of the field (`$."source"."port"`), bound as an argument.
    public let path: String
    public let value: String
}

/// Which alerts a query selects. Every value is bound as an SQL argument; none is ever part of
/// the SQL text.
public struct AlertFilter: Sendable, Equatable {
    /// Inclusive start, ns since the epoch.
    public var from: Int64?
    /// Exclusive end, ns since the epoch.
    public var to: Int64?
    /// Any of these rule ids (none: every rule).
    public var rules: [String] = []
    public var minSeverity: Int?
    /// Source IP in any of these networks.
    public var sources: [IPNetwork] = []
    public var destinations: [IPNetwork] = []
    /// Every condition holds.
    public var fields: [FieldCondition] = []
    /// A validated FTS5 query over the alert's key, user and sample text, or its rule's name,
    /// description and tags.
    public var text: FullTextQuery?
    public var status: TriageStatus?

    public init() {}

    /// Whether only time, rule and severity are constrained (the hourly counts can answer).
    var onlyTimeRuleSeverity: Bool {
        sources.isEmpty && destinations.isEmpty && fields.isEmpty && text == nil && status == nil
    }
}

/// A full-text query, checked against the text tables' FTS5 syntax.
public struct FullTextQuery: Sendable, Equatable {
    /// The FTS5 query text bound to MATCH.
    public let match: String
    /// Whether the query is also valid for the rules' text (it may name alert-only columns).
    public let searchesRules: Bool

    /// Plain words (no FTS5 operators) are each quoted, so `10.0.0.1` or `evil.example.com`
    /// search as phrases; text with operators (`"`, `*`, `(`, `)`, `:`, `^`, `AND`, `OR`, `NOT`,
    /// `NEAR`) is FTS5 query syntax and must parse.
    public init(_ text: String, filter: String) throws(AlertIndexError) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { throw .badFilter(filter, "empty full-text query") }
        guard trimmed.utf8.count <= 1000 else { throw .badFilter(filter, "the full-text query is longer than 1000 bytes") }
        let words = trimmed.split(whereSeparator: { $0 == " " || $0 == "\t" })
        let operatorChars: Set<Character> = ["\"", "*", "(", ")", ":", "^", "+", "{", "}"]
        let isSyntax = trimmed.contains(where: { operatorChars.contains($0) })
            || words.contains { ["AND", "OR", "NOT"].contains(String($0)) || $0.hasPrefix("NEAR") }
        let query = isSyntax ? trimmed : words.map { "\"" + $0.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }.joined(separator: " ")
        let alertsOK = Self.validate(query, columns: "key, user_name, text")
        let rulesOK = Self.validate(query, columns: "rule_id UNINDEXED, name, description, tags")
        if let problem = alertsOK, rulesOK != nil {
            throw .badFilter(filter, "not a valid full-text query (\(problem)); write plain words, or FTS5 syntax such as \"exact phrase\", pref*, a OR b, user_name:alice, text:ssh")
        }
        match = query
        searchesRules = rulesOK == nil
    }

    /// nil when `query` parses as an FTS5 query for a table with `columns`; else SQLite's complaint.
    static func validate(_ query: String, columns: String) -> String? {
        do {
            let q = try DatabaseQueue()
            return try q.write { db in
                try db.execute(sql: "CREATE VIRTUAL TABLE t USING fts5(\(columns))")
                _ = try Row.fetchAll(db, sql: "SELECT rowid FROM t WHERE t MATCH ?", arguments: [query])
                return nil
            }
        } catch let e as DatabaseError {
            return e.message ?? "\(e)"
        } catch {
            return "\(error)"
        }
    }
}

/// Turns user text into filter values, naming the filter (an option such as `--since` or an
/// HTTP parameter such as `since`) in every error.
public enum FilterParser {
    /// `30s`, `15m`, `2h`, `7d`, `1w` → ns.
    public static func age(_ text: String, filter: String) throws(AlertIndexError) -> Int64 {
        let units: [Character: Int64] = ["s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000,
                                         "d": 86_400_000_000_000, "w": 604_800_000_000_000]
        guard let unit = text.last, let scale = units[unit], let n = Int64(text.dropLast()), n >= 0,
              case let (v, overflow) = n.multipliedReportingOverflow(by: scale), !overflow else {
            throw .badFilter(filter, "expected an age such as 30s, 15m, 2h, 7d or 1w, got '\(text.prefix(60))'")
        }
        return v
    }

    /// An RFC 3339 time → ns.
    public static func time(_ text: String, filter: String) throws(AlertIndexError) -> Int64 {
        guard let t = Timestamp(rfc3339: text) else {
            throw .badFilter(filter, "expected an RFC 3339 time such as 2026-11-25T10:00:00Z, got '\(text.prefix(60))'")
        }
        return t.nanoseconds
    }

    /// A severity name or level.
    public static func severity(_ text: String, filter: String) throws(AlertIndexError) -> Int {
        guard let level = AlertSeverity.level(text) else {
            throw .badFilter(filter, "expected a severity (\(AlertSeverity.names.joined(separator: ", ")) or 0…4), got '\(text.prefix(60))'")
        }
        return level
    }

    /// An IP address or CIDR network.
    public static func network(_ text: String, filter: String) throws(AlertIndexError) -> IPNetwork {
        guard let n = IPNetwork(text) else {
            throw .badFilter(filter, "expected an IP address or CIDR network such as 10.0.0.0/8, got '\(text.prefix(60))'")
        }
        return n
    }

    /// A rule id: 1–200 printable characters.
    public static func rule(_ text: String, filter: String) throws(AlertIndexError) -> String {
        guard !text.isEmpty, text.utf8.count <= 200, !text.contains(where: { $0.isNewline }) else {
            throw .badFilter(filter, "expected a rule id, got '\(text.prefix(60))'")
        }
        return text
    }

    /// `field=value`, the field a dotted name of letters, digits, `_`, `-` and `@`.
    public static func field(_ text: String, filter: String) throws(AlertIndexError) -> FieldCondition {
        guard let eq = text.firstIndex(of: "=") else {
            throw .badFilter(filter, "expected field=value, got '\(text.prefix(60))'")
        }
        let name = String(text[..<eq]), value = String(text[text.index(after: eq)...])
        let segments = name.split(separator: ".", omittingEmptySubsequences: false)
        let valid = !name.isEmpty && name.utf8.count <= 200 && segments.allSatisfy { seg in
            !seg.isEmpty && seg.utf8.allSatisfy { c in
                (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F || c == 0x2D || c == 0x40
            }
        }
        guard valid else {
            throw .badFilter(filter, "'\(name.prefix(60))' is not a field name (dotted segments of letters, digits, _, - and @, such as source.port)")
        }
        let path = "$" + segments.map { ".\"\($0)\"" }.joined()
        return FieldCondition(field: name, path: path, value: value)
    }

    /// A triage status.
    public static func status(_ text: String, filter: String) throws(AlertIndexError) -> TriageStatus {
        guard let s = TriageStatus(rawValue: text.lowercased()) else {
            throw .badFilter(filter, "expected \(TriageStatus.allCases.map(\.rawValue).joined(separator: ", ")), got '\(text.prefix(60))'")
        }
        return s
    }
}

/// How results are ordered.
public enum AlertSort: String, Sendable, CaseIterable {
    case time, severity, risk, count, rule
}

/// A page of alerts: a filter, an order and a window.
public struct AlertQuery: Sendable, Equatable {
    public var filter = AlertFilter()
    public var sort: AlertSort = .time
    public var ascending = false
    public var limit = 100
    public var offset = 0
    /// Only alerts inserted or updated after this sequence number (follow mode: ordered by it).
    public var afterSequence: Int64?

    public init(filter: AlertFilter = AlertFilter()) { self.filter = filter }
}

/// One alert as a query returns it.
public struct AlertSummary: Sendable, Equatable {
    /// Grows with every insert and update: what `--follow` resumes after.
    public var sequence: Int64
    public var id: String
    public var time: Int64
    public var ruleID: String
    public var ruleName: String
    public var severity: Int
    public var risk: Double?
    public var count: Int64
    public var sourceIP: IPAddress?
    public var destinationIP: IPAddress?
    public var userName: String?
    public var key: String?
    public var status: TriageStatus
    /// The alert as a JSON object, with `vigil.alert.status`.
    public var json: String
}

/// A recorded triage change.
public struct TriageEntry: Sendable, Equatable {
    public var status: TriageStatus
    public var actor: String
    /// ns since the epoch.
    public var at: Int64
    public var comment: String?
}

extension AlertIndex {
    static let summaryColumns = """
        a.seq, a.id, a.time, a.rule_id, coalesce(r.name, a.rule_id) AS rule_name, a.severity, a.risk, a.count, a.source_ip,
        a.destination_ip, a.user_name, a.key, coalesce(t.status, 'open') AS status,
        json_set(a.json, '$.vigil.alert.status', coalesce(t.status, 'open')) AS full_json
        """

    /// The WHERE clause (fixed text with `?` placeholders) and its arguments.
    /// - Parameter wide: address columns whose ranges match many alerts: their index is not used
    ///   (`+column`), so that the time order finds the newest matches early.
    static func whereClause(_ f: AlertFilter, afterSequence: Int64? = nil, alias a: String = "a",
                            wide: Set<String> = []) -> (String, StatementArguments) {
        var sql: [String] = []
        var args = StatementArguments()
        if let from = f.from { sql.append("\(a).time >= ?"); args += [from] }
        if let to = f.to { sql.append("\(a).time < ?"); args += [to] }
        if !f.rules.isEmpty {
            sql.append("\(a).rule_id IN (" + Array(repeating: "?", count: f.rules.count).joined(separator: ",") + ")")
            for r in f.rules { args += [r] }
        }
        if let s = f.minSeverity { sql.append("\(a).severity >= ?"); args += [s] }
        for (name, networks) in [("source_ip", f.sources), ("destination_ip", f.destinations)] where !networks.isEmpty {
            let column = (wide.contains(name) ? "+" : "") + "\(a).\(name)"
            sql.append("(" + networks.map { _ in "\(column) BETWEEN ? AND ?" }.joined(separator: " OR ") + ")")
            for n in networks {
                let (lo, hi) = IPKey.range(n)
                args += [Data(lo), Data(hi)]
            }
        }
        for c in f.fields {
            sql.append("""
                EXISTS(SELECT 1 FROM json_each(\(a).json, ?) j WHERE CASE j.type WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' \
                WHEN 'null' THEN 'null' ELSE CAST(j.value AS TEXT) END = ? OR (j.type IN ('integer', 'real') AND j.value = ?))
                """)
            args += [c.path, c.value, Double(c.value)]
        }
        if let text = f.text {
            if text.searchesRules {
                // One IN over a union (not an OR of two), so the matches drive the lookup.
                sql.append("""
                    \(a).seq IN (SELECT rowid FROM alerts_fts WHERE alerts_fts MATCH ? UNION \
                    SELECT s.seq FROM alerts s WHERE s.rule_id IN (SELECT rule_id FROM rules_fts WHERE rules_fts MATCH ?))
                    """)
                args += [text.match, text.match]
            } else {
                sql.append("\(a).seq IN (SELECT rowid FROM alerts_fts WHERE alerts_fts MATCH ?)")
                args += [text.match]
            }
        }
        if let status = f.status { sql.append("coalesce(t.status, 'open') = ?"); args += [status.rawValue] }
        if let after = afterSequence { sql.append("\(a).seq > ?"); args += [after] }
        return (sql.isEmpty ? "" : "WHERE " + sql.joined(separator: " AND "), args)
    }

    static func orderClause(_ q: AlertQuery) -> String {
        if q.afterSequence != nil { return "ORDER BY a.seq" }
        let dir = q.ascending ? "ASC" : "DESC"
        switch q.sort {
        case .time: return "ORDER BY a.time \(dir), a.seq \(dir)"
        case .severity: return "ORDER BY a.severity \(dir), a.time \(dir), a.seq \(dir)"
        case .risk: return "ORDER BY a.risk \(dir), a.time \(dir), a.seq \(dir)"
        case .count: return "ORDER BY a.count \(dir), a.time \(dir), a.seq \(dir)"
        case .rule: return "ORDER BY a.rule_id \(dir), a.time \(dir), a.seq \(dir)"
        }
    }

    /// The alerts a query selects.
    /// - Throws: ``AlertIndexError`` `.badFilter` for a full-text query SQLite rejects, `.database` otherwise.
    public func alerts(_ q: AlertQuery) throws(AlertIndexError) -> [AlertSummary] {
        if layout == .blocks { return try blockAlerts(q) }
        let f = q.filter
        let sql: String
        var arguments: StatementArguments
        if f.text != nil && q.afterSequence == nil && q.sort == .time && f.sources.isEmpty && f.destinations.isEmpty
            && f.fields.isEmpty && f.status == nil {
            // Text matches can be many: order and cut them by time first, then read only the
            // page's full rows. Alerts whose rule's text matches
            // are a second arm, cut alike; the page is the top of the two tops.
            let text = f.text!
            var rest = f
            rest.text = nil
            let dir = q.ascending ? "ASC" : "DESC"
            let k = max(0, q.limit) + max(0, q.offset)
            func and(_ w: String, _ condition: String) -> String { w.isEmpty ? "WHERE " + condition : w + " AND " + condition }
            let (x, xArgs) = Self.whereClause(rest, alias: "x")
            var inner = """
                SELECT * FROM (SELECT x.seq, x.time FROM alerts x \
                \(and(x, "x.seq IN (SELECT rowid FROM alerts_fts WHERE alerts_fts MATCH ?)")) ORDER BY x.time \(dir), x.seq \(dir) LIMIT ?)
                """
            arguments = xArgs
            arguments += [text.match, k]
            if text.searchesRules {
                let rules = try read { db in
                    try String.fetchAll(db, sql: "SELECT rule_id FROM rules_fts WHERE rules_fts MATCH ?", arguments: [text.match])
                }
                if !rules.isEmpty {
                    var ruleFilter = rest
                    if !ruleFilter.rules.isEmpty {
                        ruleFilter.rules = ruleFilter.rules.filter(rules.contains)
                        if ruleFilter.rules.isEmpty { ruleFilter.rules = ["\u{0}none"] }
                    } else {
                        ruleFilter.rules = rules
                    }
                    // Many alerts of those rules: their newest are found sooner in time order.
                    var probe = AlertFilter()
                    probe.rules = ruleFilter.rules
                    let many = try count(probe, cap: 5000) >= 5000
                    let (y, yArgs) = Self.whereClause(ruleFilter, alias: many ? "+y" : "y")
                    inner += """
                         UNION SELECT * FROM (SELECT y.seq, y.time FROM alerts y \(y.replacingOccurrences(of: "+y.time", with: "y.time"))
                        ORDER BY y.time \(dir), y.seq \(dir) LIMIT ?)
                        """
                    arguments += yArgs
                    arguments += [k]
                }
            }
            arguments += [max(0, q.limit), max(0, q.offset)]
            sql = """
                SELECT \(Self.summaryColumns) FROM alerts a LEFT JOIN rules r ON r.id = a.rule_id LEFT JOIN triage t ON t.alert_id = a.id
                WHERE a.seq IN (SELECT seq FROM (\(inner)) ORDER BY time \(dir), seq \(dir) LIMIT ? OFFSET ?)
                \(Self.orderClause(q))
                """
        } else {
            let (whereSQL, args) = Self.whereClause(f, afterSequence: q.afterSequence, wide: try wideAddressColumns(f))
            arguments = args
            arguments += [max(0, q.limit), max(0, q.offset)]
            sql = """
                SELECT \(Self.summaryColumns) FROM alerts a LEFT JOIN rules r ON r.id = a.rule_id LEFT JOIN triage t ON t.alert_id = a.id
                \(whereSQL) \(Self.orderClause(q)) LIMIT ? OFFSET ?
                """
        }
        return try read { db in try Row.fetchAll(db, sql: sql, arguments: arguments).map(Self.summary) }
    }

    /// The join with the triage status, when a filter needs it (it costs a row read per alert).
    static func triageJoin(_ f: AlertFilter) -> String { f.status == nil ? "" : "LEFT JOIN triage t ON t.alert_id = a.id" }

    /// The address columns whose filter ranges hold at least 5,000 alerts (counted on the index,
    /// stopping there): the newest of those are found sooner in time order than by address.
    func wideAddressColumns(_ f: AlertFilter) throws(AlertIndexError) -> Set<String> {
        var wide = Set<String>()
        for (name, networks) in [("source_ip", f.sources), ("destination_ip", f.destinations)] where !networks.isEmpty {
            var sql: [String] = []
            var args = StatementArguments()
            for n in networks {
                let (lo, hi) = IPKey.range(n)
                sql.append("SELECT 1 FROM alerts WHERE \(name) BETWEEN ? AND ?")
                args += [Data(lo), Data(hi)]
            }
            let n = try read { db in
                try Int.fetchOne(db, sql: "SELECT count(*) FROM (SELECT * FROM (\(sql.joined(separator: " UNION ALL "))) LIMIT 5000)", arguments: args) ?? 0
            }
            if n >= 5000 { wide.insert(name) }
        }
        return wide
    }

    static func summary(_ row: Row) -> AlertSummary {
        AlertSummary(sequence: row["seq"], id: row["id"], time: row["time"], ruleID: row["rule_id"], ruleName: row["rule_name"],
                     severity: row["severity"], risk: row["risk"], count: row["count"],
                     sourceIP: (row["source_ip"] as Data?).flatMap { IPKey.address(Array($0)) },
                     destinationIP: (row["destination_ip"] as Data?).flatMap { IPKey.address(Array($0)) },
                     userName: row["user_name"], key: row["key"],
                     status: TriageStatus(rawValue: row["status"]) ?? .open, json: row["full_json"])
    }

    /// How many alerts match (counting stops at `cap`, when given).
    public func count(_ filter: AlertFilter, cap: Int? = nil) throws(AlertIndexError) -> Int {
        if layout == .blocks { return try blockCount(filter, cap: cap) }
        let (whereSQL, args) = Self.whereClause(filter)
        var arguments = args
        let limit: String
        if let cap { limit = " LIMIT ?"; arguments += [cap] } else { limit = "" }
        return try read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM (SELECT 1 FROM alerts a \(Self.triageJoin(filter)) \(whereSQL)\(limit))", arguments: arguments) ?? 0
        }
    }

    /// The highest sequence number (0 for an empty index): `--follow` starts after it.
    public func lastSequence() throws(AlertIndexError) -> Int64 {
        try read { db in
            if layout == .blocks {
                return max(0, (try Int64.fetchOne(db, sql: "SELECT value FROM index_meta WHERE key = 'next_seq'") ?? 1) - 1)
            }
            return try Int64.fetchOne(db, sql: "SELECT coalesce(max(seq), 0) FROM alerts") ?? 0
        }
    }

    /// Total alerts in the index.
    public func totalAlerts() throws(AlertIndexError) -> Int {
        try read { db in try (layout == .blocks ? blockTotal(db) : Int.fetchOne(db, sql: "SELECT count(*) FROM alerts") ?? 0) }
    }

    /// The alert with `id` (its `vigil.alert.id`, or its `event.id`: the id and `-count`), with its
    /// triage history (oldest first).
    public func alert(id: String) throws(AlertIndexError) -> (alert: AlertSummary, history: [TriageEntry]) {
        try read { db in
            let sql = """
                SELECT \(Self.summaryColumns) FROM alerts a LEFT JOIN rules r ON r.id = a.rule_id LEFT JOIN triage t ON t.alert_id = a.id
                WHERE a.id = ?
                """
            if layout == .blocks { try materializeID(db, id) }
            var row = try Row.fetchOne(db, sql: sql, arguments: [id])
            if row == nil, let dash = id.lastIndex(of: "-"), Int(id[id.index(after: dash)...]) != nil {
                if layout == .blocks { try materializeID(db, String(id[..<dash])) }
                row = try Row.fetchOne(db, sql: sql, arguments: [String(id[..<dash])])
            }
            guard let row else { throw AlertIndexError(.notFound, "no alert with id \(id.prefix(100))") }
            let alert = Self.summary(row)
            let history = try Row.fetchAll(db, sql: "SELECT status, actor, at, comment FROM triage_history WHERE alert_id = ? ORDER BY n",
                                           arguments: [alert.id]).map {
                TriageEntry(status: TriageStatus(rawValue: $0["status"]) ?? .open, actor: $0["actor"], at: $0["at"], comment: $0["comment"])
            }
            return (alert, history)
        }
    }

    /// Records a triage status for an alert (and keeps it in the history).
    /// - Returns: the alert's id (resolved from an `event.id` if that was given).
    @discardableResult
    public func setStatus(id: String, _ status: TriageStatus, by actor: String, comment: String?,
                          at time: Int64 = Timestamp.now().nanoseconds) throws(AlertIndexError) -> String {
        let resolved = try alert(id: id).alert.id
        try writeTransaction { db in
            try db.execute(sql: """
                INSERT INTO triage(alert_id, status, actor, at, comment) VALUES (?,?,?,?,?)
                ON CONFLICT(alert_id) DO UPDATE SET status = excluded.status, actor = excluded.actor, at = excluded.at, comment = excluded.comment
                """, arguments: [resolved, status.rawValue, actor, time, comment])
            try db.execute(sql: "INSERT INTO triage_history(alert_id, status, actor, at, comment) VALUES (?,?,?,?,?)",
                           arguments: [resolved, status.rawValue, actor, time, comment])
        }
        return resolved
    }
}

// MARK: Statistics

/// Counts over the alerts a filter selects.
public struct AlertStats: Sendable, Equatable {
    public struct RuleCount: Sendable, Equatable {
        public var ruleID: String
        public var ruleName: String
        public var count: Int
    }
    public struct Bucket: Sendable, Equatable {
        /// Start of the bucket, ns since the epoch.
        public var start: Int64
        public var count: Int
    }
    public var total = 0
    /// Most alerts first.
    public var byRule: [RuleCount] = []
    /// Count per severity level, highest level first.
    public var bySeverity: [(severity: Int, count: Int)] = []
    /// The sources with most alerts (at most `topSources`), most first.
    public var topSources: [(ip: IPAddress, count: Int)] = []
    /// Buckets over the time range, oldest first (empty buckets included).
    public var histogram: [Bucket] = []
    /// Width of a histogram bucket, ns.
    public var bucketSize: Int64 = 0
    /// Whether the hourly counts answered (rather than a scan of the alerts).
    public var fromHourlyCounts = false

    public static func == (a: AlertStats, b: AlertStats) -> Bool {
        a.total == b.total && a.byRule == b.byRule && a.bySeverity.map(\.severity) == b.bySeverity.map(\.severity)
            && a.bySeverity.map(\.count) == b.bySeverity.map(\.count) && a.topSources.map(\.ip) == b.topSources.map(\.ip)
            && a.topSources.map(\.count) == b.topSources.map(\.count) && a.histogram == b.histogram && a.bucketSize == b.bucketSize
    }
}

/// Which parts of ``AlertStats`` to compute.
public struct StatsParts: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    public static let rules = StatsParts(rawValue: 1)
    public static let severities = StatsParts(rawValue: 2)
    public static let sources = StatsParts(rawValue: 4)
    public static let histogram = StatsParts(rawValue: 8)
    public static let all: StatsParts = [.rules, .severities, .sources, .histogram]
}

extension AlertIndex {
    static let bucketSizes: [Int64] = [60, 300, 900, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86_400, 7 * 86_400, 30 * 86_400].map { $0 * 1_000_000_000 }

    /// Counts by rule and severity, top sources and a histogram of about `buckets` buckets.
    ///
    /// When the filter only constrains time, rules and severity, whole days and hours come from the
    /// daily and hourly counts and only the partial hours at the range's ends are read from the
    /// alerts.
    public func stats(_ filter: AlertFilter, parts: StatsParts = .all, topSources: Int = 10, buckets: Int = 24,
                      now: Int64 = Timestamp.now().nanoseconds) throws(AlertIndexError) -> AlertStats {
        try read { db in
            var stats = AlertStats()
            // The range: as given, else the index's extent.
            var from = filter.from, to = filter.to
            if from == nil || to == nil {
                let lo: Int64?, hi: Int64?
                if layout == .blocks {
                    (lo, hi) = try blockExtent(db)
                } else {
                    let extent = try Row.fetchOne(db, sql: "SELECT (SELECT min(time) FROM alerts) AS lo, (SELECT max(time) FROM alerts) AS hi")
                    (lo, hi) = (extent?["lo"], extent?["hi"])
                }
                if from == nil { from = lo }
                if to == nil { to = hi.map { $0 + 1 } ?? now }
            }
            let lo = from ?? now, hi = max(to ?? now, lo + 1)
            let span = hi - lo
            stats.bucketSize = Self.bucketSizes.first { span / $0 <= Int64(max(1, buckets)) } ?? Self.bucketSizes.last!
            let bucket = stats.bucketSize
            // (bucket start, rule, severity) → n
            var cells: [AlertIndex.CountKey: Int] = [:]
            if filter.onlyTimeRuleSeverity {
                // Whole days from the daily counts, whole hours from the hourly ones, the rest
                // (partial hours at the ends) from the alerts: each level only where its unit
                // fits the histogram's buckets.
                try gatherCounts(db, filter, lo: lo, hi: hi, openLow: filter.from == nil, openHigh: filter.to == nil,
                                 level: 0, bucket: parts.contains(.histogram) ? bucket : nil, into: &cells)
                stats.fromHourlyCounts = true
            } else {
                var f = filter
                f.from = lo; f.to = hi
                try scanCells(db, f, bucket: bucket, into: &cells)
            }
            var byRule: [String: Int] = [:], bySeverity: [Int: Int] = [:], byBucket: [Int64: Int] = [:]
            for (k, n) in cells where n > 0 {
                byRule[k.rule, default: 0] += n
                bySeverity[k.severity, default: 0] += n
                byBucket[k.hour, default: 0] += n
                stats.total += n
            }
            if parts.contains(.rules) {
                let names = Dictionary(try Row.fetchAll(db, sql: "SELECT id, name FROM rules").map { ($0["id"] as String, $0["name"] as String) },
                                       uniquingKeysWith: { a, _ in a })
                stats.byRule = byRule.map { AlertStats.RuleCount(ruleID: $0.key, ruleName: names[$0.key] ?? $0.key, count: $0.value) }
                    .sorted { ($0.count, $1.ruleID) > ($1.count, $0.ruleID) }
            }
            if parts.contains(.severities) {
                stats.bySeverity = bySeverity.sorted { $0.key > $1.key }.map { ($0.key, $0.value) }
            }
            if parts.contains(.histogram) {
                var t = Self.floor(lo, bucket)
                while t < hi {
                    stats.histogram.append(AlertStats.Bucket(start: t, count: byBucket[t] ?? 0))
                    t += bucket
                }
            }
            if parts.contains(.sources), layout == .blocks, let top = try blockTopSources(db, filter, limit: max(1, topSources)) {
                stats.topSources = top
            } else if parts.contains(.sources) {
                // Only the bounds given: without them, the source index alone answers.
                if layout == .blocks { try materialize(db, filter, order: .all) }
                let (whereSQL, args) = Self.whereClause(filter)
                var arguments = args
                arguments += [max(1, topSources)]
                stats.topSources = try Row.fetchAll(db, sql: """
                    SELECT a.source_ip, count(*) AS n FROM alerts a \(Self.triageJoin(filter)) \(whereSQL)
                    \(whereSQL.isEmpty ? "WHERE" : "AND") a.source_ip IS NOT NULL GROUP BY a.source_ip ORDER BY n DESC, a.source_ip LIMIT ?
                    """, arguments: arguments).compactMap { r in
                    (r["source_ip"] as Data?).flatMap { IPKey.address(Array($0)) }.map { ($0, r["n"] as Int) }
                }
            }
            return stats
        }
    }

    /// The count tables, coarsest first: (table, its time column, its unit in ns).
    static let countLevels: [(table: String, column: String, unit: Int64)] = [
        ("alert_counts_daily", "day", 24 * AlertIndexSchema.bucket), ("alert_counts", "hour", AlertIndexSchema.bucket),
    ]

    /// Adds the counts of [lo, hi) by (bucket start, rule, severity) to `cells` (bucket nil: one
    /// bucket), from the coarsest count table whose unit fits, recursing into the partial units at
    /// the ends; below the finest level, from the alerts. An open end (no bound given) takes its
    /// whole unit.
    private func gatherCounts(_ db: Database, _ filter: AlertFilter, lo: Int64, hi: Int64, openLow: Bool, openHigh: Bool,
                              level: Int, bucket: Int64?, into cells: inout [CountKey: Int]) throws {
        guard lo < hi else { return }
        guard level < Self.countLevels.count else {
            var f = filter
            f.from = lo; f.to = hi
            try scanCells(db, f, bucket: bucket ?? Int64.max / 4, into: &cells)
            return
        }
        let (table, column, unit) = Self.countLevels[level]
        if let bucket, bucket % unit != 0 {
            try gatherCounts(db, filter, lo: lo, hi: hi, openLow: openLow, openHigh: openHigh, level: level + 1, bucket: bucket, into: &cells)
            return
        }
        let first = openLow ? Self.floor(lo, unit) : Self.floor(lo + unit - 1, unit)
        let last = openHigh ? Self.floor(hi - 1, unit) + unit : Self.floor(hi, unit)
        guard first < last else {
            try gatherCounts(db, filter, lo: lo, hi: hi, openLow: false, openHigh: false, level: level + 1, bucket: bucket, into: &cells)
            return
        }
        var sql = "SELECT \(bucket != nil ? "(\(column) * ? / ?) * ?" : "0") AS b, rule_id, severity, sum(alerts) FROM \(table) WHERE \(column) >= ? AND \(column) < ?"
        var args: StatementArguments = bucket.map { [unit, $0, $0] } ?? []
        args += [first / unit, last / unit]
        if !filter.rules.isEmpty {
            sql += " AND rule_id IN (" + Array(repeating: "?", count: filter.rules.count).joined(separator: ",") + ")"
            for r in filter.rules { args += [r] }
        }
        if let s = filter.minSeverity { sql += " AND severity >= ?"; args += [s] }
        sql += " GROUP BY b, rule_id, severity"
        let rows = try Row.fetchCursor(db, sql: sql, arguments: args)
        while let r = try rows.next() {
            cells[CountKey(hour: r[0], rule: r[1], severity: r[2]), default: 0] += r[3] as Int
        }
        if !openLow { try gatherCounts(db, filter, lo: lo, hi: first, openLow: false, openHigh: false, level: level + 1, bucket: bucket, into: &cells) }
        if !openHigh { try gatherCounts(db, filter, lo: last, hi: hi, openLow: false, openHigh: false, level: level + 1, bucket: bucket, into: &cells) }
    }

    /// Adds the alerts `filter` selects, counted by (bucket, rule, severity), to `cells`.
    private func scanCells(_ db: Database, _ filter: AlertFilter, bucket: Int64, into cells: inout [CountKey: Int]) throws {
        if layout == .blocks { try materialize(db, filter, order: .all) }
        let (whereSQL, args) = Self.whereClause(filter)
        let rows = try Row.fetchCursor(db, sql: """
            SELECT (a.time - ((a.time % ?) + ?) % ?) AS b, a.rule_id, a.severity, count(*) FROM alerts a
            \(Self.triageJoin(filter)) \(whereSQL) GROUP BY b, a.rule_id, a.severity
            """, arguments: StatementArguments([bucket, bucket, bucket]) + args)
        while let r = try rows.next() {
            cells[CountKey(hour: r[0], rule: r[1], severity: r[2]), default: 0] += r[3] as Int
        }
    }
}
