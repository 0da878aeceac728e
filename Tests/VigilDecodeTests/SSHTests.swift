import Foundation
import Testing
import VigilTestSupport
@testable import VigilDecode

func banner(_ text: String) -> SSHBanner? {
    Array(text.utf8).withUnsafeBytes { parseSSHBanner($0) }
}

@Suite struct SSHTests {
    @Test func splitsTheIdentificationString() throws {
        let b = try #require(banner("SSH-2.0-OpenSSH_5.9p1 Debian-5ubuntu1.1\r\n\u{0}\u{0}\u{1}"))
        #expect(b.line == "SSH-2.0-OpenSSH_5.9p1 Debian-5ubuntu1.1")
        #expect(b.protocolVersion == "2.0" && b.softwareVersion == "OpenSSH_5.9p1" && b.comments == "Debian-5ubuntu1.1")
        #expect(b.consumed == 41)
        let plain = try #require(banner("SSH-1.99-OpenSSH_6.6p1-hpn14v4\n"))
        #expect(plain.protocolVersion == "1.99" && plain.softwareVersion == "OpenSSH_6.6p1-hpn14v4" && plain.comments == nil)
    }

    @Test func skipsLinesBeforeTheBanner() throws {
        let b = try #require(banner("Welcome to host\r\nplease behave\r\nSSH-2.0-dropbear_2022.83\r\n"))
        #expect(b.softwareVersion == "dropbear_2022.83" && b.consumed == 58)
        #expect(banner(String(repeating: "x\r\n", count: 40) + "SSH-2.0-late\r\n") == nil)
    }

    @Test func rejectsIncompleteAndMalformed() {
        #expect(banner("SSH-2.0-OpenSSH") == nil) // no line end yet
        #expect(banner("SSH-2.0\r\n") == nil)
        #expect(banner("SSH--x\r\n") == nil)
        #expect(banner("GET / HTTP/1.1\r\n\r\n") == nil)
        #expect(banner("SSH-2.0-" + String(repeating: "a", count: 2000) + "\r\n") == nil)
        #expect(banner("") == nil)
        #expect(banner("SSH-2.0-a\u{1}b\r\n") == nil)
        // Every prefix of a banner is safe.
        let text = Array("hello\r\nSSH-2.0-OpenSSH_9.6 Ubuntu\r\n".utf8)
        for cut in 0...text.count { _ = Array(text[..<cut]).withUnsafeBytes { parseSSHBanner($0) } }
    }

    @Test(arguments: ["ssh-basic", "ssh-half-duplex-client"])
    func agreesWithZeekSSHLog(_ name: String) throws {
        guard let shared = sharedDataDirectory() else { print("skip: no shared data directory"); return }
        let dir = shared + "/pcap/zeek/" + name
        guard let rows = zeekLogRows(dir + "/ssh.log") else { print("skip: \(name): no ssh.log"); return }
        guard let trace = ProtoTrace.read(dir + "/trace.pcap") else { print("skip: \(name): no classic pcap"); return }
        let streams = ProtoTrace.tcpStreams(trace.packets)
        var matched = 0, compared = 0
        for row in rows {
            let forward = "\(row["id.orig_h"]!) \(row["id.orig_p"]!) \(row["id.resp_h"]!) \(row["id.resp_p"]!)"
            let reverse = "\(row["id.resp_h"]!) \(row["id.resp_p"]!) \(row["id.orig_h"]!) \(row["id.orig_p"]!)"
            for (column, key) in [("client", forward), ("server", reverse)] where row[column] != "-" {
                compared += 1
                let got = (streams[key] ?? []).withUnsafeBytes { parseSSHBanner($0) }?.line
                if got == row[column] { matched += 1 } else {
                    print("\(name) \(forward) \(column): zeek \(row[column]!) vigil \(got ?? "(none)")")
                }
            }
        }
        print("SSH vs Zeek \(name): \(matched)/\(compared) client/server banners match")
        #expect(compared > 0 && matched == compared)
    }
}
