#if canImport(Glibc)
import Glibc
#endif
import VigilCore

/// Identifies one fragmented datagram: addresses, identification and (IPv4) protocol.
struct FragmentKey: Equatable {
    var source: IPAddress
    var destination: IPAddress
    var id: UInt32
    /// The IPv4 protocol, or 44 for IPv6.
    var proto: UInt8
}

/// Bounded IPv4/IPv6 fragment reassembly. Holds at most `capacity` incomplete datagrams, each
/// with its own buffer; the first bytes received for an offset win (later overlapping bytes are
/// compared, and counted as inconsistent when they differ).
struct FragmentReassembler {
    struct Datagram {
        var key: FragmentKey
        var firstSeen: Int64
        /// Payload bytes (after the unfragmentable header) by offset.
        var data: [UInt8] = []
        /// Received byte ranges, sorted and merged.
        var ranges: [Range<Int>] = []
        /// Payload length, once the last fragment has been seen.
        var total = -1
        /// The unfragmentable header from the offset-0 fragment.
        var header: [UInt8]? = nil
        /// IPv6: where the "next header" byte that named the fragment header sits in `header`.
        var nextHeaderOffset = -1
        var nextHeader: UInt8 = 0
    }

    enum Outcome {
        case held
        case dropped
        /// The whole datagram: header followed by the payload.
        case complete([UInt8])
    }

    struct AddResult {
        var outcome: Outcome = .held
        var overlaps = 0
        var inconsistencies = 0
        var timedOut = 0
        var evicted = 0
    }

    let capacity: Int
    let timeout: Int64
    var datagrams: [Datagram] = []

    init(capacity: Int, timeout: Int64) {
        self.capacity = capacity
        self.timeout = timeout
    }

    /// Drops datagrams whose first fragment is older than the timeout; returns how many.
    mutating func expire(now: Int64) -> Int {
        let before = datagrams.count
        if timeout > 0 { datagrams.removeAll { now &- $0.firstSeen > timeout } }
        return before - datagrams.count
    }

    mutating func add(key: FragmentKey, time: Int64, offset: Int, data: UnsafeRawBufferPointer, last: Bool,
                      header: UnsafeRawBufferPointer?, nextHeaderOffset: Int, nextHeader: UInt8) -> AddResult {
        var result = AddResult()
        result.timedOut = expire(now: time)
        var index = datagrams.firstIndex { $0.key == key }
        if index == nil {
            if datagrams.count >= capacity {
                // Evict the oldest incomplete datagram.
                var oldest = 0
                for k in datagrams.indices where datagrams[k].firstSeen < datagrams[oldest].firstSeen { oldest = k }
                datagrams.remove(at: oldest)
                result.evicted = 1
            }
            datagrams.append(Datagram(key: key, firstSeen: time))
            index = datagrams.count - 1
        }
        guard let i = index else { return result }
        let end = offset + data.count
        if last {
            if datagrams[i].total >= 0 && datagrams[i].total != end {
                result.inconsistencies += 1
                result.outcome = .dropped
                return result
            }
            if let upper = datagrams[i].ranges.last?.upperBound, upper > end {
                result.inconsistencies += 1
                result.outcome = .dropped
                return result
            }
            datagrams[i].total = end
        } else if datagrams[i].total >= 0 && end > datagrams[i].total {
            result.inconsistencies += 1
            result.outcome = .dropped
            return result
        }
        if let header, datagrams[i].header == nil {
            datagrams[i].header = Array(header)
            datagrams[i].nextHeaderOffset = nextHeaderOffset
            datagrams[i].nextHeader = nextHeader
        }
        datagrams[i].insert(offset: offset, bytes: data, result: &result)
        let d = datagrams[i]
        guard d.total >= 0, d.ranges.count == 1, d.ranges[0] == 0..<d.total, var whole = d.header else {
            return result
        }
        if d.nextHeaderOffset >= 0 && d.nextHeaderOffset < whole.count { whole[d.nextHeaderOffset] = d.nextHeader }
        whole.append(contentsOf: d.data[0..<d.total])
        datagrams.remove(at: i)
        result.outcome = .complete(whole)
        return result
    }
}

extension FragmentReassembler.Datagram {
    /// Copies the bytes of `[offset, offset + bytes.count)` not yet held; compares the rest.
    mutating func insert(offset: Int, bytes: UnsafeRawBufferPointer, result: inout FragmentReassembler.AddResult) {
        let end = offset + bytes.count
        // Bytes past what is held are held by no range: appended as they are (a gap before them
        // as zeros), whole blocks at a time.
        let held = data.count
        if held < end {
            if held < offset { data.append(contentsOf: repeatElement(0, count: offset - held)) }
            data.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[(max(held, offset) - offset)...]))
        }
        var cursor = offset
        var overlapped = false
        var differs = false
        let heldRanges = ranges
        data.withUnsafeMutableBytes { data in
            for r in heldRanges where r.upperBound > offset && r.lowerBound < end {
                let lo = max(r.lowerBound, offset), hi = min(r.upperBound, end)
                overlapped = true
                if !differs, memcmp(data.baseAddress! + lo, bytes.baseAddress! + (lo - offset), hi - lo) != 0 { differs = true }
                if cursor < lo {
                    (data.baseAddress! + cursor).copyMemory(from: bytes.baseAddress! + (cursor - offset), byteCount: lo - cursor)
                }
                cursor = max(cursor, hi)
            }
            if cursor < min(end, held) {
                (data.baseAddress! + cursor).copyMemory(from: bytes.baseAddress! + (cursor - offset), byteCount: min(end, held) - cursor)
            }
        }
        if overlapped { result.overlaps += 1 }
        if differs { result.inconsistencies += 1 }
        // Insert and merge.
        var merged: [Range<Int>] = []
        merged.reserveCapacity(ranges.count + 1)
        var new = offset..<end
        var placed = false
        for r in ranges {
            if r.upperBound < new.lowerBound {
                merged.append(r)
            } else if r.lowerBound > new.upperBound {
                if !placed { merged.append(new); placed = true }
                merged.append(r)
            } else {
                new = min(r.lowerBound, new.lowerBound)..<max(r.upperBound, new.upperBound)
            }
        }
        if !placed { merged.append(new) }
        ranges = merged
    }
}
