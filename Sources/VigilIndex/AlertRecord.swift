import Foundation
import VigilCore

/// Alert severities as the rule engine writes them: `event.severity` 0…4 and
/// `vigil.alert.severity` `informational`, `low`, `medium`, `high`, `critical`.
public enum AlertSeverity {
    /// Names by level, 0…4.
    public static let names = ["informational", "low", "medium", "high", "critical"]

    /// The level of a name (case-insensitive) or of a number 0…4; nil for anything else.
    public static func level(_ text: String) -> Int? {
        if let n = Int(text), names.indices.contains(n) { return n }
        return names.firstIndex(of: text.lowercased())
    }

    /// The name of a level; levels outside 0…4 are written as their number.
    public static func name(_ level: Int) -> String {
        names.indices.contains(level) ? names[level] : String(level)
    }
}

/// How IP addresses are stored so that CIDR filters are index range scans: a family byte (4 or
/// 6) followed by the address bytes in network order (5 or 17 bytes). Blobs compare bytewise, so
/// a network is the range from its first to its last address, and IPv4 and IPv6 never mix.
public enum IPKey {
    /// The key of `address`.
    public static func key(_ address: IPAddress) -> [UInt8] {
        var out: [UInt8] = [address.family.rawValue]
        if address.isV4 {
            let v = UInt32(truncatingIfNeeded: address.low)
            out += [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)]
        } else {
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(address.high >> UInt64(shift) & 0xFF)) }
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(address.low >> UInt64(shift) & 0xFF)) }
        }
        return out
    }

    /// The address a key was made from; nil when the bytes are not a key.
    public static func address(_ key: [UInt8]) -> IPAddress? {
        guard let family = key.first else { return nil }
        switch (family, key.count) {
        case (4, 5), (6, 17): return IPAddress(bytes: key.dropFirst())
        default: return nil
        }
    }

    /// The first and last keys of a network (inclusive).
    public static func range(_ network: IPNetwork) -> (low: [UInt8], high: [UInt8]) {
        let a = network.address
        if a.isV4 {
            let bits = UInt32(truncatingIfNeeded: a.low)
            let hostMask: UInt32 = network.prefixLength == 0 ? .max : (network.prefixLength == 32 ? 0 : (UInt32.max >> UInt32(network.prefixLength)))
            return (key(IPAddress(v4: bits)), key(IPAddress(v4: bits | hostMask)))
        }
        let p = network.prefixLength
        let hiHost: UInt64 = p >= 64 ? 0 : (p == 0 ? .max : UInt64.max >> UInt64(p))
        let loHost: UInt64 = p >= 128 ? 0 : (p <= 64 ? .max : UInt64.max >> UInt64(p - 64))
        return (key(a), key(IPAddress(v6High: a.high | hiHost, low: a.low | loHost)))
    }
}

/// The indexed columns of one alert, taken from its event.
public struct AlertRow: Sendable {
    /// `vigil.alert.id`: one row per id; later versions (a higher `vigil.alert.count`) replace it.
    public var id: String
    /// `@timestamp` in ns since the epoch.
    public var time: Int64
    public var ruleID: String
    public var ruleName: String
    public var ruleDescription: String
    public var tags: [String]
    /// `event.severity` (0…4 from the rule engine).
    public var severity: Int
    /// `event.risk_score`.
    public var risk: Double?
    /// `vigil.alert.count`: how many times the alert fired within its suppression window.
    public var count: Int64
    public var sourceIP: IPAddress?
    public var destinationIP: IPAddress?
    public var userName: String?
    /// `vigil.alert.key`: the group-by values.
    public var key: String?
    /// The alert as JSON (with its sample); empty when the row was made for the block layout
    /// only (`json: false`), which stores ``encoded`` instead.
    public var json: [UInt8]
    /// The alert in the broker's binary encoding (EventBinaryCodec): what the block layout stores.
    public var encoded: [UInt8]
    /// The searched text as the block layout stores it, and its distinct tokens (``textAndTokens(key:user:text:)``).
    var textItem: [UInt8]
    var tokens: [UInt64]
    /// `vigil.alert.sample`: the triggering event as JSON text.
    public var sample: String?
    /// What the text index holds of the sample: its string values (not keys, numbers or times).
    public var searchText: String?

    /// The row for an alert event, or an error saying why it is not one.
    /// - Parameters:
    ///   - fallbackTime: the record's time, used when the alert has no `@timestamp`.
    ///   - encoded: the event's binary encoding when the caller has it (a broker record's value);
    ///     made from `event` otherwise.
    ///   - json: whether to make ``json`` (the row layout stores it; the block layout does not).
    public init(event: Event, fallbackTime: Int64 = 0, encoded: [UInt8]? = nil, json withJSON: Bool = true) throws(AlertIndexError) {
        let values = AlertRecordReader.wanted.enumerated().map { i, name in i == 0 ? event[.timestamp] : event[name] }
        try self.init(values: values, fallbackTime: fallbackTime, encoded: encoded ?? EventBinaryCodec.encode(event),
                      json: withJSON ? EventJSON.encode(event) : [])
    }

    /// The row for an alert in the broker's binary encoding, read without making the event
    /// (``AlertRecordReader``); no ``json``. Bytes that are not a valid event are decoded to
    /// report why.
    public init(encoded bytes: UnsafeRawBufferPointer, fallbackTime: Int64 = 0) throws(AlertIndexError) {
        guard let values = AlertRecordReader.read(bytes) else {
            let event: Event
            do { event = try EventBinaryCodec.decode(bytes) } catch {
                throw AlertIndexError(.notAnAlert, "not a valid event: \(error)")
            }
            try self.init(event: event, fallbackTime: fallbackTime, encoded: Array(bytes), json: false)
            return
        }
        try self.init(values: values, fallbackTime: fallbackTime, encoded: Array(bytes), json: [])
    }

    /// From the values of ``AlertRecordReader/wanted``, in that order.
    private init(values v: [FieldValue?], fallbackTime: Int64, encoded: [UInt8], json: [UInt8]) throws(AlertIndexError) {
        guard let id = v[1]?.stringValue, !id.isEmpty else {
            throw AlertIndexError(.notAnAlert, "the event has no vigil.alert.id")
        }
        guard let rule = v[2]?.stringValue, !rule.isEmpty else {
            throw AlertIndexError(.notAnAlert, "alert \(id) has no rule.id")
        }
        self.id = id
        ruleID = rule
        time = v[0]?.timestampValue?.nanoseconds ?? fallbackTime
        ruleName = v[3]?.stringValue ?? rule
        ruleDescription = v[4]?.stringValue ?? ""
        tags = v[5]?.arrayValue?.compactMap(\.stringValue) ?? []
        if let s = v[6], let n = s.intValue ?? s.floatValue.map({ Int64($0) }) {
            severity = Int(clamping: n)
        } else if let name = v[7]?.stringValue, let level = AlertSeverity.level(name) {
            severity = level
        } else {
            severity = 0
        }
        risk = v[8].flatMap { $0.floatValue ?? $0.intValue.map(Double.init) }
        count = v[9]?.intValue ?? 1
        sourceIP = Self.ip(v[10])
        destinationIP = Self.ip(v[11])
        userName = v[12]?.scalarText
        key = v[13]?.stringValue
        sample = v[14]?.stringValue
        searchText = sample.map(Self.searchText)
        self.json = json
        self.encoded = encoded
        (textItem, tokens) = Self.textAndTokens(key: key, user: userName, text: searchText)
    }

    /// What the block layout stores as the alert's searched text: a flag byte (1 when the text
    /// has bytes above 0x7F), then `key \u{1F} user \u{1F} searchText` with ASCII letters
    /// lower-cased; and its distinct tokens (``TokenSet``'s rules), each as
    /// hash (32 bits) << 32 | start (16 bits) << 16 | length (16 bits) — none when the text is
    /// longer than 65,535 bytes (the writer then splits it itself).
    static func textAndTokens(key: String?, user: String?, text: String?) -> ([UInt8], [UInt64]) {
        var item: [UInt8] = [0]
        item.reserveCapacity(1 + (key?.utf8.count ?? 0) + (user?.utf8.count ?? 0) + (text?.utf8.count ?? 0) + 2)
        var high: UInt8 = 0
        AlertBlockBuilder.appendLower(key, &item, &high)
        item.append(0x1F)
        AlertBlockBuilder.appendLower(user, &item, &high)
        item.append(0x1F)
        AlertBlockBuilder.appendLower(text, &item, &high)
        if high >= 0x80 { item[0] = 1 }
        guard item.count <= 0xFFFF else { return (item, []) }
        var tokens: [UInt64] = []
        tokens.reserveCapacity(32)
        item.withUnsafeBufferPointer { b in
            TokenSet.table.withUnsafeBufferPointer { table in
                let n = b.count
                var i = 0
                while i < n {
                    while i < n && table[Int(b[i])] == 0 { i += 1 }
                    let start = i
                    var h: UInt32 = 2_166_136_261
                    while i < n {
                        let c = table[Int(b[i])]
                        if c == 0 { break }
                        h = (h ^ UInt32(c)) &* 16_777_619
                        i += 1
                    }
                    guard i > start else { continue }
                    let len = i - start
                    // Within one alert, a linear check of the few tokens so far.
                    var seen = false
                    for t in tokens where UInt32(truncatingIfNeeded: t >> 32) == h && Int(t & 0xFFFF) == len {
                        let s = Int(t >> 16 & 0xFFFF)
                        if memcmp(b.baseAddress! + s, b.baseAddress! + start, len) == 0 { seen = true; break }
                    }
                    if !seen { tokens.append(UInt64(h) << 32 | UInt64(start) << 16 | UInt64(len)) }
                }
            }
        }
        return (item, tokens)
    }

    /// The string values of a JSON text, space-separated: member names, numbers, literals and
    /// RFC 3339 times are left out (they would only bloat the text index). Escapes stay as they
    /// are (the tokenizer splits on them). Text that is not JSON is returned whole.
    public static func searchText(_ json: String) -> String {
        var json = json
        return json.withUTF8 { b -> String in
            guard b.first == UInt8(ascii: "{") || b.first == UInt8(ascii: "[") else { return String(decoding: b, as: UTF8.self) }
            var out: [UInt8] = []
            out.reserveCapacity(b.count / 2)
            var i = 0
            while i < b.count {
                guard b[i] == UInt8(ascii: "\"") else { i += 1; continue }
                let start = i + 1
                var j = start
                while j < b.count && b[j] != UInt8(ascii: "\"") { j += b[j] == UInt8(ascii: "\\") ? 2 : 1 }
                let end = min(j, b.count)
                var k = end + 1
                while k < b.count && (b[k] == 0x20 || b[k] == 0x0A || b[k] == 0x0D || b[k] == 0x09) { k += 1 }
                let isKey = k < b.count && b[k] == UInt8(ascii: ":")
                let n = end - start
                let isTime = n >= 20 && b[start + 4] == UInt8(ascii: "-") && b[start + 10] == UInt8(ascii: "T")
                if !isKey && !isTime && n > 0 {
                    if !out.isEmpty { out.append(0x20) }
                    out.append(contentsOf: UnsafeBufferPointer(rebasing: b[start..<end]))
                }
                i = end + 1
            }
            return String(decoding: out, as: UTF8.self)
        }
    }

    static func ip(_ value: FieldValue?) -> IPAddress? {
        switch value {
        case .ip(let a)?: return a
        case .string(let s)?: return IPAddress(s)
        default: return nil
        }
    }
}
