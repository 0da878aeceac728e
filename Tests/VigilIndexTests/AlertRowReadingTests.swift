import Foundation
import GRDB
import Testing
import VigilCore
import VigilTestSupport
@testable import VigilIndex

/// The indexer's fast path for the block layout (``AlertRecordReader/Cache``, shared values of
/// repeated fields, text items made from the sample's bytes into an ``AlertRowArena``) must give
/// the rows the plain decoding gives.
@Suite struct AlertRowReadingTests {
    /// A random alert: repeated rule texts, samples that are JSON, plain text, non-ASCII, not a
    /// string or absent, and now and then a text too long for tokens.
    static func randomAlert(_ r: inout SplitMix64, _ i: Int) -> Event {
        let rule = Int(r.next() % 7)
        let user: String? = r.next() % 5 == 0 ? nil : ["alice", "Bob", "ÇA", "o'reilly", "x y"][Int(r.next() % 5)]
        let sample: String?
        switch r.next() % 6 {
        case 0: sample = #"{"message":"Failed password for \#(user ?? "-") from 10.0.0.\#(i % 250)","@timestamp":"2026-03-14T09:20:00.5Z","n":3}"#
        case 1: sample = "plain TEXT sample \(i) Ünïcödé"
        case 2: sample = #"["A","b",{"k":"Vé"},"unterminated"#
        case 3: sample = String(repeating: "Long\u{1F}Words-\(i) ", count: 1 + Int(r.next() % 8000))
        case 4: sample = ""
        default: sample = nil
        }
        var e = makeAlert(id: "id-\(i)-\(r.next() % 1000)", rule: "rule-\(rule)", name: rule == 3 ? "Ünicode \(rule)" : nil,
                          time: base + Int64(i) * 1_000_000_000, severity: rule % 5, count: Int64(1 + r.next() % 3),
                          source: r.next() % 4 == 0 ? nil : "10.\(r.next() % 256).0.\(r.next() % 256)",
                          destination: r.next() % 3 == 0 ? "2001:db8::\(r.next() % 9999)" : nil, user: user,
                          key: r.next() % 2 == 0 ? "K\(i % 10)" : nil, sample: sample)
        if sample == nil { e["vigil.alert.sample"] = r.next() % 2 == 0 ? nil : .int(Int64(i)) }
        if r.next() % 9 == 0 { e["tags"] = .array([.string("t\(rule)"), .int(4)]) }
        // A user name or a key that is not a string: a user name is then its text, a key absent.
        switch r.next() % 16 {
        case 0: e["user.name"] = .int(Int64(i))
        case 1: e["user.name"] = .ip(IPAddress(v4: UInt32(truncatingIfNeeded: r.next())))
        case 2: e["vigil.alert.key"] = .int(7)
        default: break
        }
        return e
    }

    @Test func theArenaPathReadsRowsAsTheEventPathDoes() throws {
        var r = SplitMix64(seed: 7)
        let cache = AlertRecordReader.Cache()
        let arena = AlertRowArena()
        var plain: [AlertRow] = []
        var fast: [AlertRow] = []
        for i in 0..<3000 {
            let encoded = EventBinaryCodec.encode(Self.randomAlert(&r, i))
            try encoded.withUnsafeBytes { b in
                plain.append(try AlertRow(encoded: b, fallbackTime: 5))
                fast.append(try AlertRow(encoded: b, fallbackTime: 5, cache: cache, arena: arena))
            }
        }
        var withTokens = 0, longTexts = 0
        arena.bytes.withUnsafeBytes { bytes in
            for (p, f) in zip(plain, fast) {
                // The arena row's id, user name and key are bytes in the arena.
                #expect(f.id.isEmpty && f.userName == nil && f.key == nil)
                let f = f.resolved(in: bytes)
                #expect(f.id == p.id && f.ruleID == p.ruleID && f.ruleName == p.ruleName && f.ruleDescription == p.ruleDescription)
                #expect(f.tags == p.tags && f.severity == p.severity && f.risk == p.risk && f.count == p.count && f.time == p.time)
                #expect(f.sourceIP == p.sourceIP && f.destinationIP == p.destinationIP && f.userName == p.userName && f.key == p.key)
                #expect(f.idHash == p.idHash && f.fingerprint == p.fingerprint)
                guard let span = f.span else {
                    Issue.record("row \(f.id) has no arena span")
                    continue
                }
                #expect(Array(bytes[span.start..<span.itemStart]) == p.encoded)
                #expect(Array(bytes[span.itemStart..<span.tokensStart]) == p.textItem, "text item of \(p.id)")
                var tokens: [UInt64] = []
                for k in 0..<Int(span.tokenCount) {
                    tokens.append(UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: span.tokensStart + 8 * k, as: UInt64.self)))
                }
                #expect(tokens == p.tokens, "tokens of \(p.id)")
                if !tokens.isEmpty { withTokens += 1 }
                if p.textItem.count > 0xFFFF { longTexts += 1 }
            }
        }
        // The corpus reaches both sides of the token limit.
        #expect(withTokens > 2000 && longTexts > 0)
        // Repeated rule texts are made once, and rows of one rule share one rule object.
        #expect(cache.entries.count < 100 && cache.rules.count < 100)
        #expect(Set(fast.map { ObjectIdentifier($0.rule) }).count == cache.rules.count)
    }

    /// More distinct repeated values than the cache holds: it is emptied now and then, in the
    /// middle of a record too, and the rows stay those of the plain decoding.
    @Test func rowsStayRightWhenTheCacheIsEmptiedWhileReading() throws {
        let cache = AlertRecordReader.Cache()
        let arena = AlertRowArena()
        var emptied = 0, last = 0
        for i in 0..<(3 * AlertRecordReader.Cache.sharedLimit) {
            var e = makeAlert(id: "id-\(i)", rule: "rule-\(i % 5000)", name: "Name \(i % 4999)", time: base + Int64(i), severity: i % 5,
                              count: 1, source: nil, destination: nil, user: nil, key: nil, sample: nil)
            e["rule.description"] = .string("Description \(i % 4998)")
            if i % 3 == 0 { e["tags"] = .array([.string("t\(i % 4997)")]) }
            if i % 2 == 0 { e["event.severity"] = nil }
            e["vigil.alert.severity"] = .string(AlertSeverity.names[(i / 7) % 5])
            let encoded = EventBinaryCodec.encode(e)
            try encoded.withUnsafeBytes { b in
                let p = try AlertRow(encoded: b, fallbackTime: 5)
                let row = try AlertRow(encoded: b, fallbackTime: 5, cache: cache, arena: arena)
                let f = arena.bytes.withUnsafeBytes { row.resolved(in: $0) }
                #expect(f.id == p.id && f.ruleID == p.ruleID && f.ruleName == p.ruleName && f.ruleDescription == p.ruleDescription)
                #expect(f.tags == p.tags && f.severity == p.severity, "row \(i)")
            }
            if cache.entries.count < last { emptied += 1 }
            last = cache.entries.count
        }
        #expect(emptied >= 2)
    }

    /// The reader checks a record as the decoder does: damaged records (fields out of order or
    /// repeated, unknown tags, bad lengths, bad UTF-8) are rejected by both or by neither, known
    /// fields compared by their ranks and custom ones by their bytes.
    @Test func readingAcceptsExactlyWhatDecodingAccepts() {
        var r = SplitMix64(seed: 11)
        let cache = AlertRecordReader.Cache()
        var accepted = 0, rejected = 0
        for i in 0..<6000 {
            var e = Self.randomAlert(&r, i)
            if e["vigil.alert.sample"]?.stringValue.map({ $0.utf8.count > 2000 }) == true { e["vigil.alert.sample"] = .string("short") }
            if i % 2 == 0 { e["zz.custom"] = .string("c\(i)"); e["a.custom"] = .int(Int64(i)) }
            var bytes = EventBinaryCodec.encode(e)
            // Mostly in the first bytes, where the tags of the known fields lie close together.
            for _ in 0..<(1 + Int(r.next() % 3)) {
                let at = Int(r.next() % UInt64(r.next() % 2 == 0 ? min(48, bytes.count) : bytes.count))
                bytes[at] = r.next() % 2 == 0 ? UInt8(truncatingIfNeeded: r.next()) : bytes[at] &+ (r.next() % 2 == 0 ? 1 : 0xFF)
            }
            let decodes = (try? EventBinaryCodec.decode(bytes)) != nil
            bytes.withUnsafeBytes { b in
                #expect((AlertRecordReader.read(b) != nil) == decodes, "record \(i): decodes \(decodes)")
                #expect(AlertRecordReader.read(b, into: cache) == decodes, "record \(i): decodes \(decodes)")
            }
            if decodes { accepted += 1 } else { rejected += 1 }
        }
        #expect(accepted > 500 && rejected > 500, "accepted \(accepted), rejected \(rejected)")
    }

    /// The repeated fields (rule texts, tags, the alert's severity name) are checked as UTF-8 when
    /// their bytes are new to the cache, also after a valid version of the same field is cached.
    @Test func badUTF8InARepeatedFieldIsRejected() throws {
        let cache = AlertRecordReader.Cache()
        for field in ["rule.id", "rule.name", "rule.description", "tags", "vigil.alert.severity"] {
            var e = makeAlert(id: "u-\(field)", rule: "r-utf8", time: base)
            e[field] = field == "tags" ? .array([.string("tag"), .string("x\u{E9}y")]) : .string("x\u{E9}y \(field)")
            let good = EventBinaryCodec.encode(e)
            // é (C3 A9) becomes C3 28: a lead byte without its continuation.
            var bad = good
            let at = try #require((0..<(bad.count - 1)).first { bad[$0] == 0xC3 && bad[$0 + 1] == 0xA9 }, "\(field)")
            bad[at + 1] = 0x28
            #expect(throws: (any Error).self) { try EventBinaryCodec.decode(bad) }
            for bytes in [good, bad, good, bad] {
                let ok = bytes.withUnsafeBytes { AlertRecordReader.read($0, into: cache) }
                #expect(ok == (bytes == good), "\(field): \(bytes == good ? "valid" : "bad UTF-8") read \(ok)")
            }
        }
    }

    /// More rule texts than the cache keeps (from few repeated values: 80 ids × 80 names): the
    /// rule texts are forgotten now and then, and rows keep the right ones.
    @Test func rowsStayRightWhenTheRuleTextsAreForgotten() throws {
        let cache = AlertRecordReader.Cache()
        let arena = AlertRowArena()
        var forgotten = 0, last = 0
        for i in 0..<(2 * 6400) {
            let e = makeAlert(id: "id-\(i)", rule: "rule-\(i % 80)", name: "Name \((i / 80) % 80)", time: base + Int64(i), severity: i % 5,
                              count: 1, source: nil, destination: nil, user: nil, key: nil, sample: nil)
            let encoded = EventBinaryCodec.encode(e)
            try encoded.withUnsafeBytes { b in
                let f = try AlertRow(encoded: b, fallbackTime: 5, cache: cache, arena: arena)
                #expect(f.ruleID == "rule-\(i % 80)" && f.ruleName == "Name \((i / 80) % 80)", "row \(i)")
            }
            if cache.rules.count < last { forgotten += 1 }
            last = cache.rules.count
        }
        #expect(forgotten >= 2 && cache.entries.count < AlertRecordReader.Cache.sharedLimit)
    }

    /// ``AlertRow/searchText(_:)`` as first written: a byte at a time, a backslash skipping the
    /// byte after it.
    static func referenceSearchText(_ b: [UInt8]) -> [UInt8] {
        guard b.first == UInt8(ascii: "{") || b.first == UInt8(ascii: "[") else { return b }
        var out: [UInt8] = []
        var i = 0
        while i < b.count {
            guard b[i] == UInt8(ascii: "\"") else { i += 1; continue }
            let start = i + 1
            var j = start
            while j < b.count && b[j] != UInt8(ascii: "\"") { j += b[j] == UInt8(ascii: "\\") ? 2 : 1 }
            let end = min(j, b.count)
            var k = end + 1
            while k < b.count && (b[k] == 0x20 || b[k] == 0x0A || b[k] == 0x0D || b[k] == 0x09) { k += 1 }
            let isKey = k < b.count && b[k] == UInt8(ascii: ":")
            let n = end - start
            let isTime = n >= 20 && b[start + 4] == UInt8(ascii: "-") && b[start + 10] == UInt8(ascii: "T")
            if !isKey && !isTime && n > 0 {
                if !out.isEmpty { out.append(0x20) }
                out.append(contentsOf: b[start..<end])
            }
            i = end + 1
        }
        return out
    }

    @Test func searchTextMatchesTheByteAtATimeRule() {
        var r = SplitMix64(seed: 3)
        let alphabet = Array(#"{}[]":,\ "a1T-Zé"#.utf8) + [0x0A, 0x09, 0x5C, 0x5C, 0x22, 0x22]
        var nonEmpty = 0
        for _ in 0..<20_000 {
            var b: [UInt8] = [r.next() % 3 == 0 ? UInt8(ascii: "[") : UInt8(ascii: "{")]
            for _ in 0..<Int(r.next() % 60) { b.append(alphabet[Int(r.next() % UInt64(alphabet.count))]) }
            if r.next() % 4 == 0 { b += Array(#""2026-03-14T09:20:00.5Z","k" : "v\\""#.utf8) }
            var out: [UInt8] = [9]
            b.withUnsafeBufferPointer { AlertRow.appendSearchText($0, into: &out) }
            let expected = Self.referenceSearchText(b)
            #expect(Array(out.dropFirst()) == expected, "\(String(decoding: b, as: UTF8.self))")
            if !expected.isEmpty { nonEmpty += 1 }
        }
        #expect(nonEmpty > 5000)
    }

    @Test func tokensAreTheDistinctWordsInOrder() {
        let (item, tokens) = AlertRow.textAndTokens(key: "10.0.0.1", user: "Alice", text: "alice ALICE bob 10.0.0.1 bob é")
        let words = tokens.map { t in String(decoding: item[Int(t >> 16 & 0xFFFF)..<Int(t >> 16 & 0xFFFF) + Int(t & 0xFFFF)], as: UTF8.self) }
        #expect(words == ["10", "0", "1", "alice", "bob", "é"])
        #expect(item[0] == 1)
        #expect(Array(item.dropFirst()) == Array("10.0.0.1\u{1F}alice\u{1F}alice alice bob 10.0.0.1 bob é".utf8))
    }
}

/// The block layout's bodies: parts stored as LZ4 frames when smaller, parts written before
/// compression or as zstd frames (before LZ4) still read, indexes written with 64 alerts per
/// part still read, and a damaged frame an error rather than a crash.
@Suite struct BlockBodiesTests {
    static func events(_ n: Int) -> [Event] {
        var r = SplitMix64(seed: 11)
        return (0..<n).map { AlertRowReadingTests.randomAlert(&r, $0) }
    }

    static func jsonByID(_ index: AlertIndex) throws -> [String: String] {
        var q = AlertQuery(filter: AlertFilter())
        q.limit = 10_000
        return Dictionary(uniqueKeysWithValues: try index.alerts(q).map { ($0.id, $0.json) })
    }

    @Test func partsAreCompressedAndOldPartsStillRead() throws {
        let dir = try TemporaryDirectory()
        let index = try openIndex(dir, layout: .blocks)
        defer { index.close() }
        let events = Self.events(300)
        try index.write(try rows(events))
        let parts = try index.pool.read { db in try Row.fetchAll(db, sql: "SELECT part, bodies FROM alert_block_bodies ORDER BY part") }
        #expect(index.bodyPart == AlertBlockLayout.bodyPart)
        #expect(parts.count == (300 + AlertBlockLayout.bodyPart - 1) / AlertBlockLayout.bodyPart)
        var lz4 = 0, storedBytes = 0, plainBytes = 0
        for p in parts {
            let stored: Data = p["bodies"]
            storedBytes += stored.count
            if Array(stored.prefix(4)) == [0x04, 0x22, 0x4D, 0x18] { lz4 += 1 }
            plainBytes += try BodyCodec.plain(stored).count
        }
        #expect(lz4 == parts.count)
        #expect(storedBytes * 2 < plainBytes, "compressed \(plainBytes) bytes of bodies to \(storedBytes)")
        let before = try Self.jsonByID(index)
        #expect(before.count == Set(events.compactMap { $0["vigil.alert.id"]?.stringValue }).count)
        // Parts as an index written before compression holds them (plain), and as one written
        // before LZ4 (zstd frames): read the same.
        try index.pool.write { db in
            let first: Data = parts[0]["bodies"], second: Data = parts[1]["bodies"]
            try db.execute(sql: "UPDATE alert_block_bodies SET bodies = ? WHERE part = ?", arguments: [Data(try BodyCodec.plain(first)), parts[0]["part"] as Int64])
            let zstd = BodyCodec.zstdFrame(try BodyCodec.plain(second))
            #expect(Array(zstd.prefix(4)) == [0x28, 0xB5, 0x2F, 0xFD])
            try db.execute(sql: "UPDATE alert_block_bodies SET bodies = ? WHERE part = ?", arguments: [Data(zstd), parts[1]["part"] as Int64])
        }
        #expect(try Self.jsonByID(index) == before)
        #expect(try index.integrityProblems().isEmpty)
    }

    @Test func anIndexWrittenWithSmallerPartsStillReads() throws {
        let dir = try TemporaryDirectory()
        var index = try openIndex(dir, layout: .blocks)
        // As written before the part size was recorded: 64 alerts per part, and no record.
        try index.pool.write { db in try db.execute(sql: "UPDATE index_meta SET value = 64 WHERE key = 'body_part'") }
        index.close()
        index = try openIndex(dir, layout: .blocks)
        #expect(index.bodyPart == 64)
        let events = Self.events(300)
        try index.write(try rows(events))
        let before = try Self.jsonByID(index)
        #expect(before.count == Set(events.compactMap { $0["vigil.alert.id"]?.stringValue }).count)
        #expect(try index.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM alert_block_bodies") } == 5)
        try index.pool.write { db in try db.execute(sql: "DELETE FROM index_meta WHERE key = 'body_part'") }
        index.close()
        index = try openIndex(dir, layout: .blocks)
        defer { index.close() }
        #expect(index.bodyPart == AlertBlockLayout.legacyBodyPart)
        #expect(try Self.jsonByID(index) == before)
        // More alerts go on in the same part size, and retention's rewrite keeps it.
        try index.write(try rows(Self.events(400).suffix(100)))
        #expect(try index.pool.read { db in try Int.fetchOne(db, sql: "SELECT value FROM index_meta WHERE key = 'body_part'") } == 64)
        #expect(try index.integrityProblems().isEmpty)
    }

    @Test func aDamagedFrameIsAnError() throws {
        let dir = try TemporaryDirectory()
        let index = try openIndex(dir, layout: .blocks)
        defer { index.close() }
        try index.write(try rows(Self.events(100)))
        try index.pool.write { db in
            let first = try Int64.fetchOne(db, sql: "SELECT min(part) FROM alert_block_bodies")!
            var stored = try Data.fetchOne(db, sql: "SELECT bodies FROM alert_block_bodies WHERE part = ?", arguments: [first])!
            stored.replaceSubrange(8..<min(stored.count, 60), with: Data(repeating: 0x5A, count: min(stored.count, 60) - 8))
            try db.execute(sql: "UPDATE alert_block_bodies SET bodies = ? WHERE part = ?", arguments: [stored, first])
        }
        #expect(throws: AlertIndexError.self) { _ = try Self.jsonByID(index) }
        for bad in [Data([0x28, 0xB5, 0x2F, 0xFD]), Data([0x28, 0xB5, 0x2F, 0xFD, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]),
                    Data([0x04, 0x22, 0x4D, 0x18]), Data([0x04, 0x22, 0x4D, 0x18, 0x68, 0x40, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00])] {
            #expect(throws: AlertIndexError.self) { _ = try BodyCodec.plain(bad) }
        }
    }
}

extension AlertRowReadingTests {
    /// A custom field's name (a writer may send a known name under the custom tag) is found
    /// among the wanted ones through one bucket: each wanted name gives its slot, and names of
    /// the same length and first or last bytes, every other schema name and custom names give 0.
    @Test func customNamesFindTheirWantedSlot() {
        let names = AlertRecordReader.names
        #expect(names.wantedByBucket != nil, "two wanted names share a bucket: every name is tried")
        func slot(_ s: String) -> Int { Array(s.utf8).withUnsafeBytes { AlertRecordReader.wantedSlot($0, names) } }
        for (i, w) in AlertRecordReader.wanted.enumerated() {
            #expect(slot(w) == i + 1, "\(w)")
            var near = Array(w.utf8)
            for at in [0, near.count / 2, near.count - 1] {
                near[at] ^= 0x01
                #expect(slot(String(decoding: near, as: UTF8.self)) == 0, "\(w) changed at \(at)")
                near[at] ^= 0x01
            }
            #expect(slot(w + "x") == 0 && slot(String(w.dropLast())) == 0)
        }
        for name in Schema.namesByID where !name.isEmpty && !AlertRecordReader.wanted.contains(name) {
            #expect(slot(name) == 0, "\(name)")
        }
        for custom in ["vigil.alert.idx", "vigil.alert.ix", "zz.custom", "a", "", "vigil.alert.samplE"] {
            #expect(slot(custom) == 0, "\(custom)")
        }
    }
}
