//! Where EverBright's client may connect: only public addresses, unless the configured base is
//! itself private (a local run). [`is_public`] judges an address; [`HostLookup`] resolves names,
//! and the client's resolver refuses a name with any address that is not public, so the
//! connection goes only to addresses that were checked. Literal addresses are judged before a
//! redirect is followed (`EverBright::refused_target`).

use std::fmt;
use std::future::Future;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::sync::Arc;

use reqwest::Url;

/// How host names become addresses: the system's resolver, or one a test controls.
#[derive(Clone)]
pub struct HostLookup(Arc<dyn Fn(String) -> LookingUp + Send + Sync>);

/// A look-up under way.
pub type LookingUp = Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>>;

impl HostLookup {
    /// The system's resolver (`getaddrinfo`, off the async threads).
    pub fn system() -> Self {
        Self(Arc::new(|host: String| {
            Box::pin(async move {
                let found = tokio::task::spawn_blocking(move || (host.as_str(), 0).to_socket_addrs()).await;
                let addrs = found.map_err(std::io::Error::other)??;
                Ok(addrs.map(|addr| addr.ip()).collect())
            })
        }))
    }

    /// Fixed answers, for tests: a name not listed is not found.
    pub fn fixed(answers: impl IntoIterator<Item = (String, Vec<IpAddr>)>) -> Self {
        let answers: std::collections::HashMap<String, Vec<IpAddr>> = answers.into_iter().collect();
        Self(Arc::new(move |host: String| {
            let found = answers.get(&host).cloned();
            Box::pin(async move {
                found.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, format!("{host} is not known")))
            })
        }))
    }
}

impl Default for HostLookup {
    fn default() -> Self {
        Self::system()
    }
}

impl fmt::Debug for HostLookup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HostLookup")
    }
}

/// Whether `ip` is an address on the internet: not loopback, private, link-local, unique-local,
/// unspecified, shared (carrier-grade NAT), broadcast or multicast; an IPv4 address inside IPv6
/// (mapped, or NAT64's `64:ff9b::/96`) is judged as the IPv4 address.
pub(crate) fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let segments = v6.segments();
            if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let [.., hi, lo] = segments;
                return is_public(IpAddr::V4(std::net::Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo))));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (segments[0] & 0xfe00) == 0xfc00
                || (segments[0] & 0xffc0) == 0xfe80)
        }
    }
}

/// A name resolved to an address that is not public: refused before any connection.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves to {ip}, which is not a public address; refused")]
pub struct RefusedAddress {
    pub host: String,
    pub ip: IpAddr,
}

/// The client's resolver: `lookup`, then every address must be public, except for the base's own
/// host or when the base is itself on a private address (a local run).
pub(crate) struct GuardedResolver {
    pub(crate) lookup: HostLookup,
    pub(crate) base_host: String,
    pub(crate) allow_private: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        let exempt = self.allow_private || host.eq_ignore_ascii_case(&self.base_host);
        let looking_up = (self.lookup.0)(host.clone());
        Box::pin(async move {
            let ips = looking_up.await?;
            if let Some(ip) = ips.iter().copied().find(|ip| !exempt && !is_public(*ip)) {
                return Err(Box::new(RefusedAddress { host, ip }) as Box<dyn std::error::Error + Send + Sync>);
            }
            let addrs: reqwest::dns::Addrs = Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// The address a URL's host names literally (`localhost` counts as loopback), if it does.
pub(crate) fn literal_address(url: &Url) -> Option<IpAddr> {
    let host = url.host_str()?.to_ascii_lowercase();
    if host == "localhost" || host.ends_with(".localhost") {
        return Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
    }
    host.trim_start_matches('[').trim_end_matches(']').parse().ok()
}

/// Whether a refusal of [`GuardedResolver`] is somewhere in `error`'s chain.
pub(crate) fn refused_address<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a RefusedAddress> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(refused) = error.downcast_ref::<RefusedAddress>() {
            return Some(refused);
        }
        current = error.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resolver_refuses_a_name_with_any_private_address_but_the_bases_own() {
        use reqwest::dns::Resolve;
        let lookup = HostLookup::fixed([
            ("metadata.test".to_owned(), vec!["169.254.169.254".parse().unwrap()]),
            ("mixed.test".to_owned(), vec!["203.0.113.7".parse().unwrap(), "10.1.2.3".parse().unwrap()]),
            ("storage.test".to_owned(), vec!["203.0.113.7".parse().unwrap()]),
            ("everbright.test".to_owned(), vec!["127.0.0.1".parse().unwrap()]),
        ]);
        let resolver = GuardedResolver { lookup, base_host: "everbright.test".into(), allow_private: false };
        let resolve = |host: &str| futures_util::FutureExt::now_or_never(resolver.resolve(host.parse().unwrap()));
        for host in ["metadata.test", "mixed.test"] {
            let error = resolve(host).unwrap().err().unwrap();
            let refused = refused_address(error.as_ref()).expect("a refusal the client recognises");
            assert_eq!(refused.host, host);
        }
        assert_eq!(resolve("storage.test").unwrap().ok().unwrap().count(), 1);
        assert_eq!(resolve("everbright.test").unwrap().ok().unwrap().count(), 1, "the configured base is trusted");
        assert!(refused_address(resolve("unknown.test").unwrap().err().unwrap().as_ref()).is_none());
    }
}
