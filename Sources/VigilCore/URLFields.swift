extension Event {
    /// Sets `url.original` and, for an origin-form target (`/path?query`), `url.path` and
    /// `url.query` (the latter only when non-empty). Shared by the Zeek and EVE HTTP mappings and
    /// the network sensor's HTTP records.
    public mutating func setURL(original v: String) {
        self["url.original"] = .string(v)
        guard v.hasPrefix("/") else { return }
        if let q = v.firstIndex(of: "?") {
            self["url.path"] = .string(String(v[..<q]))
            let query = v[v.index(after: q)...]
            if !query.isEmpty { self["url.query"] = .string(String(query)) }
        } else {
            self["url.path"] = .string(v)
        }
    }
}
