import VigilCore
import VigilYAML

/// `type: leef`: IBM QRadar Log Event Extended Format, versions 1.0 and 2.0.
///
/// ```
/// [syslog header ]LEEF:1.0|Vendor|Product|Version|EventID|key=value<TAB>key=value…
/// [syslog header ]LEEF:2.0|Vendor|Product|Version|EventID|[Delimiter|]key=value<D>key=value…
/// ```
/// - The header gives `leef.version`, `leef.device.vendor`, `leef.device.product`,
///   `leef.device.version` and `leef.event_id`; an optional syslog header before `LEEF:` gives
///   `log.syslog.*` and, without `devTime`, `@timestamp`.
/// - LEEF 2.0's delimiter field is one character, or its code in hex (`x09`, `0x5E`, `^`); when
///   absent or empty the delimiter is a tab, as in LEEF 1.0 (option `delimiter` overrides both).
///   A delimiter preceded by a backslash does not split. Attributes are split at the delimiter,
///   then at the first `=`.
/// - Some senders separate a few pairs with spaces instead of the delimiter
///   (`sev=8 cn1=37 cn1Label=Host ID`). With `split_spaced_pairs` (default true) a value is also
///   cut before ` key=` when `key` is letters, digits, `_` and `.` only, so that text gives
///   `sev=8`, `cn1=37`, `cn1Label=Host ID`.
/// - Predefined attributes map to ECS (`src`/`dst` → `source.ip`/`destination.ip`, `srcPort`,
///   `dstPort`, `srcPreNAT`…, `srcMAC`, `srcBytes`, `proto` (name or IANA number) →
///   `network.transport`, `usrName` → `user.name`, `sev` → `event.severity`, `devTime` with
///   `devTimeFormat` → `@timestamp`, `cat` → `leef.category`, `url` → `url.original`, `policy` →
///   `rule.name`, `domain` → `user.domain`); a value that does not fit its ECS type and every other
///   attribute go to `leef.attributes.<key>` as text.
/// - `devTime` without `devTimeFormat` is milliseconds since the epoch or
///   `MMM dd yyyy HH:mm:ss[.SSS][ zone]`; `devTimeFormat` is a Java `SimpleDateFormat` pattern.
///   A `devTime` that cannot be read stays in `leef.attributes.devTime`.
///
/// Options: `delimiter`, `split_spaced_pairs`, `timezone` (for times without an offset).
public struct LEEFParser: LineParser {
    public let delimiter: UInt8?
    public let splitSpacedPairs: Bool
    public let zone: TimeZoneRule

    public init(delimiter: UInt8? = nil, splitSpacedPairs: Bool = true, zone: TimeZoneRule = .utc) {
        self.delimiter = delimiter
        self.splitSpacedPairs = splitSpacedPairs
        self.zone = zone
    }

    public static let build: ParserBuilder = { context throws(YAMLError) in
        let options = try context.options(allowedKeys: ["delimiter", "split_spaced_pairs", "timezone"])
        var delimiter: UInt8?
        if let node = options?.optional("delimiter") {
            let text = try node.string()
            var bytes = Array(text.utf8)
            guard let d = bytes.withUnsafeMutableBytes({ LEEFParser.delimiterByte(UnsafeRawBufferPointer($0), 0..<$0.count) }) else {
                throw node.error("delimiter must be one ASCII character or its hex code (x09, 0x7C)")
            }
            delimiter = d
        }
        return LEEFParser(delimiter: delimiter, splitSpacedPairs: try options?.optional("split_spaced_pairs")?.bool() ?? true,
                          zone: try PostStep.zoneRule(options?.optional("timezone")))
    }

    /// A delimiter written as one ASCII byte, `xHH` or `0xHH`.
    static func delimiterByte(_ b: UnsafeRawBufferPointer, _ r: Range<Int>) -> UInt8? {
        if r.count == 1 { return b[r.lowerBound] < 0x80 ? b[r.lowerBound] : nil }
        var s = r.lowerBound
        if r.count == 4, b[s] == 0x30, b[s + 1] | 0x20 == 0x78 { s += 2 } else if r.count == 3, b[s] | 0x20 == 0x78 { s += 1 } else { return nil }
        func hex(_ c: UInt8) -> UInt8? {
            if FormatBytes.isDigit(c) { return c - 0x30 }
            let l = c | 0x20
            return l >= 0x61 && l <= 0x66 ? l - 0x61 + 10 : nil
        }
        guard let hi = hex(b[s]), let lo = hex(b[s + 1]) else { return nil }
        let v = hi << 4 | lo
        return v < 0x80 && v > 0 ? v : nil
    }

    public func parse(_ line: UnsafeRawBufferPointer, into event: inout Event, context: ParseContext) throws(ParseFailure) {
        let b = line
        guard let marker = FormatBytes.find(b, "LEEF:", from: 0, end: b.count) else { throw ParseFailure("no LEEF: header") }
        var i = marker + 5
        let versionStart = i
        while i < b.count, b[i] != FormatBytes.pipe { i += 1 }
        guard i < b.count else { throw ParseFailure("LEEF header has 1 of 5 fields") }
        let version = FormatBytes.trimmed(b, versionStart..<i)
        let isV2 = version.count >= 1 && b[version.lowerBound] == 0x32
        guard version.count <= 8, version.allSatisfy({ FormatBytes.isDigit(b[$0]) || b[$0] == 0x2E }) else {
            throw ParseFailure("LEEF version is not a number")
        }
        i += 1
        // Vendor, product, version and event id, each ended by `|`.
        var fields: (Range<Int>, Range<Int>, Range<Int>, Range<Int>) = (0..<0, 0..<0, 0..<0, 0..<0)
        for k in 0..<4 {
            let start = i
            while i < b.count, b[i] != FormatBytes.pipe { i += 1 }
            guard i < b.count else { throw ParseFailure("LEEF header has \(k + 1) of 5 fields") }
            switch k {
            case 0: fields.0 = start..<i
            case 1: fields.1 = start..<i
            case 2: fields.2 = start..<i
            default: fields.3 = start..<i
            }
            i += 1
        }
        var attributeDelimiter: UInt8 = FormatBytes.tab
        if isV2 {
            // An optional delimiter field: empty, one character, or xHH/0xHH, then `|`.
            var j = i
            while j < b.count, j - i <= 4, b[j] != FormatBytes.pipe { j += 1 }
            if j < b.count, b[j] == FormatBytes.pipe {
                if j == i {
                    i = j + 1
                } else if let d = Self.delimiterByte(b, i..<j) {
                    attributeDelimiter = d
                    i = j + 1
                }
            }
        }
        if let delimiter { attributeDelimiter = delimiter }
        event["leef.version"] = .string(FormatBytes.string(b, version))
        event["leef.device.vendor"] = .string(FormatBytes.string(b, fields.0))
        event["leef.device.product"] = .string(FormatBytes.string(b, fields.1))
        event["leef.device.version"] = .string(FormatBytes.string(b, fields.2))
        event["leef.event_id"] = .string(FormatBytes.string(b, fields.3))

        var devTime: Range<Int>?
        var devTimeFormat: Range<Int>?
        // Attributes.
        var start = i
        while start <= b.count {
            var end = start
            while end < b.count, b[end] != attributeDelimiter || (end > start && b[end - 1] == FormatBytes.backslash) { end += 1 }
            attribute(b, start..<end, into: &event, devTime: &devTime, devTimeFormat: &devTimeFormat)
            start = end + 1
        }
        if let devTime {
            if let t = LEEFTime.parse(b, devTime, format: devTimeFormat, zone: zone, reference: context.referenceTime) {
                event["@timestamp"] = .timestamp(t)
            } else {
                event["leef.attributes.devTime"] = .string(FormatBytes.string(b, devTime))
            }
        }
        if let devTimeFormat { event["leef.attributes.devTimeFormat"] = .string(FormatBytes.string(b, devTimeFormat)) }
        let prefix = EmbeddedSyslogPrefix.parse(b, 0..<marker, zone: zone, reference: context.referenceTime)
        prefix.apply(to: &event, b)
    }

    /// One delimited attribute, possibly holding further space-separated pairs.
    private func attribute(_ b: UnsafeRawBufferPointer, _ r: Range<Int>, into event: inout Event,
                           devTime: inout Range<Int>?, devTimeFormat: inout Range<Int>?) {
        var start = r.lowerBound
        while start < r.upperBound {
            guard let eq = (start..<r.upperBound).first(where: { b[$0] == FormatBytes.equals }) else { return }
            let key = FormatBytes.trimmed(b, start..<eq)
            var valueEnd = r.upperBound
            var next = r.upperBound
            if splitSpacedPairs {
                // The value ends before ` key=` (key: letters, digits, `_`, `.`).
                var j = eq + 1
                search: while j < r.upperBound {
                    if b[j] == FormatBytes.space {
                        var k = j + 1
                        while k < r.upperBound, FormatBytes.isLetter(b[k]) || FormatBytes.isDigit(b[k]) || b[k] == 0x5F || b[k] == 0x2E { k += 1 }
                        if k > j + 1, k < r.upperBound, b[k] == FormatBytes.equals { valueEnd = j; next = j + 1; break search }
                    }
                    j += 1
                }
            }
            if !key.isEmpty {
                set(b, key, (eq + 1)..<valueEnd, into: &event, devTime: &devTime, devTimeFormat: &devTimeFormat)
            }
            start = next
        }
    }

    private func set(_ b: UnsafeRawBufferPointer, _ keyRange: Range<Int>, _ valueRange: Range<Int>, into event: inout Event,
                     devTime: inout Range<Int>?, devTimeFormat: inout Range<Int>?) {
        guard !valueRange.isEmpty else { return }
        let key = FormatBytes.string(b, keyRange)
        switch key {
        case "devTime": devTime = valueRange; return
        case "devTimeFormat": devTimeFormat = valueRange; return
        default: break
        }
        if let (field, kind) = Self.dictionary[key], let value = Self.typed(b, valueRange, kind) {
            event[field] = value
            return
        }
        event["leef.attributes." + key] = .string(FormatBytes.string(b, valueRange))
    }

    enum Kind { case string, ip, port, int, mac, transport, severity }

    static let dictionary: [String: (String, Kind)] = [
        "src": ("source.ip", .ip), "dst": ("destination.ip", .ip),
        "srcPort": ("source.port", .port), "dstPort": ("destination.port", .port),
        "srcPreNAT": ("source.ip", .ip), "dstPreNAT": ("destination.ip", .ip),
        "srcPostNAT": ("source.nat.ip", .ip), "dstPostNAT": ("destination.nat.ip", .ip),
        "srcPreNATPort": ("source.port", .port), "dstPreNATPort": ("destination.port", .port),
        "srcPostNATPort": ("source.nat.port", .port), "dstPostNATPort": ("destination.nat.port", .port),
        "srcMAC": ("source.mac", .mac), "dstMAC": ("destination.mac", .mac),
        "srcBytes": ("source.bytes", .int), "dstBytes": ("destination.bytes", .int),
        "srcPackets": ("source.packets", .int), "dstPackets": ("destination.packets", .int),
        "totalPackets": ("network.packets", .int),
        "proto": ("network.transport", .transport),
        "usrName": ("user.name", .string), "accountName": ("user.name", .string),
        "domain": ("user.domain", .string),
        "sev": ("event.severity", .severity),
        "cat": ("leef.category", .string),
        "url": ("url.original", .string),
        "policy": ("rule.name", .string),
        "identHostName": ("host.name", .string),
        "identSrc": ("host.ip", .ip),
    ]

    static func typed(_ b: UnsafeRawBufferPointer, _ r: Range<Int>, _ kind: Kind) -> FieldValue? {
        switch kind {
        case .string, .mac: return .string(FormatBytes.string(b, r))
        case .ip: return FormatBytes.ip(b, r).map(FieldValue.ip)
        case .port: return FormatBytes.port(b, r).map(FieldValue.int)
        case .int: return FormatBytes.int(b, r).map(FieldValue.int)
        case .severity:
            guard let v = FormatBytes.int(b, r), (0...10).contains(v) else { return nil }
            return .int(v)
        case .transport:
            if let n = FormatBytes.int(b, r) { return IANAProtocol.name(n).map(FieldValue.string) }
            return .string(FormatBytes.string(b, r).lowercased())
        }
    }
}

/// IANA protocol numbers for the transports logs mention.
enum IANAProtocol {
    static func name(_ number: Int64) -> String? {
        switch number {
        case 1: return "icmp"
        case 2: return "igmp"
        case 6: return "tcp"
        case 17: return "udp"
        case 41: return "ipv6"
        case 47: return "gre"
        case 50: return "esp"
        case 51: return "ah"
        case 58: return "ipv6-icmp"
        case 89: return "ospf"
        case 132: return "sctp"
        default: return nil
        }
    }
}
