//! Protocol revisions and the two eras they fall into.

use std::fmt;

/// The two generations of the protocol, served on the same endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Era {
    /// 2024-11-05 through 2025-11-25: `initialize`, sessions, GET streams.
    Legacy,
    /// 2026-07-28: stateless, `_meta` on every request, mirrored headers.
    Modern,
}

/// A protocol revision the gateway understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProtocolVersion {
    /// 2024-11-05 (HTTP+SSE transport).
    V2024_11_05,
    /// 2025-03-26 (Streamable HTTP, JSON-RPC batches).
    V2025_03_26,
    /// 2025-06-18 (batches removed, `MCP-Protocol-Version` header).
    V2025_06_18,
    /// 2025-11-25 (last legacy revision).
    V2025_11_25,
    /// 2026-07-28 (modern era).
    V2026_07_28,
}

impl ProtocolVersion {
    /// Every supported revision, oldest first.
    pub const ALL: [ProtocolVersion; 5] = [
        ProtocolVersion::V2024_11_05,
        ProtocolVersion::V2025_03_26,
        ProtocolVersion::V2025_06_18,
        ProtocolVersion::V2025_11_25,
        ProtocolVersion::V2026_07_28,
    ];

    /// What a legacy request without `MCP-Protocol-Version` is assumed to speak.
    pub const ASSUMED_WITHOUT_HEADER: ProtocolVersion = ProtocolVersion::V2025_03_26;

    /// The newest revision.
    pub const LATEST: ProtocolVersion = ProtocolVersion::V2026_07_28;

    /// The newest legacy revision (what a legacy `initialize` negotiates).
    pub const LATEST_LEGACY: ProtocolVersion = ProtocolVersion::V2025_11_25;

    /// Parses a revision exactly (values are case-sensitive).
    pub fn parse(value: &str) -> Option<ProtocolVersion> {
        ProtocolVersion::ALL
            .into_iter()
            .find(|v| v.as_str() == value)
    }

    /// The revision's date string.
    pub fn as_str(self) -> &'static str {
        match self {
            ProtocolVersion::V2024_11_05 => "2024-11-05",
            ProtocolVersion::V2025_03_26 => "2025-03-26",
            ProtocolVersion::V2025_06_18 => "2025-06-18",
            ProtocolVersion::V2025_11_25 => "2025-11-25",
            ProtocolVersion::V2026_07_28 => "2026-07-28",
        }
    }

    /// The era the revision belongs to.
    pub fn era(self) -> Era {
        if self >= ProtocolVersion::V2026_07_28 {
            Era::Modern
        } else {
            Era::Legacy
        }
    }

    /// Whether a POST body may be a JSON-RPC batch (removed in 2025-06-18).
    pub fn allows_batches(self) -> bool {
        self <= ProtocolVersion::V2025_03_26
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_round_trips_every_version() {
        for v in ProtocolVersion::ALL {
            assert_eq!(ProtocolVersion::parse(v.as_str()), Some(v));
            assert_eq!(v.to_string(), v.as_str());
        }
    }

    #[test]
    fn parse_is_exact() {
        for bad in [
            "",
            "2026-07-29",
            "2026-07-28 ",
            "latest",
            "2025-3-26",
            "2099-01-01",
        ] {
            assert_eq!(ProtocolVersion::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn eras_and_batches() {
        assert_eq!(ProtocolVersion::V2026_07_28.era(), Era::Modern);
        for v in &ProtocolVersion::ALL[..4] {
            assert_eq!(v.era(), Era::Legacy);
        }
        assert!(ProtocolVersion::V2024_11_05.allows_batches());
        assert!(ProtocolVersion::V2025_03_26.allows_batches());
        assert!(!ProtocolVersion::V2025_06_18.allows_batches());
        assert!(!ProtocolVersion::V2026_07_28.allows_batches());
        assert_eq!(ProtocolVersion::LATEST, ProtocolVersion::V2026_07_28);
        assert_eq!(ProtocolVersion::LATEST_LEGACY.era(), Era::Legacy);
        assert_eq!(
            ProtocolVersion::ASSUMED_WITHOUT_HEADER.as_str(),
            "2025-03-26"
        );
    }
}
