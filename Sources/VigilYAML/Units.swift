/// Byte sizes and durations written with units, as in `segment_bytes: 256MiB` and `retention: 7d`.
/// Parsing goes through ``YAMLValue/size(range:)`` and ``YAMLValue/duration(range:)``; the formatters
/// are public so that loaders can quote limits in the same notation.
public enum Units {
    /// Size units: IEC (powers of 1024) and SI (powers of 1000). Exact spelling; `B` is bytes.
    static let sizes: [(unit: String, bytes: Int64)] = [
        ("B", 1),
        ("KB", 1_000), ("MB", 1_000_000), ("GB", 1_000_000_000),
        ("TB", 1_000_000_000_000), ("PB", 1_000_000_000_000_000),
        ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("TiB", 1 << 40), ("PiB", 1 << 50),
    ]

    /// Duration units from largest to smallest; `µs` is accepted as a spelling of `us`.
    static let durations: [(unit: String, nanoseconds: Int64)] = [
        ("d", 86_400_000_000_000), ("h", 3_600_000_000_000), ("m", 60_000_000_000),
        ("s", 1_000_000_000), ("ms", 1_000_000), ("us", 1_000), ("ns", 1),
    ]

    enum Failure: Error {
        /// The message follows `invalid size "text"` / `invalid duration "text"`.
        case invalid(String)
        case tooLarge
    }

    /// Parses `4096`, `512KB`, `64MiB`, `64 MiB` into bytes.
    static func parseSize(_ text: String) throws(Failure) -> Int64 {
        let scalars = Array(text.unicodeScalars)
        var index = 0
        if scalars.first == "-" { throw .invalid(": sizes cannot be negative") }
        if scalars.first == "+" { index += 1 }
        let digitsStart = index
        while index < scalars.count, ("0"..."9").contains(scalars[index]) { index += 1 }
        guard index > digitsStart else {
            throw .invalid(" (expected a whole number of bytes with an optional unit, such as 4096 or 256MiB)")
        }
        let number = String(String.UnicodeScalarView(scalars[digitsStart..<index]))
        if index < scalars.count, scalars[index] == "." {
            throw .invalid(": use a whole number with a smaller unit, such as 1536MiB rather than 1.5GiB")
        }
        if index < scalars.count, scalars[index] == " " { index += 1 }
        let unit = String(String.UnicodeScalarView(scalars[index...]))
        let multiplier: Int64
        if unit.isEmpty {
            multiplier = 1
        } else if let match = sizes.first(where: { $0.unit == unit }) {
            multiplier = match.bytes
        } else {
            let names = sizes.map(\.unit)
            if let suggestion = Suggestion.closest(to: unit, in: names) {
                throw .invalid(": unknown unit '\(unit)' (did you mean '\(suggestion)'?)")
            }
            throw .invalid(": unknown unit '\(unit)' (use \(names.joined(separator: ", ")))")
        }
        guard let value = Int64(number) else { throw .tooLarge }
        let (bytes, overflow) = value.multipliedReportingOverflow(by: multiplier)
        if overflow { throw .tooLarge }
        return bytes
    }

    /// The shortest exact spelling: `4KiB`, `10GiB`, `1KB`, `4095B`, `0B`.
    public static func formatSize(_ bytes: Int64) -> String {
        if bytes == 0 { return "0B" }
        for (unit, size) in sizes.filter({ $0.unit.hasSuffix("iB") }).reversed() where bytes % size == 0 {
            return "\(bytes / size)\(unit)"
        }
        for (unit, size) in sizes.filter({ !$0.unit.hasSuffix("iB") }).reversed() where bytes % size == 0 {
            return "\(bytes / size)\(unit)"
        }
        return "\(bytes)B"
    }

    /// Parses `0`, `250us`, `100ms`, `10s`, `5m`, `2h`, `7d`, `1h30m` into nanoseconds. Units must go from
    /// largest to smallest, each at most once.
    static func parseDuration(_ text: String) throws(Failure) -> Int64 {
        if text == "0" { return 0 }
        let scalars = Array(text.unicodeScalars)
        let unitList = durations.map(\.unit).joined(separator: ", ")
        if scalars.first == "-" { throw .invalid(": durations cannot be negative") }
        var index = 0
        var total: Int64 = 0
        var previousUnit = -1
        var sawComponent = false
        while index < scalars.count {
            let digitsStart = index
            while index < scalars.count, ("0"..."9").contains(scalars[index]) { index += 1 }
            guard index > digitsStart else {
                throw .invalid(" (expected a number and a unit, such as 100ms, 10s, 5m, 2h, 7d or 1h30m)")
            }
            let number = String(String.UnicodeScalarView(scalars[digitsStart..<index]))
            if index < scalars.count, scalars[index] == "." {
                throw .invalid(": use whole numbers with smaller units, such as 1h30m rather than 1.5h")
            }
            let unitStart = index
            while index < scalars.count, !("0"..."9").contains(scalars[index]) { index += 1 }
            var unit = String(String.UnicodeScalarView(scalars[unitStart..<index]))
            if unit == "µs" || unit == "μs" { unit = "us" }  // micro sign, Greek mu
            if unit.isEmpty {
                if !sawComponent && index == scalars.count && Int64(number) == 0 { return 0 }
                throw .invalid(": missing unit (use \(unitList), e.g. 10s)")
            }
            guard let position = durations.firstIndex(where: { $0.unit == unit }) else {
                if let suggestion = Suggestion.closest(to: unit, in: durations.map(\.unit)) {
                    throw .invalid(": unknown unit '\(unit)' (did you mean '\(suggestion)'?)")
                }
                throw .invalid(": unknown unit '\(unit)' (use \(unitList))")
            }
            guard position > previousUnit else {
                throw .invalid(": write units from largest to smallest, each once, such as 1h30m")
            }
            previousUnit = position
            sawComponent = true
            guard let value = Int64(number) else { throw .tooLarge }
            let (part, overflow1) = value.multipliedReportingOverflow(by: durations[position].nanoseconds)
            let (sum, overflow2) = total.addingReportingOverflow(part)
            if overflow1 || overflow2 { throw .tooLarge }
            total = sum
        }
        return total
    }

    /// `0`, `250us`, `100ms`, `1h30m`, `7d`: whole components from largest to smallest.
    public static func formatDuration(_ nanoseconds: Int64) -> String {
        if nanoseconds == 0 { return "0" }
        var rest = nanoseconds
        var text = nanoseconds < 0 ? "-" : ""
        for (unit, size) in durations {
            let count = rest / size
            if count != 0 {
                text += "\(count.magnitude)\(unit)"
                rest -= count * size
            }
        }
        return text
    }
}

extension YAMLValue {
    /// The node as a byte size within `range`: a plain integer (bytes) or a whole number with a unit,
    /// `B`, `KB`/`MB`/`GB`/`TB`/`PB` (powers of 1000) or `KiB`/`MiB`/`GiB`/`TiB`/`PiB` (powers of 1024),
    /// optionally separated by one space: `4096`, `512KB`, `64MiB`, `1 GiB`. Units are case-sensitive.
    /// Negative sizes, fractions and values above `Int64.max` bytes are rejected.
    public func size(range: ClosedRange<Int64> = 0...Int64.max) throws(YAMLError) -> Int64 {
        let text: String
        switch scalarValue {
        case .string(let t), .integer(let t, _): text = t
        default: throw typeMismatch(expected: "a size such as 256MiB")
        }
        let bytes: Int64
        do {
            bytes = try Units.parseSize(text)
        } catch {
            switch error {
            case .invalid(let reason): throw self.error("invalid size \(Self.quote(text))\(reason)")
            case .tooLarge: throw self.error("size \(Self.quote(text)) is too large")
            }
        }
        guard range.contains(bytes) else {
            throw outOfRange(text, range.lowerBound, range.upperBound, 0, Int64.max, format: Units.formatSize)
        }
        return bytes
    }

    /// The node as a duration in nanoseconds within `range`: `0`, or whole numbers with units `d`, `h`,
    /// `m`, `s`, `ms`, `us` (or `µs`), `ns`, largest first, without spaces: `250us`, `100ms`, `10s`, `5m`,
    /// `2h`, `7d`, `1h30m`. A number without a unit (other than 0), negative durations, fractions and
    /// durations above `Int64.max` nanoseconds (about 292 years) are rejected.
    public func duration(range: ClosedRange<Int64> = 0...Int64.max) throws(YAMLError) -> Int64 {
        let text: String
        switch scalarValue {
        case .string(let t), .integer(let t, _): text = t
        default: throw typeMismatch(expected: "a duration such as 10s")
        }
        let nanoseconds: Int64
        do {
            nanoseconds = try Units.parseDuration(text)
        } catch {
            switch error {
            case .invalid(let reason): throw self.error("invalid duration \(Self.quote(text))\(reason)")
            case .tooLarge: throw self.error("duration \(Self.quote(text)) is too large")
            }
        }
        guard range.contains(nanoseconds) else {
            throw outOfRange(text, range.lowerBound, range.upperBound, 0, Int64.max, format: Units.formatDuration)
        }
        return nanoseconds
    }
}
