import Testing
import VigilDecode

@Suite struct LinkTypeTests {
    @Test func namesFollowLibpcap() {
        #expect(LinkType(rawValue: 1) == .ethernet)
        #expect(LinkType.linuxSLL2.description == "linux-sll2")
        #expect(LinkType(rawValue: 999).description == "link type 999")
    }
}
