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
/// writer's next transaction, so the file stays about as large as a few batches. A writer that
/// commits back to back never leaves a passive checkpoint time to copy the whole log, though: the
/// log would grow for as long as the load lasts (5 GB in a 10,000,000-alert bench, every page of
/// it new to the page cache). So the writer calls ``restartIfLogExceedsLimit()`` between
/// transactions: once the log holds more than `restartBytes`, this thread runs a RESTART
/// checkpoint (it copies the rest, and waits up to a second for readers of old snapshots) while
/// the writer waits, and the writer's next transaction starts the log again from its beginning.
/// ``stop()`` checkpoints what is left and truncates the log.
final class Checkpointer: @unchecked Sendable {
    private let path: String
    private let restartBytes: Int64
    private let condition = NSCondition()
    private var pending = false
    private var stopping = false
    /// Frames in the log after the last checkpoint (SQLite's count), and their size.
    private var logFrames: Int64 = 0
    private var frameBytes: Int64 = 16_384 + 24
    /// A RESTART checkpoint the writer asked for and waits on.
    private var restartRequested = false
    private let restartDone = DispatchSemaphore(value: 0)
    /// RESTART checkpoints run for the writer, and the time the writer waited for them (ns),
    /// for tests and the bench (read by the writer's thread).
    private(set) var restarts = 0
    private(set) var restartWaitNanoseconds: Int64 = 0
    private var thread: Thread?
    private let done = DispatchSemaphore(value: 0)
    /// Checkpoints run and the last error, for tests and `vigil status`.
    private(set) var runs = 0
    private(set) var lastError: String?

    init(path: String, restartBytes: Int64 = 128 << 20) {
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

    /// Called by the writer between transactions: when the log holds more than `restartBytes`,
    /// has this thread copy it all and restart it, and waits for that.
    func restartIfLogExceedsLimit() {
        condition.lock()
        guard thread != nil, !stopping, logFrames * frameBytes > restartBytes else { condition.unlock(); return }
        restartRequested = true
        pending = true
        condition.signal()
        condition.unlock()
        let t0 = DispatchTime.now().uptimeNanoseconds
        restartDone.wait()
        restartWaitNanoseconds += Int64(DispatchTime.now().uptimeNanoseconds - t0)
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
            var stmt: OpaquePointer?
            if sqlite3_prepare_v2(db, "PRAGMA page_size", -1, &stmt, nil) == SQLITE_OK, sqlite3_step(stmt) == SQLITE_ROW {
                frameBytes = sqlite3_column_int64(stmt, 0) + 24
            }
            sqlite3_finalize(stmt)
        }
        while true {
            condition.lock()
            while !pending && !stopping { condition.wait() }
            let last = stopping
            let restart = restartRequested
            pending = false
            condition.unlock()
            if let db {
                if last {
                    checkpoint(db, mode: SQLITE_CHECKPOINT_TRUNCATE)
                } else if restart {
                    if checkpoint(db, mode: SQLITE_CHECKPOINT_RESTART) == SQLITE_OK {
                        // The whole log is copied: the writer's next transaction starts it again.
                        condition.lock()
                        logFrames = 0
                        condition.unlock()
                        restarts += 1
                    }
                } else {
                    checkpoint(db, mode: SQLITE_CHECKPOINT_PASSIVE)
                }
            }
            if restart || last {
                condition.lock()
                let waiting = restartRequested
                restartRequested = false
                condition.unlock()
                if waiting { restartDone.signal() }
            }
            if last { break }
        }
        if let db { sqlite3_close_v2(db) }
        done.signal()
    }

    @discardableResult
    private func checkpoint(_ db: OpaquePointer, mode: Int32) -> Int32 {
        var log: Int32 = 0, copied: Int32 = 0
        let rc = sqlite3_wal_checkpoint_v2(db, nil, mode, &log, &copied)
        runs += 1
        if rc != SQLITE_OK && rc != SQLITE_BUSY { lastError = String(cString: sqlite3_errmsg(db)) }
        condition.lock()
        // -1 when the checkpoint could not run: the count stays what it was.
        if log >= 0 { logFrames = Int64(log) }
        condition.unlock()
        return rc
    }
}
