#if canImport(Glibc)
import Glibc
#endif

/// Everything that can go wrong in the embedded log, with a code, a message a user can act on,
/// and the OS cause where there is one. Payload bytes never appear in a description.
public struct BrokerError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Code: String, Sendable {
        case io, noSpace, permissionDenied, notFound, alreadyExists, locked
        case corrupt, invalidArgument, offsetOutOfRange, closed
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
    static func posix(_ what: String, path: String, errno e: Int32 = Glibc.errno) -> BrokerError {
        let code: Code
        switch e {
        case ENOSPC, EDQUOT: code = .noSpace
        case EACCES, EPERM, EROFS: code = .permissionDenied
        case ENOENT: code = .notFound
        case EEXIST: code = .alreadyExists
        default: code = .io
        }
        var hint = ""
        switch code {
        case .noSpace: hint = " (the disk is full: free space or lower retention; nothing acknowledged was lost)"
        case .permissionDenied: hint = " (check the data directory's owner and mode)"
        default: break
        }
        return BrokerError(code, "\(what) \(path)\(hint)", errno: e)
    }
}
