import Testing
import VigilBroker

@Suite struct PartitionerTests {
    /// Kafka's own vectors (clients/src/test/.../UtilsTest.java).
    @Test(arguments: [
        ("21", Int32(-973_932_308)),
        ("foobar", Int32(-790_332_482)),
        ("a-little-bit-long-string", Int32(-985_981_536)),
        ("a-little-bit-longer-string", Int32(-1_486_304_829)),
        ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", Int32(-58_897_971)),
        ("abc", Int32(479_470_107)),
    ])
    func murmur2MatchesKafka(key: String, expected: Int32) {
        let k = Array(key.utf8)
        #expect(k.withUnsafeBytes { Partitioner.murmur2($0) } == expected)
    }

    @Test func partitionIsStableAndInRange() {
        for i in 0..<1000 {
            let k = Array("key-\(i)".utf8)
            let p = Partitioner.partition(for: k, count: 7)
            #expect((0..<7).contains(p))
            #expect(p == Partitioner.partition(for: k, count: 7))
        }
    }
}
