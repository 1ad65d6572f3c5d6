//! Who is on the other end of a request: the connection's peer address,
//! which the server records for every connection (`ConnectInfo`), or,
//! behind proxies the operator trusts (`CUTROOM_TRUSTED_PROXIES`), the
//! address they say they forward for.

use std::net::{IpAddr, SocketAddr};

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::request::Parts,
};

/// Headers a reverse proxy adds; a request carrying one came through a
/// proxy, whatever the peer address says.
const FORWARDING_HEADERS: [&str; 3] = ["forwarded", "x-forwarded-for", "x-real-ip"];

/// The peer address of the connection the request came on; `None` for
/// requests that did not come over a socket (in-process tests).
pub fn peer_ip(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_canonical())
}

/// The client's address, for per-client limits: the peer, unless the peer
/// is a trusted proxy; then the last `X-Forwarded-For` entry no trusted
/// proxy added (entries before it are the client's own claims, so they are
/// never believed).
pub fn client_ip(parts: &Parts, trusted: &[IpAddr]) -> Option<IpAddr> {
    let peer = peer_ip(parts)?;
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    let forwarded = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    for hop in forwarded.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) if trusted.contains(&ip.to_canonical()) => continue,
            Ok(ip) => return Some(ip.to_canonical()),
            // Garbage from a proxy we trust: the proxy is all we know.
            Err(_) => return Some(peer),
        }
    }
    Some(peer)
}

/// The request came straight from this machine: a loopback peer, and no
/// proxy in between (a reverse proxy on the same host connects from
/// loopback on behalf of anyone, and says so in a forwarding header).
pub fn is_local(parts: &Parts) -> bool {
    peer_ip(parts).is_some_and(|ip| ip.is_loopback())
        && !FORWARDING_HEADERS
            .iter()
            .any(|h| parts.headers.contains_key(*h))
}

/// Whether the request came straight from this machine (see [`is_local`]).
pub struct Local(pub bool);

impl<S: Send + Sync> FromRequestParts<S> for Local {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(is_local(parts)))
    }
}

#[cfg(test)]
mod tests {
    use axum::http::Request;

    use super::*;

    fn parts(peer: &str, forwarded: Option<&str>) -> Parts {
        let mut req = Request::get("/");
        if let Some(f) = forwarded {
            req = req.header("x-forwarded-for", f);
        }
        let (mut parts, ()) = req.body(()).unwrap().into_parts();
        let peer: SocketAddr = peer.parse().unwrap();
        parts.extensions.insert(ConnectInfo(peer));
        parts
    }

    #[test]
    fn forwarded_addresses_count_only_from_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        // Anyone else's header is ignored.
        let p = parts("203.0.113.7:1", Some("198.51.100.1"));
        assert_eq!(client_ip(&p, &[proxy]), ip("203.0.113.7"));
        // The proxy's word is taken, but not what the client wrote before it.
        let p = parts("10.0.0.2:1", Some("1.2.3.4, 198.51.100.1"));
        assert_eq!(client_ip(&p, &[proxy]), ip("198.51.100.1"));
        let p = parts("10.0.0.2:1", None);
        assert_eq!(client_ip(&p, &[proxy]), ip("10.0.0.2"));
        let p = parts("10.0.0.2:1", Some("not an address"));
        assert_eq!(client_ip(&p, &[proxy]), ip("10.0.0.2"));
        assert!(!is_local(&parts("127.0.0.1:1", Some("1.2.3.4"))));
        assert!(is_local(&parts("[::1]:1", None)));
    }
}
