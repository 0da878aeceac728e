import ArgumentParser
import Foundation
import VigilBroker
import VigilCore
import VigilPipeline
import VigilLogs

extension TopicsCommand {
    struct Produce: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Append JSON events (one object per line) from files or stdin to a topic.",
            discussion: """
                Each line is decoded into an event (docs/schema.md), keyed by --key-field and appended. \
                Lines that are not valid events go to the errors topic with the reason and are counted; \
                the command exits 1 if any line was rejected. --raw appends lines unchanged instead.
                """)
        @OptionGroup var data: DataOptions
        @Argument(help: "The topic.") var topic: String
        @Argument(help: "Files to read ('-' or none: stdin).") var files: [String] = []
        @Option(help: "The event field whose value keys each record.") var keyField: String = "source.ip"
        @Flag(help: "Append each line as it is (no event decoding), without a key.") var raw = false

        func run() throws {
            let log = try data.open()
            let producer = try log.producer(topic: topic)
            let inputs = files.isEmpty ? ["-"] : files
            if raw {
                var count = 0
                for file in inputs {
                    let handle = file == "-" ? FileHandle.standardInput : try FileHandle(forReadingFrom: URL(fileURLWithPath: file))
                    let text = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
                    for line in text.split(separator: "\n") where !line.isEmpty {
                        try producer.send(key: nil, value: Array(line.utf8), timestamp: nowNanoseconds())
                        count += 1
                    }
                }
                try producer.close()
                print("produced \(count) records to \(topic)")
                return
            }
            let metrics = PipelineMetrics()
            let errors = ErrorPublisher(producer: try log.producer(topic: "errors"), rejected: metrics.eventsRejected)
            errors.onReject = { _, reason in printError("rejected: \(reason)") }
            for file in inputs {
                let config = JSONLinesSensorConfiguration(name: "produce", input: file == "-" ? .standardInput : .file(file),
                                                          topic: topic, keyField: keyField)
                try JSONLinesSensor(configuration: config, producer: producer, errors: errors, metrics: metrics).run { false }
            }
            try producer.close()
            print("produced \(metrics.eventsProduced.count) events to \(topic); \(metrics.eventsRejected.count) lines rejected to errors")
            if metrics.eventsRejected.count > 0 { throw ExitCode(1) }
        }
    }
}
