//! End-to-end tests: the real HTTP API on a socket, over SQLite and
//! PostgreSQL, local storage and a real S3-compatible server, with the
//! worker in-process running real yt-dlp and ffmpeg.

mod analysis;
mod api_keys;
mod audiograms;
mod auth;
mod batches;
mod clips;
mod fairness;
mod fleet;
mod hostile_media;
mod housekeeping;
mod idempotency;
mod invitations;
mod live;
mod multipart;
mod pipeline;
mod rerender;
mod retries;
mod review;
mod routing;
mod speakers;
mod storage;
mod tenancy;
mod uploads;
mod usage;
mod webhooks;
mod youtube;
