/// An immutable map from byte strings to row numbers, probed with bytes borrowed from an event
/// (no `String` is built or hashed with SipHash): open addressing with linear probing, keys
/// stored back to back in one buffer.
///
/// - Complexity: lookups O(key length) expected; building O(total key bytes).
struct ByteTable: Sendable {
    private struct Slot {
        /// The high 32 bits of the key's hash.
        var tag: UInt32
        /// Entry index + 1; 0 when empty.
        var entry: Int32
    }

    private var slots: [Slot]
    private var keyBytes: [UInt8]
    /// Entry `k`'s key is `keyBytes[keyStarts[k]..<keyStarts[k + 1]]`.
    private var keyStarts: [Int]
    private var rows: [Int32]
    private var mask: Int
    /// How many keys the table holds.
    private(set) var count = 0

    /// An empty table with room for `capacity` keys.
    init(capacity: Int) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = Array(repeating: Slot(tag: 0, entry: 0), count: size)
        keyBytes = []
        keyStarts = [0]
        rows = []
        mask = size - 1
    }

    /// Adds `key` → `row`; an existing key is given the new row (the last one wins).
    /// Returns whether the key was new.
    @discardableResult
    mutating func insert(_ key: UnsafeRawBufferPointer, row: Int32) -> Bool {
        if (count + 1) * 2 > slots.count { grow() }
        let h = KeyHash.bytes(key)
        let tag = UInt32(truncatingIfNeeded: h >> 32)
        var slot = Int(truncatingIfNeeded: h) & mask
        while slots[slot].entry != 0 {
            let e = Int(slots[slot].entry - 1)
            if slots[slot].tag == tag && keyEquals(e, key) {
                rows[e] = row
                return false
            }
            slot = (slot + 1) & mask
        }
        slots[slot] = Slot(tag: tag, entry: Int32(rows.count + 1))
        keyBytes.append(contentsOf: key)
        keyStarts.append(keyBytes.count)
        rows.append(row)
        count += 1
        return true
    }

    private mutating func grow() {
        let size = slots.count * 2
        var fresh = Array(repeating: Slot(tag: 0, entry: 0), count: size)
        let newMask = size - 1
        keyBytes.withUnsafeBytes { all in
            for e in 0..<rows.count {
                let h = KeyHash.bytes(UnsafeRawBufferPointer(rebasing: all[keyStarts[e]..<keyStarts[e + 1]]))
                var slot = Int(truncatingIfNeeded: h) & newMask
                while fresh[slot].entry != 0 { slot = (slot + 1) & newMask }
                fresh[slot] = Slot(tag: UInt32(truncatingIfNeeded: h >> 32), entry: Int32(e + 1))
            }
        }
        slots = fresh
        mask = newMask
    }

    @inline(__always)
    private func keyEquals(_ e: Int, _ key: UnsafeRawBufferPointer) -> Bool {
        let start = keyStarts[e], end = keyStarts[e + 1]
        guard end - start == key.count else { return false }
        return keyBytes.withUnsafeBytes { all in
            guard let a = all.baseAddress, let b = key.baseAddress else { return key.isEmpty }
            return memcmp(a + start, b, key.count) == 0
        }
    }

    /// The row of `key`, or nil.
    @inline(__always)
    func row(_ key: UnsafeRawBufferPointer) -> Int32? {
        let h = KeyHash.bytes(key)
        let tag = UInt32(truncatingIfNeeded: h >> 32)
        return slots.withUnsafeBufferPointer { slots in
            var slot = Int(truncatingIfNeeded: h) & mask
            while true {
                let s = slots[slot]
                if s.entry == 0 { return nil }
                if s.tag == tag && keyEquals(Int(s.entry - 1), key) { return rows[Int(s.entry - 1)] }
                slot = (slot + 1) & mask
            }
        }
    }

    /// Whether the table holds `key`.
    @inline(__always)
    func contains(_ key: UnsafeRawBufferPointer) -> Bool { row(key) != nil }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
