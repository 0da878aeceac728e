import Foundation

/// Runs a benchmark's peer program (Python with sqlite3, DataSketches…).
enum PeerProcess {
    /// Runs `python arguments…` through `/usr/bin/env`; its exit status and its standard output
    /// and error together (status -1 when it cannot be started).
    static func python(_ python: String, _ arguments: [String]) -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [python] + arguments
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        do { try p.run() } catch { return (-1, "cannot run \(python): \(error)") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
