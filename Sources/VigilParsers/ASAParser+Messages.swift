/// Field layouts per Cisco ASA message id (`ASALayout` syntax). Ids not listed still parse: the
/// event then has the header fields, `event.code` and `message`.
///
/// Endpoint convention: `source.*` is the first endpoint the message names and
/// `destination.*` the second (for 302020/302021, `laddr` is the source and `faddr` the
/// destination), as in Cisco's own field order and in Apache Metron's and Logstash's ASA
/// patterns; `network.direction` (inbound/outbound) says which side initiated when the message
/// tells. Translated (mapped) addresses go to `source.nat.*` / `destination.nat.*`.
enum ASAMessages {
    static let endpointPair = "from {ip:source.ip}/{int:source.port} to {ip:destination.ip}/{int:destination.port}"
    static let ike = "[?Group = {text:cisco.asa.group}, ?][?Username = {text:user.name}, ?]IP = {ip:source.ip}, {rest:cisco.asa.detail}"

    static let specs: [(String, [String])] = [
        ("106001", ["{lword:network.direction} {lword:network.transport} connection {lword:event.action} \(endpointPair) flags {text:cisco.asa.tcp_flags} on interface {word:observer.ingress.interface.name}"]),
        ("106006", ["{lword:event.action} {lword:network.direction} {lword:network.transport} \(endpointPair)[? ({text:user.name})?] on interface {word:observer.ingress.interface.name}"]),
        ("106007", ["{lword:event.action} {lword:network.direction} {lword:network.transport} \(endpointPair)[? ({text:user.name})?] on interface {word:observer.ingress.interface.name}"]),
        ("106010", [
            "{lword:event.action} {lword:network.direction} protocol {word:network.iana_number} src {word:cisco.asa.source_interface}:{ip:source.ip}[?({text:cisco.asa.source_username})?] dst {word:cisco.asa.destination_interface}:{ip:destination.ip}",
            "{lword:event.action} {lword:network.direction} {lword:network.transport} src {word:cisco.asa.source_interface}:{ip:source.ip}[?/{int:source.port}?][?({text:cisco.asa.source_username})?] dst {word:cisco.asa.destination_interface}:{ip:destination.ip}[?/{int:destination.port}?]",
        ]),
        ("106014", ["{lword:event.action} {lword:network.direction} {lword:network.transport} src {word:cisco.asa.source_interface}:{ip:source.ip}[?({text:cisco.asa.source_username})?] dst {word:cisco.asa.destination_interface}:{ip:destination.ip}[?({text:cisco.asa.destination_username})?] (type {int:icmp.type}, code {int:icmp.code})"]),
        ("106015", ["{lword:event.action} {lword:network.transport} (no connection) \(endpointPair) flags {text:cisco.asa.tcp_flags} on interface {word:observer.ingress.interface.name}"]),
        ("106021", ["{lword:event.action} {lword:network.transport} reverse path check from {ip:source.ip} to {ip:destination.ip} on interface {word:observer.ingress.interface.name}"]),
        ("106023", [
            "{lword:event.action} protocol {word:network.iana_number} src {word:cisco.asa.source_interface}:{ip:source.ip}[?({text:cisco.asa.source_username})?] dst {word:cisco.asa.destination_interface}:{ip:destination.ip}[?({text:cisco.asa.destination_username})?] by access-group \"{text:rule.name}\"",
            "{lword:event.action} {lword:network.transport} src {word:cisco.asa.source_interface}:{ip:source.ip}[?/{int:source.port}?][?({text:cisco.asa.source_username})?] dst {word:cisco.asa.destination_interface}:{ip:destination.ip}[?/{int:destination.port}?][?({text:cisco.asa.destination_username})?][? (type {int:icmp.type}, code {int:icmp.code})?] by access-group \"{text:rule.name}\"",
        ]),
        ("106100", ["access-list {word:rule.name} {lword:event.action} {lword:network.transport} {word:cisco.asa.source_interface}/{ip:source.ip}({int:source.port})[?({text:cisco.asa.source_username})?] -> {word:cisco.asa.destination_interface}/{ip:destination.ip}({int:destination.port})[?({text:cisco.asa.destination_username})?] hit-cnt {int:cisco.asa.hit_count}"]),
        ("110002", ["Failed to locate egress interface for {lword:network.transport} from {word:cisco.asa.source_interface}:{ip:source.ip}/{int:source.port} to {ip:destination.ip}/{int:destination.port}"]),
        ("111010", ["User '{text:user.name}', running '{text:cisco.asa.client}' from IP {ip:source.ip}, executed '{text:cisco.asa.command}'"]),
        ("113004", ["AAA user {lword:cisco.asa.aaa_type} Successful : server = {ip:destination.ip} : user = {rest:user.name}"]),
        ("113005", ["AAA user {lword:cisco.asa.aaa_type} Rejected : reason = {text:event.reason} : server = {ip:destination.ip} : user = {text:user.name} : user IP = {ip:source.ip}"]),
        ("113009", ["AAA retrieved default group policy ({text:cisco.asa.group_policy}) for user = {rest:user.name}"]),
        ("113019", ["Group = {text:cisco.asa.group}, Username = {text:user.name}, IP = {ip:source.ip}, Session disconnected. Session Type: {text:cisco.asa.session_type}, Duration: {text:cisco.asa.duration}, Bytes xmt: {int:source.bytes}, Bytes rcv: {int:destination.bytes}, Reason: {rest:event.reason}"]),
        ("302013", [builtConnection]),
        ("302015", [builtConnection]),
        ("302014", [teardownConnection]),
        ("302016", [teardownConnection]),
        ("302020", [icmpConnection]),
        ("302021", [icmpConnection]),
        ("305011", [translation]),
        ("305012", [translation]),
        ("313001", ["{lword:event.action} {lword:network.transport} type={int:icmp.type}, code={int:icmp.code} from {ip:source.ip} on interface {word:observer.ingress.interface.name}"]),
        ("313004", ["{lword:event.action} {lword:network.transport} type={int:icmp.type}, from laddr {ip:source.ip} on interface {word:observer.ingress.interface.name} to {ip:destination.ip}: {rest:event.reason}"]),
        ("313005", ["No matching connection for {lword:network.transport} error message: {word:cisco.asa.icmp_error_transport} src {word:cisco.asa.source_interface}:{ip:source.ip} dst {word:cisco.asa.destination_interface}:{ip:destination.ip} (type {int:icmp.type}, code {int:icmp.code})"]),
        ("313008", ["{lword:event.action} {lword:network.transport} type={int:icmp.type}, code={int:icmp.code} from {ip:source.ip} on interface {word:observer.ingress.interface.name}"]),
        ("402117", ["IPSEC: Received a non-IPSec ({word:cisco.asa.ipsec_protocol}) packet from {ip:source.ip} to {ip:destination.ip}."]),
        ("402119", ["IPSEC: Received an {word:cisco.asa.ipsec_protocol} packet (SPI= {word:cisco.asa.spi}, sequence number= {word:cisco.asa.sequence_number}) from {ip:source.ip} (user= {text:user.name}) to {ip:destination.ip} that failed anti-replay checking."]),
        ("419001", ["{lword:event.action} {lword:network.transport} packet from {word:cisco.asa.source_interface}:{ip:source.ip}/{int:source.port} to {word:cisco.asa.destination_interface}:{ip:destination.ip}/{int:destination.port}, reason: {rest:event.reason}"]),
        ("419002", ["Received duplicate {lword:network.transport} SYN from {word:cisco.asa.source_interface}:{ip:source.ip}/{int:source.port} to {word:cisco.asa.destination_interface}:{ip:destination.ip}/{int:destination.port} with different initial sequence number"]),
        ("500003", ["Bad {lword:network.transport} hdr length (hdrlen={int:cisco.asa.header_length}, pktlen={int:cisco.asa.packet_length}) \(endpointPair), flags: {text:cisco.asa.tcp_flags}, on interface {word:observer.ingress.interface.name}"]),
        ("500004", ["Invalid transport field for protocol={lword:network.transport}, \(endpointPair)"]),
        ("602303", [ipsecSA]),
        ("602304", [ipsecSA]),
        ("609001", ["{lword:event.action} local-host {word:observer.ingress.interface.name}:{ip:source.ip}"]),
        ("609002", ["{lword:event.action} local-host {word:observer.ingress.interface.name}:{ip:source.ip} duration {word:cisco.asa.duration}"]),
        ("710001", [deviceAccess]), ("710002", [deviceAccess]), ("710003", [deviceAccess]),
        ("710005", [deviceAccess]), ("710006", [deviceAccess]),
        ("713172", ["Group = {text:cisco.asa.group}, IP = {ip:source.ip}, Automatic NAT Detection Status: {rest:cisco.asa.detail}"]),
        ("713903", ["{text:cisco.asa.detail} from {ip:source.ip}:{int:source.port}"]),
        ("733100", ["[{text:cisco.asa.drop_rate_id}] drop {text:cisco.asa.drop_type} exceeded. Current burst rate is {int:cisco.asa.burst_rate} per second, max configured rate is {int:cisco.asa.burst_rate_limit}; Current average rate is {int:cisco.asa.average_rate} per second, max configured rate is {int:cisco.asa.average_rate_limit}; Cumulative total count is {int:cisco.asa.total_count}"]),
    ]

    static let builtConnection = "{lword:event.action} {lword:network.direction} {lword:network.transport} connection {word:cisco.asa.connection_id} for {word:cisco.asa.source_interface}:{ip:source.ip}/{int:source.port} ({ip:source.nat.ip}/{int:source.nat.port})[?({text:cisco.asa.source_username})?][? ({text:cisco.asa.source_username})?] to {word:cisco.asa.destination_interface}:{ip:destination.ip}/{int:destination.port} ({ip:destination.nat.ip}/{int:destination.nat.port})[?({text:cisco.asa.destination_username})?][? ({text:cisco.asa.destination_username})?]"
    static let teardownConnection = "{lword:event.action} {lword:network.transport} connection {word:cisco.asa.connection_id} for {word:cisco.asa.source_interface}:{ip:source.ip}/{int:source.port}[?({text:cisco.asa.source_username})?] to {word:cisco.asa.destination_interface}:{ip:destination.ip}/{int:destination.port}[?({text:cisco.asa.destination_username})?] duration {word:cisco.asa.duration} bytes {int:network.bytes}[? {rest:event.reason}?]"
    static let icmpConnection = "{lword:event.action} [?{lword:network.direction} ?]{lword:network.transport} connection for faddr {ip:destination.ip}/{int:cisco.asa.icmp_seq}[?({text:cisco.asa.destination_username})?] gaddr {ip:source.nat.ip}/{int:cisco.asa.icmp_mapped_id} laddr {ip:source.ip}/{int:cisco.asa.icmp_id}[? ({text:cisco.asa.source_username})?]"
    static let translation = "{lword:event.action} {lword:cisco.asa.translation_type} {lword:network.transport} translation from {word:cisco.asa.source_interface}:{ip:source.ip}/{int:source.port}[?({text:cisco.asa.source_username})?] to {word:cisco.asa.destination_interface}:{ip:source.nat.ip}/{int:source.nat.port}[? duration {word:cisco.asa.duration}?]"
    static let ipsecSA = "{lword:event.action} {lword:network.direction} {word:cisco.asa.ipsec_mode} SA (SPI= {word:cisco.asa.spi}) between {ip:source.ip} and {ip:destination.ip} (user= {text:user.name}) has been {lword:cisco.asa.ipsec_state}."
    static let deviceAccess = "{lword:network.transport} [?request ?][?access ?]{ltext:event.action} from {ip:source.ip}/{int:source.port} to {word:cisco.asa.destination_interface}:{ip:destination.ip}/{int:destination.port}"

    /// The IKE/VPN messages (`Group = …, IP = …, …`) share one layout.
    static let ikePrefixes: Set<String> = ["713", "113"]

    /// Compiled layouts and the interned field names they capture into.
    static let compiled: (layouts: [String: [ASALayout]], ike: ASALayout, fields: [String]) = {
        var fields: [String] = []
        var layouts: [String: [ASALayout]] = [:]
        for (id, specs) in specs { layouts[id] = specs.map { ASALayout($0, fields: &fields) } }
        let ikeLayout = ASALayout(ike, fields: &fields)
        return (layouts, ikeLayout, fields)
    }()
}
