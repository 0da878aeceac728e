import Testing
@testable import VigilIndex

/// The writer's table of the versions it wrote lately (``RecentAlerts``).
@Suite struct RecentAlertsTests {
    @Test func findsReplacesGrowsAndEmpties() {
        var recent = RecentAlerts(capacity: 100)
        #expect(recent.find(42, id: "a") == nil)
        recent.set(42, id: "a", seq: 1, count: 1, fingerprint: 7, time: 100, rule: 3, severity: 2)
        let a = recent.find(42, id: "a")
        #expect(a?.seq == 1 && a?.count == 1 && a?.fingerprint == 7 && a?.time == 100 && a?.severity == 2)
        if case .number(let n)? = a?.rule { #expect(n == 3) } else { Issue.record("rule \(String(describing: a?.rule))") }
        // Another id with the same hash (a collision) is not that version; writing it replaces it.
        #expect(recent.find(42, id: "b") == nil)
        recent.set(42, id: "b", seq: 2, count: 5, fingerprint: 8, time: 200, rule: 1, severity: 4)
        #expect(recent.find(42, id: "a") == nil)
        #expect(recent.find(42, id: "b")?.seq == 2)
        #expect(recent.count == 1)
        // A newer version replaces the older one.
        recent.set(42, id: "b", seq: 3, count: 6, fingerprint: 9, time: 300, rule: 1, severity: 4)
        #expect(recent.find(42, id: "b")?.count == 6 && recent.count == 1)
        // Hash 0 works, and the table grows far past its capacity (a transaction larger than it).
        recent.set(0, id: "zero", seq: 4, count: 1, fingerprint: 1, time: 1, rule: 0, severity: 0)
        for i in 1...20_000 {
            let h = UInt64(i) &* 0x9E37_79B9_7F4A_7C15
            recent.set(h, id: "id-\(i)-with-a-longer-name", seq: Int64(10 + i), count: 1, fingerprint: UInt64(i), time: Int64(i), rule: i % 7, severity: i % 5)
        }
        #expect(recent.find(0, id: "zero")?.seq == 4)
        for i in stride(from: 1, through: 20_000, by: 37) {
            let h = UInt64(i) &* 0x9E37_79B9_7F4A_7C15
            #expect(recent.find(h, id: "id-\(i)-with-a-longer-name")?.seq == Int64(10 + i))
        }
        #expect(recent.count >= 20_001)
        recent.removeAll()
        #expect(recent.count == 0 && recent.find(0, id: "zero") == nil && recent.find(42, id: "b") == nil)
        recent.set(42, id: "a", seq: 9, count: 1, fingerprint: 7, time: 100, rule: 3, severity: 2)
        #expect(recent.find(42, id: "a")?.seq == 9)
    }
}

/// The table takes ids as UTF-8 bytes (the writer's rows hold them in their batch's arena).
extension RecentAlerts {
    func find(_ hash: UInt64, id: String) -> KnownAlert? {
        var id = id
        return id.withUTF8 { find(hash, id: UnsafeRawBufferPointer($0)) }
    }

    mutating func set(_ hash: UInt64, id: String, seq: Int64, count: Int64, fingerprint: UInt64, time: Int64, rule: Int, severity: Int) {
        var id = id
        id.withUTF8 { set(hash, id: UnsafeRawBufferPointer($0), seq: seq, count: count, fingerprint: fingerprint, time: time, rule: rule, severity: severity) }
    }
}
