/// ASCII or UTF-8 text of at most 32 bytes kept inline, without heap storage: a flow's uid and
/// Community ID, which every record of the flow carries. Copying one copies 40 bytes and touches
/// no reference count; writing it into an ``Event`` copies its bytes.
public struct InlineText: Sendable, Hashable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// The most bytes an `InlineText` holds.
    public static let capacity = 32
    private var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    private var length: UInt8 = 0

    /// The text's length in bytes.
    public var count: Int { Int(length) }

    /// The text that `write` puts into the buffer it is given (32 bytes): `write` returns how many
    /// of them it wrote. Bytes past that count are ignored.
    @inline(__always)
    public init(writing write: (UnsafeMutableRawBufferPointer) -> Int) {
        let n = withUnsafeMutableBytes(of: &words) { write($0) }
        precondition(n >= 0 && n <= Self.capacity, "InlineText holds at most \(Self.capacity) bytes")
        length = UInt8(n)
        // Zero what follows the text, so that equality and hashing can compare whole words.
        withUnsafeMutableBytes(of: &words) { p in
            for k in n..<Self.capacity { p[k] = 0 }
        }
    }

    /// `text`, which must be at most 32 bytes of UTF-8.
    public init(_ text: String) {
        var text = text
        self.init(writing: { out in
            text.withUTF8 { bytes in
                precondition(bytes.count <= Self.capacity, "InlineText holds at most \(Self.capacity) bytes")
                out.copyMemory(from: UnsafeRawBufferPointer(bytes))
                return bytes.count
            }
        })
    }

    public init(stringLiteral value: String) { self.init(value) }

    /// Calls `body` with the text's UTF-8 bytes.
    @inline(__always)
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBytes(of: words) { try body(UnsafeRawBufferPointer(rebasing: $0[0..<Int(length)])) }
    }

    /// The text as a `String`.
    public var description: String { withBytes { String(decoding: $0, as: UTF8.self) } }

    /// Whether the text starts with `prefix`.
    public func hasPrefix(_ prefix: String) -> Bool { description.hasPrefix(prefix) }

    public static func == (a: InlineText, b: InlineText) -> Bool {
        a.length == b.length && a.words.0 == b.words.0 && a.words.1 == b.words.1
            && a.words.2 == b.words.2 && a.words.3 == b.words.3
    }

    public static func == (a: InlineText, b: String) -> Bool { a.description == b }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(length)
        hasher.combine(words.0)
        hasher.combine(words.1)
        hasher.combine(words.2)
        hasher.combine(words.3)
    }
}
