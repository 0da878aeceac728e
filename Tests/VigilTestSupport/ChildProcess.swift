import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The directory holding the built products (`vigil`, test tools): the test bundle's directory.
public func productsDirectory() -> String {
    var buffer = [UInt8](repeating: 0, count: 4096)
    let n = buffer.withUnsafeMutableBytes { readlink("/proc/self/exe", $0.baseAddress!.assumingMemoryBound(to: CChar.self), 4095) }
    let exe = String(decoding: buffer[0..<max(0, n)], as: UTF8.self)
    var dir = (exe as NSString).deletingLastPathComponent
    // swift-testing on Linux runs `<products>/<Package>PackageTests.xctest`.
    while !dir.isEmpty && dir != "/" && !FileManager.default.fileExists(atPath: dir + "/vigil") {
        dir = (dir as NSString).deletingLastPathComponent
    }
    return dir
}

/// A child process whose stdout lines are collected on a background thread.
public final class ChildProcess: @unchecked Sendable {
    // `lines` and `finished` are guarded by `lock`; the rest is immutable after init.
    public let process = Process()
    private let lock = NSCondition()
    private var lines: [String] = []
    private var finished = false
    private let stderrPipe = Pipe()

    public init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        let out = Pipe()
        process.standardOutput = out
        process.standardError = stderrPipe
        try process.run()
        let handle = out.fileHandleForReading
        let thread = Thread { [self] in
            var pending = Data()
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                pending.append(chunk)
                while let nl = pending.firstIndex(of: 0x0A) {
                    let line = String(decoding: pending[pending.startIndex..<nl], as: UTF8.self)
                    pending.removeSubrange(pending.startIndex...nl)
                    lock.withLock { lines.append(line); lock.broadcast() }
                }
            }
            lock.withLock { finished = true; lock.broadcast() }
        }
        thread.start()
    }

    public var pid: Int32 { process.processIdentifier }

    /// Lines printed so far.
    public var output: [String] { lock.withLock { lines } }

    /// Waits until a line satisfies `predicate` (true) or the output ends / time runs out (false).
    public func waitForLine(timeout: Double, _ predicate: (String) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        lock.lock()
        defer { lock.unlock() }
        var checked = 0
        while true {
            while checked < lines.count {
                if predicate(lines[checked]) { return true }
                checked += 1
            }
            if finished || !lock.wait(until: deadline) { return false }
        }
    }

    public func kill(_ signal: Int32 = SIGKILL) { Glibc.kill(process.processIdentifier, signal) }

    /// Waits for exit and for stdout to be drained; returns the exit status.
    @discardableResult
    public func wait() -> Int32 {
        process.waitUntilExit()
        lock.withLock { while !finished { lock.wait() } }
        return process.terminationStatus
    }

    public var standardError: String {
        String(decoding: stderrPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    }
}
