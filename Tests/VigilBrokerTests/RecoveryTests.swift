import Testing
import Glibc
import VigilBroker
import VigilTestSupport

/// Damage on disk: torn tails, flipped bytes, full disks, unusable data directories.
@Suite struct RecoveryTests {
    func fill(_ log: EmbeddedLog, records: Int, perBatch: Int = 10) throws -> PartitionWriter {
        try log.createTopic("t", partitions: 1)
        let writer = try log.openWriter(topic: "t", partition: 0)
        var batch = BatchBuilder()
        for i in 0..<records {
            batch.append(key: bytes("k"), value: bytes("record-\(i)"), timestamp: Int64(i))
            if (i + 1) % perBatch == 0 { try writer.append(&batch) }
        }
        if !batch.isEmpty { try writer.append(&batch) }
        return writer
    }

    func segmentPath(_ log: EmbeddedLog, base: Int = 0) -> String {
        let name = String(repeating: "0", count: 20 - String(base).count) + String(base)
        return "\(log.partitionDirectory(topic: "t", partition: 0))/\(name).log"
    }

    func modify(_ path: String, _ body: (Int32, Int) -> Void) {
        let fd = open(path, O_RDWR)
        var st = stat()
        fstat(fd, &st)
        body(fd, Int(st.st_size))
        close(fd)
    }

    @Test(arguments: [1, 5, 39, 41, 77])
    func tornTailIsCutAndReported(cut: Int) throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let log = try EmbeddedLog(dataDirectory: dir.path, configuration: config())
        let writer = try fill(log, records: 100)
        try writer.close()
        modify(segmentPath(log)) { fd, size in _ = ftruncate(fd, off_t(size - cut)) }
        let reopened = try log.openWriter(topic: "t", partition: 0)
        let report = try #require(reopened.recovery)
        #expect(report.nextOffset == 90)
        #expect(report.truncatedBytes > 0)
        #expect(report.description.contains("torn tail"))
        // Nothing before the damage is lost, and appends continue.
        var batch = BatchBuilder()
        batch.append(key: nil, value: bytes("after"), timestamp: 0)
        #expect(try reopened.append(&batch).baseOffset == 90)
        let records = try readAll(try log.openReader(topic: "t", partition: 0))
        #expect(records.map(\.offset) == Array(0...90))
        #expect(String(decoding: records[89].value, as: UTF8.self) == "record-89")
    }

    /// Batches over the scanner's 1 MiB read window (a producer's batch passes its 1 MiB
    /// threshold by up to one record) are read whole on reopening, not cut as torn: the scanner
    /// once saw only the header of such a batch and truncated it with everything after it.
    @Test(arguments: [false, true])
    func batchesLargerThanTheReadWindowSurviveReopening(tornTail: Bool) throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let log = try EmbeddedLog(dataDirectory: dir.path, configuration: config())
        try log.createTopic("t", partitions: 1)
        let writer = try log.openWriter(topic: "t", partition: 0)
        let value = [UInt8](repeating: 0x61, count: 600)
        for b in 0..<3 {
            var batch = BatchBuilder()
            for i in 0..<(b == 1 ? 500 : 2_500) {  // about 1.5 MiB, 0.3 MiB, 1.5 MiB
                batch.append(key: bytes("k\(i)"), value: value, timestamp: Int64(i))
            }
            try writer.append(&batch)
        }
        try writer.close()
        if tornTail { modify(segmentPath(log)) { fd, size in _ = ftruncate(fd, off_t(size - 1000)) } }
        let reopened = try log.openWriter(topic: "t", partition: 0)
        if tornTail {
            #expect(reopened.recovery?.nextOffset == 3_000)
            #expect(reopened.endOffset == 3_000)
        } else {
            #expect(reopened.recovery == nil)
            #expect(reopened.endOffset == 5_500)
        }
    }

    @Test func garbageAfterLastBatchIsCut() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let log = try EmbeddedLog(dataDirectory: dir.path, configuration: config())
        try fill(log, records: 50).close()
        modify(segmentPath(log)) { fd, size in
            let junk = [UInt8](repeating: 0xAB, count: 100)
            _ = junk.withUnsafeBytes { pwrite(fd, $0.baseAddress, 100, off_t(size)) }
        }
        let reopened = try log.openWriter(topic: "t", partition: 0)
        #expect(reopened.recovery?.truncatedBytes == 100)
        #expect(reopened.endOffset == 50)
    }

    @Test func flippedByteInActiveSegmentIsRefusedThenRepaired() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let log = try EmbeddedLog(dataDirectory: dir.path, configuration: config())
        try fill(log, records: 100).close()
        let path = segmentPath(log)
        modify(path) { fd, size in
            var b: UInt8 = 0
            pread(fd, &b, 1, off_t(size / 2)); b ^= 0x40; pwrite(fd, &b, 1, off_t(size / 2))
        }
        // A reader stops at the damage with a clear error after delivering what is intact.
        let error = #expect(throws: BrokerError.self) { try log.openWriter(topic: "t", partition: 0) }
        #expect(error?.code == .corrupt)
        #expect(error?.description.contains("vigil topics repair") == true)
        let reader = try log.openReader(topic: "t", partition: 0)
        let intact = try readAll(reader)
        #expect(intact.count >= 40 && intact.count < 100)
        #expect(intact.map(\.offset) == Array(0..<Int64(intact.count)))
        // Repair keeps a copy and cuts at the damage.
        let repaired = try log.openWriter(topic: "t", partition: 0, repair: true)
        #expect(repaired.endOffset == Int64(intact.count))
        #expect(access(path + ".corrupt", F_OK) == 0)
    }

    @Test func flippedByteInSealedSegmentIsAClearReadError() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let log = try EmbeddedLog(dataDirectory: dir.path, configuration: config { $0.segmentBytes = 2048 })
        let writer = try fill(log, records: 400)
        #expect(writer.segmentCount > 3)
        modify(segmentPath(log)) { fd, _ in
            var b: UInt8 = 0
            pread(fd, &b, 1, 1000); b ^= 1; pwrite(fd, &b, 1, 1000)
        }
        let reader = try log.openReader(topic: "t", partition: 0)
        var delivered = 0
        let error = #expect(throws: BrokerError.self) {
            while try reader.read(maxRecords: 1000, { _ in delivered += 1 }) > 0 {}
        }
        #expect(error?.code == .corrupt)
        #expect(error?.description.contains("damaged at byte") == true)
        #expect(delivered > 0)
        // The rest of the partition is still readable from the next segment.
        try reader.seek(.offset(300))
        #expect(try readAll(reader).count == 100)
    }

    @Test func dataDirectoryProblemsAreClear() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        // A file where the directory should be.
        let file = dir.file("plain")
        close(open(file, O_CREAT | O_WRONLY, 0o644))
        let e1 = #expect(throws: BrokerError.self) { try EmbeddedLog(dataDirectory: file, configuration: config()) }
        #expect(e1?.description.contains("not a directory") == true)
        // Below a file: cannot be created.
        let e2 = #expect(throws: BrokerError.self) { try EmbeddedLog(dataDirectory: file + "/data", configuration: config()) }
        #expect(e2?.description.contains("cannot create directory") == true)
        // A read-only file system (a read-only tmpfs; root ignores mode bits).
        let ro = dir.file("ro")
        mkdir(ro, 0o755)
        guard mount("tmpfs", ro, "tmpfs", UInt(MS_RDONLY), "size=64k") == 0 else {
            print("skipped read-only data directory check: mount(tmpfs, ro) failed: \(String(cString: strerror(errno))) (needs root/CAP_SYS_ADMIN)")
            return
        }
        defer { umount(ro) }
        let e3 = #expect(throws: BrokerError.self) { try EmbeddedLog(dataDirectory: ro + "/data", configuration: config()) }
        #expect(e3?.code == .permissionDenied)
        #expect(e3?.description.contains("Read-only file system") == true)
    }

    @Test func fullDiskFailsTheAppendAndKeepsAcknowledgedData() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let small = dir.file("small")
        mkdir(small, 0o755)
        guard mount("tmpfs", small, "tmpfs", 0, "size=256k") == 0 else {
            print("skipped full-disk check: mount(tmpfs) failed: \(String(cString: strerror(errno))) (needs root/CAP_SYS_ADMIN)")
            return
        }
        defer { umount(small) }
        let log = try EmbeddedLog(dataDirectory: small + "/data", configuration: config { $0.fsync = .everyBatch })
        try log.createTopic("t", partitions: 1)
        let writer = try log.openWriter(topic: "t", partition: 0)
        var batch = BatchBuilder()
        var acknowledged: Int64 = 0
        var failure: BrokerError?
        for _ in 0..<1000 {
            for _ in 0..<10 { batch.append(key: nil, value: [UInt8](repeating: 7, count: 1000), timestamp: 0) }
            do {
                acknowledged = try writer.append(&batch).lastOffset + 1
            } catch {
                failure = error
                break
            }
        }
        let error = try #require(failure)
        #expect(error.code == .noSpace)
        #expect(error.description.contains("disk is full"))
        #expect(acknowledged > 0)
        // Everything acknowledged reads back; the failed batch left nothing behind.
        try writer.close()
        let reopened = try log.openWriter(topic: "t", partition: 0)
        #expect(reopened.recovery == nil)
        #expect(reopened.endOffset == acknowledged)
        #expect(try readAll(try log.openReader(topic: "t", partition: 0)).count == Int(acknowledged))
    }
}
