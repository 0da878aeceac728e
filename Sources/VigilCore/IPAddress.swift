/// An IPv4 or IPv6 address, stored as bytes (two `UInt64` halves in network order), never as text.
///
/// An IPv4 address keeps its 32 bits in the low 32 bits of ``low`` (``high`` is 0). An IPv6
/// address keeps bytes 0–7 in ``high`` and bytes 8–15 in ``low``, big-endian. No heap storage.
///
/// Text forms:
/// - IPv4 is dotted-quad decimal, four parts `0…255`. A part with a leading zero (`01`) is
///   rejected, since some parsers read it as octal.
/// - IPv6 accepts every RFC 4291 text form: eight groups, `::` compression, upper or lower case
///   hex and an embedded dotted-quad tail (`::ffff:192.0.2.1`, `64:ff9b::192.0.2.1`). Zone ids
///   (`fe80::1%eth0`) are **rejected**: a zone is local to one host and has no place in an event.
///   Output is canonical per RFC 5952: lowercase, no leading zeros, the longest run of two or
///   more zero groups compressed (the first on ties), and IPv4-mapped addresses written as
///   `::ffff:a.b.c.d`.
///
/// An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) is an IPv6 address; it is not equal to
/// `10.0.0.1`. Use ``unmappingIPv4`` to normalize it.
///
/// Ordering puts every IPv4 address before every IPv6 address, then orders by numeric value.
public struct IPAddress: Sendable, Hashable, Comparable {
    /// The address family.
    public enum Family: UInt8, Sendable, Hashable {
        case v4 = 4
        case v6 = 6
    }

    /// IPv6 bytes 0–7 (big-endian); 0 for IPv4.
    public let high: UInt64
    /// IPv6 bytes 8–15 (big-endian); for IPv4 the address in the low 32 bits.
    public let low: UInt64
    /// IPv4 or IPv6.
    public let family: Family

    /// The IPv4 address with the given 32-bit value (`0x0A000001` is `10.0.0.1`).
    @inlinable
    public init(v4 value: UInt32) {
        high = 0
        low = UInt64(value)
        family = .v4
    }

    /// The IPv6 address with the given halves (bytes 0–7 and 8–15, big-endian).
    @inlinable
    public init(v6High high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
        family = .v6
    }

    /// The address from 4 (IPv4) or 16 (IPv6) raw bytes in network order; `nil` for other counts.
    public init?<Bytes: Collection>(bytes: Bytes) where Bytes.Element == UInt8 {
        switch bytes.count {
        case 4:
            var v: UInt64 = 0
            for b in bytes { v = v << 8 | UInt64(b) }
            self.init(v4: UInt32(truncatingIfNeeded: v))
        case 16:
            var hi: UInt64 = 0, lo: UInt64 = 0
            var k = 0
            for b in bytes {
                if k < 8 { hi = hi << 8 | UInt64(b) } else { lo = lo << 8 | UInt64(b) }
                k += 1
            }
            self.init(v6High: hi, low: lo)
        default:
            return nil
        }
    }

    /// Whether this is an IPv4 address.
    @inlinable
    public var isV4: Bool { family == .v4 }

    /// The 32-bit value of an IPv4 address; `nil` for IPv6.
    @inlinable
    public var v4Value: UInt32? { isV4 ? UInt32(truncatingIfNeeded: low) : nil }

    /// 4 or 16 bytes in network order. Allocates; prefer ``withUnsafeBytes(_:)`` on hot paths.
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    /// Calls `body` with the 4 or 16 raw bytes of the address in network order.
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        var storage = (high.bigEndian, low.bigEndian)
        let count = isV4 ? 4 : 16
        let start = isV4 ? 12 : 0
        return try Swift.withUnsafeBytes(of: &storage) { (raw: UnsafeRawBufferPointer) throws(E) -> R in
            try body(UnsafeRawBufferPointer(rebasing: raw[start..<(start + count)]))
        }
    }

    @inlinable
    public static func < (lhs: IPAddress, rhs: IPAddress) -> Bool {
        if lhs.family != rhs.family { return lhs.family == .v4 }
        return lhs.high != rhs.high ? lhs.high < rhs.high : lhs.low < rhs.low
    }
}

// MARK: - Classification

extension IPAddress {
    /// Whether this is `::ffff:a.b.c.d`.
    public var isIPv4Mapped: Bool { family == .v6 && high == 0 && low >> 32 == 0xFFFF }

    /// The IPv4 address inside an IPv4-mapped IPv6 address; otherwise `self`.
    public var unmappingIPv4: IPAddress { isIPv4Mapped ? IPAddress(v4: UInt32(truncatingIfNeeded: low)) : self }

    /// `0.0.0.0` or `::`.
    public var isUnspecified: Bool { high == 0 && low == 0 }

    /// `127.0.0.0/8` or `::1`.
    public var isLoopback: Bool {
        isV4 ? low >> 24 == 127 : (high == 0 && low == 1)
    }

    /// Private-use space: `10/8`, `172.16/12`, `192.168/16` (RFC 1918) or `fc00::/7` (RFC 4193).
    public var isPrivate: Bool {
        if isV4 {
            return low >> 24 == 10 || low >> 20 == 0xAC1 || low >> 16 == 0xC0A8
        }
        return high >> 57 == 0x7E
    }

    /// Link-local: `169.254/16` or `fe80::/10`.
    public var isLinkLocal: Bool { isV4 ? low >> 16 == 0xA9FE : high >> 54 == 0x3FA }

    /// Multicast: `224/4` or `ff00::/8`.
    public var isMulticast: Bool { isV4 ? low >> 28 == 0xE : high >> 56 == 0xFF }
}

// MARK: - Parsing

extension IPAddress: LosslessStringConvertible {
    /// Parses IPv4 dotted-quad or IPv6 text (see the type's documentation for accepted forms).
    public init?(_ text: String) {
        var text = text
        guard let address = text.withUTF8({ IPAddress.parse(UnsafeRawBufferPointer($0)) }) else { return nil }
        self = address
    }

    /// Parses IPv4 or IPv6 text from UTF-8 bytes. No allocation.
    /// - Complexity: O(n)
    public init?(parsing bytes: UnsafeRawBufferPointer) {
        guard let address = IPAddress.parse(bytes) else { return nil }
        self = address
    }

    static func parse(_ p: UnsafeRawBufferPointer) -> IPAddress? {
        let n = p.count
        guard n >= 2, n <= 45 else { return nil }
        // An address with a ':' is IPv6; otherwise IPv4. Dotted quads (the common case) hold no
        // ':', so they are tried first, before looking for one.
        if let v4 = parseV4(p, 0, n) { return IPAddress(v4: v4) }
        var hasColon = false
        for k in 0..<n where p[k] == UInt8(ascii: ":") { hasColon = true; break }
        return hasColon ? parseV6(p) : nil
    }

    /// Dotted-quad IPv4 in `p[start..<end]`: four parts of 1–3 digits, each at most 255 and
    /// without a leading zero (unless it is `0`), separated by dots.
    static func parseV4(_ p: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> UInt32? {
        var i = start
        var value: UInt32 = 0
        for part in 0..<4 {
            guard i < end else { return nil }
            let d0 = p[i] &- 48
            guard d0 < 10 else { return nil }
            var v = UInt32(d0)
            i += 1
            if i < end, p[i] &- 48 < 10 {
                guard d0 != 0 else { return nil }  // a leading zero
                v = v * 10 + UInt32(p[i] &- 48)
                i += 1
                if i < end, p[i] &- 48 < 10 {
                    v = v * 10 + UInt32(p[i] &- 48)
                    i += 1
                    guard v <= 255 else { return nil }
                }
            }
            value = value << 8 | v
            if part == 3 { return i == end ? value : nil }
            // A fourth digit fails here too.
            guard i < end, p[i] == UInt8(ascii: ".") else { return nil }
            i += 1
        }
        return nil
    }

    @inline(__always)
    private static func hexValue(_ b: UInt8) -> UInt16? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt16(b - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt16(b - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt16(b - UInt8(ascii: "A") + 10)
        default: return nil
        }
    }

    static func parseV6(_ p: UnsafeRawBufferPointer) -> IPAddress? {
        let n = p.count
        var groups = SIMD8<UInt16>()
        var count = 0
        var gap = -1
        var i = 0
        if p[0] == UInt8(ascii: ":") {
            guard p[1] == UInt8(ascii: ":") else { return nil }
            gap = 0
            i = 2
            if i == n { return IPAddress(v6High: 0, low: 0) }
        }
        while true {
            // One piece: 1–4 hex digits, or a dotted-quad tail.
            let pieceStart = i
            var value: UInt16 = 0
            while i < n, i - pieceStart < 5, let h = hexValue(p[i]) {
                value = value &<< 4 | h
                i += 1
            }
            if i < n, p[i] == UInt8(ascii: ".") {
                guard count <= 6, let v4 = parseV4(p, pieceStart, n) else { return nil }
                groups[count] = UInt16(truncatingIfNeeded: v4 >> 16)
                groups[count + 1] = UInt16(truncatingIfNeeded: v4)
                count += 2
                break
            }
            let digits = i - pieceStart
            guard digits >= 1, digits <= 4, count < 8 else { return nil }
            groups[count] = value
            count += 1
            if i == n { break }
            guard p[i] == UInt8(ascii: ":") else { return nil }
            i += 1
            guard i < n else { return nil }                        // trailing single ':'
            if p[i] == UInt8(ascii: ":") {
                guard gap < 0 else { return nil }                  // a second '::'
                gap = count
                i += 1
                if i == n { break }
            }
        }
        if gap < 0 {
            guard count == 8 else { return nil }
        } else {
            guard count <= 7 else { return nil }                  // '::' stands for at least one group
            var expanded = SIMD8<UInt16>()
            for k in 0..<gap { expanded[k] = groups[k] }
            let tail = count - gap
            for k in 0..<tail { expanded[8 - tail + k] = groups[gap + k] }
            groups = expanded
        }
        var hi: UInt64 = 0, lo: UInt64 = 0
        for k in 0..<4 { hi = hi << 16 | UInt64(groups[k]) }
        for k in 4..<8 { lo = lo << 16 | UInt64(groups[k]) }
        return IPAddress(v6High: hi, low: lo)
    }
}

// MARK: - Formatting

extension IPAddress: CustomStringConvertible {
    /// The longest text this type writes (`ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff` is 39 bytes).
    package static let maximumTextLength = 48

    /// Dotted-quad for IPv4; RFC 5952 canonical text for IPv6.
    public var description: String {
        // Written on the stack, then copied: texts of up to 15 bytes (every IPv4 address) become
        // small strings, with no heap allocation.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: IPAddress.maximumTextLength) { scratch in
            let count = write(to: scratch.baseAddress!)
            return String(decoding: UnsafeBufferPointer(rebasing: scratch[..<count]), as: UTF8.self)
        }
    }

    /// Appends ``description`` as UTF-8 to `buffer`, without an intermediate `String`.
    package func appendText(to buffer: inout [UInt8]) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: IPAddress.maximumTextLength) { scratch in
            let count = write(to: scratch.baseAddress!)
            buffer.append(contentsOf: UnsafeBufferPointer(rebasing: scratch[..<count]))
        }
    }

    private static func writeV4(_ value: UInt32, to out: UnsafeMutablePointer<UInt8>, at start: Int) -> Int {
        var i = start
        for shift in stride(from: 24, through: 0, by: -8) {
            let octet = Int(value >> UInt32(shift) & 0xFF)
            if octet >= 100 { out[i] = UInt8(48 + octet / 100); i += 1 }
            if octet >= 10 { out[i] = UInt8(48 + octet / 10 % 10); i += 1 }
            out[i] = UInt8(48 + octet % 10); i += 1
            if shift != 0 { out[i] = UInt8(ascii: "."); i += 1 }
        }
        return i
    }

    /// Writes the text form to `out` (room for ``maximumTextLength`` bytes); returns the length.
    func write(to out: UnsafeMutablePointer<UInt8>) -> Int {
        if isV4 { return IPAddress.writeV4(UInt32(truncatingIfNeeded: low), to: out, at: 0) }
        var i = 0
        if isIPv4Mapped {
            for b in "::ffff:".utf8 { out[i] = b; i += 1 }
            return IPAddress.writeV4(UInt32(truncatingIfNeeded: low), to: out, at: i)
        }
        @inline(__always) func group(_ k: Int) -> UInt16 {
            UInt16(truncatingIfNeeded: (k < 4 ? high : low) >> UInt64(48 - 16 * (k & 3)))
        }
        // Longest run of two or more zero groups; the first one on ties (RFC 5952 §4.2).
        var bestStart = -1, bestLength = 1
        var runStart = -1
        for k in 0...8 {
            if k < 8 && group(k) == 0 {
                if runStart < 0 { runStart = k }
            } else if runStart >= 0 {
                if k - runStart > bestLength { bestStart = runStart; bestLength = k - runStart }
                runStart = -1
            }
        }
        let hex: StaticString = "0123456789abcdef"
        var k = 0
        while k < 8 {
            if k == bestStart {
                out[i] = UInt8(ascii: ":"); i += 1
                if k == 0 { out[i] = UInt8(ascii: ":"); i += 1 }
                k += bestLength
                continue
            }
            let g = group(k)
            var started = false
            for shift in stride(from: 12, through: 0, by: -4) {
                let nibble = Int(g >> UInt16(shift) & 0xF)
                if nibble != 0 || started || shift == 0 {
                    out[i] = hex.utf8Start[nibble]; i += 1
                    started = true
                }
            }
            if k != 7 { out[i] = UInt8(ascii: ":"); i += 1 }
            k += 1
        }
        return i
    }
}

// MARK: - Networks

/// An IP network in CIDR notation: `10.0.0.0/8`, `2001:db8::/32`.
///
/// The stored ``address`` always has its host bits cleared: `IPNetwork("10.1.2.3/8")` is
/// `10.0.0.0/8`. A network only contains addresses of its own family; `::ffff:10.0.0.1` is not in
/// `10.0.0.0/8` (use ``IPAddress/unmappingIPv4`` first if that is wanted).
public struct IPNetwork: Sendable, Hashable {
    /// The network address (host bits zero).
    public let address: IPAddress
    /// The prefix length: 0…32 for IPv4, 0…128 for IPv6.
    public let prefixLength: Int

    /// The network of `address` with `prefixLength` leading bits; `nil` if the length is out of range.
    public init?(address: IPAddress, prefixLength: Int) {
        guard prefixLength >= 0, prefixLength <= (address.isV4 ? 32 : 128) else { return nil }
        self.prefixLength = prefixLength
        let (hiMask, loMask) = IPNetwork.masks(family: address.family, prefixLength: prefixLength)
        self.address = address.isV4
            ? IPAddress(v4: UInt32(truncatingIfNeeded: address.low & loMask))
            : IPAddress(v6High: address.high & hiMask, low: address.low & loMask)
    }

    /// The `(high, low)` masks for a prefix length.
    @inlinable
    static func masks(family: IPAddress.Family, prefixLength p: Int) -> (UInt64, UInt64) {
        if family == .v4 {
            return (0, UInt64(UInt32.max << UInt32(32 - p)))      // smart shift: 32 → 0
        }
        let hi: UInt64 = p >= 64 ? .max : UInt64.max << UInt64(64 - p)
        let lo: UInt64 = p <= 64 ? 0 : UInt64.max << UInt64(128 - p)
        return (hi, lo)
    }

    /// Whether `address` lies in this network (same family, same leading `prefixLength` bits).
    /// - Complexity: O(1)
    @inlinable
    public func contains(_ address: IPAddress) -> Bool {
        guard address.family == self.address.family else { return false }
        let (hiMask, loMask) = IPNetwork.masks(family: address.family, prefixLength: prefixLength)
        return address.high & hiMask == self.address.high && address.low & loMask == self.address.low
    }

    /// Whether every address of `other` lies in this network.
    public func contains(_ other: IPNetwork) -> Bool {
        other.prefixLength >= prefixLength && contains(other.address)
    }
}

extension IPNetwork: CustomStringConvertible, LosslessStringConvertible {
    /// `address/prefixLength`, e.g. `10.0.0.0/8`.
    public var description: String { "\(address)/\(prefixLength)" }

    /// Parses `address/prefix`. A bare address is accepted as a single-host network (`/32` or
    /// `/128`). The prefix is decimal without leading zeros; host bits in the address are cleared.
    public init?(_ text: String) {
        var text = text
        guard let network = text.withUTF8({ IPNetwork.parse(UnsafeRawBufferPointer($0)) }) else { return nil }
        self = network
    }

    /// Parses `address/prefix` from UTF-8 bytes; see ``init(_:)``.
    public init?(parsing bytes: UnsafeRawBufferPointer) {
        guard let network = IPNetwork.parse(bytes) else { return nil }
        self = network
    }

    static func parse(_ p: UnsafeRawBufferPointer) -> IPNetwork? {
        var slash = -1
        for k in 0..<p.count where p[k] == UInt8(ascii: "/") { slash = k; break }
        if slash < 0 {
            guard let address = IPAddress.parse(p) else { return nil }
            return IPNetwork(address: address, prefixLength: address.isV4 ? 32 : 128)
        }
        guard let address = IPAddress.parse(UnsafeRawBufferPointer(rebasing: p[0..<slash])) else { return nil }
        let digits = p.count - slash - 1
        guard digits >= 1, digits <= 3 else { return nil }
        if digits > 1 && p[slash + 1] == UInt8(ascii: "0") { return nil }
        var length = 0
        for k in (slash + 1)..<p.count {
            let d = p[k] &- 48
            guard d < 10 else { return nil }
            length = length * 10 + Int(d)
        }
        return IPNetwork(address: address, prefixLength: length)
    }
}
