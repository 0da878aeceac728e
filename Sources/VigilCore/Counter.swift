import Synchronization

/// A monotonically increasing count, safe to bump from any thread.
public final class Counter: Sendable {
    public let name: String
    public let help: String
    private let value = Atomic<Int64>(0)

    public init(_ name: String, help: String) {
        self.name = name
        self.help = help
    }

    public func add(_ n: Int64 = 1) { value.add(n, ordering: .relaxed) }
    public var count: Int64 { value.load(ordering: .relaxed) }
}

