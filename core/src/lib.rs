//! What the api and the worker share: configuration, the database and its
//! queue, object storage, job payloads, tenant settings, tenant-scoped queries
//! and the formats of the files a job writes ([`outputs`]).
//!
//! Dependencies point one way: `api` and `worker` use this crate, this crate
//! uses `cutroom-entities`, and nothing here knows about HTTP or ffmpeg.

pub mod analysis;
pub mod batches;
pub mod clips;
pub mod config;
pub mod db;
pub mod errors;
pub mod events;
pub mod housekeeping;
pub mod jobs;
pub mod moderation;
pub mod outbound;
pub mod outputs;
pub mod queries;
pub mod queue;
pub mod secrets;
pub mod signals;
pub mod source_url;
pub mod speech;
pub mod stage;
pub mod storage;
pub mod subtitles;
pub mod telemetry;
pub mod tenants;
pub mod transcript;
pub mod usage;
pub mod voiceprints;
pub mod webhooks;

pub use config::Config;
pub use db::Database;
pub use errors::ErrorCode;
pub use stage::Stage;
