//! The guard an outbound caller holds: it checks a URL when it is registered
//! and, what matters, every address when a connection is made, resolving a
//! name once and handing the connector only the addresses it checked.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use url::{Host, Url};

use crate::resolve::{Resolve, SystemResolver};
use crate::verdict::{check_ip, Refused};

/// What registration adds to a refusal: how an operator lifts it.
const HOW_TO_ALLOW: &str = "Toolgate does not call private or internal addresses unless \
                            TOOLGATE_ALLOW_PRIVATE_UPSTREAMS=true";

/// The longest a registration waits for DNS.
const REGISTRATION_LOOKUP: Duration = Duration::from_secs(5);

/// Parses a URL Toolgate will call (an upstream, a webhook) and checks its
/// form: http(s), no embedded credentials, no fragment, a host.
pub fn parse_url(raw: &str) -> Result<Url, String> {
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
    if url.host().is_none() {
        return Err("must have a host".to_owned());
    }
    Ok(url)
}

/// The outbound address policy of one deployment, and the resolver it
/// checks names with. Cheap to clone.
#[derive(Clone)]
pub struct OutboundGuard {
    allow_private: bool,
    resolver: Arc<dyn Resolve>,
}

impl std::fmt::Debug for OutboundGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundGuard")
            .field("allow_private", &self.allow_private)
            .finish_non_exhaustive()
    }
}

impl OutboundGuard {
    /// Resolves with the system's resolver. With `allow_private`
    /// (`TOOLGATE_ALLOW_PRIVATE_UPSTREAMS`) every address passes.
    pub fn new(allow_private: bool) -> Self {
        Self {
            allow_private,
            resolver: Arc::new(SystemResolver),
        }
    }

    /// The same policy, resolving names with `resolver`.
    pub fn with_resolver(self, resolver: Arc<dyn Resolve>) -> Self {
        Self { resolver, ..self }
    }

    pub fn allows_private(&self) -> bool {
        self.allow_private
    }

    /// Whether `ip` may be connected to. A refusal is logged: it means a
    /// tenant's URL led somewhere it must not.
    pub fn admit(&self, host: &str, ip: IpAddr) -> Result<(), Refused> {
        if self.allow_private {
            return Ok(());
        }
        check_ip(ip).inspect_err(|refused| {
            tracing::warn!(host, %ip, block = %refused.range.prefix, reason = %refused, "outbound connection refused by the address guard");
        })
    }

    /// Checks the host of `url` when it is a literal address, which no
    /// resolver sees.
    pub fn admit_literal(&self, url: &Url) -> Result<(), Refused> {
        match url.host() {
            Some(Host::Ipv4(ip)) => self.admit(&ip.to_string(), IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => self.admit(&ip.to_string(), IpAddr::V6(ip)),
            _ => Ok(()),
        }
    }

    /// The registration check: the URL's form, then its address, or every
    /// address its name resolves to now, with an error a person can act
    /// on. A name that does not resolve yet is accepted. This check is
    /// advice: DNS can change before the call, so [`OutboundGuard::resolve`]
    /// checks again at every connection.
    pub async fn check_url(&self, raw: &str) -> Result<Url, String> {
        let url = parse_url(raw)?;
        if self.allow_private {
            return Ok(url);
        }
        let refused = match url.host() {
            Some(Host::Ipv4(ip)) => check_ip(IpAddr::V4(ip)).err(),
            Some(Host::Ipv6(ip)) => check_ip(IpAddr::V6(ip)).err(),
            Some(Host::Domain(name)) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if name == "localhost" || name.ends_with(".localhost") {
                    return Err(format!(
                        "{name} is a loopback name (RFC 6761 §6.3); {HOW_TO_ALLOW}"
                    ));
                }
                // Bounded: a request waits on it. An answer that does not
                // come in time is treated as no answer.
                let answers =
                    tokio::time::timeout(REGISTRATION_LOOKUP, self.resolver.resolve(&name))
                        .await
                        .ok()
                        .and_then(Result::ok)
                        .unwrap_or_default();
                if let Some(refused) = answers.into_iter().find_map(|ip| check_ip(ip).err()) {
                    return Err(format!(
                        "{name} resolves to an internal address: {refused}; {HOW_TO_ALLOW}"
                    ));
                }
                None
            }
            None => None,
        };
        if let Some(refused) = refused {
            return Err(format!("{refused}; {HOW_TO_ALLOW}"));
        }
        Ok(url)
    }

    /// The dial-time check: resolves `host` (or takes it as the address it
    /// spells), checks every address, and returns only those that pass, for
    /// the connector to use as they are, without resolving again. When none
    /// passes, the error is `PermissionDenied` and carries the [`Refused`]
    /// ([`find_refusal`] digs it out of a client's error).
    pub async fn resolve(&self, host: &str) -> io::Result<Vec<IpAddr>> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return match self.admit(host, ip) {
                Ok(()) => Ok(vec![ip]),
                Err(refused) => Err(io::Error::new(io::ErrorKind::PermissionDenied, refused)),
            };
        }
        let answers = self.resolver.resolve(host).await?;
        let mut admitted = Vec::with_capacity(answers.len());
        let mut first_refusal = None;
        for ip in answers {
            match self.admit(host, ip) {
                Ok(()) => admitted.push(ip),
                Err(refused) => {
                    first_refusal.get_or_insert(refused);
                }
            }
        }
        match (admitted.is_empty(), first_refusal) {
            (false, _) => Ok(admitted),
            (true, Some(refused)) => Err(io::Error::new(io::ErrorKind::PermissionDenied, refused)),
            (true, None) => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{host} has no addresses"),
            )),
        }
    }
}

/// A resolver for `reqwest` clients that call on a tenant's behalf: the
/// client connects only to the addresses the guard admitted. Literal IP
/// hosts skip resolvers; check those with [`OutboundGuard::admit_literal`].
impl reqwest::dns::Resolve for OutboundGuard {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = self.clone();
        Box::pin(async move {
            let admitted = OutboundGuard::resolve(&guard, name.as_str()).await?;
            let addrs = admitted.into_iter().map(|ip| SocketAddr::new(ip, 0));
            Ok(Box::new(addrs) as reqwest::dns::Addrs)
        })
    }
}

/// The guard's refusal somewhere in an error's chain of causes (an HTTP
/// client wraps it in its own errors), so callers can tell it apart from
/// an upstream that is down.
pub fn find_refusal<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a Refused> {
    let mut cause = Some(err);
    while let Some(err) = cause {
        if let Some(refused) = err.downcast_ref::<Refused>() {
            return Some(refused);
        }
        // `io::Error` hides what it wraps from `source()`.
        let wrapped = err
            .downcast_ref::<io::Error>()
            .and_then(io::Error::get_ref)
            .and_then(|inner| inner.downcast_ref::<Refused>());
        if wrapped.is_some() {
            return wrapped;
        }
        cause = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use super::*;
    use crate::resolve::Resolving;

    /// Answers from a table the test can change.
    #[derive(Default)]
    struct Answers(Mutex<HashMap<String, Vec<IpAddr>>>);

    impl Answers {
        fn set(&self, host: &str, ips: &[&str]) {
            let ips = ips.iter().map(|ip| ip.parse().unwrap()).collect();
            self.0.lock().unwrap().insert(host.to_owned(), ips);
        }
    }

    impl Resolve for Answers {
        fn resolve<'a>(&'a self, host: &'a str) -> Resolving<'a> {
            let answer = self.0.lock().unwrap().get(host).cloned();
            Box::pin(async move {
                answer.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such host"))
            })
        }
    }

    fn guard(allow_private: bool) -> (OutboundGuard, Arc<Answers>) {
        let answers = Arc::new(Answers::default());
        let guard = OutboundGuard::new(allow_private).with_resolver(answers.clone());
        (guard, answers)
    }

    #[tokio::test]
    async fn public_urls_pass_registration() {
        let (guard, answers) = guard(false);
        answers.set("mcp.example.com", &["93.184.216.34", "2606:2800:220:1::1"]);
        for url in [
            "https://93.184.216.34/mcp",
            "http://[2606:4700::1111]:8080/mcp",
            "http://[64:ff9b::808:808]/mcp",
            "http://[2002:808:808::1]/mcp",
            "https://mcp.example.com/mcp",
            // Not resolvable yet: the call is checked when it is made.
            "https://not-yet.example.com/mcp",
        ] {
            assert!(guard.check_url(url).await.is_ok(), "{url}");
        }
    }

    #[tokio::test]
    async fn internal_targets_are_refused_at_registration_unless_allowed() {
        let (strict, answers) = guard(false);
        answers.set("internal.example.com", &["93.184.216.34", "10.1.2.3"]);
        let (lenient, _) = guard(true);
        for url in [
            "http://127.0.0.1:3000/mcp",
            "http://localhost/mcp",
            "http://api.localhost./mcp",
            "http://internal.example.com/mcp",
            "http://10.0.0.1/",
            "http://172.16.5.4/",
            "http://192.168.1.1/",
            "http://169.254.169.254/latest/meta-data",
            "http://0.0.0.0/",
            "http://100.64.0.1/",
            // Other spellings of 127.0.0.1 that URL parsers accept.
            "http://2130706433/",
            "http://0x7f.1/",
            "http://0177.0.0.1/",
            "http://[::1]/",
            "http://[fe80::1]/",
            "http://[fd00::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::127.0.0.1]/",
            "http://[::ffff:0:127.0.0.1]/",
            "http://[64:ff9b::127.0.0.1]/",
            "http://[64:ff9b:1::a9fe:a9fe]/",
            "http://[2002:7f00:1::]/",
            "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",
        ] {
            let err = strict.check_url(url).await.unwrap_err();
            assert!(
                err.contains("TOOLGATE_ALLOW_PRIVATE_UPSTREAMS"),
                "{url}: {err}"
            );
            assert!(
                lenient.check_url(url).await.is_ok(),
                "{url} refused even when allowed"
            );
        }
    }

    #[tokio::test]
    async fn a_registration_refusal_names_what_was_refused() {
        let (guard, answers) = guard(false);
        answers.set("sneaky.example.com", &["10.1.2.3"]);
        let err = guard
            .check_url("https://sneaky.example.com/mcp")
            .await
            .unwrap_err();
        assert_eq!(
            err,
            "sneaky.example.com resolves to an internal address: 10.1.2.3 is in 10.0.0.0/8 \
             (Private-Use, RFC 1918); Toolgate does not call private or internal addresses \
             unless TOOLGATE_ALLOW_PRIVATE_UPSTREAMS=true"
        );
        let err = guard
            .check_url("http://[2002:7f00:1::]/")
            .await
            .unwrap_err();
        assert!(err.contains("carries the IPv4 address 127.0.0.1"), "{err}");
    }

    #[tokio::test]
    async fn registration_does_not_wait_on_dns_forever() {
        struct Silent;
        impl Resolve for Silent {
            fn resolve<'a>(&'a self, _: &'a str) -> Resolving<'a> {
                Box::pin(std::future::pending())
            }
        }
        let guard = OutboundGuard::new(false).with_resolver(Arc::new(Silent));
        let checked = tokio::time::timeout(
            REGISTRATION_LOOKUP + Duration::from_secs(2),
            guard.check_url("https://slow.example.com/mcp"),
        )
        .await;
        assert!(
            matches!(checked, Ok(Ok(_))),
            "accepted once the lookup gave up"
        );
    }

    #[tokio::test]
    async fn malformed_urls_are_refused() {
        let (guard, _) = guard(true);
        for url in [
            "not a url",
            "ftp://example.com/",
            "https://user:pw@example.com/",
            "https://example.com/#x",
            "file:///etc/passwd",
        ] {
            assert!(guard.check_url(url).await.is_err(), "{url} accepted");
        }
    }

    #[tokio::test]
    async fn dialling_keeps_only_admitted_addresses() {
        let (guard, answers) = guard(false);
        answers.set("mixed.example.com", &["127.0.0.1", "93.184.216.34", "::1"]);
        let admitted = guard.resolve("mixed.example.com").await.unwrap();
        assert_eq!(admitted, vec!["93.184.216.34".parse::<IpAddr>().unwrap()]);
    }

    #[tokio::test]
    async fn a_name_now_pointing_inside_is_refused_when_dialled() {
        let (guard, answers) = guard(false);
        answers.set("rebind.example.com", &["93.184.216.34"]);
        assert!(guard.check_url("http://rebind.example.com/").await.is_ok());
        answers.set("rebind.example.com", &["127.0.0.1"]);
        let err = guard.resolve("rebind.example.com").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
        let refused = find_refusal(&err).expect("the refusal is in the error");
        assert_eq!(refused.ip, "127.0.0.1".parse::<IpAddr>().unwrap());
    }

    #[tokio::test]
    async fn literal_hosts_are_checked_when_dialled() {
        let (guard, _) = guard(false);
        for host in [
            "127.0.0.1",
            "[::ffff:127.0.0.1]",
            "::ffff:0:a00:1",
            "[64:ff9b::a9fe:a9fe]",
        ] {
            let err = guard.resolve(host).await.unwrap_err();
            assert!(find_refusal(&err).is_some(), "{host}");
        }
        assert_eq!(
            guard.resolve("[2606:4700::1111]").await.unwrap(),
            vec!["2606:4700::1111".parse::<IpAddr>().unwrap()]
        );
    }

    #[tokio::test]
    async fn allowing_private_addresses_turns_the_dial_check_off() {
        let (guard, answers) = guard(true);
        answers.set("inside.example.com", &["127.0.0.1"]);
        assert_eq!(
            guard.resolve("inside.example.com").await.unwrap(),
            vec!["127.0.0.1".parse::<IpAddr>().unwrap()]
        );
        assert!(guard.resolve("10.0.0.1").await.is_ok());
    }

    #[test]
    fn a_refusal_is_found_through_wrapping_errors() {
        #[derive(Debug)]
        struct Outer(io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("client error")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let refused = check_ip("127.0.0.1".parse().unwrap()).unwrap_err();
        let outer = Outer(io::Error::new(io::ErrorKind::PermissionDenied, refused));
        assert!(find_refusal(&outer).is_some());
        let unrelated = Outer(io::Error::new(io::ErrorKind::ConnectionRefused, "refused"));
        assert!(find_refusal(&unrelated).is_none());
    }
}
