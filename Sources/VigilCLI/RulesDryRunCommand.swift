import ArgumentParser
import Foundation
import VigilCore
import VigilDecode
import VigilEnrich
import VigilParsers
import VigilPipeline
import VigilRules

enum AlertFormat: String, ExpressibleByArgument, CaseIterable {
    case json, table
}

/// `vigil rules test --pcap FILE… | --logs FILE… --parser NAME`: the rules over a capture or a
/// log file, in-process (RuleDryRun), without the broker or the index.
struct DryRunOptions: ParsableArguments {
    @Option(parsing: .upToNextOption, help: ArgumentHelp("Capture files (pcap, pcapng) to run the rules over, read in order.", valueName: "FILE"))
    var pcap: [String] = []
    @Option(parsing: .upToNextOption, help: ArgumentHelp("Log files to run the rules over (with --parser).", valueName: "FILE"))
    var logs: [String] = []
    @Option(help: "The parser for --logs (a file name in the parsers directory without .yaml).") var parser: String?
    @Option(name: .customLong("parsers"), help: ArgumentHelp("The directory of parser definitions (default: parsers.dir of --config, else ./parsers).", valueName: "DIR"))
    var parsersDirectory: String?
    @Option(help: "Reference time for log timestamps without a year (RFC 3339); default now.") var referenceTime: String?
    @Option(help: ArgumentHelp("Application protocols to analyze in captures, comma-separated (dns,http,tls,ssh), or 'none'.", valueName: "LIST"))
    var protocols: String = "dns,http,tls,ssh"
    @Option(help: "How alerts are printed: json (one alert per line) or table.") var format: AlertFormat = .json

    var isDryRun: Bool { !pcap.isEmpty || !logs.isEmpty }

    func validate() throws {
        if !pcap.isEmpty && !logs.isEmpty { throw ValidationError("give --pcap or --logs, not both") }
        if !logs.isEmpty && parser == nil { throw ValidationError("--logs needs --parser NAME") }
        if logs.isEmpty && parser != nil { throw ValidationError("--parser is for --logs") }
        if let referenceTime, Timestamp(rfc3339: referenceTime) == nil { throw ValidationError("--reference-time must be RFC 3339") }
        if !pcap.isEmpty { _ = try analyzerConfiguration() }
    }

    func analyzerConfiguration() throws -> NetworkAnalyzer.Configuration {
        try NetworkOutputOptions.analyzerConfiguration(protocols: protocols)
    }

    func run(config configPath: String?, rules: String?) throws {
        // Everything that can be wrong with the input is reported before any alert is printed.
        let config: VigilConfiguration?
        do { config = try configPath.map { try VigilConfiguration.load(path: $0) } } catch { fail("\(error)") }
        let directory = rules ?? config?.rules.directory ?? "rules"
        guard FileManager.default.fileExists(atPath: directory) else { fail("no rules directory \(directory) (give --rules DIR or --config FILE)") }
        let compiled: [CompiledRule]
        do { compiled = try Pipeline.loadRules(directory: directory, report: { printError($0) }) } catch { fail("\(error)") }
        var enrichment: EnrichmentSet?
        if let config {
            do { enrichment = try Pipeline(configuration: config).loadEnrichment(report: { printError($0) }) } catch { fail("\(error)") }
            if let set = enrichment, !set.topics.isEmpty {
                printError("note: enrichment topics (\(set.topics.joined(separator: ", "))) are not read in a dry run")
            }
        }
        for file in pcap + logs where !FileManager.default.isReadableFile(atPath: file) { fail("cannot read \(file)") }
        var lineParser: CompiledParser?
        if let parser {
            let dir = parsersDirectory ?? config?.parsers.directory ?? "parsers"
            do { lineParser = try ParserRegistry.load(directory: dir).require(parser) } catch { fail("--parser \(parser): \(error)") }
        }

        let out = OutputBuffer()
        var table: [[String]] = []
        let format = self.format
        var json: [UInt8] = []
        let dryRun = RuleDryRun(rules: compiled, triage: config?.rules.triage ?? .max, enrichment: enrichment) { alert in
            switch format {
            case .json:
                json.removeAll(keepingCapacity: true)
                EventJSON.encode(alert, into: &json)
                out.append(String(decoding: json, as: UTF8.self))
            case .table:
                table.append(Self.row(alert))
            }
        }
        if !pcap.isEmpty {
            let capture: String
            do { capture = try dryRun.replay(files: pcap, configuration: try analyzerConfiguration()) } catch {
                out.flush()
                fail("\(error)")
            }
            printError(capture)
        } else if let lineParser, let parser {
            var session = ParserSession(parser: lineParser)
            var context = ParseContext()
            if let referenceTime { context.referenceTime = Timestamp(rfc3339: referenceTime)! }
            var rejected = 0
            var currentFile = ""
            do {
                try forEachLine(logs) { line, file, number, truncated in
                    if file != currentFile { session = ParserSession(parser: lineParser); currentFile = file }
                    if line.isEmpty { return }
                    do {
                        if truncated { throw ParseFailure("line longer than \(line.count) bytes") }
                        try session.parse(line, context: context) { dryRun.add($0) }
                    } catch {
                        rejected += 1
                        if rejected <= 10 { printError("\(file):\(number): rejected: \(error)") }
                    }
                }
            } catch {
                out.flush()
                fail("\(error)")
            }
            if rejected > 0 { printError("\(rejected) lines rejected by \(parser)") }
        }
        dryRun.finish()
        out.flush()
        if format == .table { printTable(header: ["TIME", "RULE", "SEVERITY", "KEY", "COUNT"], rows: table) }
        for reason in dryRun.summary.lateReasons { printError("late: \(reason)") }
        printError(dryRun.summary.line)
    }

    static func row(_ a: Event) -> [String] {
        [a[.timestamp]?.timestampValue?.rfc3339 ?? "",
         a["rule.id"]?.stringValue ?? "",
         a["vigil.alert.severity"]?.stringValue ?? "",
         (a["vigil.alert.key"]?.stringValue ?? "").replacingOccurrences(of: "\u{1F}", with: " "),
         a["vigil.alert.count"].flatMap { $0.intValue.map(String.init) } ?? ""]
    }
}

/// Prints `message` on stderr and exits 1.
func fail(_ message: String) -> Never {
    printError("error: \(message)")
    Foundation.exit(1)
}

extension RulesCommand {
    struct Explain: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Explain why a rule does or does not match an event: each node of its match with its result and the values it read.",
            discussion: """
                Give the event as JSON with --event, or a file of events (one JSON object per line) with --event-file. \
                For aggregated rules it also prints the key the event is grouped under and what the aggregation needs; \
                with --event-file, the events then run through the rule alone and the alerts it raised are counted. \
                Exits 1 when the rule or an event cannot be read.
                """)
        @Argument(help: "The rule's id.") var ruleID: String
        @Option(help: ArgumentHelp("The event, as a JSON object.", valueName: "JSON")) var event: String?
        @Option(help: ArgumentHelp("A file of events, one JSON object per line.", valueName: "FILE")) var eventFile: String?
        @Option(help: ArgumentHelp("The configuration file (for rules.dir).", valueName: "FILE")) var config: String?
        @Option(help: ArgumentHelp("The rules directory (instead of the configuration's rules.dir).", valueName: "DIR")) var rules: String?
        @Option(help: "text, or json (one object per event).") var format: OutputFormat = .text

        func validate() throws {
            if (event == nil) == (eventFile == nil) { throw ValidationError("give --event JSON or --event-file FILE") }
        }

        func run() throws {
            let directory: String
            do { directory = try rules ?? VigilConfiguration.load(path: config ?? "deploy/vigil.yaml").rules.directory } catch { fail("\(error)") }
            guard FileManager.default.fileExists(atPath: directory) else { fail("no rules directory \(directory)") }
            let compiled: [CompiledRule]
            do { compiled = try Pipeline.loadRules(directory: directory) } catch { fail("\(error)") }
            guard let rule = compiled.first(where: { $0.rule.id == ruleID }) else {
                let near = compiled.map(\.rule.id).filter { $0.contains(ruleID) || ruleID.contains($0) }.prefix(5)
                fail("no rule \(ruleID) in \(directory) (\(compiled.count) rules)" + (near.isEmpty ? "" : "; similar: \(near.joined(separator: ", "))"))
            }
            let explainer: RuleExplainer
            do { explainer = try RuleExplainer(rule) } catch { fail("\(error)") }
            var events: [Event] = []
            var bad = 0
            if let event {
                do { events.append(try EventJSON.decode(event)) } catch { fail("--event: not an event: \(error)") }
            } else if let eventFile {
                guard FileManager.default.isReadableFile(atPath: eventFile) else { fail("cannot read \(eventFile)") }
                try forEachLine([eventFile]) { line, file, number, _ in
                    if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { return }
                    do { events.append(try EventJSON.decode(line)) } catch {
                        bad += 1
                        printError("\(file):\(number): not an event: \(error)")
                    }
                }
            }
            for (n, e) in events.enumerated() {
                let explanation = explainer.explain(e)
                switch format {
                case .json: print(explanation.json)
                case .text:
                    if n > 0 { print("") }
                    if events.count > 1 { print("event \(n + 1):") }
                    print(explanation.text)
                }
            }
            if eventFile != nil, rule.rule.aggregation != nil {
                let run = RuleDryRun(rules: [rule]) { _ in }
                for e in events { run.add(e) }
                run.finish()
                let raised = run.summary.alertsByRule[rule.rule.id]?.count ?? 0
                printError("these \(events.count) events through \(rule.rule.id) alone: \(raised) alerts")
            }
            if bad > 0 { throw ExitCode(1) }
        }
    }
}
