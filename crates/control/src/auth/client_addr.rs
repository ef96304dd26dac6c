//! The client's address: the TCP peer, or, behind proxies the deployment
//! names as trusted, the address those proxies saw.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use ipnet::IpNet;

use crate::state::AppState;

/// Proxies whose `X-Forwarded-For` is believed (`TOOLGATE_TRUSTED_PROXIES`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// A comma-separated list of addresses and CIDR ranges, e.g.
    /// `10.0.0.0/8, 192.0.2.1, fd00::/8`. Empty: none.
    pub fn parse(list: &str) -> Result<Self, String> {
        list.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .map(|net| net.trunc())
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        format!("{entry:?} is not an IP address or CIDR range (such as 10.0.0.0/8)")
                    })
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client behind `peer`: `peer` itself unless it is a trusted proxy;
    /// then the right-most `X-Forwarded-For` address that is not a trusted
    /// proxy (each proxy appends the address it saw, so everything left of
    /// the first untrusted one may be forged). When every listed address is
    /// trusted, the left-most; when an entry is not an address, the last
    /// trusted hop before it.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.contains(client) {
            return client;
        }
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .collect::<Vec<_>>();
        for hop in hops.into_iter().rev() {
            let Some(ip) = parse_hop(hop) else { break };
            client = ip;
            if !self.contains(ip) {
                break;
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: an address, with or without a port.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|socket| socket.ip()))
        .or_else(|_| {
            hop.strip_prefix('[')
                .and_then(|rest| rest.strip_suffix(']'))
                .ok_or(())
                .and_then(|inner| inner.parse::<IpAddr>().map_err(drop))
        })
        .ok()
        .map(|ip| ip.to_canonical())
}

/// The address of the client that sent the request, for throttling and the
/// account's record of who did what: the TCP peer, or, when the peer is one
/// of [`TrustedProxies`], the address it forwarded (see
/// [`TrustedProxies::client`]). IPv4-mapped IPv6 addresses read as IPv4.
///
/// `None` when the server was not started with connection info (a router
/// driven without a socket, as tests do); never a rejection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub Option<IpAddr>);

impl ClientAddr {
    /// The client of a request whose parts are `parts` (for middleware,
    /// which has no extractor).
    pub fn of(parts: &Parts, proxies: &TrustedProxies) -> Self {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(socket)| socket.ip());
        Self(peer.map(|peer| proxies.client(peer, &parts.headers)))
    }
}

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self::of(parts, &state.trusted_proxies))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        headers
    }

    #[test]
    fn parses_addresses_and_ranges() {
        let proxies = TrustedProxies::parse(" 10.0.0.0/8, 192.0.2.1 ,fd00::/8,").unwrap();
        assert!(proxies.contains(ip("10.1.2.3")));
        assert!(proxies.contains(ip("::ffff:10.1.2.3")));
        assert!(proxies.contains(ip("192.0.2.1")));
        assert!(!proxies.contains(ip("192.0.2.2")));
        assert!(proxies.contains(ip("fd12::1")));
        assert!(TrustedProxies::parse("").unwrap().is_empty());
        // Host bits are ignored, as a reader of the setting would expect.
        assert!(TrustedProxies::parse("10.9.9.9/8")
            .unwrap()
            .contains(ip("10.0.0.1")));
        let err = TrustedProxies::parse("10.0.0.0/8, proxy.local").unwrap_err();
        assert!(err.contains("\"proxy.local\""), "{err}");
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        let none = TrustedProxies::default();
        let headers = forwarded(&["198.51.100.7"]);
        assert_eq!(none.client(ip("203.0.113.1"), &headers), ip("203.0.113.1"));
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let proxies = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let headers = forwarded(&["198.51.100.7"]);
        assert_eq!(
            proxies.client(ip("203.0.113.1"), &headers),
            ip("203.0.113.1")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_right_most_untrusted_hop_is_the_client() {
        let proxies = TrustedProxies::parse("10.0.0.0/8").unwrap();
        // The client forged the first entry; the proxies appended the rest.
        let headers = forwarded(&["1.1.1.1, 198.51.100.7", "10.0.0.2"]);
        assert_eq!(proxies.client(ip("10.0.0.1"), &headers), ip("198.51.100.7"));
        let ported = forwarded(&["1.1.1.1, 198.51.100.7:4321, [2001:db8::1]:80, 10.0.0.2"]);
        assert_eq!(proxies.client(ip("10.0.0.1"), &ported), ip("2001:db8::1"));
    }

    #[test]
    fn all_hops_trusted_or_unreadable() {
        let proxies = TrustedProxies::parse("10.0.0.0/8").unwrap();
        assert_eq!(
            proxies.client(ip("10.0.0.1"), &forwarded(&["10.0.0.3, 10.0.0.2"])),
            ip("10.0.0.3")
        );
        assert_eq!(
            proxies.client(
                ip("10.0.0.1"),
                &forwarded(&["198.51.100.7, junk, 10.0.0.2"])
            ),
            ip("10.0.0.2")
        );
        assert_eq!(
            proxies.client(ip("10.0.0.1"), &HeaderMap::new()),
            ip("10.0.0.1")
        );
        assert_eq!(
            proxies.client(ip("::ffff:10.0.0.1"), &forwarded(&["::ffff:198.51.100.7"])),
            ip("198.51.100.7")
        );
    }
}
