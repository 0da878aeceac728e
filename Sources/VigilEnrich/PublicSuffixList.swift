#if canImport(Glibc)
import Glibc
#endif

/// The Public Suffix List (publicsuffix.org) as a trie of labels, for splitting host names into
/// subdomain, registered domain and effective top-level domain.
///
/// Rules are read from the list's text format (Debian's `publicsuffix` package installs it as
/// `/usr/share/publicsuffix/public_suffix_list.dat`): one rule per line, `//` comments, normal
/// rules (`co.uk`), wildcards (`*.ck`: every label under `ck` is a suffix) and exceptions
/// (`!www.ck`: `www.ck` is not). Rules between `===BEGIN PRIVATE DOMAINS===` and
/// `===END PRIVATE DOMAINS===` (`blogspot.com`, `github.io`) are kept unless left out at load.
/// Rules with non-ASCII labels are stored both as written and in their Punycode (`xn--`) form, so
/// names from DNS packets, which are always ASCII, match them too.
///
/// The trie is one open-addressing hash table keyed by (parent node, label bytes), with the labels
/// in one byte arena: a lookup walks the name's labels from the right, hashing each label's bytes
/// in place, and allocates nothing.
///
/// `Sendable`: immutable after loading.
public final class PublicSuffixList: Sendable {
    /// Where a name splits, as byte offsets into the (normalized) name.
    public struct Split: Sendable, Equatable {
        /// Where the effective top-level domain (the public suffix) starts.
        public var suffixStart: Int
        /// Where the registered domain (the suffix and one more label) starts; nil when the name
        /// is itself a public suffix. The subdomain is the bytes before it, less the dot.
        public var registeredStart: Int?
    }

    /// The parts of a name, as strings.
    public struct Parts: Sendable, Equatable {
        /// The public suffix plus one label (`example.co.uk`); nil when the name is a public suffix.
        public var registeredDomain: String?
        /// The labels left of the registered domain (`www.eu`); nil when there are none.
        public var subdomain: String?
        /// The public suffix (`co.uk`).
        public var topLevelDomain: String

        public init(registeredDomain: String?, subdomain: String?, topLevelDomain: String) {
            self.registeredDomain = registeredDomain
            self.subdomain = subdomain
            self.topLevelDomain = topLevelDomain
        }
    }

    static let ruleFlag: UInt8 = 1
    static let wildcardFlag: UInt8 = 2
    static let exceptionFlag: UInt8 = 4

    /// One entry of the hash table: the child node reached from `parent` by the label
    /// `labels[labelStart ..< labelStart + labelLength]`; `child < 0` marks an empty slot.
    struct Slot {
        var parent: Int32
        var child: Int32
        var labelStart: Int32
        var labelLength: Int32
    }

    /// Per node (0 is the root): ``ruleFlag`` (the labels down to it are a rule), ``wildcardFlag``
    /// (`*.` + them is a rule), ``exceptionFlag`` (`!` + them is a rule).
    private let flags: [UInt8]
    private let slots: [Slot]
    private let mask: Int
    private let labels: [UInt8]

    /// How many rules were loaded (Punycode forms not counted twice).
    public let ruleCount: Int
    /// The file the rules came from (or a name given to ``init(parsing:file:privateDomains:)``).
    public let file: String

    /// Loads a list file.
    /// - Parameter privateDomains: keep the private section's rules (default true).
    /// - Throws: ``EnrichmentError`` `.unreadable` naming the file when it cannot be read, `.data`
    ///   with the line for a malformed rule, or when the file holds no rule.
    public static func load(path: String, privateDomains: Bool = true) throws(EnrichmentError) -> PublicSuffixList {
        let bytes: [UInt8]
        do { bytes = try DataFiles.read(path, maximumBytes: 64 << 20) } catch {
            guard error.code == .unreadable else { throw error }
            throw EnrichmentError(.unreadable, file: path,
                                  "\(error.message); this is the Public Suffix List: install Debian's 'publicsuffix' package or point 'file' at a copy of public_suffix_list.dat")
        }
        return try PublicSuffixList(parsing: bytes, file: path, privateDomains: privateDomains)
    }

    /// Builds the trie from the list's text.
    /// - Throws: ``EnrichmentError`` `.data` with `file` and the line of a malformed rule.
    public init(parsing text: [UInt8], file: String, privateDomains: Bool = true) throws(EnrichmentError) {
        self.file = file
        var builder = Builder()
        var inPrivate = false
        var rules = 0
        var lineNumber = 0
        var lineStart = 0
        while lineStart < text.count {
            lineNumber += 1
            var lineEnd = lineStart
            while lineEnd < text.count && text[lineEnd] != 0x0A { lineEnd += 1 }
            defer { lineStart = lineEnd + 1 }
            // The rule is the line's first whitespace-delimited token.
            var s = lineStart
            while s < lineEnd && Self.isSpace(text[s]) { s += 1 }
            var e = s
            while e < lineEnd && !Self.isSpace(text[e]) { e += 1 }
            if s == e { continue }
            if e - s >= 2 && text[s] == UInt8(ascii: "/") && text[s + 1] == UInt8(ascii: "/") {
                let comment = String(decoding: text[s..<lineEnd], as: UTF8.self)
                if comment.contains("===BEGIN PRIVATE DOMAINS===") { inPrivate = true }
                if comment.contains("===END PRIVATE DOMAINS===") { inPrivate = false }
                continue
            }
            if inPrivate && !privateDomains { continue }
            guard let rule = String(validating: text[s..<e], as: UTF8.self) else {
                throw EnrichmentError(.data, file: file, line: lineNumber, "the rule is not valid UTF-8")
            }
            do { try builder.insert(rule.lowercased()) } catch {
                throw EnrichmentError(.data, file: file, line: lineNumber, error.message)
            }
            rules += 1
        }
        guard rules > 0 else {
            throw EnrichmentError(.data, file: file, "no rules found: is this the Public Suffix List (public_suffix_list.dat)?")
        }
        ruleCount = rules
        flags = builder.flags
        labels = builder.arena
        var capacity = 16
        while capacity < builder.edges.count * 2 { capacity <<= 1 }
        mask = capacity - 1
        var slots = [Slot](repeating: Slot(parent: 0, child: -1, labelStart: 0, labelLength: 0), count: capacity)
        builder.arena.withUnsafeBytes { arena in
            for edge in builder.edges {
                let label = UnsafeRawBufferPointer(rebasing: arena[Int(edge.labelStart)..<Int(edge.labelStart + edge.labelLength)])
                var i = Int(truncatingIfNeeded: Self.hash(parent: edge.parent, label)) & (capacity - 1)
                while slots[i].child >= 0 { i = (i + 1) & (capacity - 1) }
                slots[i] = edge
            }
        }
        self.slots = slots
    }

    @inline(__always)
    static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0D }

    @inline(__always)
    static func hash(parent: Int32, _ label: UnsafeRawBufferPointer) -> UInt64 {
        KeyHash.mix(KeyHash.bytes(label) &+ UInt64(UInt32(bitPattern: parent)) &* 0x9E37_79B9_7F4A_7C15)
    }

    /// The child of `node` by `label`, or nil.
    @inline(__always)
    private func child(_ node: Int32, _ label: UnsafeRawBufferPointer, slots: UnsafeBufferPointer<Slot>,
                       arena: UnsafeRawBufferPointer) -> Int32? {
        var i = Int(truncatingIfNeeded: Self.hash(parent: node, label)) & mask
        while true {
            let slot = slots[i]
            if slot.child < 0 { return nil }
            if slot.parent == node && Int(slot.labelLength) == label.count {
                let start = Int(slot.labelStart)
                if label.count == 0 || memcmp(arena.baseAddress! + start, label.baseAddress!, label.count) == 0 {
                    return slot.child
                }
            }
            i = (i + 1) & mask
        }
    }

    /// Splits a name that is already normalized: ASCII lowercase, without a trailing dot (see
    /// ``split(normalizing:)``).
    ///
    /// Returns nil — no registered domain, no suffix — for an empty name, a single label, a name
    /// with an empty label (`a..b`, `.com`), an IPv6 address (any `:`), and a name whose last label
    /// is all digits (an IPv4 address; no top-level domain is numeric). A name no rule matches
    /// falls back to the list's implicit `*` rule: its last label is the suffix.
    /// - Complexity: O(n) in the name's length; one hash probe per label walked; no allocation
    ///   (label offsets are kept on the stack).
    public func split(_ name: UnsafeRawBufferPointer) -> Split? {
        let n = name.count
        guard n > 0, n <= 1024 else { return nil }
        // Count the labels and check them: no empty label, no ':'.
        var count = 1
        var last = -1
        for i in 0..<n {
            let b = name[i]
            if b == UInt8(ascii: ".") {
                if i == last + 1 { return nil }
                last = i
                count += 1
            } else if b == UInt8(ascii: ":") {
                return nil
            }
        }
        if last == n - 1 || count < 2 { return nil }
        var numeric = true
        for i in (last + 1)..<n where name[i] &- UInt8(ascii: "0") >= 10 { numeric = false; break }
        if numeric { return nil }

        return withUnsafeTemporaryAllocation(of: Int.self, capacity: count) { starts -> Split? in
            // starts[k]: where the k-th label from the right starts.
            var k = 0
            var i = n - 1
            while i >= 0 {
                if name[i] == UInt8(ascii: ".") {
                    starts[k] = i + 1
                    k += 1
                }
                i -= 1
            }
            starts[k] = 0
            var suffix = 1
            flags.withUnsafeBufferPointer { flags in
                slots.withUnsafeBufferPointer { slots in
                    labels.withUnsafeBytes { arena in
                        var node: Int32 = 0
                        for k in 0..<count {
                            let labelEnd = k == 0 ? n : starts[k - 1] - 1
                            let label = UnsafeRawBufferPointer(rebasing: name[starts[k]..<labelEnd])
                            let wildcard = flags[Int(node)] & Self.wildcardFlag != 0
                            guard let c = child(node, label, slots: slots, arena: arena) else {
                                if wildcard { suffix = k + 1 }
                                break
                            }
                            let f = flags[Int(c)]
                            if f & Self.exceptionFlag != 0 { suffix = k; break }
                            if wildcard || f & Self.ruleFlag != 0 { suffix = k + 1 }
                            node = c
                        }
                    }
                }
            }
            suffix = max(suffix, 1)
            return Split(suffixStart: starts[suffix - 1], registeredStart: suffix < count ? starts[suffix] : nil)
        }
    }

    /// Normalizes `name` (ASCII lowercase, one trailing dot removed) on the stack and calls
    /// `body` with the normalized bytes and their split (nil as in ``split(_:)``).
    @inline(__always)
    public func split<R>(normalizing name: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer, Split?) -> R) -> R {
        KeyFolding.domain.withNormalized(name) { normalized in body(normalized, split(normalized)) }
    }

    /// The parts of `name` (any case, with or without a trailing dot), or nil as in ``split(_:)``.
    public func parts(of name: String) -> Parts? {
        var name = name
        return name.withUTF8 { utf8 in
            split(normalizing: UnsafeRawBufferPointer(utf8)) { bytes, split -> Parts? in
                guard let split else { return nil }
                return Self.parts(bytes, split)
            }
        }
    }

    /// The strings of a split of `bytes`.
    static func parts(_ bytes: UnsafeRawBufferPointer, _ split: Split) -> Parts {
        func text(_ r: Range<Int>) -> String { String(decoding: UnsafeRawBufferPointer(rebasing: bytes[r]), as: UTF8.self) }
        let tld = text(split.suffixStart..<bytes.count)
        guard let r = split.registeredStart else { return Parts(registeredDomain: nil, subdomain: nil, topLevelDomain: tld) }
        return Parts(registeredDomain: text(r..<bytes.count), subdomain: r > 0 ? text(0..<(r - 1)) : nil, topLevelDomain: tld)
    }
}

extension PublicSuffixList {
    struct RuleError: Error { var message: String }

    /// Collects nodes and edges while the list is read.
    struct Builder {
        var flags: [UInt8] = [0]
        var edges: [Slot] = []
        var arena: [UInt8] = []
        private var index: [EdgeKey: Int32] = [:]

        struct EdgeKey: Hashable {
            var parent: Int32
            var label: String
        }

        /// Adds one rule (already lowercased), and its Punycode form when it has non-ASCII labels.
        mutating func insert(_ rule: String) throws(RuleError) {
            var body = Substring(rule)
            var flag = PublicSuffixList.ruleFlag
            if body.hasPrefix("!") {
                body = body.dropFirst()
                flag = PublicSuffixList.exceptionFlag
            } else if body.hasPrefix("*.") {
                body = body.dropFirst(2)
                flag = PublicSuffixList.wildcardFlag
            }
            let parts = body.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            if parts.contains(where: \.isEmpty) { throw RuleError(message: "the rule has an empty label") }
            if parts.contains(where: { $0.contains("*") }) {
                throw RuleError(message: "a wildcard is only supported as the rule's first label ('*.')")
            }
            if parts.contains(where: { $0.contains("!") }) { throw RuleError(message: "'!' may only start a rule") }
            if flag == PublicSuffixList.exceptionFlag && parts.count < 2 {
                throw RuleError(message: "an exception rule needs at least two labels")
            }
            add(parts, flag)
            if parts.contains(where: { $0.utf8.contains { $0 >= 0x80 } }) {
                let ascii = parts.map { label in
                    label.utf8.allSatisfy({ $0 < 0x80 }) ? label : "xn--" + Punycode.encode(label)
                }
                add(ascii, flag)
            }
        }

        private mutating func add(_ parts: [String], _ flag: UInt8) {
            var node: Int32 = 0
            for label in parts.reversed() {
                let key = EdgeKey(parent: node, label: label)
                if let existing = index[key] {
                    node = existing
                    continue
                }
                let child = Int32(flags.count)
                flags.append(0)
                edges.append(Slot(parent: node, child: child, labelStart: Int32(arena.count), labelLength: Int32(label.utf8.count)))
                arena.append(contentsOf: label.utf8)
                index[key] = child
                node = child
            }
            flags[Int(node)] |= flag
        }
    }
}

/// Punycode (RFC 3492) encoding of one label, for matching internationalized rules against the
/// ASCII names of DNS.
enum Punycode {
    /// The Punycode form of `label` without the `xn--` prefix (`bücher` → `bcher-kva`).
    static func encode(_ label: String) -> String {
        let base = 36, tmin = 1, tmax = 26, skew = 38, damp = 700
        let input = label.unicodeScalars.map { Int($0.value) }
        var output: [UInt8] = input.filter { $0 < 0x80 }.map { UInt8($0) }
        let basic = output.count
        var handled = basic
        if basic > 0 { output.append(UInt8(ascii: "-")) }
        var n = 128, delta = 0, bias = 72

        func digit(_ d: Int) -> UInt8 { d < 26 ? UInt8(ascii: "a") + UInt8(d) : UInt8(ascii: "0") + UInt8(d - 26) }
        func adapt(_ delta: Int, _ points: Int, _ first: Bool) -> Int {
            var delta = first ? delta / damp : delta / 2
            delta += delta / points
            var k = 0
            while delta > ((base - tmin) * tmax) / 2 {
                delta /= base - tmin
                k += base
            }
            return k + ((base - tmin + 1) * delta) / (delta + skew)
        }

        while handled < input.count {
            let m = input.filter { $0 >= n }.min()!
            delta += (m - n) * (handled + 1)
            n = m
            for c in input {
                if c < n { delta += 1 }
                if c == n {
                    var q = delta
                    var k = base
                    while true {
                        let t = k <= bias ? tmin : (k >= bias + tmax ? tmax : k - bias)
                        if q < t { break }
                        output.append(digit(t + (q - t) % (base - t)))
                        q = (q - t) / (base - t)
                        k += base
                    }
                    output.append(digit(q))
                    bias = adapt(delta, handled + 1, handled == basic)
                    delta = 0
                    handled += 1
                }
            }
            delta += 1
            n += 1
        }
        return String(decoding: output, as: UTF8.self)
    }
}
