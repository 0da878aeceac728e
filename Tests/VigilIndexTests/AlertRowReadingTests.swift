import Foundation
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
        // Repeated rule texts are made once.
        #expect(cache.shared.count < 100)
    }

    @Test func tokensAreTheDistinctWordsInOrder() {
        let (item, tokens) = AlertRow.textAndTokens(key: "10.0.0.1", user: "Alice", text: "alice ALICE bob 10.0.0.1 bob é")
        let words = tokens.map { t in String(decoding: item[Int(t >> 16 & 0xFFFF)..<Int(t >> 16 & 0xFFFF) + Int(t & 0xFFFF)], as: UTF8.self) }
        #expect(words == ["10", "0", "1", "alice", "bob", "é"])
        #expect(item[0] == 1)
        #expect(Array(item.dropFirst()) == Array("10.0.0.1\u{1F}alice\u{1F}alice alice bob 10.0.0.1 bob é".utf8))
    }
}
