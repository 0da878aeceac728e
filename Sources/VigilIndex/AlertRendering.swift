import Foundation
import VigilCore

/// Builds queries from user text (CLI options or HTTP parameters): one place for the rules of
/// every filter, each error naming the filter as the user wrote it.
public struct AlertRequest: Sendable {
    public var since: String?
    public var from: String?
    public var to: String?
    public var rules: [String] = []
    public var minSeverity: String?
    public var sources: [String] = []
    public var destinations: [String] = []
    public var fields: [String] = []
    public var text: String?
    public var status: String?
    public var sort: String?
    public var ascending = false
    public var limit: String?
    public var offset: String?

    public init() {}

    /// The query, with filters named through `name` (`"min_severity"` → `"--min-severity"` for the CLI).
    public func query(now: Int64 = Timestamp.now().nanoseconds, maxLimit: Int = 1_000_000,
                      name: (String) -> String) throws(AlertIndexError) -> AlertQuery {
        var f = AlertFilter()
        if since != nil && from != nil {
            throw .badFilter(name("since"), "give either \(name("since")) or \(name("from")), not both")
        }
        if let since { f.from = now - (try FilterParser.age(since, filter: name("since"))) }
        if let from { f.from = try FilterParser.time(from, filter: name("from")) }
        if let to { f.to = try FilterParser.time(to, filter: name("to")) }
        if let a = f.from, let b = f.to, a >= b { throw .badFilter(name("to"), "the end must be after the start") }
        for r in rules { f.rules.append(try FilterParser.rule(r, filter: name("rule"))) }
        if let minSeverity { f.minSeverity = try FilterParser.severity(minSeverity, filter: name("min_severity")) }
        for s in sources { f.sources.append(try FilterParser.network(s, filter: name("source"))) }
        for d in destinations { f.destinations.append(try FilterParser.network(d, filter: name("destination"))) }
        for w in fields { f.fields.append(try FilterParser.field(w, filter: name("where"))) }
        if let text { f.text = try FullTextQuery(text, filter: name("text")) }
        if let status { f.status = try FilterParser.status(status, filter: name("status")) }
        var q = AlertQuery(filter: f)
        if let sort {
            guard let s = AlertSort(rawValue: sort) else {
                throw .badFilter(name("sort"), "expected one of \(AlertSort.allCases.map(\.rawValue).joined(separator: ", ")), got '\(sort.prefix(60))'")
            }
            q.sort = s
        }
        q.ascending = ascending
        if let limit {
            guard let n = Int(limit), n >= 1, n <= maxLimit else { throw .badFilter(name("limit"), "expected a number from 1 to \(maxLimit), got '\(limit.prefix(60))'") }
            q.limit = n
        }
        if let offset {
            guard let n = Int(offset), n >= 0 else { throw .badFilter(name("offset"), "expected a number ≥ 0, got '\(offset.prefix(60))'") }
            q.offset = n
        }
        return q
    }
}

/// JSON, table and CSV forms of alerts and stats.
public enum AlertRendering {
    /// `s` as a JSON string literal.
    public static func quote(_ s: String) -> String { JSONWriter.quoted(s) }

    static func time(_ ns: Int64) -> String { Timestamp(nanoseconds: ns).rfc3339 }

    /// The triage history as a JSON array.
    public static func historyJSON(_ history: [TriageEntry]) -> String {
        "[" + history.map {
            #"{"status":\#(quote($0.status.rawValue)),"by":\#(quote($0.actor)),"at":\#(quote(time($0.at))),"comment":\#($0.comment.map(quote) ?? "null")}"#
        }.joined(separator: ",") + "]"
    }

    /// Stats as one JSON object.
    public static func statsJSON(_ s: AlertStats) -> String {
        let rules = s.byRule.map { #"{"rule":\#(quote($0.ruleID)),"name":\#(quote($0.ruleName)),"alerts":\#($0.count)}"# }.joined(separator: ",")
        let sev = s.bySeverity.map { #"{"severity":\#(quote(AlertSeverity.name($0.severity))),"level":\#($0.severity),"alerts":\#($0.count)}"# }.joined(separator: ",")
        let src = s.topSources.map { #"{"source":\#(quote($0.ip.description)),"alerts":\#($0.count)}"# }.joined(separator: ",")
        let hist = s.histogram.map { #"{"start":\#(quote(time($0.start))),"alerts":\#($0.count)}"# }.joined(separator: ",")
        return #"{"total":\#(s.total),"by_rule":[\#(rules)],"by_severity":[\#(sev)],"top_sources":[\#(src)],"bucket_seconds":\#(s.bucketSize / 1_000_000_000),"histogram":[\#(hist)]}"#
    }

    /// Columns of the table and CSV forms.
    public static let columns = ["time", "severity", "rule", "count", "source", "destination", "user", "status", "id"]

    static func cells(_ a: AlertSummary) -> [String] {
        [time(a.time), AlertSeverity.name(a.severity), a.ruleID, String(a.count), a.sourceIP?.description ?? "",
         a.destinationIP?.description ?? "", a.userName ?? "", a.status.rawValue, a.id]
    }

    /// CSV (RFC 4180): a header line, then one line per alert.
    public static func csv(_ alerts: [AlertSummary], header: Bool = true) -> [String] {
        func field(_ s: String) -> String {
            s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
        }
        var lines = header ? [columns.joined(separator: ",")] : []
        for a in alerts { lines.append(cells(a).map(field).joined(separator: ",")) }
        return lines
    }

    /// An aligned table; severities coloured (ANSI) when `colour`.
    public static func table(_ alerts: [AlertSummary], colour: Bool, header: Bool = true, widths: [Int]? = nil) -> [String] {
        let rows = alerts.map(cells)
        var w = widths ?? columns.map { $0.count }
        if widths == nil {
            for r in rows { for (i, c) in r.enumerated() { w[i] = max(w[i], c.count) } }
        }
        func line(_ r: [String], severity: Int?) -> String {
            var parts: [String] = []
            for (i, c) in r.enumerated() {
                let padded = i == r.count - 1 ? c : c.padding(toLength: max(w[i], c.count), withPad: " ", startingAt: 0)
                if i == 1, colour, let severity { parts.append(paint(padded, severity)) } else { parts.append(padded) }
            }
            return parts.joined(separator: "  ")
        }
        var out = header ? [line(columns.map { $0.uppercased() }, severity: nil)] : []
        for (a, r) in zip(alerts, rows) { out.append(line(r, severity: a.severity)) }
        return out
    }

    static func paint(_ s: String, _ severity: Int) -> String {
        let code: String
        switch severity {
        case 4...: code = "1;31"
        case 3: code = "31"
        case 2: code = "33"
        case 1: code = "36"
        default: code = "2"
        }
        return "\u{1B}[\(code)m\(s)\u{1B}[0m"
    }

    /// Stats for people: counts by rule and severity, top sources, and a bar per time bucket.
    public static func statsText(_ s: AlertStats) -> [String] {
        var out = ["\(s.total) alerts"]
        if !s.byRule.isEmpty {
            out.append("")
            out.append("BY RULE")
            let w = s.byRule.map { $0.ruleID.count }.max() ?? 0
            for r in s.byRule { out.append("  " + r.ruleID.padding(toLength: w, withPad: " ", startingAt: 0) + "  " + String(r.count).leftPad(9) + "  " + r.ruleName) }
        }
        if !s.bySeverity.isEmpty {
            out.append("")
            out.append("BY SEVERITY")
            for v in s.bySeverity { out.append("  " + AlertSeverity.name(v.severity).padding(toLength: 13, withPad: " ", startingAt: 0) + String(v.count).leftPad(9)) }
        }
        if !s.topSources.isEmpty {
            out.append("")
            out.append("TOP SOURCES")
            for v in s.topSources { out.append("  " + v.ip.description.padding(toLength: 39, withPad: " ", startingAt: 0) + String(v.count).leftPad(9)) }
        }
        if !s.histogram.isEmpty {
            out.append("")
            out.append("OVER TIME (\(s.bucketSize / 1_000_000_000)s buckets)")
            let top = max(1, s.histogram.map(\.count).max() ?? 1)
            for b in s.histogram {
                let bar = String(repeating: "#", count: b.count == 0 ? 0 : max(1, b.count * 50 / top))
                out.append("  " + time(b.start) + "  " + String(b.count).leftPad(9) + "  " + bar)
            }
        }
        return out
    }
}

extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
