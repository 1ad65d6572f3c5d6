//! Who is on the other end of a request: the connection's peer address,
//! which the server records for every connection (`ConnectInfo`).

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

