import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Settings of one file-tailing sensor (`type: file`). Every default is documented here and in
/// docs/sensors-file.md.
public struct FileTailerConfiguration: Sendable, Equatable {
    /// Where a file seen for the first time starts being read.
    public enum StartPosition: String, Sendable, Equatable, CaseIterable {
        /// From its first byte.
        case beginning
        /// From its end (only lines appended later are read). Applies to files present at the
        /// first scan after start-up that have no stored position; files that appear later are
        /// always read from their beginning, so nothing written to a new file is missed.
        case end
    }

    /// The sensor's name: it appears in `vigil.sensor` and names the state directory. Required.
    public var name: String
    /// Glob patterns (glob(3): `*`, `?`, `[…]`) of the files to read, absolute. Required, non-empty.
    public var paths: [String]
    /// Glob patterns of files to skip: a pattern containing `/` is matched against the whole
    /// path, one without against the file's base name (so `*.gz` skips every gzip file). Default none.
    public var exclude: [String]
    /// Where files first seen at start-up begin. Default `beginning`.
    public var startAt: StartPosition
    /// Lines longer than this are delivered cut to this many bytes (flagged as truncated) and the
    /// rest of the line is skipped. Default 1 MiB.
    public var maxLineBytes: Int
    /// How often open files are checked for new bytes (stat polling). Default 250 ms.
    public var pollInterval: Duration
    /// How often the globs are expanded again to find new, renamed and deleted files. Default 1 s.
    public var scanInterval: Duration
    /// A file no longer at any matched path (renamed by rotation) is read until it has grown for
    /// nothing for this long, or is deleted; then it is closed. Default 5 s.
    public var rotateWait: Duration
    /// Lines per batch handed to the broker; every 16 batches (and at the end of each poll that
    /// read anything) the tailer acknowledges (broker flush, then the positions file). Default 4096.
    public var batchLines: Int

    public init(name: String, paths: [String], exclude: [String] = [], startAt: StartPosition = .beginning,
                maxLineBytes: Int = 1 << 20, pollInterval: Duration = .milliseconds(250),
                scanInterval: Duration = .seconds(1), rotateWait: Duration = .seconds(5), batchLines: Int = 4096) {
        self.name = name
        self.paths = paths
        self.exclude = exclude
        self.startAt = startAt
        self.maxLineBytes = maxLineBytes
        self.pollInterval = pollInterval
        self.scanInterval = scanInterval
        self.rotateWait = rotateWait
        self.batchLines = batchLines
    }

    /// Checks the values a user can get wrong; the message says which key and what is allowed.
    public func validate() throws(FileTailError) {
        if name.isEmpty || name.utf8.count > 200 || name == "." || name == ".." || name.utf8.contains(where: { byte in
            !((byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
              || byte == 0x2E || byte == 0x5F || byte == 0x2D)
        }) {
            throw FileTailError(.invalidConfiguration, "sensor name '\(name)': use 1–200 of A–Z a–z 0–9 . _ -")
        }
        if paths.isEmpty { throw FileTailError(.invalidConfiguration, "sensor \(name): paths must list at least one glob") }
        for p in paths where !p.hasPrefix("/") {
            throw FileTailError(.invalidConfiguration, "sensor \(name): path '\(p)' must be absolute")
        }
        if maxLineBytes < 16 || maxLineBytes > 64 << 20 {
            throw FileTailError(.invalidConfiguration, "sensor \(name): max_line_bytes must be 16 B…64 MiB, not \(maxLineBytes)")
        }
        if batchLines < 1 { throw FileTailError(.invalidConfiguration, "sensor \(name): batch_lines must be at least 1") }
        for (key, d) in [("poll_interval", pollInterval), ("scan_interval", scanInterval), ("rotate_wait", rotateWait)]
        where d <= .zero {
            throw FileTailError(.invalidConfiguration, "sensor \(name): \(key) must be positive")
        }
    }

    /// The sensor's state directory: `<data_dir>/sensors/<name>`.
    public static func stateDirectory(dataDirectory: String, sensor: String) -> String {
        "\(dataDirectory)/sensors/\(sensor)"
    }
}

/// Everything that can go wrong while tailing files, with a code, a message a user can act on, and
/// the OS cause where there is one. File contents never appear in a description.
public struct FileTailError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Code: String, Sendable {
        case invalidConfiguration, io, locked, corruptState, processing
    }
    public var code: Code
    public var message: String
    /// `errno` of the failing call, when one failed.
    public var errno: Int32?

    public init(_ code: Code, _ message: String, errno: Int32? = nil) {
        self.code = code
        self.message = message
        self.errno = errno
    }

    public var description: String {
        if let errno { return "\(message): \(String(cString: strerror(errno)))" }
        return message
    }

    /// Wraps the `errno` of the call that just failed.
    @inline(never)
    static func posix(_ what: String, path: String, errno e: Int32 = Glibc.errno) -> FileTailError {
        FileTailError(.io, "\(what) \(path)", errno: e)
    }
}

/// Counters of one tailer, safe to read from any thread while it runs.
public final class FileTailMetrics: Sendable {
    let _linesRead = Atomic<Int64>(0)
    let _bytesRead = Atomic<Int64>(0)
    let _filesOpened = Atomic<Int64>(0)
    let _filesClosed = Atomic<Int64>(0)
    let _rotations = Atomic<Int64>(0)
    let _truncations = Atomic<Int64>(0)
    let _longLines = Atomic<Int64>(0)
    let _partialLinesFlushed = Atomic<Int64>(0)
    let _duplicatesSkipped = Atomic<Int64>(0)
    let _filesLost = Atomic<Int64>(0)
    let _acknowledgements = Atomic<Int64>(0)
    let _unreadBytes = Atomic<Int64>(0)

    public init() {}

    /// Bytes of the open files not read yet, as of the last poll: input that is delayed (the
    /// tailer reads it when it gets to it), never dropped.
    public var unreadBytes: Int64 { _unreadBytes.load(ordering: .relaxed) }

    /// Lines delivered to the processor (complete, truncated or flushed partial lines).
    public var linesRead: Int64 { _linesRead.load(ordering: .relaxed) }
    /// Bytes consumed from files (newlines included).
    public var bytesRead: Int64 { _bytesRead.load(ordering: .relaxed) }
    /// Files opened (new, resumed after restart, or new at a rotated path).
    public var filesOpened: Int64 { _filesOpened.load(ordering: .relaxed) }
    /// Files closed after being renamed away or deleted and read to their end.
    public var filesClosed: Int64 { _filesClosed.load(ordering: .relaxed) }
    /// Files that left their matched path (renamed or deleted) while open.
    public var rotations: Int64 { _rotations.load(ordering: .relaxed) }
    /// Files found shorter than the read position (truncated, copytruncate) or rewritten.
    public var truncations: Int64 { _truncations.load(ordering: .relaxed) }
    /// Lines longer than `max_line_bytes`, delivered cut.
    public var longLines: Int64 { _longLines.load(ordering: .relaxed) }
    /// Final lines without a newline delivered when their file was closed.
    public var partialLinesFlushed: Int64 { _partialLinesFlushed.load(ordering: .relaxed) }
    /// Lines re-read after a restart that the broker already held, so were not sent again.
    public var duplicatesSkipped: Int64 { _duplicatesSkipped.load(ordering: .relaxed) }
    /// Files in the positions file that could not be found again after a restart (deleted while
    /// Vigil was down); their unread tail is lost.
    public var filesLost: Int64 { _filesLost.load(ordering: .relaxed) }
    /// Acknowledgements (processor flush, then positions written).
    public var acknowledgements: Int64 { _acknowledgements.load(ordering: .relaxed) }
}
