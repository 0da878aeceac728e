import ArgumentParser
import Foundation
import VigilBroker

extension TopicsCommand {
    struct Produce: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Append lines from files or stdin to a topic.")
        @OptionGroup var data: DataOptions
        @Argument(help: "The topic.") var topic: String
        @Argument(help: "Files to read ('-' or none: stdin).") var files: [String] = []

        func run() throws {
            let log = try data.open()
            let producer = try log.producer(topic: topic)
            var count = 0
            for file in files.isEmpty ? ["-"] : files {
                let handle = file == "-" ? FileHandle.standardInput : try FileHandle(forReadingFrom: URL(fileURLWithPath: file))
                let text = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
                for line in text.split(separator: "\n") where !line.isEmpty {
                    try producer.send(key: nil, value: Array(line.utf8), timestamp: nowNanoseconds())
                    count += 1
                }
            }
            try producer.close()
            print("produced \(count) records to \(topic)")
        }
    }
}
