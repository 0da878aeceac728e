import VigilCore

/// ECS events of the network sensor's records: the same fields the Zeek log parser gives Zeek's
/// conn, dns, http, ssl and ssh logs (docs/parsers.md), so that rules see one schema whichever
/// sensor saw the traffic. `event.module` is `network`; `event.dataset` is `network.conn`,
/// `network.dns`, `network.http`, `network.tls` or `network.ssh`; `zeek.session_id` carries the
/// connection's uid on every record of that connection.
public enum NetworkEvents {
    // The fixed lists as presets: stored as their binary encoding, made once (no boxed array
    // per record, copied as they are by the encoder).
    static let networkCategory = Event.Preset(.eventCategory, .array(["network"]))
    static let webCategory = Event.Preset(.eventCategory, .array(["network", "web"]))
    static let connectionType = Event.Preset(.eventType, .array(["connection"]))
    static let protocolType = Event.Preset(.eventType, .array(["protocol"]))
    static let moduleName: FieldValue = "network"
    static let kindEvent: FieldValue = "event"
    static let origIPBytesKey = Event.Key("zeek.conn.orig_ip_bytes")
    static let respIPBytesKey = Event.Key("zeek.conn.resp_ip_bytes")
    static let innerVlanKey = Event.Key("network.vlan.inner.id")
    static let ja3Key = Event.Key("tls.client.ja3")
    static let ja3StringKey = Event.Key("tls.client.ja3_string")
    static let ja3sKey = Event.Key("tls.server.ja3s")
    static let ja3sStringKey = Event.Key("tls.server.ja3s_string")
    static let ja4Key = Event.Key("tls.client.ja4")
    static let alpnKey = Event.Key("tls.client.alpn")
    static let dnsRTTKey = Event.Key("dns.rtt")
    static let httpInfoCodeKey = Event.Key("http.response.info_code")

    /// The transport's name as Zeek's `proto` column writes it.
    public static func transportName(_ transport: UInt8) -> String {
        switch transport {
        case 6: "tcp"
        case 17: "udp"
        case 1, 58: "icmp"
        default: "unknown_transport"
        }
    }

    /// The fields every record of a connection carries: time, uid, endpoints, Community ID.
    /// Typed setters throughout: no ``FieldValue`` built and taken apart per field.
    static func common(_ event: inout Event, dataset: StaticString, time: Int64, _ info: FlowInfo) {
        event.setTimestamp(.timestamp, Timestamp(nanoseconds: time))
        event.setLiteral(.eventKind, "event")
        event.setLiteral(.eventModule, "network")
        event.setLiteral(.eventDataset, dataset)
        info.uid.withBytes { event.setString(.zeekSessionId, validUTF8: $0) }
        event.setIP(.sourceIP, info.originator)
        event.setInt(.sourcePort, Int64(info.originatorPort))
        event.setIP(.destinationIP, info.responder)
        event.setInt(.destinationPort, Int64(info.responderPort))
        event.setLiteral(.networkTransport, transportStaticName(info.transport))
        event.setLiteral(.networkType, info.originator.isV4 ? "ipv4" : "ipv6")
        switch info.transport {
        case 6: event.setLiteral(.networkIanaNumber, "6")
        case 17: event.setLiteral(.networkIanaNumber, "17")
        case 1: event.setLiteral(.networkIanaNumber, "1")
        case 58: event.setLiteral(.networkIanaNumber, "58")
        default: event.setText(.networkIanaNumber, String(info.transport))
        }
        info.communityID.withBytes { event.setString(.networkCommunityId, validUTF8: $0) }
        if let vlan = info.vlan { event.setText(.networkVlanId, String(vlan)) }
    }

    /// ``transportName(_:)`` as a literal.
    static func transportStaticName(_ transport: UInt8) -> StaticString {
        switch transport {
        case 6: "tcp"
        case 17: "udp"
        case 1, 58: "icmp"
        default: "unknown_transport"
        }
    }

    /// A finished connection (Zeek's conn.log).
    public static func connection(_ r: ConnRecord, into event: inout Event) {
        let info = FlowInfo(uid: r.uid, start: r.start, originator: r.originator, originatorPort: r.originatorPort,
                            responder: r.responder, responderPort: r.responderPort, transport: r.transport,
                            communityID: r.communityID, vlan: r.vlan)
        common(&event, dataset: "network.conn", time: r.start, info)
        event.set(networkCategory)
        event.set(connectionType)
        if let service = r.services.first { event.setText(.networkProtocol, service) }
        event.setInt(.eventDuration, r.duration)
        event.setTimestamp(.eventStart, Timestamp(nanoseconds: r.start))
        event.setTimestamp(.eventEnd, Timestamp(nanoseconds: r.start &+ r.duration))
        event.setInt(.sourceBytes, r.originatorBytes)
        event.setInt(.destinationBytes, r.responderBytes)
        event.setInt(.sourcePackets, r.originatorPackets)
        event.setInt(.destinationPackets, r.responderPackets)
        event.setInt(.networkBytes, r.originatorIPBytes &+ r.responderIPBytes)
        event.setInt(.networkPackets, r.originatorPackets &+ r.responderPackets)
        event.setInt(origIPBytesKey, r.originatorIPBytes)
        event.setInt(respIPBytesKey, r.responderIPBytes)
        event.setText(.zeekConnState, r.state.rawValue)
        if !r.history.isEmpty { event.setText(.zeekConnHistory, r.history) }
        event.setInt(.zeekConnMissedBytes, r.missedBytes)
        if let inner = r.innerVlan { event.setText(innerVlanKey, String(inner)) }
    }

    /// A DNS query and its reply (Zeek's dns.log).
    public static func dns(_ t: DNSTransaction, _ info: FlowInfo, into event: inout Event) {
        common(&event, dataset: "network.dns", time: t.time, info)
        event.set(networkCategory)
        event.set(protocolType)
        event.setLiteral(.networkProtocol, "dns")
        let message = t.query ?? t.reply
        guard let message else { return }
        event.setText(.dnsId, String(message.id))
        let netbios = info.originatorPort == 137 || info.responderPort == 137
        event.setText(.dnsOpCode, DNSNames.opcodeName(message.opcode, netbios: netbios).uppercased())
        if let q = message.questions.first {
            event.setText(.dnsQuestionName, netbios ? DNSNames.decodeNetBIOSName(q.name) : q.name)
            event.setText(.dnsQuestionType, DNSNames.qtypeName(q.type))
            event.setText(.dnsQuestionClass, DNSNames.qclassName(q.class))
        } else if let a = t.reply?.answers.first {
            event.setText(.dnsQuestionName, a.name)
        }
        // As Zeek's dns.log: RD from the query; AA and RA from a reply that has answers.
        var flags: [FieldValue] = []
        if let reply = t.reply, !reply.answers.isEmpty, reply.authoritative { flags.append("AA") }
        if message.truncated { flags.append("TC") }
        if (t.query ?? t.reply)?.recursionDesired == true { flags.append("RD") }
        if let reply = t.reply, !reply.answers.isEmpty, reply.recursionAvailable { flags.append("RA") }
        if !flags.isEmpty { event[.dnsHeaderFlags] = .array(flags) }
        guard let reply = t.reply else {
            event.setLiteral(.dnsType, "query")
            return
        }
        event.setLiteral(.dnsType, "answer")
        event.setText(.dnsResponseCode, DNSNames.rcodeName(reply.rcode))
        if let rtt = t.roundTrip { event.setInt(dnsRTTKey, rtt) }
        if !reply.answers.isEmpty {
            var answers: [FieldValue] = []
            var resolved: [FieldValue] = []
            for a in reply.answers {
                answers.append(.object(FieldObject([
                    .init("name", .string(a.name)), .init("type", .string(DNSNames.qtypeName(a.type))),
                    .init("class", .string(DNSNames.qclassName(a.class))), .init("ttl", .int(Int64(a.ttl))),
                    .init("data", .string(a.rendered)),
                ])))
                if a.type == 1 || a.type == 28, let ip = IPAddress(a.rendered) { resolved.append(.ip(ip)) }
            }
            event[.dnsAnswers] = .array(answers)
            if !resolved.isEmpty { event[.dnsResolvedIP] = .array(resolved) }
        }
    }

    /// An HTTP request and its response (Zeek's http.log).
    public static func http(_ t: HTTPTransaction, _ info: FlowInfo, into event: inout Event) {
        common(&event, dataset: "network.http", time: t.time, info)
        event.set(webCategory)
        event.set(protocolType)
        event.setLiteral(.networkProtocol, "http")
        if let q = t.request {
            event.setText(.httpRequestMethod, q.method)
            event.setURL(original: q.uri)
            if let host = q.host, !host.isEmpty { event.setText(.urlDomain, host) }
            event.setText(.httpVersion, q.version)
            if let v = q.referrer, !v.isEmpty { event.setText(.httpRequestReferrer, v) }
            if let v = q.userAgent, !v.isEmpty { event.setText(.userAgentOriginal, v) }
            if let v = q.contentType, !v.isEmpty { event.setText(.httpRequestMimeType, v) }
            if let user = basicAuthUser(q.authorization) { event.setText(.userName, user) }
            event.setInt(.httpRequestBodyBytes, t.requestBodyLength)
        }
        if let r = t.response {
            event.setInt(.httpResponseStatusCode, Int64(r.statusCode))
            // As Zeek's http.log: the reply's version replaces the request's (a 1.1 client
            // answered by a 1.0 server logs 1.0).
            event.setText(.httpVersion, r.version)
            if let v = r.contentType, !v.isEmpty { event.setText(.httpResponseMimeType, v) }
            event.setInt(.httpResponseBodyBytes, t.responseBodyLength)
        }
        if let code = t.informationalCode { event.setInt(httpInfoCodeKey, Int64(code)) }
    }

    /// The user name of `Authorization: Basic base64(user:password)` (the password is not kept).
    static func basicAuthUser(_ header: String?) -> String? {
        guard let header, header.count > 6, header.prefix(6).lowercased() == "basic " else { return nil }
        guard let decoded = Base64.decode(header.dropFirst(6).trimmingSpaces) else { return nil }
        let text = String(decoding: decoded, as: UTF8.self)
        guard let colon = text.firstIndex(of: ":") else { return nil }
        let user = String(text[..<colon])
        return user.isEmpty ? nil : user
    }

    /// A TLS handshake's hellos (Zeek's ssl.log, with JA3, JA3S and JA4).
    public static func tls(_ t: TLSHandshake, _ info: FlowInfo, into event: inout Event) {
        common(&event, dataset: "network.tls", time: t.time, info)
        event.set(networkCategory)
        event.set(protocolType)
        event.setLiteral(.networkProtocol, "tls")
        if let s = t.server {
            let (version, proto) = versionFields(s.selectedVersion)
            event.setText(.tlsVersion, version)
            event.setText(.tlsVersionProtocol, proto)
            event.setText(.tlsCipher, s.cipherName)
            if let alpn = s.alpn { event.setText(.tlsNextProtocol, alpn) }
            event.setText(ja3sKey, s.ja3sHash)
            event.setText(ja3sStringKey, s.ja3s)
        }
        if let c = t.client {
            if let name = c.serverName, !name.isEmpty { event.setText(.tlsClientServerName, name) }
            if !c.alpn.isEmpty { event[alpnKey] = .array(c.alpn.map { .string($0) }) }
            event.setText(ja3Key, c.ja3Hash)
            event.setText(ja3StringKey, c.ja3)
            event.setText(ja4Key, c.ja4)
            if t.server == nil {
                let (version, proto) = versionFields(c.highestVersion)
                event.setText(.tlsVersion, version)
                event.setText(.tlsVersionProtocol, proto)
            }
        }
    }

    /// ECS `tls.version` (`1.2`) and `tls.version_protocol` (`tls`, `ssl`) of a wire version.
    static func versionFields(_ v: UInt16) -> (String, String) {
        switch v {
        case 0x0300: ("3.0", "ssl")
        case 0x0002: ("2.0", "ssl")
        case 0x0301...0x0304: ("1.\(v - 0x0301)", "tls")
        case 0x7F00...0x7FFF: ("1.3", "tls")  // TLS 1.3 drafts
        default: (String(v, radix: 16), "tls")
        }
    }

    /// The SSH identification strings (Zeek's ssh.log client/server).
    public static func ssh(_ t: SSHHandshake, _ info: FlowInfo, into event: inout Event) {
        common(&event, dataset: "network.ssh", time: t.time, info)
        event.set(networkCategory)
        event.set(protocolType)
        event.setLiteral(.networkProtocol, "ssh")
        if let c = t.client { event.setText(.sshClient, c.line) }
        if let s = t.server { event.setText(.sshServer, s.line) }
    }
}

private extension Substring {
    var trimmingSpaces: Substring {
        var s = self
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return s
    }
}

/// Standard base64 (RFC 4648), for Basic authorization headers.
enum Base64 {
    static func decode(_ text: Substring) -> [UInt8]? {
        var out: [UInt8] = []
        var buffer: UInt32 = 0, bits = 0
        for c in text.utf8 {
            let v: UInt32
            switch c {
            case 0x41...0x5A: v = UInt32(c - 0x41)
            case 0x61...0x7A: v = UInt32(c - 0x61 + 26)
            case 0x30...0x39: v = UInt32(c - 0x30 + 52)
            case 0x2B: v = 62
            case 0x2F: v = 63
            case 0x3D: continue
            default: return nil
            }
            buffer = buffer << 6 | v
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: buffer >> UInt32(bits)))
            }
        }
        return out
    }
}

extension Event {
    /// Sets `key` to the text of a string literal: `setString(_:_:)` made inlinable here (its
    /// closure is a call per field otherwise).
    @inline(__always)
    mutating func setLiteral(_ key: Key, _ text: StaticString) {
        text.withUTF8Buffer { setString(key, validUTF8: UnsafeRawBufferPointer($0)) }
    }

    /// Sets `key` to `.string(text)`, copying the string's bytes without building a
    /// ``FieldValue`` (a `String` is always well-formed UTF-8).
    @inline(__always)
    mutating func setText(_ key: Key, _ text: String) {
        var text = text
        text.withUTF8 { setString(key, validUTF8: UnsafeRawBufferPointer($0)) }
    }
}
