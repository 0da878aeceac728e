import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing
import VigilCapture
import VigilTestSupport

@Suite struct PcapSourceTests {
    /// Every shared Zeek trace reads to the end with the packet count tcpdump reports.
    @Test func readsTracesLikeTcpdump() throws {
        guard let shared = sharedDataDirectory() else {
            print("skip: ../shared/data is absent (set VIGIL_SHARED_DATA)")
            return
        }
        let root = URL(fileURLWithPath: shared + "/pcap/zeek")
        let cases = try FileManager.default.contentsOfDirectory(atPath: root.path).sorted()
        var checked = 0
        for name in cases {
            let trace = root.appendingPathComponent(name).appendingPathComponent("trace.pcap").path
            guard FileManager.default.fileExists(atPath: trace) else { continue }
            let source = try PcapSource.open(file: trace)
            var packets = 0, bytes = 0
            var last: Int64 = 0
            while try source.next({ info, data in
                packets += 1
                bytes += data.count
                #expect(data.count == info.capturedLength)
                #expect(info.timestamp > 1_000_000_000_000_000_000 / 1_000 || info.timestamp >= 0)
                last = info.timestamp
            }) == .packet {}
            #expect(last != 0 || packets == 0)
            let tcpdump = try runCommand("/usr/bin/tcpdump", ["-r", trace, "-nn", "-q", "--count"])
            // "N packets" on stdout (tcpdump ≥ 4.99 with --count).
            let counted = tcpdump.stdout.split(whereSeparator: \.isWhitespace).first.flatMap { Int($0) }
            #expect(counted == packets, "\(name): vigil \(packets), tcpdump \(tcpdump.stdout) \(tcpdump.stderr)")
            checked += 1
        }
        #expect(checked >= 20)
    }

    @Test func badFilesAndInterfacesGiveClearErrors() throws {
        #expect(throws: PcapError.self) { try PcapSource.open(file: "/nonexistent/trace.pcap") }
        let dir = try TemporaryDirectory()
        let junk = dir.path + "/junk.pcap"
        try Data("not a capture file".utf8).write(to: URL(fileURLWithPath: junk))
        do {
            _ = try PcapSource.open(file: junk)
            Issue.record("junk opened")
        } catch {
            #expect(error.description.contains(junk), "\(error)")
        }
        do {
            _ = try PcapSource.open(interface: "vigil-no-such-if0")
            Issue.record("a missing interface opened")
        } catch {
            #expect(error.description.contains("vigil-no-such-if0"), "\(error)")
        }
    }
}

@Suite struct PrivilegesTests {
    @Test func identityIsReadable() {
        let me = Privileges.current()
        #expect(me.uid == getuid())
        if me.effectiveUID == 0 { #expect(me.effectiveCapabilities != 0, "root without capabilities?") }
    }

    /// An unknown user fails before anything changes (the real switch runs in a child `vigil
    /// capture` in the integration tests: it cannot be undone inside the test process).
    @Test func unknownUserFailsBeforeChangingAnything() {
        let before = Privileges.current()
        guard before.effectiveUID == 0 else {
            print("skip: not root, so there is no user to switch from")
            return
        }
        #expect(throws: PrivilegeError.self) { try Privileges.drop(toUser: "vigil-no-such-user-4711") }
        #expect(Privileges.current() == before)
    }
}

@Suite struct CaptureRunnerTests {
    struct Counter: PacketConsumer {
        var sources: [String] = []
        var packets = 0
        var linkTypes: Set<Int32> = []
        mutating func begin(source: String, linkType: Int32) { sources.append(source); linkTypes.insert(linkType) }
        mutating func consume(_ info: PcapSource.PacketInfo, _ bytes: UnsafeRawBufferPointer) throws { packets += 1 }
        mutating func idle(now: Int64) throws {}
    }

    @Test func replaysFilesInOrderWithProgress() throws {
        guard let shared = sharedDataDirectory() else {
            print("skip: ../shared/data is absent (set VIGIL_SHARED_DATA)")
            return
        }
        let files = ["http-get", "dns-spf-txt", "icmp-echo"].map { shared + "/pcap/zeek/\($0)/trace.pcap" }
        var counter = Counter()
        var lastProgress: (Int64, Int64) = (0, 0)
        let summary = try CaptureRunner.replay(files: files, into: &counter) { done, total in lastProgress = (done, total) }
        #expect(counter.sources == files)
        #expect(summary.files == 3)
        #expect(summary.packets == Int64(counter.packets))
        #expect(summary.packets > 10)
        #expect(lastProgress.0 == lastProgress.1 && lastProgress.1 > 0)
        #expect(summary.firstTimestamp > 0 && summary.lastTimestamp >= summary.firstTimestamp || files.count > 1)
    }
}

@Suite struct PcapWriterTests {
    /// A trace rewritten by PcapWriter (with shifted timestamps) reads back identically, and
    /// tcpdump reads it too.
    @Test func writtenFilesReadBack() throws {
        guard let shared = sharedDataDirectory() else {
            print("skip: ../shared/data is absent (set VIGIL_SHARED_DATA)")
            return
        }
        let input = shared + "/pcap/zeek/http-get/trace.pcap"
        let dir = try TemporaryDirectory()
        let output = dir.path + "/copy.pcap"
        let source = try PcapSource.open(file: input)
        let writer = try PcapWriter(path: output, linkType: source.linkType)
        var original: [(Int64, [UInt8], Int)] = []
        while try source.next({ info, bytes in
            original.append((info.timestamp, Array(bytes), info.wireLength))
            try writer.write(timestamp: info.timestamp + 3_600_000_000_123, bytes: bytes, wireLength: info.wireLength)
        }) == .packet {}
        try writer.close()
        let copy = try PcapSource.open(file: output)
        #expect(copy.linkType == source.linkType)
        var k = 0
        while try copy.next({ info, bytes in
            #expect(info.timestamp == original[k].0 + 3_600_000_000_123)
            #expect(Array(bytes) == original[k].1)
            #expect(info.wireLength == original[k].2)
            k += 1
        }) == .packet {}
        #expect(k == original.count && k > 0)
        let tcpdump = try runCommand("/usr/bin/tcpdump", ["-r", output, "-nn", "--count"])
        #expect(tcpdump.stdout.hasPrefix("\(k) packets"), "\(tcpdump.stdout) \(tcpdump.stderr)")
    }
}

@Suite struct MappedPcapReaderTests {
    /// Every classic pcap sample reads the same through the mapping as through libpcap: time,
    /// bytes and wire length of every packet, and the link type; pcapng is left to libpcap.
    @Test func readsWhatLibpcapReads() throws {
        guard let shared = sharedDataDirectory() else {
            print("skip: ../shared/data is absent (set VIGIL_SHARED_DATA)")
            return
        }
        var files: [String] = []
        for dir in ["pcap/zeek", "pcap/suricata-verify"] {
            let root = shared + "/" + dir
            for name in try FileManager.default.contentsOfDirectory(atPath: root).sorted() {
                let caseDir = root + "/" + name
                for f in (try? FileManager.default.contentsOfDirectory(atPath: caseDir)) ?? [] where f.hasSuffix(".pcap") || f.hasSuffix(".pcapng") {
                    files.append(caseDir + "/" + f)
                }
            }
        }
        var mappedFiles = 0, packets = 0
        for file in files {
            let viaLibpcap = try PcapSource.open(file: file)
            guard let mapped = try MappedPcapReader(path: file) else {
                #expect(file.hasSuffix(".pcapng") || FileManager.default.contents(atPath: file)?.prefix(4) != Data([0xD4, 0xC3, 0xB2, 0xA1]),
                        "\(file) is classic pcap but was not mapped")
                continue
            }
            mappedFiles += 1
            #expect(mapped.linkType == viaLibpcap.linkType, "\(file)")
            var expected: [(Int64, [UInt8], Int)] = []
            while try viaLibpcap.next({ info, bytes in expected.append((info.timestamp, Array(bytes), info.wireLength)) }) == .packet {}
            var k = 0
            while try mapped.next({ info, bytes in
                if k < expected.count {
                    #expect(info.timestamp == expected[k].0 && Array(bytes) == expected[k].1 && info.wireLength == expected[k].2,
                            "\(file) packet \(k)")
                }
                k += 1
            }) == .packet {}
            #expect(k == expected.count, "\(file)")
            packets += k
        }
        #expect(mappedFiles >= 30 && packets > 4000)
    }

    @Test func aTruncatedRecordIsAnErrorAndOtherFormatsAreDeclined() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path + "/t.pcap"
        let writer = try PcapWriter(path: path, linkType: 1)
        let frame = [UInt8](repeating: 0xAB, count: 60)
        try frame.withUnsafeBytes { try writer.write(timestamp: 1_000_000_001, bytes: $0) }
        try writer.close()
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        data.removeLast(10)
        try data.write(to: URL(fileURLWithPath: path))
        let reader = try #require(try MappedPcapReader(path: path))
        #expect(throws: PcapError.self) { _ = try reader.next { _, _ in } }
        try Data("\u{0A}\u{0D}\u{0D}\u{0A}not really pcapng but not pcap either".utf8).write(to: URL(fileURLWithPath: path))
        #expect(try MappedPcapReader(path: path) == nil)
    }
}
