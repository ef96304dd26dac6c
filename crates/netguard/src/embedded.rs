//! IPv6 addresses that carry an IPv4 address. A packet sent to one reaches,
//! or is translated or tunnelled to, that IPv4 address, so the IPv4 rules
//! judge it as well: `[::ffff:127.0.0.1]` is loopback however it is written.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Where an IPv6 form keeps its IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Embedding {
    /// `::ffff:a.b.c.d` (RFC 4291 §2.5.5.2): a dual-stack socket connects
    /// to a.b.c.d over IPv4.
    Mapped,
    /// `::a.b.c.d` (RFC 4291 §2.5.5.1, deprecated), the same idea before it.
    Compatible,
    /// `::ffff:0:a.b.c.d` (RFC 2765 §2.1): stateless IP/ICMP translation.
    Translated,
    /// `64:ff9b::a.b.c.d` (RFC 6052 §2.1): a NAT64 forwards to a.b.c.d.
    Nat64,
    /// `64:ff9b:1::/48` (RFC 8215): a local NAT64. Its operator picks the
    /// prefix length inside the /48; the /96 position (the last 32 bits) is
    /// decoded. The block is refused whatever it carries: it is not globally
    /// reachable.
    Nat64LocalUse,
    /// `2002:aabb:ccdd::/48` (RFC 3056 §2): the 6to4 site at aa.bb.cc.dd.
    SixToFour,
    /// `2001:0:ssss:ssss:flags:port:cccc:cccc` (RFC 4380 §4): the Teredo
    /// server `s`, and the client's public address `c` stored with every bit
    /// inverted (what a relay sends the packets to).
    Teredo,
}

impl Embedding {
    /// The IPv4 addresses `ip` carries in this form (two for Teredo: the
    /// server and the client).
    pub fn decode(self, ip: Ipv6Addr) -> Vec<Ipv4Addr> {
        let octets = ip.octets();
        let at = |i: usize| Ipv4Addr::new(octets[i], octets[i + 1], octets[i + 2], octets[i + 3]);
        match self {
            Embedding::Mapped
            | Embedding::Compatible
            | Embedding::Translated
            | Embedding::Nat64
            | Embedding::Nat64LocalUse => vec![at(12)],
            Embedding::SixToFour => vec![at(2)],
            Embedding::Teredo => vec![at(4), Ipv4Addr::from_bits(!at(12).to_bits())],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(embedding: Embedding, ip: &str) -> Vec<String> {
        embedding
            .decode(ip.parse().unwrap())
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn each_form_yields_the_ipv4_address_it_carries() {
        for (embedding, ip, carried) in [
            (Embedding::Mapped, "::ffff:127.0.0.1", &["127.0.0.1"][..]),
            (Embedding::Mapped, "::ffff:a9fe:a9fe", &["169.254.169.254"]),
            (Embedding::Compatible, "::127.0.0.1", &["127.0.0.1"]),
            (Embedding::Translated, "::ffff:0:10.1.2.3", &["10.1.2.3"]),
            (Embedding::Nat64, "64:ff9b::192.168.0.1", &["192.168.0.1"]),
            (
                Embedding::Nat64LocalUse,
                "64:ff9b:1::7f00:1",
                &["127.0.0.1"],
            ),
            (Embedding::SixToFour, "2002:7f00:1::", &["127.0.0.1"]),
            (Embedding::SixToFour, "2002:c000:0204::1", &["192.0.2.4"]),
            // RFC 4380's example: server 65.54.227.120, client 192.0.2.45.
            (
                Embedding::Teredo,
                "2001:0:4136:e378:8000:63bf:3fff:fdd2",
                &["65.54.227.120", "192.0.2.45"],
            ),
        ] {
            assert_eq!(decode(embedding, ip), carried, "{ip} as {embedding:?}");
        }
    }
}
