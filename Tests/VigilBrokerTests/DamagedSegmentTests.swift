import Testing
import Glibc
import VigilBroker
import VigilTestSupport

/// Randomly damaged segment files never crash a reader or a writer's recovery: they read what is
/// intact and then report, or recover by cutting.
@Suite struct DamagedSegmentTests {
    @Test func mutatedSegmentsNeverCrash() throws {
        var rng = SplitMix64(seed: 0x5EED_0001)
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        // A valid segment to mutate.
        let pristine = dir.file("pristine")
        do {
            let log = try EmbeddedLog(dataDirectory: pristine, configuration: config())
            try log.createTopic("t", partitions: 1)
            let w = try log.openWriter(topic: "t", partition: 0)
            var batch = BatchBuilder()
            for i in 0..<300 {
                batch.append(key: i % 3 == 0 ? nil : bytes("k\(i)"), value: bytes(String(repeating: "v", count: i % 40)), timestamp: Int64(i) * 7)
                if i % 11 == 10 { try w.append(&batch) }
            }
            try w.append(&batch)
            try w.close()
        }
        let segment = pristine + "/topics/t/0/00000000000000000000.log"
        let original = try readFile(segment)
        for round in 0..<400 {
            var bytes = original
            switch round % 4 {
            case 0:  // flip random bits
                for _ in 0..<Int(rng.next() % 8 + 1) { bytes[Int(rng.next() % UInt64(bytes.count))] ^= UInt8(1 << (rng.next() % 8)) }
            case 1:  // truncate anywhere
                bytes.removeLast(Int(rng.next() % UInt64(bytes.count)))
            case 2:  // random garbage appended or spliced in
                let at = Int(rng.next() % UInt64(bytes.count))
                bytes.insert(contentsOf: (0..<Int(rng.next() % 64 + 1)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, at: at)
            default:  // pure noise
                bytes = (0..<Int(rng.next() % 4096)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            }
            try writeFile(segment, bytes)
            let (offsets, readError) = readAll(pristine)
            #expect(readError == nil || readError?.code == .corrupt, "round \(round): \(String(describing: readError))")
            #expect(offsets == Array(0..<Int64(offsets.count)), "round \(round): records out of order")
            // A writer either recovers (cutting the tail) or refuses with a clear error.
            let openError = openWriter(pristine)
            #expect(openError == nil || openError?.code == .corrupt, "round \(round): \(String(describing: openError))")
        }
    }

    func readAll(_ data: String) -> ([Int64], BrokerError?) {
        var offsets: [Int64] = []
        do {
            let reader = try EmbeddedLog(readingFrom: data).openReader(topic: "t", partition: 0)
            while try reader.read(maxRecords: 64, { offsets.append($0.offset) }) > 0 {}
            return (offsets, nil)
        } catch {
            return (offsets, error as? BrokerError ?? BrokerError(.io, "\(error)"))
        }
    }

    func openWriter(_ data: String) -> BrokerError? {
        do {
            let w = try PartitionWriter(topic: "t", partition: 0, directory: data + "/topics/t/0", configuration: config())
            try w.close()
            return nil
        } catch {
            return error
        }
    }

    func readFile(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY); defer { close(fd) }
        var st = stat(); fstat(fd, &st)
        var out = [UInt8](repeating: 0, count: Int(st.st_size))
        _ = out.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        return out
    }

    func writeFile(_ path: String, _ bytes: [UInt8]) throws {
        let fd = open(path, O_WRONLY | O_TRUNC | O_CREAT, 0o644); defer { close(fd) }
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }
}
