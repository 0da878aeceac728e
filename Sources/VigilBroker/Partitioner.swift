/// Kafka's default partitioner: `murmur2(key) & 0x7fffffff % partitions`, so a key lands on the
/// same partition number in the embedded log and in Kafka (librdkafka's `murmur2_random`).
public enum Partitioner {
    /// Kafka's murmur2 (seed 0x9747b28c) of `key`.
    public static func murmur2(_ key: UnsafeRawBufferPointer) -> Int32 {
        let m: UInt32 = 0x5bd1_e995
        let length = key.count
        var h: UInt32 = 0x9747_b28c ^ UInt32(truncatingIfNeeded: length)
        var i = 0
        while i + 4 <= length {
            var k = UInt32(littleEndian: key.loadUnaligned(fromByteOffset: i, as: UInt32.self))
            k &*= m
            k ^= k >> 24
            k &*= m
            h &*= m
            h ^= k
            i += 4
        }
        switch length & 3 {
        case 3:
            h ^= UInt32(key[i + 2]) << 16
            h ^= UInt32(key[i + 1]) << 8
            h ^= UInt32(key[i])
            h &*= m
        case 2:
            h ^= UInt32(key[i + 1]) << 8
            h ^= UInt32(key[i])
            h &*= m
        case 1:
            h ^= UInt32(key[i])
            h &*= m
        default: break
        }
        h ^= h >> 13
        h &*= m
        h ^= h >> 15
        return Int32(bitPattern: h)
    }

    /// The partition of `key` among `count` partitions.
    @inlinable
    public static func partition(for key: UnsafeRawBufferPointer, count: Int) -> Int {
        Int(UInt32(bitPattern: murmur2(key)) & 0x7fff_ffff) % count
    }

    public static func partition(for key: [UInt8], count: Int) -> Int {
        key.withUnsafeBytes { partition(for: $0, count: count) }
    }
}
