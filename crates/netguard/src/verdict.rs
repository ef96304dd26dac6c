//! The verdict on one address: the most specific row of the table decides,
//! and an IPv6 address that carries an IPv4 address is refused when that
//! IPv4 address would be.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use crate::registry::{self, Reachable, SpecialRange};

/// Why Toolgate will not call an address. Its text names the address and
/// the registry block, nothing about the deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub ip: IpAddr,
    /// The IPv4 address `ip` carries, when that is what was refused.
    pub embedded: Option<Ipv4Addr>,
    /// The block that refused it (`embedded`'s, if set).
    pub range: &'static SpecialRange,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let SpecialRange {
            prefix, name, rfc, ..
        } = self.range;
        match self.embedded {
            Some(v4) => write!(
                f,
                "{} carries the IPv4 address {v4}, which is in {prefix} ({name}, {rfc})",
                self.ip
            ),
            None => write!(f, "{} is in {prefix} ({name}, {rfc})", self.ip),
        }
    }
}

impl std::error::Error for Refused {}

/// Whether Toolgate may call `ip`: only addresses the registries call
/// globally reachable pass.
pub fn check_ip(ip: IpAddr) -> Result<(), Refused> {
    let Some(range) = registry::lookup(ip) else {
        return Ok(());
    };
    if let (IpAddr::V6(v6), Some(embedding)) = (ip, range.embeds) {
        for v4 in embedding.decode(v6) {
            if let Err(inner) = check_ip(IpAddr::V4(v4)) {
                return Err(Refused {
                    ip,
                    embedded: Some(v4),
                    range: inner.range,
                });
            }
        }
    }
    let reachable = match range.reachable {
        Reachable::Yes => true,
        Reachable::No => false,
        // A tunnel reaches what it carries, which passed above.
        Reachable::NotApplicable => range.embeds.is_some(),
    };
    if reachable {
        Ok(())
    } else {
        Err(Refused {
            ip,
            embedded: None,
            range,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{IPV4, IPV6};

    enum Expect {
        Allowed,
        Refused,
        /// Refused for the IPv4 address it carries, in the given block.
        Carries(&'static str, &'static str),
    }
    use Expect::{Allowed, Carries};

    fn judge(ip: &str, row: &str, expect: &Expect) {
        let ip: IpAddr = ip.parse().unwrap();
        let found = registry::lookup(ip).map(|r| r.prefix.to_string());
        assert_eq!(found.as_deref(), Some(row), "the row deciding {ip}");
        let verdict = check_ip(ip);
        match expect {
            Allowed => assert_eq!(verdict, Ok(()), "{ip}"),
            Expect::Refused => {
                let refused = verdict.expect_err("refused");
                assert_eq!(refused.range.prefix.to_string(), row);
                assert_eq!(refused.embedded, None);
            }
            Carries(v4, v4_row) => {
                let refused = verdict.expect_err("refused");
                assert_eq!(refused.embedded, Some(v4.parse().unwrap()), "{ip}");
                assert_eq!(refused.range.prefix.to_string(), *v4_row, "{ip}");
                let text = refused.to_string();
                assert!(text.contains(v4) && text.contains(v4_row), "{text}");
            }
        }
    }

    /// One test per case; every row of the table must have one.
    macro_rules! cases {
        ($($test:ident: $ip:literal in $row:literal => $expect:expr;)*) => {
            $(
                #[test]
                fn $test() {
                    judge($ip, $row, &$expect);
                }
            )*
            const ROWS_WITH_A_CASE: &[&str] = &[$($row),*];
        };
    }

    cases! {
        // IPv4 Special-Purpose Address Registry, and multicast.
        v4_this_network: "0.1.2.3" in "0.0.0.0/8" => Expect::Refused;
        v4_this_host: "0.0.0.0" in "0.0.0.0/32" => Expect::Refused;
        v4_private_10: "10.20.30.40" in "10.0.0.0/8" => Expect::Refused;
        v4_shared_address_space: "100.127.255.254" in "100.64.0.0/10" => Expect::Refused;
        v4_loopback: "127.0.0.1" in "127.0.0.0/8" => Expect::Refused;
        v4_loopback_end: "127.255.255.254" in "127.0.0.0/8" => Expect::Refused;
        v4_link_local_metadata: "169.254.169.254" in "169.254.0.0/16" => Expect::Refused;
        v4_private_172: "172.31.255.255" in "172.16.0.0/12" => Expect::Refused;
        v4_ietf_protocol_assignments: "192.0.0.100" in "192.0.0.0/24" => Expect::Refused;
        v4_service_continuity: "192.0.0.1" in "192.0.0.0/29" => Expect::Refused;
        v4_dummy: "192.0.0.8" in "192.0.0.8/32" => Expect::Refused;
        v4_pcp_anycast: "192.0.0.9" in "192.0.0.9/32" => Allowed;
        v4_turn_anycast: "192.0.0.10" in "192.0.0.10/32" => Allowed;
        v4_nat64_discovery_170: "192.0.0.170" in "192.0.0.170/32" => Expect::Refused;
        v4_nat64_discovery_171: "192.0.0.171" in "192.0.0.171/32" => Expect::Refused;
        v4_test_net_1: "192.0.2.1" in "192.0.2.0/24" => Expect::Refused;
        v4_as112: "192.31.196.1" in "192.31.196.0/24" => Allowed;
        v4_amt: "192.52.193.1" in "192.52.193.0/24" => Allowed;
        v4_6to4_relay_anycast: "192.88.99.1" in "192.88.99.0/24" => Expect::Refused;
        v4_6a44_relay: "192.88.99.2" in "192.88.99.2/32" => Expect::Refused;
        v4_private_192_168: "192.168.1.1" in "192.168.0.0/16" => Expect::Refused;
        v4_as112_direct_delegation: "192.175.48.1" in "192.175.48.0/24" => Allowed;
        v4_benchmarking: "198.19.255.1" in "198.18.0.0/15" => Expect::Refused;
        v4_test_net_2: "198.51.100.7" in "198.51.100.0/24" => Expect::Refused;
        v4_test_net_3: "203.0.113.9" in "203.0.113.0/24" => Expect::Refused;
        v4_multicast: "224.0.0.251" in "224.0.0.0/4" => Expect::Refused;
        v4_reserved: "240.0.0.1" in "240.0.0.0/4" => Expect::Refused;
        v4_limited_broadcast: "255.255.255.255" in "255.255.255.255/32" => Expect::Refused;

        // IPv6 Special-Purpose Address Registry, and the rest of the space.
        v6_outside_global_unicast: "1::1" in "::/0" => Expect::Refused;
        v6_global_unicast: "2606:4700::1111" in "2000::/3" => Allowed;
        v6_unspecified: "::" in "::/128" => Expect::Refused;
        v6_loopback: "::1" in "::1/128" => Expect::Refused;
        v6_compatible_internal: "::127.0.0.1" in "::/96" => Carries("127.0.0.1", "127.0.0.0/8");
        v6_compatible_public: "::8.8.8.8" in "::/96" => Expect::Refused;
        v6_mapped_internal: "::ffff:127.0.0.1" in "::ffff:0.0.0.0/96" => Carries("127.0.0.1", "127.0.0.0/8");
        v6_mapped_metadata: "::ffff:169.254.169.254" in "::ffff:0.0.0.0/96" => Carries("169.254.169.254", "169.254.0.0/16");
        v6_mapped_public: "::ffff:8.8.8.8" in "::ffff:0.0.0.0/96" => Expect::Refused;
        v6_translated_internal: "::ffff:0:10.0.0.1" in "::ffff:0:0:0/96" => Carries("10.0.0.1", "10.0.0.0/8");
        v6_translated_public: "::ffff:0:8.8.8.8" in "::ffff:0:0:0/96" => Expect::Refused;
        v6_nat64_internal: "64:ff9b::127.0.0.1" in "64:ff9b::/96" => Carries("127.0.0.1", "127.0.0.0/8");
        v6_nat64_private: "64:ff9b::192.168.0.1" in "64:ff9b::/96" => Carries("192.168.0.1", "192.168.0.0/16");
        v6_nat64_public: "64:ff9b::8.8.8.8" in "64:ff9b::/96" => Allowed;
        v6_nat64_local_internal: "64:ff9b:1::127.0.0.1" in "64:ff9b:1::/48" => Carries("127.0.0.1", "127.0.0.0/8");
        v6_nat64_local_public: "64:ff9b:1::8.8.8.8" in "64:ff9b:1::/48" => Expect::Refused;
        v6_discard_only: "100::1" in "100::/64" => Expect::Refused;
        v6_ietf_protocol_assignments: "2001:100::1" in "2001::/23" => Expect::Refused;
        // Teredo: server 65.54.227.120; the client is stored inverted.
        v6_teredo_public: "2001:0:4136:e378:8000:63bf:f7f7:f7f7" in "2001::/32" => Allowed;
        v6_teredo_loopback_client: "2001:0:4136:e378:8000:63bf:80ff:fffe" in "2001::/32" => Carries("127.0.0.1", "127.0.0.0/8");
        v6_teredo_documentation_client: "2001:0:4136:e378:8000:63bf:3fff:fdd2" in "2001::/32" => Carries("192.0.2.45", "192.0.2.0/24");
        v6_teredo_private_server: "2001:0:a00:1:8000:63bf:f7f7:f7f7" in "2001::/32" => Carries("10.0.0.1", "10.0.0.0/8");
        v6_pcp_anycast: "2001:1::1" in "2001:1::1/128" => Allowed;
        v6_turn_anycast: "2001:1::2" in "2001:1::2/128" => Allowed;
        v6_srp_anycast: "2001:1::3" in "2001:1::3/128" => Allowed;
        v6_benchmarking: "2001:2::1" in "2001:2::/48" => Expect::Refused;
        v6_amt: "2001:3::1" in "2001:3::/32" => Allowed;
        v6_as112: "2001:4:112::1" in "2001:4:112::/48" => Allowed;
        v6_orchid_deprecated: "2001:10::1" in "2001:10::/28" => Expect::Refused;
        v6_orchid_v2: "2001:20::1" in "2001:20::/28" => Allowed;
        v6_drone_remote_id: "2001:30::1" in "2001:30::/28" => Allowed;
        v6_documentation: "2001:db8::1" in "2001:db8::/32" => Expect::Refused;
        v6_6to4_public: "2002:808:808::1" in "2002::/16" => Allowed;
        v6_6to4_loopback: "2002:7f00:1::" in "2002::/16" => Carries("127.0.0.1", "127.0.0.0/8");
        v6_6to4_metadata: "2002:a9fe:a9fe::1" in "2002::/16" => Carries("169.254.169.254", "169.254.0.0/16");
        v6_as112_direct_delegation: "2620:4f:8000::1" in "2620:4f:8000::/48" => Allowed;
        v6_documentation_3fff: "3fff:fff::1" in "3fff::/20" => Expect::Refused;
        v6_srv6_sids: "5f00::1" in "5f00::/16" => Expect::Refused;
        v6_unique_local: "fd12:3456::1" in "fc00::/7" => Expect::Refused;
        v6_link_local: "fe80::1" in "fe80::/10" => Expect::Refused;
        v6_site_local: "fec0::1" in "fec0::/10" => Expect::Refused;
        v6_multicast: "ff02::1" in "ff00::/8" => Expect::Refused;
    }

    #[test]
    fn every_row_has_a_case() {
        for row in IPV4.iter().chain(IPV6) {
            let prefix = row.prefix.to_string();
            assert!(
                ROWS_WITH_A_CASE.contains(&prefix.as_str()),
                "no case for {prefix} ({})",
                row.name
            );
        }
    }

    #[test]
    fn public_unicast_around_the_special_blocks_passes() {
        for ip in [
            "1.1.1.1",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.0",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "2600::1",
            "2001:200::1",
            "3ffe::1",
        ] {
            assert_eq!(check_ip(ip.parse().unwrap()), Ok(()), "{ip}");
        }
    }

    #[test]
    fn a_refusal_names_the_address_and_the_block() {
        let refused = check_ip("::ffff:169.254.169.254".parse().unwrap()).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "::ffff:169.254.169.254 carries the IPv4 address 169.254.169.254, \
             which is in 169.254.0.0/16 (Link Local, RFC 3927)"
        );
        let refused = check_ip("10.1.2.3".parse().unwrap()).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "10.1.2.3 is in 10.0.0.0/8 (Private-Use, RFC 1918)"
        );
    }
}
