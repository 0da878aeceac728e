import Testing
@testable import VigilCore
import VigilTestSupport

@Suite struct IPAddressTests {
    @Test(arguments: [
        ("0.0.0.0", UInt32(0)), ("255.255.255.255", 0xFFFF_FFFF), ("10.0.0.1", 0x0A00_0001),
        ("192.168.1.254", 0xC0A8_01FE), ("1.2.3.4", 0x0102_0304), ("100.64.0.0", 0x6440_0000),
    ])
    func parsesIPv4(text: String, value: UInt32) {
        let address = IPAddress(text)
        #expect(address == IPAddress(v4: value))
        #expect(address?.isV4 == true)
        #expect(address?.v4Value == value)
        #expect(address?.description == text)
    }

    @Test(arguments: [
        "", "1", "1.2.3", "1.2.3.4.5", "256.0.0.1", "1.2.3.256", "01.2.3.4", "1.2.3.04", "1.2.3.00",
        "1..2.3", ".1.2.3", "1.2.3.", "1.2.3.4 ", " 1.2.3.4", "1.2.3.-4", "1.2.3.4/8", "0x1.2.3.4",
        "1.2.3.1000", "1.2.3.4\u{0}", "١.2.3.4",
    ])
    func rejectsIPv4(text: String) {
        #expect(IPAddress(text) == nil)
    }

    @Test(arguments: [
        // RFC 5952 §4 examples and rules.
        ("2001:db8:0:0:0:0:2:1", "2001:db8::2:1"),
        ("2001:0db8:0000:0000:0000:0000:0002:0001", "2001:db8::2:1"),
        ("2001:db8:0000:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),      // a single 0 group is not compressed
        ("2001:db8::1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),
        ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1"),                  // the longest run wins
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),            // ties: the first run
        ("2001:DB8::AbCd", "2001:db8::abcd"),                     // lowercase
        ("2001:db8::0:1", "2001:db8::1"),
        ("2001:db8:aaaa:bbbb:cccc:dddd:eeee:0001", "2001:db8:aaaa:bbbb:cccc:dddd:eeee:1"),
        ("2001:db8:aaaa:bbbb:cccc:dddd::1", "2001:db8:aaaa:bbbb:cccc:dddd:0:1"),
        ("::", "::"), ("::1", "::1"), ("1::", "1::"), ("0:0:0:0:0:0:0:0", "::"),
        ("fe80::1", "fe80::1"), ("ff02::2", "ff02::2"),
        ("1:0:0:0:0:0:0:0", "1::"), ("0:0:0:0:0:0:0:1", "::1"), ("1:0:1:0:1:0:1:0", "1:0:1:0:1:0:1:0"),
        ("0:1:0:0:1:0:0:0", "0:1:0:0:1::"),
        ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
        // Embedded IPv4; only IPv4-mapped addresses print in mixed notation.
        ("::ffff:192.0.2.1", "::ffff:192.0.2.1"),
        ("::FFFF:c000:0201", "::ffff:192.0.2.1"),
        ("0:0:0:0:0:ffff:1.2.3.4", "::ffff:1.2.3.4"),
        ("::1.2.3.4", "::102:304"),
        ("64:ff9b::192.0.2.33", "64:ff9b::c000:221"),
        ("1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304"),
    ])
    func formatsIPv6Canonically(text: String, canonical: String) {
        let address = IPAddress(text)
        #expect(address?.family == .v6)
        #expect(address?.description == canonical)
        #expect(IPAddress(canonical) == address)
    }

    @Test(arguments: [
        ":", ":::", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "1::2::3", "12345::", "::12345", "g::", "1:2:3:4:5:6:7:8::",
        "::1:2:3:4:5:6:7:8", "1:", ":1", "1:2:3:4:5:6:7:", "fe80::1%eth0", "fe80::1%1", "::ffff:1.2.3",
        "::ffff:256.1.1.1", "::ffff:01.2.3.4", "1:2:3:4:5:6:7:1.2.3.4", "::1.2.3.4:5", "1.2.3.4::", " ::1", "::1 ",
        "[::1]", "::-1", "1:2:3:4:5:6:7:8:", ":1:2:3:4:5:6:7", "1::2:3:4:5:6:7:8",
    ])
    func rejectsIPv6(text: String) {
        #expect(IPAddress(text) == nil)
    }

    @Test func bytesAndAccessors() throws {
        let v4 = try #require(IPAddress(bytes: [10, 1, 2, 3]))
        #expect(v4 == IPAddress("10.1.2.3"))
        #expect(v4.bytes == [10, 1, 2, 3])
        #expect(v4.withUnsafeBytes { Array($0) } == [10, 1, 2, 3])
        #expect(v4.high == 0 && v4.low == 0x0A01_0203)

        let raw: [UInt8] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
        let v6 = try #require(IPAddress(bytes: raw))
        #expect(v6.description == "2001:db8::1")
        #expect(v6.bytes == raw)
        #expect(v6.high == 0x2001_0db8_0000_0000 && v6.low == 1)
        #expect(IPAddress(bytes: [1, 2, 3]) == nil)
        #expect(IPAddress(bytes: [UInt8](repeating: 0, count: 5)) == nil)
        #expect(MemoryLayout<IPAddress>.size <= 17)
    }

    @Test func orderingAndClassification() throws {
        let a = try #require(IPAddress("10.0.0.1")), b = try #require(IPAddress("10.0.0.2"))
        let c = try #require(IPAddress("::1")), d = try #require(IPAddress("::ffff:0.0.0.0"))
        #expect(a < b && b < c && c < d)
        #expect([d, c, b, a].sorted() == [a, b, c, d])
        #expect(IPAddress(v4: 0) < IPAddress(v6High: 0, low: 0))

        let mapped = try #require(IPAddress("::ffff:10.0.0.1"))
        #expect(mapped != a)
        #expect(mapped.isIPv4Mapped && mapped.unmappingIPv4 == a)
        #expect(a.unmappingIPv4 == a)

        #expect(IPAddress("127.0.0.1")!.isLoopback && IPAddress("::1")!.isLoopback && !IPAddress("::2")!.isLoopback)
        for p in ["10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.0.1", "fd00::1", "fc00::"] {
            #expect(IPAddress(p)!.isPrivate, "\(p)")
        }
        for p in ["11.0.0.1", "172.32.0.1", "172.15.255.255", "192.169.0.1", "fe00::1", "8.8.8.8"] {
            #expect(!IPAddress(p)!.isPrivate, "\(p)")
        }
        #expect(IPAddress("169.254.1.1")!.isLinkLocal && IPAddress("fe80::1")!.isLinkLocal && IPAddress("febf::1")!.isLinkLocal)
        #expect(!IPAddress("fec0::1")!.isLinkLocal)
        #expect(IPAddress("224.0.0.1")!.isMulticast && IPAddress("ff02::1")!.isMulticast && !IPAddress("223.0.0.1")!.isMulticast)
        #expect(IPAddress("0.0.0.0")!.isUnspecified && IPAddress("::")!.isUnspecified)
    }

    @Test func randomTextRoundTrip() {
        let seed: UInt64 = 0x1BAD_D00D
        var g = RandomEventGenerator(seed: seed)
        for _ in 0..<20_000 {
            let address = g.ip()
            let text = address.description
            var bytes: [UInt8] = []
            address.appendText(to: &bytes)
            #expect(bytes == Array(text.utf8))
            guard IPAddress(text) == address else {
                Issue.record("seed \(seed): \(text) does not parse back")
                return
            }
            #expect(IPAddress(bytes: address.bytes) == address)
            // Uppercase and fully expanded forms parse to the same address.
            #expect(IPAddress(text.uppercased()) == address)
            if !address.isV4 {
                let groups = (0..<8).map { k in
                    let half = k < 4 ? address.high : address.low
                    let g = UInt16(truncatingIfNeeded: half >> UInt64(48 - 16 * (k % 4)))
                    let hex = String(g, radix: 16)
                    return String(repeating: "0", count: 4 - hex.count) + hex
                }
                #expect(IPAddress(groups.joined(separator: ":")) == address)
            }
        }
    }

    // MARK: Networks

    @Test(arguments: [
        ("10.0.0.0/8", "10.0.0.0/8"), ("10.1.2.3/8", "10.0.0.0/8"), ("0.0.0.0/0", "0.0.0.0/0"),
        ("192.168.1.77/32", "192.168.1.77/32"), ("192.168.1.77", "192.168.1.77/32"), ("172.16.0.0/12", "172.16.0.0/12"),
        ("2001:db8::/32", "2001:db8::/32"), ("2001:db8:ffff::1/32", "2001:db8::/32"), ("::/0", "::/0"),
        ("fe80::1/10", "fe80::/10"), ("::1", "::1/128"), ("2001:db8::1/127", "2001:db8::/127"),
        ("2001:db8:0:0:8000::/65", "2001:db8:0:0:8000::/65"), ("2001:db8::ffff/64", "2001:db8::/64"),
    ])
    func parsesNetworks(text: String, canonical: String) {
        #expect(IPNetwork(text)?.description == canonical)
    }

    @Test(arguments: ["10.0.0.0/33", "10.0.0.0/", "/8", "10.0.0.0/08", "10.0.0.0/-1", "::/129", "::/1000",
                      "10.0.0.0/8/8", "10.0.0/8", "10.0.0.0/ 8", "x/8", ""])
    func rejectsNetworks(text: String) {
        #expect(IPNetwork(text) == nil)
    }

    @Test(arguments: [
        ("10.0.0.0/8", "10.255.255.255", true), ("10.0.0.0/8", "11.0.0.0", false), ("10.0.0.0/8", "9.255.255.255", false),
        ("172.16.0.0/12", "172.31.1.1", true), ("172.16.0.0/12", "172.32.0.0", false),
        ("0.0.0.0/0", "255.255.255.255", true), ("0.0.0.0/0", "::", false),
        ("192.0.2.1/32", "192.0.2.1", true), ("192.0.2.1/32", "192.0.2.2", false),
        ("10.0.0.0/8", "::ffff:10.0.0.1", false), ("::ffff:0:0/96", "::ffff:10.0.0.1", true),
        ("2001:db8::/32", "2001:db8:ffff:ffff::1", true), ("2001:db8::/32", "2001:db9::", false),
        ("::/0", "ffff::", true), ("::/0", "1.2.3.4", false),
        ("2001:db8::/64", "2001:db8::ffff:ffff:ffff:ffff", true), ("2001:db8::/64", "2001:db8:0:1::", false),
        ("2001:db8::/65", "2001:db8::7fff:ffff:ffff:ffff", true), ("2001:db8::/65", "2001:db8::8000:0:0:0", false),
        ("2001:db8::1/128", "2001:db8::1", true), ("2001:db8::1/128", "2001:db8::2", false),
        ("fe80::/10", "febf::1", true), ("fe80::/10", "fec0::1", false),
    ])
    func networkContains(network: String, address: String, expected: Bool) throws {
        let net = try #require(IPNetwork(network))
        let ip = try #require(IPAddress(address))
        #expect(net.contains(ip) == expected)
    }

    @Test func networkContainsNetwork() throws {
        let big = try #require(IPNetwork("10.0.0.0/8")), small = try #require(IPNetwork("10.1.0.0/16"))
        #expect(big.contains(small) && !small.contains(big) && big.contains(big))
        #expect(IPNetwork(address: IPAddress(v4: 0x0A01_0203), prefixLength: 24)?.description == "10.1.2.0/24")
        #expect(IPNetwork(address: IPAddress(v4: 1), prefixLength: 33) == nil)
    }
}
