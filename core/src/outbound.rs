//! The guard on every URL a tenant gives the servers to call (webhook
//! endpoints, LLM endpoints): a tenant must not make them reach what only
//! they can reach (loopback services, the private network, the cloud's
//! metadata address).
//!
//! A URL is checked when it is saved ([`check_url`]: form, and hosts that
//! are internal by name or address literal) and again at each request
//! ([`Guarded::client_for`]); names are resolved by [`PublicOnly`], which
//! keeps only public addresses, and the connection goes to those (so DNS
//! that changes after the check does not get in). Redirects are never
//! followed, no proxy is used, and bodies are read up to a cap
//! ([`read_capped`]). The operator may list `host[:port]`s that are let
//! through although internal (a receiver or llama-server beside Cutroom).

use std::{
    collections::BTreeSet,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::Arc,
};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::Url;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("not a valid absolute URL")]
    NotAUrl,
    #[error("only http and https URLs are accepted")]
    Scheme,
    #[error("URLs with a user name or password are not accepted")]
    UserInfo,
    #[error("the URL has no host")]
    NoHost,
    #[error(
        "the host is a loopback, private, link-local or otherwise internal address, which this server does not call"
    )]
    Internal,
}

/// Checks a URL's form, and refuses hosts that are internal by name or
/// address literal. Names are resolved and checked again at each request,
/// so a name that later points inside is refused then. `allowed` lists
/// `host[:port]`s the operator lets through anyway.
pub fn check_url(raw: &str, allowed: &BTreeSet<String>) -> Result<Url, UrlError> {
    let url = parse_http_url(raw)?;
    if is_allowed(&url, allowed) {
        return Ok(url);
    }
    match url.host() {
        None => Err(UrlError::NoHost),
        Some(url::Host::Ipv4(ip)) if !is_public(IpAddr::V4(ip)) => Err(UrlError::Internal),
        Some(url::Host::Ipv6(ip)) if !is_public(IpAddr::V6(ip)) => Err(UrlError::Internal),
        Some(url::Host::Domain(name)) if internal_name(name) => Err(UrlError::Internal),
        Some(_) => Ok(url),
    }
}

/// The form every URL a tenant gives must have, whatever it is for (a
/// webhook, an LLM endpoint, a job's source): absolute http or https, at
/// most 2 KiB, and no user name or password (which would end up in logs
/// and in requests to the wrong party).
pub fn parse_http_url(raw: &str) -> Result<Url, UrlError> {
    let raw = raw.trim();
    if raw.len() > 2048 {
        return Err(UrlError::NotAUrl);
    }
    let url = Url::parse(raw).map_err(|_| UrlError::NotAUrl)?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(UrlError::Scheme);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlError::UserInfo);
    }
    Ok(url)
}

/// Whether the operator allowed this URL's `host` or `host:port`.
pub fn is_allowed(url: &Url, allowed: &BTreeSet<String>) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.to_ascii_lowercase();
    let with_port = url
        .port_or_known_default()
        .map(|p| format!("{host}:{p}"))
        .unwrap_or_else(|| host.clone());
    allowed.contains(&host) || allowed.contains(&with_port)
}

/// Names that only ever mean this machine or its private network.
fn internal_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name.ends_with(".local")
        || name.ends_with(".internal")
        || name == "metadata.google.internal"
}

/// Whether an address is on the public internet. Written out here because
/// `IpAddr::is_global` is still unstable; the ranges are IANA's special-
/// purpose registries, with the cloud metadata address among link-local.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            // NAT64 (64:ff9b::/96) reaches the embedded IPv4 address.
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let [a, b] = s[6].to_be_bytes();
                let [c, d] = s[7].to_be_bytes();
                return is_public_v4(Ipv4Addr::new(a, b, c, d));
            }
            !(v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || v6.is_unique_local()
                || v6.is_unicast_link_local()
                || (s[0] & 0xffc0) == 0xfec0 // site-local, deprecated
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || s[..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible, deprecated
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || a == 0
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a >= 240 // reserved
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b))) // benchmarking
}

/// Resolves names to their public addresses only; the connection is made
/// to what this returns, so the check and the connection see one answer.
pub struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| is_public(a.ip()))
                .collect();
            if found.is_empty() {
                return Err(format!("{host} has no public address").into());
            }
            let addrs: Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

/// Checks the shape of an API endpoint's `base_url` as a tenant sets it
/// (an LLM's, a speech engine's): an http(s) URL with a host and without
/// query or fragment. `at` is the field's path, for the message.
pub fn check_base_url(at: &str, url: &str) -> Result<(), String> {
    let parsed = Url::parse(url).map_err(|_| format!("{at} is not a URL: {url}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(format!("{at} must be an http or https URL"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(format!("{at} must not have a query or fragment"));
    }
    Ok(())
}

/// Refuses an API endpoint the workers must not call: a host outside the
/// operator's list (`listed`: whether `CUTROOM_LLM_HOSTS` allows it), an
/// internal address unless in `private` (`CUTROOM_LLM_PRIVATE_HOSTS`).
/// `at` is the field's path, for the message.
pub fn check_api_endpoint(
    at: &str,
    url: &str,
    listed: bool,
    private: &BTreeSet<String>,
) -> Result<(), String> {
    if !listed {
        return Err(format!(
            "{at}: this server does not allow API endpoints on that host \
             (its operator lists them in CUTROOM_LLM_HOSTS)"
        ));
    }
    match check_url(url, private) {
        Ok(_) => Ok(()),
        Err(UrlError::Internal) => Err(format!(
            "{at}: {} (its operator can allow a host in CUTROOM_LLM_PRIVATE_HOSTS)",
            UrlError::Internal
        )),
        Err(err) => Err(format!("{at}: {err}")),
    }
}

/// The two HTTP clients behind tenant-supplied URLs: one that reaches
/// public addresses only, and one for the hosts the operator allowed.
/// Neither follows redirects (a 3xx is the answer) nor uses a proxy
/// (which would resolve names past the guard).
#[derive(Clone)]
pub struct Guarded {
    public: reqwest::Client,
    allowed: reqwest::Client,
    private_hosts: Arc<BTreeSet<String>>,
}

impl Guarded {
    /// `builder` sets what the caller needs (timeouts, user agent); the
    /// guard's own settings are applied over it.
    pub fn new(
        builder: impl Fn() -> reqwest::ClientBuilder,
        private_hosts: BTreeSet<String>,
    ) -> Self {
        let guarded = || {
            builder()
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
        };
        Self {
            public: guarded()
                .dns_resolver(Arc::new(PublicOnly))
                .build()
                .expect("a client with a resolver builds"),
            allowed: guarded().build().expect("a plain client builds"),
            private_hosts: Arc::new(private_hosts),
        }
    }

    /// The client for `url`, checked again (the operator's list may have
    /// changed since the URL was saved).
    pub fn client_for(&self, url: &str) -> Result<(&reqwest::Client, Url), UrlError> {
        let url = check_url(url, &self.private_hosts)?;
        let client = if is_allowed(&url, &self.private_hosts) {
            &self.allowed
        } else {
            &self.public
        };
        Ok((client, url))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the body is larger than {0} bytes")]
    TooLarge(usize),
    #[error(transparent)]
    Http(#[from] reqwest::Error),
}

/// A response body, refused past `max` bytes (a third party's answer is
/// not allowed to fill the memory of the process that asked).
pub async fn read_capped(
    mut response: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, BodyError> {
    if response.content_length().is_some_and(|n| n > max as u64) {
        return Err(BodyError::TooLarge(max));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > max {
            return Err(BodyError::TooLarge(max));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A transport error in a few words, with its innermost cause (reqwest's
/// own message is only "error sending request").
pub fn describe(err: &reqwest::Error) -> String {
    let what = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut cause = String::new();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    if cause.is_empty() {
        what.to_owned()
    } else {
        format!("{what}: {cause}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_refused() {
        let none = BTreeSet::new();
        for bad in [
            "http://127.0.0.1/hook",
            "http://127.1.2.3:8080/",
            "http://localhost/",
            "http://api.localhost/",
            "http://10.0.0.7/",
            "http://172.16.0.1/",
            "http://192.168.1.1/",
            "http://169.254.169.254/latest/meta-data/",
            "http://metadata.google.internal/",
            "http://100.64.0.1/",
            "http://0.0.0.0/",
            "http://[::1]/",
            "http://[fd00::1]/",
            "http://[fe80::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:169.254.169.254]/",
            "http://[64:ff9b::a9fe:a9fe]/",
        ] {
            assert_eq!(check_url(bad, &none), Err(UrlError::Internal), "{bad}");
        }
        assert_eq!(
            check_url("file:///etc/passwd", &none),
            Err(UrlError::Scheme)
        );
        assert_eq!(
            check_url("ftp://example.com/", &none),
            Err(UrlError::Scheme)
        );
        assert_eq!(
            check_url("https://user:pw@example.com/", &none),
            Err(UrlError::UserInfo)
        );
        assert_eq!(check_url("not a url", &none), Err(UrlError::NotAUrl));
        for good in [
            "https://example.com/hooks",
            "http://93.184.215.14:8080/x",
            "https://[2606:4700::1111]/",
        ] {
            assert!(check_url(good, &none).is_ok(), "{good}");
        }
    }

    #[test]
    fn an_operator_can_allow_a_private_host_and_port() {
        let allowed: BTreeSet<String> = ["127.0.0.1:9000".to_owned()].into();
        assert!(check_url("http://127.0.0.1:9000/hook", &allowed).is_ok());
        assert_eq!(
            check_url("http://127.0.0.1:9001/hook", &allowed),
            Err(UrlError::Internal)
        );
    }

    #[test]
    fn public_and_internal_addresses() {
        assert!(is_public("8.8.8.8".parse().unwrap()));
        assert!(is_public("2606:4700::1111".parse().unwrap()));
        assert!(!is_public(IpAddr::V6(
            Ipv4Addr::new(10, 1, 2, 3).to_ipv6_mapped()
        )));
        assert!(is_public(IpAddr::V6(
            Ipv4Addr::new(8, 8, 4, 4).to_ipv6_mapped()
        )));
        assert!(!is_public("198.18.0.1".parse().unwrap()));
        assert!(!is_public("255.255.255.255".parse().unwrap()));
    }

    #[tokio::test]
    async fn the_public_resolver_drops_internal_addresses() {
        let name: Name = "localhost".parse().unwrap();
        let err = PublicOnly.resolve(name).await.err().expect("refused");
        assert!(err.to_string().contains("no public address"), "{err}");
    }
}
