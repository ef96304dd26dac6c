//! How the upstream client connects: every connection goes through the
//! address guard. A name is resolved once, each answer checked, and hyper's
//! connector dials only the admitted addresses (it never resolves again); a
//! literal address, which hyper would dial without asking a resolver, is
//! checked before the connector sees it. Pooled connections were checked
//! when they were made.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Uri;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use toolgate_netguard::OutboundGuard;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Resolves upstream names for hyper's connector through the guard.
#[derive(Clone, Debug)]
pub struct GuardedDns {
    guard: OutboundGuard,
}

type Resolving =
    Pin<Box<dyn Future<Output = std::io::Result<std::vec::IntoIter<SocketAddr>>> + Send>>;

impl tower_service::Service<Name> for GuardedDns {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Resolving;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let guard = self.guard.clone();
        Box::pin(async move {
            let admitted = guard.resolve(name.as_str()).await?;
            // The connector puts the URL's port on each address.
            let addrs: Vec<SocketAddr> = admitted
                .into_iter()
                .map(|ip| SocketAddr::new(ip, 0))
                .collect();
            Ok(addrs.into_iter())
        })
    }
}

/// hyper's TCP connector over [`GuardedDns`], with literal addresses checked.
#[derive(Clone, Debug)]
pub struct GuardedConnector {
    http: HttpConnector<GuardedDns>,
    guard: OutboundGuard,
}

impl GuardedConnector {
    /// `configure` sets the TCP options of the inner connector.
    pub fn new(
        guard: OutboundGuard,
        configure: impl FnOnce(&mut HttpConnector<GuardedDns>),
    ) -> Self {
        let mut http = HttpConnector::new_with_resolver(GuardedDns {
            guard: guard.clone(),
        });
        configure(&mut http);
        Self { http, guard }
    }
}

type Connecting = Pin<Box<dyn Future<Output = Result<TokioIo<TcpStream>, BoxError>> + Send>>;

impl tower_service::Service<Uri> for GuardedConnector {
    type Response = TokioIo<TcpStream>;
    type Error = BoxError;
    type Future = Connecting;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.http.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let host = uri.host().unwrap_or_default();
        let literal = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .ok();
        if let Some(ip) = literal {
            if let Err(refused) = self.guard.admit(host, ip) {
                return Box::pin(std::future::ready(Err(refused.into())));
            }
        }
        let connecting = self.http.call(uri);
        Box::pin(async move { connecting.await.map_err(Into::into) })
    }
}
