import GRDB
import VigilCore

/// The on-disk alert index (SQLite through GRDB). Filled in by issue 7.
public enum AlertIndexSchema {
    /// Version of the index schema written by this build.
    public static let version = 1
}
