/// What ``HTTPStreamParser`` reports as it reads one direction of an HTTP/1.x connection.
public enum HTTPMessageEvent: Sendable, Hashable {
    /// A complete request head (request line and header fields).
    case requestHead(HTTPRequestHead)
    /// A complete response head (status line and header fields). 1xx responses come as their
    /// own head and end, before the final response to the same request.
    case responseHead(HTTPResponseHead)
    /// The end of the message whose head came last, with its body length.
    case messageEnd(HTTPMessageEnd)
    /// Malformed input: the parser stops for this direction and reports nothing more.
    case error(HTTPParseError)
}

/// A request head. Header values are kept for the fields Zeek's http.log shows; absent fields
/// are `nil`. Bytes that are not printable ASCII are written `\xHH`.
public struct HTTPRequestHead: Sendable, Hashable {
    /// The method token as sent (`GET`, `CCM_POST`, …).
    public var method: String
    /// The request target as sent (may be empty, as Zeek logs `OPTIONS HTTP/1.1`).
    public var uri: String
    /// The text after `HTTP/` (`1.1`), or `0.9` for a request line without a version.
    public var version: String
    /// Whether the request line had no version (HTTP/0.9): the response is then the raw body.
    public var isHTTP09: Bool
    public var host: String?
    public var userAgent: String?
    public var referrer: String?
    public var origin: String?
    public var contentType: String?
    /// The Authorization header value (Zeek derives `username`/`password` from Basic).
    public var authorization: String?
    /// The Content-Length value, if given.
    public var contentLength: Int64?
    /// Whether the body is chunked (Transfer-Encoding ends in `chunked`).
    public var isChunked: Bool
    /// The number of header fields.
    public var headerCount: Int

    public init(method: String, uri: String, version: String, isHTTP09: Bool = false, host: String? = nil,
                userAgent: String? = nil, referrer: String? = nil, origin: String? = nil,
                contentType: String? = nil, authorization: String? = nil, contentLength: Int64? = nil,
                isChunked: Bool = false, headerCount: Int = 0) {
        self.method = method
        self.uri = uri
        self.version = version
        self.isHTTP09 = isHTTP09
        self.host = host
        self.userAgent = userAgent
        self.referrer = referrer
        self.origin = origin
        self.contentType = contentType
        self.authorization = authorization
        self.contentLength = contentLength
        self.isChunked = isChunked
        self.headerCount = headerCount
    }
}

/// A response head.
public struct HTTPResponseHead: Sendable, Hashable {
    /// The text after `HTTP/` (`1.1`); `0.9` for a response to an HTTP/0.9 request, which has no
    /// status line (``statusCode`` is then 0 and ``reason`` empty, as Zeek logs it).
    public var version: String
    public var statusCode: Int
    public var reason: String
    public var contentType: String?
    public var contentLength: Int64?
    public var isChunked: Bool
    public var server: String?
    public var location: String?
    public var headerCount: Int

    /// A 1xx response: another response to the same request follows.
    public var isInformational: Bool { statusCode >= 100 && statusCode < 200 }

    public init(version: String, statusCode: Int, reason: String, contentType: String? = nil,
                contentLength: Int64? = nil, isChunked: Bool = false, server: String? = nil,
                location: String? = nil, headerCount: Int = 0) {
        self.version = version
        self.statusCode = statusCode
        self.reason = reason
        self.contentType = contentType
        self.contentLength = contentLength
        self.isChunked = isChunked
        self.server = server
        self.location = location
        self.headerCount = headerCount
    }
}

/// How a message body was delimited (RFC 9112 §6.3).
public enum HTTPBodyFraming: Sendable, Hashable {
    /// No body: a request without Content-Length or Transfer-Encoding, a response to HEAD,
    /// or a 1xx, 204 or 304 response.
    case none
    case contentLength
    case chunked
    /// A response read until the connection closed (``HTTPStreamParser/finish(_:)``).
    case closeDelimited
    /// The connection turned into a tunnel (CONNECT, 101 Switching Protocols); nothing more is
    /// parsed in this direction.
    case tunnel
}

/// The end of one message.
public struct HTTPMessageEnd: Sendable, Hashable {
    /// Body bytes after removing chunked framing (Zeek's request/response_body_len).
    public var bodyLength: Int64
    public var framing: HTTPBodyFraming
    /// False when the connection ended before the body did.
    public var isComplete: Bool

    public init(bodyLength: Int64, framing: HTTPBodyFraming, isComplete: Bool = true) {
        self.bodyLength = bodyLength
        self.framing = framing
        self.isComplete = isComplete
    }
}

/// Why a direction stopped being parsed. Carries no payload bytes.
public struct HTTPParseError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Reason: Sendable, Hashable {
        /// The request line lacks a method token followed by a space.
        case badRequestLine
        /// `HTTP/` without at least `x.y` after it.
        case badVersion
        /// The response does not start with `HTTP/x.y SP 3DIGIT`.
        case badStatusLine
        /// The head is longer than ``HTTPStreamParser/Limits/maximumHeadLength``.
        case headTooLong
        /// More header fields than ``HTTPStreamParser/Limits/maximumHeaderCount``.
        case tooManyHeaders
        /// A Content-Length that is not a decimal number, too large, or conflicting.
        case badContentLength
        /// A request whose Transfer-Encoding does not end in `chunked` (RFC 9112 §6.3).
        case badTransferEncoding
        /// A chunk-size line that is not hexadecimal or overflows, or chunk data not followed by CRLF.
        case badChunk
        /// Trailer fields longer than the head limit.
        case trailersTooLong
    }

    public var reason: Reason
    /// The offset in this direction's stream where the fault was seen (or where its head began).
    public var streamOffset: Int64

    public init(reason: Reason, streamOffset: Int64) {
        self.reason = reason
        self.streamOffset = streamOffset
    }

    public var description: String {
        let what = switch reason {
        case .badRequestLine: "malformed HTTP request line"
        case .badVersion: "malformed HTTP version"
        case .badStatusLine: "malformed HTTP status line"
        case .headTooLong: "HTTP head longer than the limit"
        case .tooManyHeaders: "more HTTP header fields than the limit"
        case .badContentLength: "invalid or conflicting HTTP Content-Length"
        case .badTransferEncoding: "HTTP request Transfer-Encoding not ending in chunked"
        case .badChunk: "malformed HTTP chunk framing"
        case .trailersTooLong: "HTTP trailer fields longer than the limit"
        }
        return "\(what) at stream offset \(streamOffset)"
    }
}
