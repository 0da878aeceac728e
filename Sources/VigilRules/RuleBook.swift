import Foundation
import Synchronization
import VigilCore

/// The current rules, replaced as a whole when the rule files change: a reload that fails keeps
/// the previous rules running and reports the error at its file:line:column.
///
/// Workers read ``current`` when ``version`` changes (one atomic load per event otherwise); one
/// maintenance thread calls ``reloadIfChanged(report:)``.
public final class RuleBook: Sendable {
    /// Loads the rules (the rules directory, Vigil files and Sigma); called again on changes.
    public typealias Loader = @Sendable () throws -> [CompiledRule]

    let version = Atomic<UInt64>(0)
    private let state: Mutex<(rules: [CompiledRule], stamp: [String: String], failedStamp: [String: String]?)>
    private let loader: Loader
    /// The directory whose files' names, sizes and modification times say whether to reload.
    public let directory: String?

    public init(rules: [CompiledRule], directory: String? = nil, loader: Loader? = nil) {
        self.directory = directory
        self.loader = loader ?? { rules }
        state = Mutex((rules, directory.map(Self.stamp) ?? [:], nil))
    }

    /// The rules now in force.
    public var current: [CompiledRule] { state.withLock { $0.rules } }

    /// Reloads when a file of the directory was added, removed or changed since the last load
    /// (or the last failed attempt). Returns whether new rules took effect.
    @discardableResult
    public func reloadIfChanged(report: (String) -> Void) -> Bool {
        guard let directory else { return false }
        let stamp = Self.stamp(directory)
        let (same, failedSame) = state.withLock { ($0.stamp == stamp, $0.failedStamp == stamp) }
        guard !same, !failedSame else { return false }
        do {
            let rules = try loader()
            state.withLock { $0 = (rules, stamp, nil) }
            version.add(1, ordering: .releasing)
            report("rules reloaded: \(rules.count) rules in force")
            return true
        } catch {
            state.withLock { $0.failedStamp = stamp }
            report("rules not reloaded, the previous rules stay in force: \(error)")
            return false
        }
    }

    /// Names, sizes and modification times (ns) of every file under `directory`.
    static func stamp(_ directory: String) -> [String: String] {
        var out: [String: String] = [:]
        guard let walker = FileManager.default.enumerator(atPath: directory) else { return out }
        for case let path as String in walker {
            var st = stat()
            guard stat(directory + "/" + path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { continue }
            out[path] = "\(st.st_size):\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec):\(st.st_ino)"
        }
        return out
    }
}
