extension Event {
    /// Sets fields of one event through its storage, found and made unique once (``writer()``)
    /// instead of on every setter: for parsers that set a dozen or more fields per line.
    ///
    /// Every method has the effect of the ``Event`` setter of the same name.
    ///
    /// A writer stays valid while the event it came from keeps its storage: the event may be
    /// changed through its own setters meanwhile (they find the storage unique and keep it), but
    /// it must not be copied, cleared with `removeAll(keepingCapacity: false)`, reassigned or
    /// destroyed while the writer is used. Parsers make one per line from the event they fill
    /// and drop it before returning.
    @usableFromInline
    package struct Writer {
        @usableFromInline
        let buffers: UnsafeMutablePointer<EventBuffers>

        @inlinable @inline(__always)
        init(buffers: UnsafeMutablePointer<EventBuffers>) {
            self.buffers = buffers
        }

        /// ``Event/setString(_:validUTF8:)``: `bytes` must be well-formed UTF-8.
        @_transparent @usableFromInline
        package func setString(_ key: Key, validUTF8 bytes: UnsafeRawBufferPointer) {
            let range = buffers.pointee.appendBytes(raw: bytes)
            Event.store(EventBuffers.Payload(kind: .string, flag: 0, a: range, b: 0), key, buffers)
        }

        /// ``Event/setString(_:_:validUTF8:)``: both keys set to `bytes` (well-formed UTF-8),
        /// stored once.
        @_transparent @usableFromInline
        package func setString(_ key: Key, _ other: Key, validUTF8 bytes: UnsafeRawBufferPointer) {
            let range = buffers.pointee.appendBytes(raw: bytes)
            Event.store(EventBuffers.Payload(kind: .string, flag: 0, a: range, b: 0), key, buffers)
            Event.store(EventBuffers.Payload(kind: .string, flag: 0, a: range, b: 0), other, buffers)
        }

        /// ``Event/setString(_:utf8:)``: ill-formed sequences in `bytes` become U+FFFD.
        package func setString(_ key: Key, utf8 bytes: UnsafeRawBufferPointer) {
            if EventBuffers.isASCII(bytes) || EventBuffers.isValidUTF8(bytes) {
                setString(key, validUTF8: bytes)
                return
            }
            var repaired = String(decoding: bytes, as: UTF8.self)
            repaired.withUTF8 { setString(key, validUTF8: UnsafeRawBufferPointer($0)) }
        }

        /// ``Event/setString(_:_:)``: the text of a string literal.
        @inlinable @inline(__always)
        public func setString(_ key: Key, _ value: StaticString) {
            value.withUTF8Buffer { setString(key, validUTF8: UnsafeRawBufferPointer($0)) }
        }

        /// ``Event/setInt(_:_:)``.
        @_transparent @usableFromInline
        package func setInt(_ key: Key, _ value: Int64) {
            Event.store(EventBuffers.Payload(kind: .int, flag: 0, a: UInt64(bitPattern: value), b: 0), key, buffers)
        }

        /// ``Event/setBool(_:_:)``.
        @_transparent @usableFromInline
        package func setBool(_ key: Key, _ value: Bool) {
            Event.store(EventBuffers.Payload(kind: .bool, flag: value ? 1 : 0, a: 0, b: 0), key, buffers)
        }

        /// ``Event/setTimestamp(_:_:)``.
        @_transparent @usableFromInline
        package func setTimestamp(_ key: Key, _ value: Timestamp) {
            Event.store(EventBuffers.Payload(kind: .timestamp, flag: 0, a: UInt64(bitPattern: value.nanoseconds), b: 0), key, buffers)
        }

        /// ``Event/setIP(_:_:)``.
        @_transparent @usableFromInline
        package func setIP(_ key: Key, _ value: IPAddress) {
            Event.store(EventBuffers.Payload(kind: .ip, flag: value.family.rawValue, a: value.high, b: value.low), key, buffers)
        }

        /// ``Event/set(_:)``.
        package func set(_ preset: Preset) {
            preset.store(into: buffers)
        }

        /// ``Event/set(_:)`` of a ``Event/PresetGroup``: its presets in order.
        package func set(_ group: PresetGroup) {
            group.store(into: buffers)
        }

        /// ``Event/set(_:_:_:_:)``: the presets in order.
        package func set(_ first: Preset, _ second: Preset, _ third: Preset, _ fourth: Preset? = nil) {
            first.store(into: buffers)
            second.store(into: buffers)
            third.store(into: buffers)
            fourth?.store(into: buffers)
        }
    }

    /// A writer for this event's fields (see ``Writer``), its storage allocated or made unique
    /// now.
    @inlinable @inline(__always)
    package mutating func writer() -> Writer {
        Writer(buffers: unique().buffers)
    }

    /// Stores `payload` under `key` (a known key by rank, a custom one by name).
    @_transparent @usableFromInline
    static func store(_ payload: EventBuffers.Payload, _ key: Key, _ s: UnsafeMutablePointer<EventBuffers>) {
        if key.order & 1 == 0 {
            s.pointee.assignKnown(id: key.schemaID, rank: key.rank, payload)
        } else {
            Event.storeCustom(payload, key, s)
        }
    }
}
