//! The address blocks Toolgate judges, as data: one row per block, with its
//! name and RFC as the IANA IPv4 and IPv6 Special-Purpose Address Registries
//! give them, and whether the registry calls it globally reachable.
//!
//! A reviewer changes a verdict by editing a row. The most specific row that
//! contains an address decides (so `192.0.0.9/32`, globally reachable, beats
//! `192.0.0.0/24`, which is not). Rows that are not in the special-purpose
//! registries say where they come from in their `rfc`: IPv4 multicast, the
//! deprecated IPv6 forms, and, for IPv6, everything outside the global
//! unicast space `2000::/3`, which IANA has not allocated for use.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::embedded::Embedding;

/// The registry's "Globally Reachable" column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reachable {
    /// `True`: allowed.
    Yes,
    /// `False`: refused.
    No,
    /// `N/A` (tunnelling and deprecated blocks): allowed only when the block
    /// carries an IPv4 address, which then decides; refused otherwise.
    NotApplicable,
}

/// An address block: an IPv4 or IPv6 prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefix {
    V4(Ipv4Addr, u8),
    V6(Ipv6Addr, u8),
}

/// One row of the table.
#[derive(Debug, PartialEq, Eq)]
pub struct SpecialRange {
    pub prefix: Prefix,
    pub name: &'static str,
    pub rfc: &'static str,
    pub reachable: Reachable,
    /// How an address of this block carries an IPv4 address, if it does;
    /// that address is judged by the IPv4 rows too.
    pub embeds: Option<Embedding>,
}

use Reachable::{No, NotApplicable, Yes};

const fn v4(
    [a, b, c, d]: [u8; 4],
    len: u8,
    name: &'static str,
    rfc: &'static str,
    reachable: Reachable,
) -> SpecialRange {
    SpecialRange {
        prefix: Prefix::V4(Ipv4Addr::new(a, b, c, d), len),
        name,
        rfc,
        reachable,
        embeds: None,
    }
}

const fn v6(
    [a, b, c, d, e, f, g, h]: [u16; 8],
    len: u8,
    name: &'static str,
    rfc: &'static str,
    reachable: Reachable,
) -> SpecialRange {
    SpecialRange {
        prefix: Prefix::V6(Ipv6Addr::new(a, b, c, d, e, f, g, h), len),
        name,
        rfc,
        reachable,
        embeds: None,
    }
}

/// IPv4: the IANA IPv4 Special-Purpose Address Registry, plus multicast.
/// An address no row contains is public unicast, and allowed.
#[rustfmt::skip]
pub static IPV4: &[SpecialRange] = &[
    v4([0, 0, 0, 0], 8, "\"This network\"", "RFC 791 §3.2", No),
    v4([0, 0, 0, 0], 32, "\"This host on this network\"", "RFC 1122 §3.2.1.3", No),
    v4([10, 0, 0, 0], 8, "Private-Use", "RFC 1918", No),
    v4([100, 64, 0, 0], 10, "Shared Address Space", "RFC 6598", No),
    v4([127, 0, 0, 0], 8, "Loopback", "RFC 1122 §3.2.1.3", No),
    v4([169, 254, 0, 0], 16, "Link Local", "RFC 3927", No),
    v4([172, 16, 0, 0], 12, "Private-Use", "RFC 1918", No),
    v4([192, 0, 0, 0], 24, "IETF Protocol Assignments", "RFC 6890 §2.1", No),
    v4([192, 0, 0, 0], 29, "IPv4 Service Continuity Prefix", "RFC 7335", No),
    v4([192, 0, 0, 8], 32, "IPv4 dummy address", "RFC 7600", No),
    v4([192, 0, 0, 9], 32, "Port Control Protocol Anycast", "RFC 7723", Yes),
    v4([192, 0, 0, 10], 32, "Traversal Using Relays around NAT Anycast", "RFC 8155", Yes),
    v4([192, 0, 0, 170], 32, "NAT64/DNS64 Discovery", "RFC 8880, RFC 7050 §2.2", No),
    v4([192, 0, 0, 171], 32, "NAT64/DNS64 Discovery", "RFC 8880, RFC 7050 §2.2", No),
    v4([192, 0, 2, 0], 24, "Documentation (TEST-NET-1)", "RFC 5737", No),
    v4([192, 31, 196, 0], 24, "AS112-v4", "RFC 7535", Yes),
    v4([192, 52, 193, 0], 24, "AMT", "RFC 7450", Yes),
    v4([192, 88, 99, 0], 24, "Deprecated (6to4 Relay Anycast)", "RFC 7526", NotApplicable),
    v4([192, 88, 99, 2], 32, "6a44-relay anycast address", "RFC 6751", No),
    v4([192, 168, 0, 0], 16, "Private-Use", "RFC 1918", No),
    v4([192, 175, 48, 0], 24, "Direct Delegation AS112 Service", "RFC 7534", Yes),
    v4([198, 18, 0, 0], 15, "Benchmarking", "RFC 2544", No),
    v4([198, 51, 100, 0], 24, "Documentation (TEST-NET-2)", "RFC 5737", No),
    v4([203, 0, 113, 0], 24, "Documentation (TEST-NET-3)", "RFC 5737", No),
    // Not in the special-purpose registry: the multicast registry's block.
    v4([224, 0, 0, 0], 4, "Multicast", "RFC 5771", No),
    v4([240, 0, 0, 0], 4, "Reserved", "RFC 1112 §4", No),
    v4([255, 255, 255, 255], 32, "Limited Broadcast", "RFC 8190, RFC 919 §7", No),
];

/// IPv6: the IANA IPv6 Special-Purpose Address Registry, the deprecated
/// forms that still reach IPv4 or a site, multicast, and the split of the
/// whole space into global unicast (`2000::/3`) and the rest.
#[rustfmt::skip]
pub static IPV6: &[SpecialRange] = &[
    v6([0; 8], 0, "Not global unicast (outside 2000::/3)", "RFC 4291 §2.4", No),
    v6([0x2000, 0, 0, 0, 0, 0, 0, 0], 3, "Global Unicast", "RFC 4291 §2.4", Yes),
    v6([0; 8], 128, "Unspecified Address", "RFC 4291", No),
    v6([0, 0, 0, 0, 0, 0, 0, 1], 128, "Loopback Address", "RFC 4291", No),
    SpecialRange {
        embeds: Some(Embedding::Compatible),
        ..v6([0; 8], 96, "IPv4-compatible Address (deprecated)", "RFC 4291 §2.5.5.1", No)
    },
    SpecialRange {
        embeds: Some(Embedding::Mapped),
        ..v6([0, 0, 0, 0, 0, 0xffff, 0, 0], 96, "IPv4-mapped Address", "RFC 4291", No)
    },
    SpecialRange {
        embeds: Some(Embedding::Translated),
        ..v6([0, 0, 0, 0, 0xffff, 0, 0, 0], 96, "IPv4-translated Address", "RFC 2765 §2.1", No)
    },
    SpecialRange {
        embeds: Some(Embedding::Nat64),
        ..v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96, "IPv4-IPv6 Translation", "RFC 6052", Yes)
    },
    SpecialRange {
        embeds: Some(Embedding::Nat64LocalUse),
        ..v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48, "IPv4-IPv6 Translation (local use)", "RFC 8215", No)
    },
    v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64, "Discard-Only Address Block", "RFC 6666", No),
    v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 23, "IETF Protocol Assignments", "RFC 2928", No),
    SpecialRange {
        embeds: Some(Embedding::Teredo),
        ..v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 32, "TEREDO", "RFC 4380, RFC 8190", NotApplicable)
    },
    v6([0x2001, 1, 0, 0, 0, 0, 0, 1], 128, "Port Control Protocol Anycast", "RFC 7723", Yes),
    v6([0x2001, 1, 0, 0, 0, 0, 0, 2], 128, "Traversal Using Relays around NAT Anycast", "RFC 8155", Yes),
    v6([0x2001, 1, 0, 0, 0, 0, 0, 3], 128, "DNS-SD Service Registration Protocol Anycast", "RFC 9665", Yes),
    v6([0x2001, 2, 0, 0, 0, 0, 0, 0], 48, "Benchmarking", "RFC 5180, RFC Errata 1752", No),
    v6([0x2001, 3, 0, 0, 0, 0, 0, 0], 32, "AMT", "RFC 7450", Yes),
    v6([0x2001, 4, 0x112, 0, 0, 0, 0, 0], 48, "AS112-v6", "RFC 7535", Yes),
    v6([0x2001, 0x10, 0, 0, 0, 0, 0, 0], 28, "Deprecated (previously ORCHID)", "RFC 4843", NotApplicable),
    v6([0x2001, 0x20, 0, 0, 0, 0, 0, 0], 28, "ORCHIDv2", "RFC 7343", Yes),
    v6([0x2001, 0x30, 0, 0, 0, 0, 0, 0], 28, "Drone Remote ID Protocol Entity Tags (DETs) Prefix", "RFC 9374", Yes),
    v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32, "Documentation", "RFC 3849", No),
    SpecialRange {
        embeds: Some(Embedding::SixToFour),
        ..v6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16, "6to4", "RFC 3056", NotApplicable)
    },
    v6([0x2620, 0x4f, 0x8000, 0, 0, 0, 0, 0], 48, "Direct Delegation AS112 Service", "RFC 7534", Yes),
    v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20, "Documentation", "RFC 9637", No),
    v6([0x5f00, 0, 0, 0, 0, 0, 0, 0], 16, "Segment Routing (SRv6) SIDs", "RFC 9602", No),
    v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, "Unique-Local", "RFC 4193, RFC 8190", No),
    v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, "Link-Local Unicast", "RFC 4291", No),
    v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10, "Site-Local (deprecated)", "RFC 3879", No),
    v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, "Multicast", "RFC 4291 §2.7", No),
];

impl Prefix {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (*self, ip) {
            (Prefix::V4(net, len), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
                net.to_bits() & mask == ip.to_bits() & mask
            }
            (Prefix::V6(net, len), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
                net.to_bits() & mask == ip.to_bits() & mask
            }
            _ => false,
        }
    }

    /// How many leading bits the block fixes.
    pub fn bits(&self) -> u8 {
        match *self {
            Prefix::V4(_, len) | Prefix::V6(_, len) => len,
        }
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Prefix::V4(net, len) => write!(f, "{net}/{len}"),
            Prefix::V6(net, len) => write!(f, "{net}/{len}"),
        }
    }
}

/// The most specific row containing `ip`; none for public IPv4 unicast.
pub fn lookup(ip: IpAddr) -> Option<&'static SpecialRange> {
    let table = match ip {
        IpAddr::V4(_) => IPV4,
        IpAddr::V6(_) => IPV6,
    };
    table
        .iter()
        .filter(|row| row.prefix.contains(ip))
        .max_by_key(|row| row.prefix.bits())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_prefix_is_written_in_its_canonical_form() {
        // A row whose address has bits set past its length would be a typo
        // (the mask would silently widen or shift the block).
        for row in IPV4.iter().chain(IPV6) {
            let canonical = match row.prefix {
                Prefix::V4(net, len) => {
                    let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
                    net.to_bits() & mask == net.to_bits()
                }
                Prefix::V6(net, len) => {
                    let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
                    net.to_bits() & mask == net.to_bits()
                }
            };
            assert!(canonical, "{} has host bits set", row.prefix);
        }
    }

    #[test]
    fn no_block_is_listed_twice() {
        for (i, a) in IPV4.iter().chain(IPV6).enumerate() {
            for b in IPV4.iter().chain(IPV6).skip(i + 1) {
                assert_ne!(a.prefix, b.prefix, "{} is listed twice", a.prefix);
            }
        }
    }

    #[test]
    fn the_most_specific_row_decides() {
        let pcp = lookup("192.0.0.9".parse().unwrap()).unwrap();
        assert_eq!(pcp.name, "Port Control Protocol Anycast");
        let ietf = lookup("192.0.0.200".parse().unwrap()).unwrap();
        assert_eq!(ietf.name, "IETF Protocol Assignments");
        assert!(lookup("93.184.216.34".parse().unwrap()).is_none());
        let global = lookup("2606:4700::1111".parse().unwrap()).unwrap();
        assert_eq!(global.name, "Global Unicast");
    }
}
