import CVigilShims
#if canImport(Glibc)
import Glibc
#endif

/// Giving up privileges once the capture handle is open: the sensor needs root (or
/// `cap_net_raw,cap_net_admin`) only to open the interface, and parses hostile packets for the
/// rest of its life as an ordinary user.
///
/// Two ways to run a capture sensor:
/// - As root with `user:` set: after `pcap_activate` the process switches to that user and its
///   group, with no supplementary groups, no capabilities and `no_new_privs`.
/// - Without root: `setcap cap_net_raw,cap_net_admin+eip /usr/local/bin/vigil`, run it as any
///   user; after opening the handle the process drops those capabilities.
public enum Privileges {
    /// Who the process is now.
    public struct Identity: Sendable, Equatable {
        public var uid: UInt32
        public var effectiveUID: UInt32
        public var gid: UInt32
        public var effectiveGID: UInt32
        /// The effective capability set (`CapEff` in /proc/self/status); 0 when none.
        public var effectiveCapabilities: UInt64
        public var supplementaryGroups: [UInt32]
    }

    /// The process's current identity.
    public static func current() -> Identity {
        var groups = [gid_t](repeating: 0, count: 256)
        let n = getgroups(Int32(groups.count), &groups)
        return Identity(uid: getuid(), effectiveUID: geteuid(), gid: getgid(), effectiveGID: getegid(),
                        effectiveCapabilities: effectiveCapabilities(), supplementaryGroups: n > 0 ? Array(groups[0..<Int(n)]) : [])
    }

    /// Switches to `user` (when given and the process is root) and drops every capability, then
    /// forbids regaining privileges. Call once every privileged handle is open.
    /// - Throws: ``PrivilegeError`` when the user does not exist or a step fails; the process
    ///   must then stop rather than go on with privileges.
    public static func drop(toUser user: String?) throws(PrivilegeError) {
        if let user, geteuid() == 0 {
            guard let account = lookUp(user) else { throw PrivilegeError("no such user '\(user)' to run the sensor as") }
            guard account.uid != 0 else { throw PrivilegeError("refusing to 'drop' privileges to '\(user)', which is root") }
            // Groups first: once the uid changes, the process may no longer change its groups.
            var gid = gid_t(account.gid)
            guard setgroups(1, &gid) == 0 else { throw PrivilegeError("setgroups failed: \(errorText())") }
            guard setgid(gid_t(account.gid)) == 0 else { throw PrivilegeError("setgid(\(account.gid)) failed: \(errorText())") }
            guard setuid(uid_t(account.uid)) == 0 else { throw PrivilegeError("setuid(\(account.uid)) failed: \(errorText())") }
            // Make sure it sticks: an unprivileged process cannot become root again.
            guard setuid(0) != 0, geteuid() == account.uid, getuid() == account.uid else {
                throw PrivilegeError("the switch to '\(user)' did not hold")
            }
        }
        // Root without a user keeps its uid (documented); capabilities go either way.
        guard vigil_drop_capabilities() == 0 else { throw PrivilegeError("dropping capabilities failed: \(errorText())") }
        guard vigil_no_new_privileges() == 0 else { throw PrivilegeError("prctl(PR_SET_NO_NEW_PRIVS) failed: \(errorText())") }
    }

    private struct Account {
        var uid: UInt32
        var gid: UInt32
    }

    private static func lookUp(_ name: String) -> Account? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16_384)
        let rc = getpwnam_r(name, &entry, &buffer, buffer.count, &result)
        guard rc == 0, result != nil else { return nil }
        return Account(uid: entry.pw_uid, gid: entry.pw_gid)
    }

    /// `CapEff` from /proc/self/status (0 when unreadable).
    static func effectiveCapabilities() -> UInt64 {
        guard let f = fopen("/proc/self/status", "r") else { return 0 }
        defer { fclose(f) }
        var line = [CChar](repeating: 0, count: 512)
        while fgets(&line, Int32(line.count), f) != nil {
            let text = String(cString: line)
            if text.hasPrefix("CapEff:") {
                let hex = text.dropFirst(7).trimmingCharacters(in: " \t\n")
                return UInt64(hex, radix: 16) ?? 0
            }
        }
        return 0
    }

    private static func errorText() -> String { String(cString: strerror(errno)) }
}

private extension Substring {
    func trimmingCharacters(in set: String) -> String {
        var s = self
        while let c = s.first, set.contains(c) { s = s.dropFirst() }
        while let c = s.last, set.contains(c) { s = s.dropLast() }
        return String(s)
    }
}

/// A failure to give up privileges. The sensor stops on it.
public struct PrivilegeError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
