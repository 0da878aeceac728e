/// An SSH identification string (RFC 4253 §4.2):
/// `SSH-protoversion-softwareversion SP comments CR LF`.
public struct SSHBanner: Sendable, Hashable {
    /// The whole identification line without its line end, as Zeek's ssh.log `client` and
    /// `server` columns show it (`SSH-2.0-OpenSSH_5.9p1 Debian-5ubuntu1.1`).
    public var line: String
    /// `2.0`, `1.99` (a server that speaks both), `1.5`, …
    public var protocolVersion: String
    /// The text after the second `-` up to the first space (`OpenSSH_6.6p1-hpn14v4`).
    public var softwareVersion: String
    /// The text after the first space, if any.
    public var comments: String?
    /// How many input bytes the banner and the lines before it took, through its `LF`.
    public var consumed: Int

    public init(line: String, protocolVersion: String, softwareVersion: String, comments: String?, consumed: Int) {
        self.line = line
        self.protocolVersion = protocolVersion
        self.softwareVersion = softwareVersion
        self.comments = comments
        self.consumed = consumed
    }

    /// Lines read before giving up on finding the banner (a server may send other lines first).
    public static let maximumLinesBefore = 32
    /// Longest line accepted: RFC 4253 allows 255 bytes with CR LF; some servers send longer.
    public static let maximumLineLength = 1024
}

/// Finds and splits the SSH identification string at the start of one direction's bytes.
///
/// Lines are ended by `LF` (a `CR` before it is dropped). Lines that do not start with `SSH-`
/// are skipped, as RFC 4253 §4.2 allows a server to send them first (at most
/// ``SSHBanner/maximumLinesBefore``). Returns `nil` when no complete banner line is there yet, when
/// a line is too long, or when the banner is malformed (no `-` after the protocol version, or
/// control bytes in it). Non-printable bytes in the returned strings are written `\xHH`.
/// - Complexity: O(n) in the bytes scanned, at most about 33 KiB.
public func parseSSHBanner(_ bytes: UnsafeRawBufferPointer) -> SSHBanner? {
    var lineStart = 0
    var lines = 0
    while lineStart < bytes.count, lines <= SSHBanner.maximumLinesBefore {
        var lf = lineStart
        while lf < bytes.count, bytes[lf] != 0x0A {
            lf += 1
            if lf - lineStart > SSHBanner.maximumLineLength { return nil }
        }
        guard lf < bytes.count else { return nil } // line not complete yet
        var end = lf
        if end > lineStart, bytes[end - 1] == 0x0D { end -= 1 }
        if end - lineStart >= 4, bytes[lineStart] == 0x53, bytes[lineStart + 1] == 0x53,
           bytes[lineStart + 2] == 0x48, bytes[lineStart + 3] == 0x2D { // "SSH-"
            return splitBanner(bytes, lineStart, end, consumed: lf + 1)
        }
        lines += 1
        lineStart = lf + 1
    }
    return nil
}

private func splitBanner(_ b: UnsafeRawBufferPointer, _ start: Int, _ end: Int, consumed: Int) -> SSHBanner? {
    let versionStart = start + 4
    var dash = versionStart
    while dash < end, b[dash] != 0x2D, b[dash] != 0x20 { dash += 1 }
    guard dash < end, b[dash] == 0x2D, dash > versionStart else { return nil }
    let softwareStart = dash + 1
    var space = softwareStart
    while space < end, b[space] != 0x20 { space += 1 }
    for k in start..<end where b[k] < 0x20 && b[k] != 0x09 { return nil }
    func text(_ from: Int, _ to: Int) -> String {
        TextSink.escapedString(UnsafeRawBufferPointer(rebasing: b[from..<to]))
    }
    return SSHBanner(line: text(start, end), protocolVersion: text(versionStart, dash),
                     softwareVersion: text(softwareStart, space),
                     comments: space < end ? text(space + 1, end) : nil, consumed: consumed)
}
