//! sea-orm models of Cutroom's tables.
//!
//! These are data only. Behaviour (tenant-scoped queries, state transitions)
//! lives in `cutroom-core`, and the HTTP request/response types live in `api`.

pub mod api_key;
pub mod artifact;
pub mod batch;
pub mod clip;
pub mod highlight;
pub mod idempotency_key;
pub mod invitation;
pub mod job;
pub mod job_event;
pub mod job_speaker;
pub mod lease;
pub mod membership;
pub mod moderation_flag;
pub mod refresh_token;
pub mod review_decision;
pub mod speaker;
pub mod speaker_library;
pub mod speaker_sample;
pub mod tenant;
pub mod transcript;
pub mod transcript_segment;
pub mod upload;
pub mod usage_record;
pub mod user;
pub mod webhook_delivery;
pub mod webhook_endpoint;
pub mod worker;

mod enums;
pub use enums::{BatchStatus, FlagKind, FlagStatus, JobStatus, Role, SourceType, UploadStatus};
