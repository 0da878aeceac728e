import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A running Vigil process's mark in the data directory: `run/<role>-<pid>.json`, holding the
/// pid, the role, the start time and the metrics endpoint's address, exclusively locked
/// (`flock`) while the process lives. `vigil status` finds running processes by trying the lock:
/// a file whose lock it can take belongs to a process that is gone (killed), and is ignored.
public final class RunStateFile: @unchecked Sendable {
    // Safe: `fd` is set once and closed once, in `remove()`, which the owner calls once.
    public let path: String
    private var fd: Int32

    /// What a run-state file says.
    public struct Contents: Codable, Sendable, Equatable {
        public var pid: Int32
        public var role: String
        /// Seconds since the epoch.
        public var started: Double
        /// `host:port` of `/metrics`, when the endpoint is up.
        public var metrics: String?
        /// The consumer group the process's stream stage belongs to.
        public var group: String?
    }

    /// Creates and locks `run/<role>-<pid>.json` in `dataDirectory`.
    public init(dataDirectory: String, contents: Contents) throws {
        let dir = dataDirectory + "/run"
        if mkdir(dataDirectory, 0o700) != 0 && errno != EEXIST || mkdir(dir, 0o700) != 0 && errno != EEXIST {
            throw PipelineError("cannot create \(dir): \(String(cString: strerror(errno)))")
        }
        path = "\(dir)/\(contents.role)-\(contents.pid).json"
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw PipelineError("cannot create \(path): \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw PipelineError("\(path) is locked by another process")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let bytes = Array((try encoder.encode(contents)) + Data("\n".utf8))
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }

    /// Deletes the file and lets go of the lock.
    public func remove() {
        guard fd >= 0 else { return }
        unlink(path)
        close(fd)
        fd = -1
    }

    /// The run-state files of `dataDirectory` whose process still holds the lock.
    public static func running(dataDirectory: String) -> [Contents] {
        let dir = dataDirectory + "/run"
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".json") }.sorted()
        var result: [Contents] = []
        for name in names {
            let path = "\(dir)/\(name)"
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            if flock(fd, LOCK_SH | LOCK_NB) == 0 {
                flock(fd, LOCK_UN)  // nobody holds it: the process is gone
                continue
            }
            guard let data = FileManager.default.contents(atPath: path),
                  let contents = try? JSONDecoder().decode(Contents.self, from: data) else { continue }
            result.append(contents)
        }
        return result
    }
}
