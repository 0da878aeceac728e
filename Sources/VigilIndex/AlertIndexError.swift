/// Every error of the alert index: opening and migrating the database, indexing, queries, the
/// HTTP API. Errors a user can cause (a bad filter, a malformed full-text query) name the filter
/// and say what is accepted.
public struct AlertIndexError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Code: String, Sendable, Equatable {
        /// A query filter or option is invalid; `message` names it.
        case badFilter
        /// No alert has the requested id.
        case notFound
        /// The database could not be opened, migrated, read or written.
        case database
        /// An indexed record is not an alert (undecodable, or without `vigil.alert.id`/`rule.id`).
        case notAnAlert
        /// The HTTP API's settings are unsafe or invalid (non-loopback without a token, bad address).
        case configuration
        /// The broker failed while the indexer consumed.
        case broker
    }

    public let code: Code
    public let message: String
    /// The underlying error's description, when there is one (never raw payloads).
    public let cause: String?

    public init(_ code: Code, _ message: String, cause: String? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    /// A bad filter: `filter` is the option or parameter name as the user wrote it (`--source`, `source`).
    public static func badFilter(_ filter: String, _ message: String) -> AlertIndexError {
        AlertIndexError(.badFilter, "\(filter): \(message)")
    }

    public var description: String { cause.map { "\(message): \($0)" } ?? message }
}
