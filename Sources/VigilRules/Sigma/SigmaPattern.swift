/// A Sigma string value with its wildcards: `*` (any run of characters) and `?` (one character),
/// escaped as `\*` and `\?`; `\\` is one backslash and a backslash before anything else is itself
/// (Sigma's escaping rules). Compiled to the cheapest ``Operator`` that expresses it.
struct SigmaPattern: Equatable {
    enum Piece: Equatable {
        case text(String)
        case anyString
        case anyCharacter
    }

    var pieces: [Piece]

    init(pieces: [Piece]) {
        self.pieces = []
        for piece in pieces { append(piece) }
    }

    /// A literal text, wildcards included as text.
    init(literal: String) {
        self.init(pieces: literal.isEmpty ? [] : [.text(literal)])
    }

    /// Parses Sigma's wildcard syntax.
    init(sigma value: String) {
        var pieces: [Piece] = []
        var text = ""
        var scalars = value.unicodeScalars.makeIterator()
        var pending = scalars.next()
        while let scalar = pending {
            pending = scalars.next()
            switch scalar {
            case "\\":
                if let next = pending, next == "*" || next == "?" || next == "\\" {
                    text.unicodeScalars.append(next)
                    pending = scalars.next()
                } else {
                    text.unicodeScalars.append(scalar)
                }
            case "*", "?":
                if !text.isEmpty { pieces.append(.text(text)); text = "" }
                pieces.append(scalar == "*" ? .anyString : .anyCharacter)
            default:
                text.unicodeScalars.append(scalar)
            }
        }
        if !text.isEmpty { pieces.append(.text(text)) }
        self.init(pieces: pieces)
    }

    /// Appends a piece, merging adjacent texts and runs of `*`.
    mutating func append(_ piece: Piece) {
        switch (pieces.last, piece) {
        case (.text(let a)?, .text(let b)):
            pieces[pieces.count - 1] = .text(a + b)
        case (.anyString?, .anyString):
            break
        case (_, .text(let b)) where b.isEmpty:
            break
        default:
            pieces.append(piece)
        }
    }

    var hasWildcards: Bool {
        pieces.contains { if case .text = $0 { return false } else { return true } }
    }

    /// The text when the pattern has no wildcards.
    var literal: String? {
        switch pieces.count {
        case 0: return ""
        case 1: if case .text(let t) = pieces[0] { return t } else { return nil }
        default: return nil
        }
    }

    /// `*value*`.
    func contained() -> SigmaPattern { SigmaPattern(pieces: [.anyString] + pieces + [.anyString]) }
    /// `value*`.
    func prefixed() -> SigmaPattern { SigmaPattern(pieces: pieces + [.anyString]) }
    /// `*value`.
    func suffixed() -> SigmaPattern { SigmaPattern(pieces: [.anyString] + pieces) }

    /// Applies `transform` to every text piece.
    func mapText(_ transform: (String) -> String) -> SigmaPattern {
        SigmaPattern(pieces: pieces.map { if case .text(let t) = $0 { return .text(transform(t)) } else { return $0 } })
    }

    /// The operator and value that match exactly this pattern: `equals`, `prefix`, `suffix`,
    /// `contains`, `exists` (a lone `*`), or else an anchored regular expression.
    func compiled() -> (op: Operator, value: String) {
        if pieces.isEmpty { return (.equals, "") }
        if pieces == [.anyString] { return (.exists, "") }
        if let literal { return (.equals, literal) }
        let leading = pieces.first == .anyString, trailing = pieces.last == .anyString
        let middle = pieces.dropFirst(leading ? 1 : 0).dropLast(trailing ? 1 : 0)
        if middle.count == 1, case .text(let t) = middle.first! {
            switch (leading, trailing) {
            case (false, true): return (.prefix, t)
            case (true, false): return (.suffix, t)
            case (true, true): return (.contains, t)
            case (false, false): return (.equals, t)
            }
        }
        return (.regex, regex())
    }

    /// The pattern as an anchored regular expression (`^…$`; a leading or trailing `*` drops the anchor).
    func regex() -> String {
        var out = ""
        var body = pieces[...]
        if body.first == .anyString { body = body.dropFirst() } else { out = "^" }
        let open = body.last == .anyString
        if open { body = body.dropLast() }
        for piece in body {
            switch piece {
            case .text(let t): out += Self.escapeRegex(t)
            case .anyString: out += ".*"
            case .anyCharacter: out += "."
            }
        }
        if !open { out += "$" }
        return out
    }

    /// Escapes the regular-expression metacharacters of `text`.
    static func escapeRegex(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            if "\\^$.|?*+()[]{}/".unicodeScalars.contains(scalar) { out.unicodeScalars.append("\\") }
            out.unicodeScalars.append(scalar)
        }
        return out
    }
}

/// The value transformations of Sigma modifiers.
enum SigmaTransform {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Standard Base64 with padding.
    static func base64(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index < bytes.count {
            let b0 = bytes[index]
            let b1 = index + 1 < bytes.count ? bytes[index + 1] : 0
            let b2 = index + 2 < bytes.count ? bytes[index + 2] : 0
            out.append(alphabet[Int(b0 >> 2)])
            out.append(alphabet[Int((b0 & 0x03) << 4 | b1 >> 4)])
            out.append(index + 1 < bytes.count ? alphabet[Int((b1 & 0x0F) << 2 | b2 >> 6)] : UInt8(ascii: "="))
            out.append(index + 2 < bytes.count ? alphabet[Int(b2 & 0x3F)] : UInt8(ascii: "="))
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The three Base64 forms of `text` as it can appear inside a longer encoded string: encoded
    /// after 0, 1 and 2 bytes of other data, without the characters that depend on that data (the
    /// first 0, 2 or 3) or on what follows (a trailing partial group).
    static func base64Offsets(_ text: String) -> [String] {
        let bytes = Array(text.utf8)
        var variants: [String] = []
        for shift in 0..<3 {
            let encoded = Array(base64(Array(repeating: 0, count: shift) + bytes).utf8)
            let start = [0, 2, 3][shift]
            // Characters that only depend on the value's own bytes end where its last complete
            // 6-bit group ends.
            let end = ((shift + bytes.count) * 8) / 6
            guard end > start else { continue }
            variants.append(String(decoding: encoded[start..<end], as: UTF8.self))
        }
        return variants
    }

    /// The dashes Windows command lines accept for options.
    static let dashes = ["-", "/", "\u{2013}", "\u{2014}", "\u{2015}"]
}
