import ArgumentParser
import Foundation
import VigilBroker
import VigilCore
import VigilLogs
import VigilParsers
import VigilPipeline

/// Where parser definitions are: `--parsers DIR`, else `parsers.dir` of `--config`, else `./parsers`.
struct ParserOptions: ParsableArguments {
    @Option(name: .customLong("parsers"), help: ArgumentHelp("The directory of parser definitions.", valueName: "DIR"))
    var directory: String?

    func resolvedDirectory(config: VigilConfiguration?) -> String {
        directory ?? config?.parsers.directory ?? "parsers"
    }

    func load(config: VigilConfiguration?) throws -> ParserRegistry {
        try ParserRegistry.load(directory: resolvedDirectory(config: config))
    }
}

/// Reads lines from files or stdin and hands each to `body` (without the newline).
func forEachLine(_ files: [String], _ body: (UnsafeRawBufferPointer, _ file: String, _ number: Int, _ truncated: Bool) throws -> Void) throws {
    for file in files.isEmpty ? ["-"] : files {
        let fd = file == "-" ? 0 : open(file, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw ValidationError("cannot open \(file): \(String(cString: strerror(errno)))") }
        defer { if fd != 0 { close(fd) } }
        var reader = LineReader(fd: fd)
        var number = 0
        while true {
            let result = try reader.readLines(flushPartial: true) { line, truncated in
                number += 1
                try body(line, file, number, truncated)
            }
            if case .endOfInput = result { break }
        }
    }
}

struct ParseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parse",
        abstract: "Parse lines with a parser and print the normalized events as JSON lines, for tuning.",
        discussion: "Rejected lines are reported on stderr with their line number and reason; the command exits 1 if any was rejected.")
    @OptionGroup var data: DataOptions
    @OptionGroup var parsers: ParserOptions
    @Option(help: "The parser (a file name in parsers/ without .yaml).") var parser: String
    @Option(help: "Reference time for timestamps without a year (RFC 3339); default now.") var referenceTime: String?
    @Argument(help: "Files to read ('-' or none: stdin).") var files: [String] = []

    func run() throws {
        let registry = try parsers.load(config: try data.configuration())
        let compiled = try registry.require(parser)
        var context = ParseContext()
        if let referenceTime {
            guard let t = Timestamp(rfc3339: referenceTime) else { throw ValidationError("--reference-time must be RFC 3339") }
            context.referenceTime = t
        }
        let out = OutputBuffer()
        var parsed = 0, rejected = 0
        var json: [UInt8] = []
        var session = ParserSession(parser: compiled)
        var currentFile = ""
        try forEachLine(files) { line, file, number, truncated in
            if file != currentFile { session = ParserSession(parser: compiled); currentFile = file }
            if line.isEmpty { return }
            do {
                if truncated { throw ParseFailure("line longer than \(line.count) bytes") }
                try session.parse(line, context: context) { event in
                    json.removeAll(keepingCapacity: true)
                    EventJSON.encode(event, into: &json)
                    out.append(String(decoding: json, as: UTF8.self))
                    parsed += 1
                }
            } catch {
                out.flush()
                printError("\(file):\(number): rejected: \(error)")
                rejected += 1
            }
        }
        out.flush()
        printError("\(parsed) events, \(rejected) lines rejected by \(parser)")
        if rejected > 0 { throw ExitCode(1) }
    }
}

struct ParsersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parsers",
        abstract: "List the parser definitions and run their examples.",
        subcommands: [List.self, Test.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the parsers in the parsers directory.")
        @OptionGroup var data: DataOptions
        @OptionGroup var parsers: ParserOptions

        func run() throws {
            let registry = try parsers.load(config: try data.configuration())
            printTable(header: ["NAME", "TYPE", "EXAMPLES", "DESCRIPTION"],
                       rows: registry.names.map { name in
                           let p = registry.parsers[name]!
                           return [name, p.type, "\(p.examples.count)", p.description]
                       })
        }
    }

    struct Test: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run every parser's examples and check the fields they must produce.",
            discussion: "Exits 1 when an example fails. Examples without a year are read with the reference time 2026-06-15T12:00:00Z.")
        @OptionGroup var data: DataOptions
        @OptionGroup var parsers: ParserOptions
        @Argument(help: "Parsers to test (default: all).") var names: [String] = []

        func run() throws {
            let registry = try parsers.load(config: try data.configuration())
            let context = ParseContext(referenceTime: Timestamp(rfc3339: "2026-06-15T12:00:00Z")!)
            var passed = 0, failed = 0
            for name in names.isEmpty ? registry.names : names {
                let parser = try registry.require(name)
                for example in parser.examples {
                    let problems = ParserExampleCheck.check(example, parser: parser, context: context)
                    if problems.isEmpty {
                        passed += 1
                    } else {
                        failed += 1
                        print("FAIL \(name) \(example.origin)")
                        for p in problems { print("  \(p)") }
                    }
                }
                if parser.examples.isEmpty { print("note: \(name) has no examples") }
            }
            print("\(passed) examples passed, \(failed) failed")
            if failed > 0 { throw ExitCode(1) }
        }
    }
}

struct IngestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Parse lines from files or stdin and append the events to the broker.",
        discussion: "Rejected lines go to the errors topic with the parser's name, the reason and the original bytes; the command exits 1 if any was rejected.")
    @OptionGroup var data: DataOptions
    @OptionGroup var parsers: ParserOptions
    @Option(help: "The parser.") var parser: String
    @Option(help: "The topic to append to.") var topic: String = "events"
    @Option(help: "The event field whose value keys each record.") var keyField: String = "source.ip"
    @Argument(help: "Files to read ('-' or none: stdin).") var files: [String] = []

    func run() throws {
        let config = try data.configuration()
        let registry = try parsers.load(config: config)
        let compiled = try registry.require(parser)
        let log = try data.open()
        let counters = IngestCounters()
        let errors = ErrorPublisher(producer: try log.producer(topic: "errors"), rejected: counters.rejected)
        errors.onReject = { _, reason in printError("rejected: \(reason)") }
        let ingestor = LineIngestor(parser: compiled, sensor: "ingest", keyField: keyField,
                                    producer: try log.producer(topic: topic), errors: errors, counters: counters)
        var pending = 0
        var session = ingestor.makeSession()
        var currentFile = ""
        try forEachLine(files) { line, file, _, truncated in
            if file != currentFile { session = ingestor.makeSession(); currentFile = file }
            if truncated {
                try errors.reject(original: line, sensor: "ingest", parser: parser, reason: "line longer than \(line.count) bytes (truncated)")
            } else {
                try ingestor.ingest(line, session: session)
            }
            pending += 1
            if pending == 8192 { try ingestor.flush(); pending = 0 }
        }
        try ingestor.flush()
        print("\(counters.produced.count) events to \(topic), \(counters.rejected.count) lines rejected to errors (\(counters.lines.count) lines read)")
        if counters.rejected.count > 0 { throw ExitCode(1) }
    }
}
