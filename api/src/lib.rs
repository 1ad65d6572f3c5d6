//! Cutroom's HTTP API: tenants, credentials, presigned uploads and jobs,
//! documented by an OpenAPI 3.1 document generated from the same route
//! declarations that build the router.
//!
//! The binary (`cutroom`) serves it, by default with a pipeline worker in
//! the same process; see [`serve`].

pub mod app;
pub mod auth;
pub mod client;
pub mod error;
pub mod extract;
mod idempotency;
mod live;
pub mod metrics;
mod paging;
pub mod queries;
mod routes;
mod server;
/// Moved to the shared crate (the worker checks batch manifests' links too).
pub use cutroom_core::source_url;
mod submit;
mod upload_target;
mod validate;
pub mod views;
mod web;

pub use app::{App, AppState};
pub use error::{ApiError, ProblemCode};
pub use routes::{openapi, router};
pub use server::serve;
