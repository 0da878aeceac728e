import Foundation
import GRDBSQLite

/// Copies the write-ahead log into the database on its own thread and connection, so that the
/// indexer's writer never stops to checkpoint.
///
/// SQLite's automatic checkpoint runs inside the commit that crosses `wal_autocheckpoint`: the
/// writer copies every page back and syncs the database file before it can start the next
/// batch. With a checkpointer the writer connection turns that off (`wal_autocheckpoint = 0`)
/// and signals ``committed()`` after each transaction; this thread then runs a PASSIVE
/// checkpoint (it never blocks the writer or readers, and copies what no reader still needs).
/// Once a checkpoint has copied the whole log, SQLite restarts the log from its beginning at the
/// writer's next transaction, so the file stays about as large as a few batches. Should readers
/// keep the log from being copied until it exceeds `restartBytes`, a RESTART checkpoint waits
/// (up to a second) for them. ``stop()`` checkpoints what is left and truncates the log.
final class Checkpointer: @unchecked Sendable {
    private let path: String
    private let restartBytes: Int64
    private let condition = NSCondition()
    private var pending = false
    private var stopping = false
    private var thread: Thread?
    private let done = DispatchSemaphore(value: 0)
    /// Checkpoints run and the last error, for tests and `vigil status`.
    private(set) var runs = 0
    private(set) var lastError: String?

    init(path: String, restartBytes: Int64 = 1 << 30) {
        self.path = path
        self.restartBytes = restartBytes
    }

    func start() {
        let t = Thread { [self] in loop() }
        t.name = "vigil-index-checkpoint"
        thread = t
        t.start()
    }

    /// A transaction committed: the log has new frames.
    func committed() {
        condition.lock()
        pending = true
        condition.signal()
        condition.unlock()
    }

    /// Checkpoints the rest, truncates the log and ends the thread.
    func stop() {
        condition.lock()
        guard thread != nil, !stopping else { condition.unlock(); return }
        stopping = true
        condition.signal()
        condition.unlock()
        done.wait()
    }

    private func loop() {
        var db: OpaquePointer?
        if sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nil) != SQLITE_OK {
            lastError = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open \(path)"
        }
        if let db {
            sqlite3_busy_timeout(db, 1000)
            // A connection learns that the database is in WAL mode when it first reads it.
            if sqlite3_exec(db, "PRAGMA journal_mode", nil, nil, nil) != SQLITE_OK { lastError = String(cString: sqlite3_errmsg(db)) }
        }
        while true {
            condition.lock()
            while !pending && !stopping { condition.wait() }
            let last = stopping
            pending = false
            condition.unlock()
            guard let db else { if last { break } else { continue } }
            if last {
                checkpoint(db, mode: SQLITE_CHECKPOINT_TRUNCATE)
                break
            }
            checkpoint(db, mode: SQLITE_CHECKPOINT_PASSIVE)
            if walBytes() > restartBytes { checkpoint(db, mode: SQLITE_CHECKPOINT_RESTART) }
        }
        if let db { sqlite3_close_v2(db) }
        done.signal()
    }

    private func checkpoint(_ db: OpaquePointer, mode: Int32) {
        var log: Int32 = 0, copied: Int32 = 0
        let rc = sqlite3_wal_checkpoint_v2(db, nil, mode, &log, &copied)
        runs += 1
        if rc != SQLITE_OK && rc != SQLITE_BUSY { lastError = String(cString: sqlite3_errmsg(db)) }
    }

    private func walBytes() -> Int64 {
        var st = stat()
        return stat(path + "-wal", &st) == 0 ? Int64(st.st_size) : 0
    }
}
