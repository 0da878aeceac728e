/// Enrichment of events: reference tables from files, tables fed by changelog topics, network zones
/// by longest-prefix match, GeoIP and ASN from MaxMind databases, and threat-intel sets.
public enum VigilEnrich {}
