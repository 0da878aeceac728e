import Testing
import VigilDecode
import VigilTestSupport

@Suite struct TCPReassemblerTests {
    /// Runs `segments` (offset into `stream`, length) through a reassembler starting at `isn`.
    private func run(_ stream: [UInt8], isn: UInt32, segments: [(Int, Int)], limit: Int = 65_536,
                     syn: Bool = true) -> (out: [UInt8], r: TCPReassembler) {
        var r = TCPReassembler(limit: limit)
        var out: [UInt8] = []
        if syn { r.segment(seq: isn, syn: true, fin: false, payload: UnsafeRawBufferPointer(start: nil, count: 0)) { out += $0 } }
        for (offset, length) in segments {
            stream.withUnsafeBytes { b in
                let slice = UnsafeRawBufferPointer(rebasing: b[offset..<(offset + length)])
                r.segment(seq: isn &+ 1 &+ UInt32(offset), syn: false, fin: false, payload: slice) { out += $0 }
            }
        }
        return (out, r)
    }

    @Test func inOrderReorderedDuplicatedAndOverlappingSegmentsGiveTheStreamOnce() {
        var g = SplitMix64(seed: 11)
        for round in 0..<300 {
            let n = 1 + Int(g.next() % 3000)
            let stream = (0..<n).map { _ in UInt8(truncatingIfNeeded: g.next()) }
            // Cut into segments, then add overlapping retransmissions, then shuffle.
            var segments: [(Int, Int)] = []
            var at = 0
            while at < n {
                let len = min(n - at, 1 + Int(g.next() % 600))
                segments.append((at, len))
                at += len
            }
            for _ in 0..<Int(g.next() % 5) {
                let a = Int(g.next() % UInt64(n)), len = min(n - a, 1 + Int(g.next() % 800))
                segments.append((a, len))
            }
            segments.shuffle(using: &g)
            // Wraparound: start near 2^32 half the time.
            let isn: UInt32 = round % 2 == 0 ? UInt32.max - UInt32(g.next() % 2000) : UInt32(truncatingIfNeeded: g.next())
            let (out, r) = run(stream, isn: isn, segments: segments)
            #expect(out == stream, "round \(round)")
            #expect(r.gaps == 0 && r.heldByteCount == 0)
            #expect(r.delivered == Int64(n))
        }
    }

    @Test func aHoleBeyondTheLimitIsSkippedAndReported() {
        let stream = [UInt8](repeating: 7, count: 5000)
        // The first 1000 bytes never arrive.
        let segments = stride(from: 1000, to: 5000, by: 500).map { ($0, 500) }
        let (out, r) = run(stream, isn: 100, segments: segments, limit: 1200)
        #expect(r.gaps == 1)
        #expect(r.skipped == 1000)
        #expect(out.count == 4000)
    }

    @Test func pickedUpMidStreamStartsAtTheFirstByteSeen() {
        let stream = Array("GET / HTTP/1.1\r\n\r\n".utf8)
        let (out, _) = run(stream, isn: 5, segments: [(4, stream.count - 4), (0, 4)], syn: false)
        // Without a SYN the first segment seen sets the base; earlier bytes are old news.
        #expect(out == Array(stream[4...]))
    }

    @Test func finMarksTheEnd() {
        var r = TCPReassembler()
        var out: [UInt8] = []
        let data: [UInt8] = [1, 2, 3]
        r.segment(seq: 0, syn: true, fin: false, payload: UnsafeRawBufferPointer(start: nil, count: 0)) { out += $0 }
        data.withUnsafeBytes { b in r.segment(seq: 1, syn: false, fin: true, payload: b) { out += $0 } }
        #expect(r.finished)
        #expect(out == data)
    }
}
