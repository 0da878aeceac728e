extension Array where Element == UInt8 {
    /// Appends `bytes` with one copy (`append(contentsOf:)` walks a raw buffer byte by byte).
    @inline(__always)
    mutating func appendRaw(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        append(contentsOf: UnsafeBufferPointer(start: base.assumingMemoryBound(to: UInt8.self), count: bytes.count))
    }

    /// Appends the bytes of `value` as they are in memory (convert it to the wanted byte order first).
    @inline(__always)
    mutating func appendInteger<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value) { appendRaw($0) }
    }
}
