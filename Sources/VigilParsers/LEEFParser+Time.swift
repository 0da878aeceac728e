import VigilCore

/// LEEF `devTime` values: epoch milliseconds or `MMM dd yyyy HH:mm:ss[.SSS][ zone]` by default,
/// or the Java `SimpleDateFormat` pattern given in `devTimeFormat`.
enum LEEFTime {
    static let defaults: [TimestampFormat] = [
        "%b %d %Y %H:%M:%S", "%b %d %Y %H:%M:%S %Z", "%b %d %Y %H:%M:%S %z", "rfc3339",
    ].compactMap { try? TimestampFormat($0) }
    static let milliseconds = try? TimestampFormat("unix_ms")

    static func parse(_ b: UnsafeRawBufferPointer, _ r: Range<Int>, format: Range<Int>?, zone: TimeZoneRule, reference: Timestamp) -> Timestamp? {
        let text = UnsafeRawBufferPointer(rebasing: b[r])
        guard !text.isEmpty, text.count <= 64 else { return nil }
        if let format {
            guard let spec = strftime(fromJava: UnsafeRawBufferPointer(rebasing: b[format])),
                  let f = try? TimestampFormat(spec) else { return nil }
            return f.parse(text, zone: zone, reference: reference)
        }
        if text.allSatisfy(FormatBytes.isDigit) {
            // Seconds (10 digits or fewer) or milliseconds since the epoch.
            if text.count <= 10, let s = FormatBytes.int(b, r) { return Timestamp(nanoseconds: s * 1_000_000_000) }
            return milliseconds?.parse(text, zone: zone, reference: reference)
        }
        for f in defaults { if let t = f.parse(text, zone: zone, reference: reference) { return t } }
        return nil
    }

    /// Translates a Java `SimpleDateFormat` pattern to a `TimestampFormat` pattern; nil for
    /// letters it does not support.
    static func strftime(fromJava p: UnsafeRawBufferPointer) -> String? {
        guard p.count <= 64 else { return nil }
        var out = ""
        var i = 0
        while i < p.count {
            let c = p[i]
            var run = 1
            while i + run < p.count, p[i + run] == c { run += 1 }
            switch c {
            case UInt8(ascii: "y"): out += run == 2 ? "%y" : "%Y"
            case UInt8(ascii: "M"): out += run >= 4 ? "%B" : run == 3 ? "%b" : "%m"
            case UInt8(ascii: "d"): out += "%d"
            case UInt8(ascii: "H"): out += "%H"
            case UInt8(ascii: "h"): out += "%I"
            case UInt8(ascii: "m"): out += "%M"
            case UInt8(ascii: "s"): out += "%S"
            case UInt8(ascii: "S"): out += "%f"
            case UInt8(ascii: "a"): out += "%p"
            case UInt8(ascii: "E"): out += "%a"
            case UInt8(ascii: "z"): out += "%Z"
            case UInt8(ascii: "Z"), UInt8(ascii: "X"), UInt8(ascii: "x"): out += "%z"
            case UInt8(ascii: "'"):
                // Quoted literal text; '' is a quote.
                var j = i + 1
                if j < p.count, p[j] == c { out += "'"; i += 2; continue }
                while j < p.count, p[j] != c {
                    out += p[j] == 0x25 ? "%%" : String(UnicodeScalar(p[j]))
                    j += 1
                }
                i = j + 1
                continue
            default:
                if FormatBytes.isLetter(c) || c >= 0x80 { return nil }
                for _ in 0..<run { out += c == 0x25 ? "%%" : String(UnicodeScalar(c)) }
            }
            i += run
        }
        return out
    }
}
