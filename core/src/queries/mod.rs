//! Tenant-scoped queries. Every function takes the tenant id as an
//! argument and filters on it, so no query path can forget it; a row of
//! another tenant reads exactly like a row that does not exist.

pub mod artifacts;
pub mod events;
pub mod jobs;
pub mod review;
pub mod tenants;
pub mod transcripts;
pub mod uploads;
