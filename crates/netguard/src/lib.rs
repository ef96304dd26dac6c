//! The outbound address policy (an SSRF guard): unless the deployment opts
//! in, Toolgate never calls a private, loopback, link-local or otherwise
//! internal address on a tenant's behalf, so tenants cannot aim it at its own
//! network.
//!
//! The control plane checks URLs when they are registered ([`check_url`]);
//! the gateway checks every address again when it connects
//! ([`resolve_public`]), since DNS answers change.

#![forbid(unsafe_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use url::{Host, Url};

/// Parses and checks a URL Toolgate will call (an upstream, a webhook).
pub async fn check_url(raw: &str, allow_private: bool) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|e| format!("is not a valid URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must use http or https".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not embed credentials; put them in `headers` instead".to_owned());
    }
    if url.fragment().is_some() {
        return Err("must not have a #fragment".to_owned());
    }
    let host = url.host().ok_or("must have a host")?;
    if allow_private {
        return Ok(url);
    }
    let refused = |ip: IpAddr| {
        format!("resolves to {ip}, a private or internal address; set TOOLGATE_ALLOW_PRIVATE_UPSTREAMS=true to allow it")
    };
    match host {
        Host::Ipv4(ip) if is_internal(IpAddr::V4(ip)) => return Err(refused(IpAddr::V4(ip))),
        Host::Ipv6(ip) if is_internal(IpAddr::V6(ip)) => return Err(refused(IpAddr::V6(ip))),
        Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            if name == "localhost" || name.ends_with(".localhost") {
                return Err(refused(IpAddr::V4(Ipv4Addr::LOCALHOST)));
            }
            let port = url.port_or_known_default().unwrap_or(443);
            // A name that does not resolve yet is accepted; the gateway
            // refuses internal addresses again at connect time.
            let resolved: Vec<IpAddr> =
                match tokio::net::lookup_host(format!("{name}:{port}")).await {
                    Ok(addrs) => addrs.map(|a| a.ip()).collect(),
                    Err(_) => Vec::new(),
                };
            if let Some(&addr) = resolved.iter().find(|ip| is_internal(**ip)) {
                return Err(refused(addr));
            }
        }
        _ => {}
    }
    Ok(url)
}

/// Resolves `host:port` for a connection, keeping only addresses the policy
/// allows. An error when nothing is left says why.
pub async fn resolve_public(
    host: &str,
    port: u16,
    allow_private: bool,
) -> std::io::Result<Vec<SocketAddr>> {
    let all: Vec<SocketAddr> = tokio::net::lookup_host((host, port)).await?.collect();
    if allow_private {
        return Ok(all);
    }
    let public: Vec<SocketAddr> = all
        .iter()
        .copied()
        .filter(|a| !is_internal(a.ip()))
        .collect();
    if public.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!("{host} resolves only to private or internal addresses, which are not allowed"),
        ));
    }
    Ok(public)
}

/// A DNS resolver for `reqwest` clients that call on a tenant's behalf:
/// resolves like the system does, then keeps only addresses the policy
/// allows, so a name cannot be pointed at an internal address after it was
/// registered. Literal IP hosts skip resolvers; check those with
/// [`is_internal`] before sending.
pub struct GuardedResolver;

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let addrs = resolve_public(name.as_str(), 0, false).await?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Whether an address is not on the public internet.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_internal_v4(ip),
        IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
            Some(v4) => is_internal_v4(v4),
            None => is_internal_v6(ip),
        },
    }
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240 // reserved
}

fn is_internal_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || first == 0x2001 && ip.segments()[1] == 0x0db8 // documentation
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn public_urls_pass() {
        assert!(check_url("https://93.184.216.34/mcp", false).await.is_ok());
        assert!(check_url("http://[2606:4700::1111]:8080/mcp", false)
            .await
            .is_ok());
    }

    #[tokio::test]
    async fn internal_targets_are_refused_unless_allowed() {
        for url in [
            "http://127.0.0.1:3000/mcp",
            "http://localhost/mcp",
            "http://api.localhost/mcp",
            "http://10.0.0.1/",
            "http://172.16.5.4/",
            "http://192.168.1.1/",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/",
            "http://[fe80::1]/",
            "http://[fd00::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://0.0.0.0/",
            "http://100.64.0.1/",
        ] {
            let err = check_url(url, false).await.unwrap_err();
            assert!(
                err.contains("TOOLGATE_ALLOW_PRIVATE_UPSTREAMS"),
                "{url}: {err}"
            );
            assert!(
                check_url(url, true).await.is_ok(),
                "{url} refused even when allowed"
            );
        }
    }

    #[tokio::test]
    async fn malformed_urls_are_refused() {
        for url in [
            "not a url",
            "ftp://example.com/",
            "https://user:pw@example.com/",
            "https://example.com/#x",
            "file:///etc/passwd",
        ] {
            assert!(check_url(url, true).await.is_err(), "{url} accepted");
        }
    }
}
