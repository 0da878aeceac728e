/// Why ``EventBinaryCodec`` or ``EventJSON`` rejected its input.
///
/// Carries a machine-readable ``code``, a message and the byte ``offset`` where the problem was
/// found. Messages name fields and types but never include payload bytes or field values.
public struct EventCodecError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kind of problem.
    public enum Code: String, Sendable, Hashable {
        /// The input ended in the middle of an item.
        case truncated
        /// The binary format version byte is not one this build reads.
        case unsupportedVersion
        /// A varint is longer than 10 bytes or exceeds 64 bits.
        case malformedVarint
        /// A binary field tag is not a known schema id or the custom-field tag.
        case unknownTag
        /// A binary value type byte is not defined.
        case unknownValueType
        /// Text is not well-formed UTF-8 (or a JSON `\u` escape is an unpaired surrogate).
        case invalidUTF8
        /// Arrays/objects are nested deeper than allowed.
        case depthLimitExceeded
        /// An element count cannot fit in the remaining input.
        case countTooLarge
        /// Bytes follow the end of the event.
        case trailingBytes
        /// Two fields have the same key, are out of key order, or one key is a dotted prefix of another.
        case conflictingFields
        /// A value cannot appear where it does (an object directly under an event key).
        case invalidValue
        /// JSON text does not follow RFC 8259.
        case syntax
        /// A JSON number is malformed or out of range.
        case invalidNumber
        /// A JSON string escape is malformed.
        case invalidEscape
        /// A known field's JSON value cannot be converted to its declared type.
        case typeMismatch
        /// The JSON document is not an object.
        case notAnObject
    }

    /// The kind of problem.
    public let code: Code
    /// A human-readable explanation; never contains payload bytes.
    public let message: String
    /// The byte offset in the input where the problem was detected.
    public let offset: Int

    /// An error; `message` must not contain payload bytes.
    public init(code: Code, message: String, offset: Int) {
        self.code = code
        self.message = message
        self.offset = offset
    }

    /// `code at byte offset: message`.
    public var description: String { "\(code.rawValue) at byte \(offset): \(message)" }
}
