import VigilCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What identifies one version of a file: device, inode, size and modification time. A rewrite
/// in place changes the size or time; a replacement by rename changes the inode.
public struct FileStamp: Sendable, Equatable {
    public var device: UInt64
    public var inode: UInt64
    public var size: Int64
    public var modified: Int64

    /// The stamp of `path` now, or nil when it cannot be stat'ed.
    public init?(path: String) {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
        size = Int64(st.st_size)
        modified = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
    }
}

enum DataFiles {
    /// The whole file at `path`.
    static func read(_ path: String, maximumBytes: Int = 1 << 30) throws(EnrichmentError) -> [UInt8] {
        func failure(_ code: Int32) -> EnrichmentError {
            EnrichmentError(.unreadable, file: path, "cannot read file: \(String(cString: strerror(code)))")
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw failure(errno) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 256 << 10)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw failure(errno)
            }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
            if bytes.count > maximumBytes {
                throw EnrichmentError(.data, file: path, "file is larger than \(maximumBytes) bytes")
            }
        }
        return bytes
    }

    /// `path` made absolute against `directory` (unless already absolute).
    static func resolve(_ path: String, against directory: String) -> String {
        if path.hasPrefix("/") || directory.isEmpty { return path }
        return directory.hasSuffix("/") ? directory + path : directory + "/" + path
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}

/// One record of a delimited file: its 1-based line and its fields.
struct DelimitedRecord {
    var line: Int
    var fields: [String]
}

/// RFC 4180 CSV (any one-byte delimiter): fields may be quoted with `"`, a quote inside a quoted
/// field is doubled, quoted fields may span lines; CRLF and LF line ends; blank lines and lines
/// starting with `#` are skipped. Never traps on any bytes.
enum DelimitedReader {
    static func records(_ bytes: UnsafeRawBufferPointer, delimiter: UInt8, file: String) throws(EnrichmentError) -> [DelimitedRecord] {
        var out: [DelimitedRecord] = []
        var i = 0
        var line = 1
        let n = bytes.count
        // A UTF-8 byte order mark is not part of the first field.
        if n >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF { i = 3 }
        while i < n {
            let recordLine = line
            // Skip blank and comment lines.
            if bytes[i] == UInt8(ascii: "\n") { i += 1; line += 1; continue }
            if bytes[i] == UInt8(ascii: "\r") && i + 1 < n && bytes[i + 1] == UInt8(ascii: "\n") { i += 2; line += 1; continue }
            if bytes[i] == UInt8(ascii: "#") {
                while i < n && bytes[i] != UInt8(ascii: "\n") { i += 1 }
                continue
            }
            var fields: [String] = []
            var field: [UInt8] = []
            var endOfRecord = false
            while !endOfRecord {
                field.removeAll(keepingCapacity: true)
                if i < n && bytes[i] == UInt8(ascii: "\"") {
                    let quoteLine = line
                    i += 1
                    var closed = false
                    while i < n {
                        let b = bytes[i]
                        if b == UInt8(ascii: "\"") {
                            if i + 1 < n && bytes[i + 1] == UInt8(ascii: "\"") {
                                field.append(b)
                                i += 2
                                continue
                            }
                            i += 1
                            closed = true
                            break
                        }
                        if b == UInt8(ascii: "\n") { line += 1 }
                        field.append(b)
                        i += 1
                    }
                    if !closed {
                        throw EnrichmentError(.data, file: file, line: quoteLine, "unterminated quoted field (field \(fields.count + 1))")
                    }
                    if i < n && bytes[i] == UInt8(ascii: "\r") && i + 1 < n && bytes[i + 1] == UInt8(ascii: "\n") { i += 1 }
                    if i < n && bytes[i] != delimiter && bytes[i] != UInt8(ascii: "\n") {
                        throw EnrichmentError(.data, file: file, line: line,
                                              "unexpected character after the closing quote of field \(fields.count + 1)")
                    }
                } else {
                    while i < n && bytes[i] != delimiter && bytes[i] != UInt8(ascii: "\n") {
                        field.append(bytes[i])
                        i += 1
                    }
                    if field.last == UInt8(ascii: "\r") && (i >= n || bytes[i] == UInt8(ascii: "\n")) { field.removeLast() }
                }
                fields.append(String(decoding: field, as: UTF8.self))
                if i >= n {
                    endOfRecord = true
                } else if bytes[i] == delimiter {
                    i += 1
                } else {
                    // Newline.
                    i += 1
                    line += 1
                    endOfRecord = true
                }
            }
            out.append(DelimitedRecord(line: recordLine, fields: fields))
        }
        return out
    }
}

/// Rows of a JSON table: either one JSON array of objects, or JSON lines (one object per line;
/// blank lines skipped). Nested objects are flattened to dotted names, as in events.
enum JSONRows {
    struct Row {
        var line: Int
        var fields: [Event.Field]
    }

    static func rows(_ bytes: UnsafeRawBufferPointer, file: String) throws(EnrichmentError) -> [Row] {
        var i = 0
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x09 || bytes[i] == 0x0A || bytes[i] == 0x0D { i += 1 }
        if i < bytes.count && bytes[i] == UInt8(ascii: "[") {
            let value: FieldValue
            do { value = try EventJSON.decodeValue(bytes) } catch {
                throw EnrichmentError(.data, file: file, line: lineOf(offset: error.offset, in: bytes), "invalid JSON: \(error.message)")
            }
            guard case .array(let elements) = value else { throw EnrichmentError(.data, file: file, "expected a JSON array of objects") }
            var rows: [Row] = []
            rows.reserveCapacity(elements.count)
            for (index, element) in elements.enumerated() {
                guard case .object(let object) = element else {
                    throw EnrichmentError(.data, file: file, "element \(index + 1) of the array is not an object")
                }
                var fields: [Event.Field] = []
                flatten(object, prefix: "", into: &fields)
                rows.append(Row(line: 0, fields: fields))
            }
            return rows
        }
        var rows: [Row] = []
        var line = 0
        var start = 0
        while start < bytes.count {
            line += 1
            var end = start
            while end < bytes.count && bytes[end] != 0x0A { end += 1 }
            let slice = UnsafeRawBufferPointer(rebasing: bytes[start..<end])
            start = end + 1
            var blank = true
            for b in slice where !(b == 0x20 || b == 0x09 || b == 0x0D) { blank = false; break }
            if blank { continue }
            do {
                let event = try EventJSON.decode(slice)
                rows.append(Row(line: line, fields: event.fields))
            } catch {
                throw EnrichmentError(.data, file: file, line: line, "invalid JSON line: \(error.message)")
            }
        }
        return rows
    }

    static func flatten(_ object: FieldObject, prefix: String, into fields: inout [Event.Field]) {
        for member in object.members {
            let key = prefix.isEmpty ? member.key : prefix + "." + member.key
            if case .object(let inner) = member.value {
                flatten(inner, prefix: key, into: &fields)
            } else {
                fields.append(Event.Field(key: key, value: member.value))
            }
        }
    }

    static func lineOf(offset: Int, in bytes: UnsafeRawBufferPointer) -> Int {
        var line = 1
        for i in 0..<min(max(offset, 0), bytes.count) where bytes[i] == 0x0A { line += 1 }
        return line
    }
}

extension Array where Element == UInt8 {
    /// `withUnsafeBytes` with a typed error (the standard one is untyped `rethrows`).
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws(EnrichmentError) -> R) throws(EnrichmentError) -> R {
        try withUnsafeBytes { raw in Result { () throws(EnrichmentError) in try body(raw) } }.get()
    }
}
