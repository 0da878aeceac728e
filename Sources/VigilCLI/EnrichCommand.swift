import ArgumentParser
import Foundation
import VigilBroker
import VigilCore
import VigilEnrich

struct EnrichCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enrich",
        abstract: "Enrich events (JSON lines) with the enrichments of a file or directory and print them as JSON lines.",
        discussion: """
            Reads events from EVENTS.jsonl or stdin ('-' or nothing), applies every enrichment in file-name order and prints
            each enriched event on one line. Lines that are not JSON objects are reported on stderr with their line number
            and counted; the command then exits 1. With --data, changelog and indicator topics are read to their end first.
            A summary of lookups and hits per enrichment goes to stderr.
            """)
    @Option(name: .customLong("config"), help: ArgumentHelp("An enrichment file, or a directory of them.", valueName: "FILE|DIR"))
    var config: String = "enrichment"
    @Option(name: .customLong("data"), help: ArgumentHelp("A data directory whose changelog and indicator topics to read first.", valueName: "DIR"))
    var dataDirectory: String?
    @Argument(help: "Events as JSON lines ('-' or none: stdin).") var input: String?

    func run() throws {
        let set: EnrichmentSet
        do { set = try EnrichmentSet.load(path: config) } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
        for warning in set.warnings { printError("warning: \(warning)") }
        if let dataDirectory, !set.topics.isEmpty {
            do {
                let log = try EmbeddedLog(readingFrom: dataDirectory)
                let feeder = TopicFeeder(set: set, log: log)
                let n = try feeder.catchUp()
                printError("read \(n) records from \(set.topics.joined(separator: ", ")) (\(feeder.recordsRejected) rejected)")
                for reason in feeder.recentRejections { printError("rejected: \(reason)") }
            } catch {
                printError("error: \(error)")
                throw ExitCode(1)
            }
        }
        var enricher = set.makeEnricher()
        let out = OutputBuffer()
        var json: [UInt8] = []
        var enriched = 0, rejected = 0
        try forEachLine(input.map { [$0] } ?? []) { line, file, number, truncated in
            var blank = true
            for b in line where b != 0x20 && b != 0x09 && b != 0x0D { blank = false; break }
            if blank { return }
            let name = file == "-" ? "stdin" : file
            if truncated {
                out.flush()
                printError("\(name):\(number): rejected: line longer than \(line.count) bytes")
                rejected += 1
                return
            }
            var event: Event
            do { event = try EventJSON.decode(line) } catch {
                out.flush()
                printError("\(name):\(number): rejected: \(error)")
                rejected += 1
                return
            }
            enricher.enrich(&event)
            json.removeAll(keepingCapacity: true)
            EventJSON.encode(event, into: &json)
            out.append(String(decoding: json, as: UTF8.self))
            enriched += 1
        }
        out.flush()
        enricher.flushMetrics()
        for m in set.metrics {
            printError("\(m.name) (\(m.kind.rawValue)): \(m.lookups.count) lookups, \(m.hits.count) hits")
        }
        printError("\(enriched) events enriched, \(rejected) lines rejected")
        if rejected > 0 { throw ExitCode(1) }
    }
}
