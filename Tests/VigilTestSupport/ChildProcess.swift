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

/// The result of running a command to completion.
public struct CommandResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    public var lines: [String] { stdout.split(separator: "\n").map(String.init) }
}

/// Runs `executable` with `arguments`, feeding `input` on stdin, and waits for it.
public func runCommand(_ executable: String, _ arguments: [String], input: String? = nil,
                       environment: [String: String]? = nil) throws -> CommandResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    let out = Pipe(), err = Pipe(), inPipe = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = inPipe
    try process.run()
    // Drain both pipes concurrently so a chatty child never blocks.
    let box = OutputBox()
    let group = DispatchGroup()
    group.enter()
    Thread {
        box.setErr(err.fileHandleForReading.readDataToEndOfFile())
        group.leave()
    }.start()
    if let input { inPipe.fileHandleForWriting.write(Data(input.utf8)) }
    try? inPipe.fileHandleForWriting.close()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    process.waitUntilExit()
    return CommandResult(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                         stderr: String(decoding: box.err, as: UTF8.self))
}

private final class OutputBox: @unchecked Sendable {
    // Written once by the draining thread before `group.leave()`, read after `group.wait()`.
    var err = Data()
    func setErr(_ d: Data) { err = d }
}

/// The repository's root directory (for deploy/, rules/, parsers/ fixtures).
public func repositoryRoot(file: String = #filePath) -> String {
    var dir = (file as NSString).deletingLastPathComponent
    while !dir.isEmpty && dir != "/" && !FileManager.default.fileExists(atPath: dir + "/Package.swift") {
        dir = (dir as NSString).deletingLastPathComponent
    }
    return dir
}

/// `../shared/data` beside the repository (real sample data: pcaps, logs, Metron samples), or nil
/// when it is absent; tests that need it print why they skip.
public func sharedDataDirectory() -> String? {
    let candidates = [ProcessInfo.processInfo.environment["VIGIL_SHARED_DATA"],
                      repositoryRoot() + "/../shared/data", "/work/shared/data"].compactMap { $0 }
    return candidates.first { FileManager.default.fileExists(atPath: $0 + "/README.md") }
}
