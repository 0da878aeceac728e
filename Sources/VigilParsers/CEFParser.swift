import VigilCore
import VigilYAML

/// `type: cef`: ArcSight Common Event Format.
///
/// ```
/// [<PRI>][timestamp ][host ]CEF:Version|Device Vendor|Device Product|Device Version|Signature ID|Name|Severity|Extension
/// ```
/// - An optional syslog header before `CEF:` gives `log.syslog.*` and, when the extension has no
///   `rt`, `@timestamp` (RFC 3164 with or without a year, or RFC 3339).
/// - Header fields may escape `|` and `\` with a backslash. They become `cef.version` (int),
///   `cef.device.vendor`, `cef.device.product`, `cef.device.version`, `cef.signature_id`,
///   `cef.name`, `cef.severity` (as written) and `event.severity`: 0–10 as a number, or
///   `Unknown`/`Low`/`Medium`/`High`/`Very-High` as 0/2/5/8/10 (the top of each CEF range, as
///   Apache Metron does). Fewer than seven header fields fail the line.
/// - The extension is `key=value` pairs separated by spaces. Values may contain spaces: a pair ends
///   at the last space before the next unescaped `key=`, where a key is letters, digits, `_`,
///   `.` and `-`. Values decode `\=`, `\\`, `\n` and `\r`; any other backslash stays as written.
///   Empty values are dropped.
/// - Standard keys map to ECS (`CEFParser+Dictionary.swift`: `src` → `source.ip`, `dpt` →
///   `destination.port`, `suser` → `user.name`, `rt` → `@timestamp`, …); a value that does not
///   fit its ECS type (an `src` that is not an IP) is kept as text under
///   `cef.extensions.<full name>` instead. Other keys go to `cef.extensions.<key>` as text, with
///   CEF short names spelled out (`cs1` → `deviceCustomString1`).
/// - Custom fields (`cs1`…`cs6`, `cn1`…`cn3`, `cfp1`…, `c6a1`…, `flexString1`…, or any key `k`
///   with a `kLabel`) are named by their label: `cs2Label=Safe Name cs2=Ops` gives
///   `cef.extensions.Safe Name: Ops` (surrounding double quotes of a label are removed).
///
/// Options: `timezone` (for timestamps without an offset; default UTC).
public struct CEFParser: LineParser {
    public let zone: TimeZoneRule

    public init(zone: TimeZoneRule = .utc) { self.zone = zone }

    public static let build: ParserBuilder = { context throws(YAMLError) in
        let options = try context.options(allowedKeys: ["timezone"])
        return CEFParser(zone: try PostStep.zoneRule(options?.optional("timezone")))
    }

    public func parse(_ line: UnsafeRawBufferPointer, into event: inout Event, context: ParseContext) throws(ParseFailure) {
        let b = line
        guard let marker = FormatBytes.find(b, "CEF:", from: 0, end: b.count) else { throw ParseFailure("no CEF: header") }
        var i = marker + 4
        while i < b.count, b[i] == FormatBytes.space { i += 1 }
        let versionStart = i
        while i < b.count, FormatBytes.isDigit(b[i]) { i += 1 }
        guard i < b.count, b[i] == FormatBytes.pipe, let version = FormatBytes.int(b, versionStart..<i), i - versionStart <= 3 else {
            throw ParseFailure("CEF version is not a number")
        }
        i += 1
        // Six more header fields, each ended by an unescaped `|`.
        var header: (Range<Int>, Range<Int>, Range<Int>, Range<Int>, Range<Int>, Range<Int>) = (0..<0, 0..<0, 0..<0, 0..<0, 0..<0, 0..<0)
        var escaped: UInt8 = 0  // bit k: header field k holds a backslash
        for k in 0..<6 {
            let start = i
            while i < b.count, b[i] != FormatBytes.pipe {
                if b[i] == FormatBytes.backslash { escaped |= 1 << k; i += 1 }
                i += 1
            }
            guard i < b.count else { throw ParseFailure("CEF header ends after \(k + 1) of 7 fields") }
            let r = start..<i
            switch k {
            case 0: header.0 = r
            case 1: header.1 = r
            case 2: header.2 = r
            case 3: header.3 = r
            case 4: header.4 = r
            default: header.5 = r
            }
            i += 1
        }
        func text(_ r: Range<Int>, _ k: Int) -> String {
            escaped & (1 << k) == 0 ? FormatBytes.string(b, r) : FormatBytes.unescaped(b, r, simple: "|", controls: false)
        }
        /// Sets a header field: its bytes as they are unless it holds an escape.
        func set(_ key: Event.Key, _ r: Range<Int>, _ k: Int) {
            if escaped & (1 << k) == 0 {
                event.setString(key, utf8: UnsafeRawBufferPointer(rebasing: b[r]))
            } else {
                event[key] = .string(text(r, k))
            }
        }
        event.setInt(Keys.version, version)
        set(Keys.deviceVendor, header.0, 0)
        set(Keys.deviceProduct, header.1, 1)
        set(Keys.deviceVersion, header.2, 2)
        set(Keys.signatureID, header.3, 3)
        set(Keys.name, header.4, 4)
        let severity = FormatBytes.trimmed(b, header.5)
        if !severity.isEmpty {
            set(Keys.severity, severity, 5)
            if let level = Self.severity(b, severity) { event.setInt(Keys.eventSeverity, level) }
        }
        CEFExtensions.parse(b, i..<b.count, into: &event, zone: zone, reference: context.referenceTime)
        let prefix = EmbeddedSyslogPrefix.parse(b, 0..<marker, zone: zone, reference: context.referenceTime)
        prefix.apply(to: &event, b)
    }

    /// The header fields, looked up in the schema once.
    private enum Keys {
        static let version = Event.Key("cef.version")
        static let deviceVendor = Event.Key("cef.device.vendor")
        static let deviceProduct = Event.Key("cef.device.product")
        static let deviceVersion = Event.Key("cef.device.version")
        static let signatureID = Event.Key("cef.signature_id")
        static let name = Event.Key("cef.name")
        static let severity = Event.Key("cef.severity")
        static let eventSeverity = Event.Key("event.severity")
    }

    /// A CEF severity: 0–10, or a CEF severity word.
    static func severity(_ b: UnsafeRawBufferPointer, _ r: Range<Int>) -> Int64? {
        if let n = FormatBytes.int(b, r), r.count <= 3 { return (0...10).contains(n) ? n : nil }
        let lowered = FormatBytes.string(b, r).lowercased()
        switch lowered {
        case "unknown": return 0
        case "low": return 2
        case "medium": return 5
        case "high": return 8
        case "very-high", "very high", "veryhigh": return 10
        default: return nil
        }
    }
}

/// The extension part of a CEF record (also used by LEEF records written with CEF rules).
enum CEFExtensions {
    /// One `key=value` pair: byte ranges into the line (the value is trimmed, still escaped).
    struct Pair {
        var key: Range<Int>
        var value: Range<Int>
        var isLabel: Bool { key.count > 5 }
    }

    /// Parses `b[range]` and sets the fields (see `CEFParser`).
    static func parse(_ b: UnsafeRawBufferPointer, _ range: Range<Int>, into event: inout Event, zone: TimeZoneRule, reference: Timestamp) {
        let equalsCount = FormatBytes.count(b, range, FormatBytes.equals)
        guard equalsCount > 0 else { return }
        withUnsafeTemporaryAllocation(of: Pair.self, capacity: equalsCount) { pairs in
            let count = split(b, range, into: pairs)
            var hasLabels = false
            for p in 0..<count where isLabelKey(b, pairs[p].key) { hasLabels = true; break }
            for p in 0..<count {
                let pair = pairs[p]
                if pair.value.isEmpty { continue }
                if hasLabels && isLabelKey(b, pair.key) { continue }
                if hasLabels, let label = labelValue(for: pair.key, b, pairs, count) {
                    let name = "cef.extensions." + label
                    let value = FormatBytes.unescaped(b, pair.value, simple: "=", controls: true)
                    event[name] = CEFDictionary.customValue(forKey: b, pair.key, value)
                    continue
                }
                CEFDictionary.set(key: b, pair.key, value: pair.value, into: &event, zone: zone, reference: reference)
            }
        }
    }

    /// Finds the pairs in `b[range]`; returns how many were written to `pairs`.
    static func split(_ b: UnsafeRawBufferPointer, _ range: Range<Int>, into pairs: UnsafeMutableBufferPointer<Pair>) -> Int {
        var count = 0
        var i = range.lowerBound
        let end = range.upperBound
        while i < end {
            // Straight to the next `=` or backslash, eight bytes at a time.
            i = FormatBytes.firstIndex(b, i..<end, FormatBytes.equals, FormatBytes.backslash)
            guard i < end else { break }
            let c = b[i]
            if c == FormatBytes.backslash { i += 2; continue }
            var k = i
            while k > range.lowerBound, FormatBytes.isKeyByte(b[k - 1]) { k -= 1 }
            let startsPair = k < i && (k == range.lowerBound || b[k - 1] == FormatBytes.space)
            if startsPair && count < pairs.count {
                if count > 0 {
                    // The previous value ends at the space before this key.
                    let previous = pairs[count - 1]
                    pairs[count - 1].value = FormatBytes.trimmed(b, previous.value.lowerBound..<max(previous.value.lowerBound, k - 1))
                }
                pairs[count] = Pair(key: k..<i, value: (i + 1)..<end)
                count += 1
            }
            i += 1
        }
        if count > 0 { pairs[count - 1].value = FormatBytes.trimmed(b, pairs[count - 1].value) }
        return count
    }

    @inline(__always) static func isLabelKey(_ b: UnsafeRawBufferPointer, _ key: Range<Int>) -> Bool {
        key.count > 5 && FormatBytes.hasPrefix(b, at: key.upperBound - 5, "Label")
    }

    /// The label given to `key` by a `<key>Label` pair, without surrounding double quotes; nil
    /// when there is none or it is empty.
    static func labelValue(for key: Range<Int>, _ b: UnsafeRawBufferPointer, _ pairs: UnsafeMutableBufferPointer<Pair>, _ count: Int) -> String? {
        for p in 0..<count {
            let candidate = pairs[p].key
            guard candidate.count == key.count + 5, isLabelKey(b, candidate) else { continue }
            var same = true
            for k in 0..<key.count where b[key.lowerBound + k] != b[candidate.lowerBound + k] { same = false; break }
            guard same else { continue }
            var v = pairs[p].value
            if v.count >= 2, b[v.lowerBound] == FormatBytes.quote, b[v.upperBound - 1] == FormatBytes.quote { v = (v.lowerBound + 1)..<(v.upperBound - 1) }
            v = FormatBytes.trimmed(b, v)
            guard !v.isEmpty else { return nil }
            return FormatBytes.unescaped(b, v, simple: "=", controls: true)
        }
        return nil
    }
}
