#if canImport(Glibc)
import Glibc
#endif

/// A read-only map from byte strings to values, looked up with bytes borrowed from a line, so no
/// `String` is built (or hashed with SipHash) just to find a dictionary entry: open addressing
/// with linear probing, keys stored back to back.
///
/// A final class so that a `static let` table is shared without copying (or retaining) its
/// arrays on every lookup.
///
/// `@unchecked Sendable`: the buffers behind its pointers are written only in `init` and only
/// read afterwards; `values` holds `Sendable` values.
final class ByteKeyedTable<Value: Sendable>: @unchecked Sendable {
    /// By slot: the entry index + 1, or 0 when empty. Allocated once in `init`, freed in
    /// `deinit`: lookups read through plain pointers (no array bounds checks or retains).
    private let slots: UnsafeMutablePointer<Int32>
    private let keyBytes: UnsafeMutablePointer<UInt8>
    /// Entry `k`'s key is `keyBytes[keyStarts[k]..<keyStarts[k + 1]]`.
    private let keyStarts: UnsafeMutablePointer<Int>
    private let values: [Value]
    private let mask: Int

    /// A table of `entries` (keys are distinct, as in a `Dictionary`).
    init(_ entries: [String: Value]) {
        var size = 16
        while size < entries.count * 4 { size *= 2 }
        var slots = [Int32](repeating: 0, count: size)
        var keyBytes: [UInt8] = []
        var keyStarts: [Int] = [0]
        var values: [Value] = []
        for (key, value) in entries.sorted(by: { $0.key < $1.key }) {
            let bytes = Array(key.utf8)
            var slot = bytes.withUnsafeBytes { ByteKeyedTable.hash($0) } & (size - 1)
            while slots[slot] != 0 { slot = (slot + 1) & (size - 1) }
            slots[slot] = Int32(values.count + 1)
            keyBytes += bytes
            keyStarts.append(keyBytes.count)
            values.append(value)
        }
        self.slots = .allocate(capacity: size)
        self.slots.initialize(from: slots, count: size)
        self.keyBytes = .allocate(capacity: max(1, keyBytes.count))
        self.keyBytes.initialize(from: keyBytes, count: keyBytes.count)
        self.keyStarts = .allocate(capacity: keyStarts.count)
        self.keyStarts.initialize(from: keyStarts, count: keyStarts.count)
        self.values = values
        self.mask = size - 1
    }

    deinit {
        slots.deallocate()
        keyBytes.deallocate()
        keyStarts.deallocate()
    }

    /// FNV-1a over the bytes.
    @inline(__always)
    private static func hash(_ bytes: UnsafeRawBufferPointer) -> Int {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        return Int(truncatingIfNeeded: h ^ (h >> 29))
    }

    /// The index in `values` of the entry whose key is exactly `key`, or nil.
    @inline(__always)
    private func index(for key: UnsafeRawBufferPointer) -> Int? {
        let n = key.count
        guard n > 0, let p = key.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return empty() }
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for k in 0..<n { h = (h ^ UInt64(p[k])) &* 0x0000_0100_0000_01B3 }
        var slot = Int(truncatingIfNeeded: h ^ (h >> 29)) & mask
        while true {
            let entry = Int(slots[slot])
            if entry == 0 { return nil }
            let start = keyStarts[entry - 1]
            if keyStarts[entry] - start == n && memcmp(keyBytes + start, p, n) == 0 { return entry - 1 }
            slot = (slot + 1) & mask
        }
    }

    /// The entry of the empty key, if any (kept off the fast path).
    @inline(never)
    private func empty() -> Int? {
        var slot = ByteKeyedTable.hash(UnsafeRawBufferPointer(start: nil, count: 0)) & mask
        while true {
            let entry = Int(slots[slot])
            if entry == 0 { return nil }
            if keyStarts[entry] == keyStarts[entry - 1] { return entry - 1 }
            slot = (slot + 1) & mask
        }
    }

    /// The value whose key is exactly `key`, or nil.
    /// - Complexity: O(key length) expected.
    func value(for key: UnsafeRawBufferPointer) -> Value? {
        guard let i = index(for: key) else { return nil }
        return values[i]
    }
}
