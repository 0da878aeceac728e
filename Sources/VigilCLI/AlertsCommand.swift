import ArgumentParser
import Foundation
import VigilCore
import VigilIndex
import VigilPipeline

/// Which alert index: `--db PATH`, else `index.path` of `--config`.
struct IndexLocation: ParsableArguments {
    @Option(help: ArgumentHelp("The configuration file whose index.path to use.", valueName: "FILE"))
    var config: String = "deploy/vigil.yaml"
    @Option(help: ArgumentHelp("The alert database (instead of --config's index.path).", valueName: "PATH"))
    var db: String?

    func indexConfiguration(mustExist: Bool = true) throws -> AlertIndexConfiguration {
        if let db { return AlertIndexConfiguration(path: db, mustExist: mustExist) }
        var c = Pipeline(configuration: try VigilConfiguration.load(path: config)).alertIndexConfiguration
        c.mustExist = mustExist
        return c
    }

    func open(mustExist: Bool = true) throws -> AlertIndex {
        var c = try indexConfiguration(mustExist: mustExist)
        c.cacheKiB = 16_384
        return try AlertIndex(configuration: c)
    }
}

/// The filters every alert query takes.
struct FilterOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Alerts of the last AGE (30s, 15m, 2h, 7d, 1w).", valueName: "AGE")) var since: String?
    @Option(help: ArgumentHelp("Alerts at or after TIME (RFC 3339).", valueName: "TIME")) var from: String?
    @Option(help: ArgumentHelp("Alerts before TIME (RFC 3339).", valueName: "TIME")) var to: String?
    @Option(help: ArgumentHelp("Alerts of this rule id (repeat for several).", valueName: "ID")) var rule: [String] = []
    @Option(help: ArgumentHelp("At least this severity (informational, low, medium, high, critical, or 0…4).", valueName: "LEVEL"))
    var minSeverity: String?
    @Option(help: ArgumentHelp("Source IP or CIDR (repeat: any of them).", valueName: "IP|CIDR")) var source: [String] = []
    @Option(help: ArgumentHelp("Destination IP or CIDR (repeat: any of them).", valueName: "IP|CIDR")) var destination: [String] = []
    @Option(name: .customLong("where"), help: ArgumentHelp("A field of the alert equals a value, e.g. user.name=alice (repeat: all hold).", valueName: "FIELD=VALUE"))
    var fields: [String] = []
    @Option(help: ArgumentHelp("Full text over key, user, sample event and the rule's name, description and tags: plain words, or FTS5 syntax.", valueName: "TEXT"))
    var text: String?
    @Option(help: ArgumentHelp("Triage status: open, acknowledged, closed.", valueName: "STATUS")) var status: String?

    var request: AlertRequest {
        var r = AlertRequest()
        r.since = since
        r.from = from
        r.to = to
        r.rules = rule
        r.minSeverity = minSeverity
        r.sources = source
        r.destinations = destination
        r.fields = fields
        r.text = text
        r.status = status
        return r
    }

    static func optionName(_ key: String) -> String { "--" + (key == "where" ? "where" : key.replacingOccurrences(of: "_", with: "-")) }
}

/// A bad filter is a usage error (printed with the usage); other index errors as they are.
func indexFailure(_ error: Error) -> Error {
    if let e = error as? AlertIndexError, e.code == .badFilter { return ValidationError(e.description) }
    return error
}

struct AlertsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "alerts",
        abstract: "Query the alert index: list, follow, show, stats, triage (ack, close), vacuum, serve the HTTP API.",
        discussion: """
            The index is filled by `vigil run` or `vigil index` from the alerts topic. Every command \
            takes --config FILE (its index.path) or --db PATH. docs/alerts.md describes the schema and the API.
            """,
        subcommands: [List.self, Show.self, Stats.self, Ack.self, Close.self, Vacuum.self, Check.self, Convert.self, Serve.self],
        defaultSubcommand: List.self)

    enum Format: String, ExpressibleByArgument, CaseIterable { case table, json, csv }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List alerts matching filters, newest first; --follow streams new and updated ones.")
        @OptionGroup var location: IndexLocation
        @OptionGroup var filters: FilterOptions
        @Option(help: "Order by time, severity, risk, count or rule (newest/highest first).") var sort: String = "time"
        @Flag(help: "Ascending order.") var asc = false
        @Option(help: "At most this many alerts.") var limit: Int = 50
        @Option(help: "Skip this many (paging).") var offset: Int = 0
        @Option(help: "table (aligned; severity colours on a terminal), json (one object per line) or csv.") var format: Format = .table
        @Flag(help: "After the newest matching alerts, print alerts as they are indexed (and again when their count rises) until interrupted.")
        var follow = false
        @Option(help: ArgumentHelp("How often --follow polls, in milliseconds.", valueName: "MS")) var interval: Int = 250

        func validate() throws {
            guard limit >= 1 else { throw ValidationError("--limit must be at least 1") }
            guard offset >= 0 else { throw ValidationError("--offset must be at least 0") }
            guard interval >= 10 else { throw ValidationError("--interval must be at least 10 ms") }
        }

        func run() throws {
            var request = filters.request
            request.sort = sort
            request.ascending = asc
            request.limit = String(limit)
            request.offset = String(offset)
            do {
                let query = try request.query(name: FilterOptions.optionName)
                let index = try location.open()
                defer { index.close() }
                let colour = isatty(1) == 1
                let out = OutputBuffer()
                let start = follow ? try index.lastSequence() : 0
                var alerts = try index.alerts(query)
                if follow {
                    // Alerts indexed after `start` was read (between it and the query) are left
                    // to the loop below, which prints everything after `start`: printed here
                    // too, they appeared twice.
                    alerts.removeAll { $0.sequence > start }
                    alerts.reverse()  // oldest first, then what follows
                }
                var widths: [Int]?
                switch format {
                case .table:
                    if follow {
                        let w = [30, 13, max(24, alerts.map(\.ruleID.count).max() ?? 0), 6, 39, 39, 16, 12, 16]
                        widths = w
                        for l in AlertRendering.table(alerts, colour: colour, widths: w) { out.append(l) }
                    } else {
                        for l in AlertRendering.table(alerts, colour: colour) { out.append(l) }
                    }
                case .json: for a in alerts { out.append(a.json) }
                case .csv: for l in AlertRendering.csv(alerts) { out.append(l) }
                }
                out.flush()
                guard follow else { return }
                installStopHandlers()
                var cursor = start
                var q = query
                q.limit = 1000
                q.offset = 0
                while !stopRequested() {
                    q.afterSequence = cursor
                    // Read before the query: what it counts was committed before the query's
                    // snapshot, so the query saw it. Read after, it could count alerts committed
                    // in between, and the cursor passed them unprinted.
                    let indexed = try index.lastSequence()
                    let new = try index.alerts(q)
                    // The cursor moves past everything indexed before the query, matching or not.
                    if let last = new.last { cursor = last.sequence }
                    if new.count < q.limit { cursor = max(cursor, indexed) }
                    switch format {
                    case .table: for l in AlertRendering.table(new, colour: colour, header: false, widths: widths) { out.append(l) }
                    case .json: for a in new { out.append(a.json) }
                    case .csv: for l in AlertRendering.csv(new, header: false) { out.append(l) }
                    }
                    out.flush()
                    if new.count < q.limit { usleep(UInt32(interval) * 1000) }
                }
            } catch {
                throw indexFailure(error)
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print one alert with its sampled triggering event, its enrichment and its triage history.")
        @OptionGroup var location: IndexLocation
        @Argument(help: "The alert's vigil.alert.id (or its event.id).") var id: String
        @Option(help: "text or json.") var format: OutputFormat = .text

        func run() throws {
            do {
                let index = try location.open()
                defer { index.close() }
                let (alert, history) = try index.alert(id: id)
                let out = OutputBuffer()
                if format == .json {
                    out.append(#"{"alert":\#(alert.json),"history":\#(AlertRendering.historyJSON(history))}"#)
                    out.flush()
                    return
                }
                var fields = flatten(json: alert.json)
                let sampleText = fields.first { $0.0 == "vigil.alert.sample" }?.1
                fields.removeAll { $0.0 == "vigil.alert.sample" }
                out.append("alert \(alert.id)  \(AlertSeverity.name(alert.severity))  \(alert.ruleID)  (\(alert.ruleName))")
                out.append("status \(alert.status.rawValue), count \(alert.count), at \(Timestamp(nanoseconds: alert.time).rfc3339)")
                out.append("")
                let w = fields.map { $0.0.count }.max() ?? 0
                for (k, v) in fields { out.append("  " + k.padding(toLength: w, withPad: " ", startingAt: 0) + "  " + v) }
                if let sampleText, case let s = flatten(json: sampleText), !s.isEmpty {
                    out.append("")
                    out.append("TRIGGERING EVENT (sample)")
                    let w = s.map { $0.0.count }.max() ?? 0
                    for (k, v) in s { out.append("  " + k.padding(toLength: w, withPad: " ", startingAt: 0) + "  " + v) }
                    let enrichment = s.filter { k, _ in
                        let parts = k.split(separator: ".")
                        return parts.first == "threat" || parts.contains { ["geo", "as", "asset", "zone", "intel", "enrichment"].contains(String($0)) }
                    }
                    out.append("")
                    out.append("ENRICHMENT")
                    if enrichment.isEmpty { out.append("  (none)") }
                    for (k, v) in enrichment { out.append("  " + k.padding(toLength: w, withPad: " ", startingAt: 0) + "  " + v) }
                } else if let sampleText {
                    out.append("")
                    out.append("TRIGGERING EVENT (sample, not JSON)")
                    out.append("  " + sampleText)
                }
                out.append("")
                out.append("TRIAGE HISTORY")
                if history.isEmpty { out.append("  (none: open)") }
                for h in history {
                    out.append("  \(Timestamp(nanoseconds: h.at).rfc3339)  \(h.status.rawValue)  by \(h.actor)" + (h.comment.map { ": \($0)" } ?? ""))
                }
                out.flush()
            } catch {
                throw indexFailure(error)
            }
        }

        /// The fields of a JSON object, flattened to dotted keys, in key order.
        func flatten(json: String) -> [(String, String)] {
            guard let event = try? EventJSON.decode(json) else { return [] }
            return event.fields.map { f in
                if let text = f.value.scalarText { return (f.key, text) }
                var bytes: [UInt8] = []
                EventJSON.encode(f.value, into: &bytes)
                return (f.key, String(decoding: bytes, as: UTF8.self))
            }
        }
    }

    struct Stats: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Counts by rule and severity, top sources and a histogram over time buckets.")
        @OptionGroup var location: IndexLocation
        @OptionGroup var filters: FilterOptions
        @Option(help: "About this many histogram buckets.") var buckets: Int = 24
        @Option(help: "This many top sources.") var top: Int = 10
        @Option(help: "text or json.") var format: OutputFormat = .text

        func validate() throws {
            guard (1...1000).contains(buckets) else { throw ValidationError("--buckets must be in 1…1000") }
            guard (1...1000).contains(top) else { throw ValidationError("--top must be in 1…1000") }
        }

        func run() throws {
            do {
                let query = try filters.request.query(name: FilterOptions.optionName)
                let index = try location.open()
                defer { index.close() }
                let stats = try index.stats(query.filter, topSources: top, buckets: buckets)
                let out = OutputBuffer()
                if format == .json { out.append(AlertRendering.statsJSON(stats)) } else { for l in AlertRendering.statsText(stats) { out.append(l) } }
                out.flush()
            } catch {
                throw indexFailure(error)
            }
        }
    }

    struct TriageOptions: ParsableArguments {
        @Argument(help: "The alert's vigil.alert.id (or its event.id).") var id: String
        @Option(help: ArgumentHelp("Who (default: $USER).", valueName: "NAME")) var by: String?
        @Option(help: "A note kept with the change.") var comment: String?

        var actor: String { by ?? ProcessInfo.processInfo.environment["USER"] ?? "unknown" }

        func set(_ status: TriageStatus, location: IndexLocation) throws {
            do {
                guard !actor.isEmpty else { throw ValidationError("--by must not be empty") }
                let index = try location.open()
                defer { index.close() }
                let resolved = try index.setStatus(id: id, status, by: actor, comment: comment)
                print("\(resolved): \(status.rawValue) by \(actor)")
            } catch {
                throw indexFailure(error)
            }
        }
    }

    struct Ack: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Mark an alert acknowledged (recording who and when).")
        @OptionGroup var location: IndexLocation
        @OptionGroup var triage: TriageOptions
        func run() throws { try triage.set(.acknowledged, location: location) }
    }

    struct Close: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Mark an alert closed (recording who and when).")
        @OptionGroup var location: IndexLocation
        @OptionGroup var triage: TriageOptions
        func run() throws { try triage.set(.closed, location: location) }
    }

    struct Vacuum: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Apply retention (index.retention, index.max_size), merge the text index and compact the database file.")
        @OptionGroup var location: IndexLocation
        @Option(help: ArgumentHelp("Delete alerts older than AGE (instead of index.retention).", valueName: "AGE")) var retention: String?

        func run() throws {
            do {
                var c = try location.indexConfiguration()
                if let retention { c.retention = try FilterParser.age(retention, filter: "--retention") }
                let index = try AlertIndex(configuration: c)
                defer { index.close() }
                let r = try index.vacuum()
                print("vacuum: \(r.deletedByAge) alerts deleted by age, \(r.deletedBySize) by size; \(r.bytes) bytes in use (\(c.path))")
            } catch {
                throw indexFailure(error)
            }
        }
    }

    struct Convert: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy an index that stores alerts in rows into a new database in the block layout (stop the indexer first).")
        @OptionGroup var location: IndexLocation
        @Option(help: ArgumentHelp("The new database (must not exist).", valueName: "PATH")) var to: String

        func run() throws {
            do {
                let index = try location.open()
                defer { index.close() }
                let n = try index.convertToBlocks(destination: to)
                print("converted \(n) alerts from \(index.path) into \(to) (block layout); replace the old file with it while the indexer is stopped")
            } catch {
                throw indexFailure(error)
            }
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the index: SQLite's integrity, the text index's structure, the hourly and daily counts against the alerts; print the totals.")
        @OptionGroup var location: IndexLocation

        func run() throws {
            do {
                let index = try location.open()
                defer { index.close() }
                let problems = try index.integrityProblems()
                for p in problems { printError("problem: \(p)") }
                let offsets = try index.offsets().map { "\($0.topic)/\($0.partition)@\($0.next)" }.joined(separator: " ")
                print("\(try index.totalAlerts()) alerts (\(index.layout.rawValue) layout); offsets: \(offsets.isEmpty ? "none" : offsets); \(problems.isEmpty ? "ok" : "\(problems.count) problems")")
                if !problems.isEmpty { throw ExitCode(1) }
            } catch let e as ExitCode {
                throw e
            } catch {
                throw indexFailure(error)
            }
        }
    }

    struct Serve: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Serve the read-only HTTP API (/api/alerts, /api/alerts/ID, /api/stats) until interrupted.")
        @OptionGroup var location: IndexLocation
        @Option(help: ArgumentHelp("Address to listen on; a non-loopback one needs --token.", valueName: "HOST:PORT")) var listen: String = "127.0.0.1:8089"
        @Option(help: ArgumentHelp("Require Authorization: Bearer TOKEN (default: $VIGIL_API_TOKEN).", valueName: "TOKEN")) var token: String?

        func run() throws {
            do {
                let (host, port) = try AlertAPIConfiguration.parseListen(listen, filter: "--listen")
                let token = self.token ?? ProcessInfo.processInfo.environment["VIGIL_API_TOKEN"]
                let api = AlertAPIConfiguration(host: host, port: port, token: token)
                try api.validate()
                let index = try location.open()
                defer { index.close() }
                let server = try AlertAPIServer(index: index, configuration: api)
                installStopHandlers()
                let bound = try server.start()
                let out = OutputBuffer()
                out.append("listening on http://\(host.contains(":") ? "[\(host)]" : host):\(bound)\(token == nil ? "" : " (bearer token required)")")
                out.flush()
                while !stopRequested() { usleep(100_000) }
                server.stop()
            } catch {
                throw indexFailure(error)
            }
        }
    }
}

struct IndexCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "index",
        abstract: "Run the indexer alone: consume the alerts topic into the alert index, exactly once.",
        discussion: """
            The index role of `vigil run`: each batch of alerts is written in one SQLite transaction with \
            the topic offsets it reaches, and a restart resumes there. Runs until SIGINT or SIGTERM; with \
            --drain it stops once the alerts topic is indexed to its end. Serves the HTTP API when \
            index.http.listen is set.
            """)
    @Option(help: ArgumentHelp("The configuration file.", valueName: "FILE")) var config: String = "deploy/vigil.yaml"
    @Flag(help: "Stop when the alerts topic is indexed to its end.") var drain = false

    func run() throws {
        let configuration = try VigilConfiguration.load(path: config)
        installStopHandlers()
        let pipeline = Pipeline(configuration: configuration)
        do {
            let c = try pipeline.runIndexer(drain: drain, report: { printError($0) }, shouldStop: { stopRequested() })
            printError("""
                vigil index: \(c.recordsRead) records read, \(c.inserted) alerts indexed, \(c.updated) updated, \
                \(c.unchanged) already indexed, \(c.rejected) not alerts (to errors), \(c.transactions) transactions \
                (\(configuration.index.path))
                """)
        } catch {
            throw indexFailure(error)
        }
    }
}
