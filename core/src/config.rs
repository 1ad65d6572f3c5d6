//! Typed configuration, read once from `CUTROOM_*` environment variables.
//!
//! Tests build [`Config`] directly (see [`Config::for_data_dir`]); nothing
//! else reads the environment.

use std::{collections::BTreeSet, net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::{Context, bail};
use secrecy::SecretString;

mod env;
mod guards;
mod local_llm;
mod media;
mod retry;
mod router;
mod secret;
mod speaker;
mod storage;
#[cfg(test)]
mod tests;
mod webhook;
mod whisper;

use env::{hosts, parse_bool, secs};
pub use guards::Guards;
pub use local_llm::LocalLlmConfig;
pub use media::{DEFAULT_MAX_SOURCE_HEIGHT, MediaLimits};
use media::{MAX_SOURCE_HEIGHT, MIN_SOURCE_HEIGHT};
pub use retry::RetryConfig;
pub use router::RouterConfig;
pub use speaker::SpeakerModel;
pub use storage::{S3Config, StorageConfig};
pub use webhook::WebhookConfig;
pub use whisper::WhisperQuant;
use whisper::default_threads;

#[derive(Clone, Debug)]
pub struct Config {
    /// Address the HTTP API binds to.
    pub listen: SocketAddr,
    /// Base URL clients use to reach the API; local presigned URLs start with it.
    pub public_url: String,
    /// Root for the embedded database, local storage, scratch space and secrets.
    pub data_dir: PathBuf,
    pub database_url: String,
    pub storage: StorageConfig,
    /// Signs JWT access tokens and local storage URLs.
    pub secret_key: SecretString,
    /// Run a pipeline worker inside the API process (the embedded default).
    pub in_process_worker: bool,
    /// Per-job scratch folders are created under this one.
    pub scratch_dir: PathBuf,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub upload_url_ttl: Duration,
    /// How long after its URL expired an upload may still be completed (a
    /// large PUT that started in time may finish late); after that the
    /// sweeper deletes it.
    pub upload_grace: Duration,
    pub download_url_ttl: Duration,
    /// Largest upload accepted, in bytes.
    pub max_upload_bytes: u64,
    /// Largest batch archive accepted, in bytes (`CUTROOM_MAX_BATCH_BYTES`,
    /// default 50 GiB).
    pub max_batch_bytes: u64,
    /// Uploads larger than this go in parts (`CUTROOM_MULTIPART_THRESHOLD_BYTES`,
    /// default 5 GiB, the most one `PUT` to S3 takes; a client may ask for
    /// parts for a smaller file).
    pub multipart_threshold: u64,
    /// The size of a client's upload parts (`CUTROOM_UPLOAD_PART_BYTES`,
    /// default 64 MiB, at least 5 MiB; larger when a file would need more
    /// than 10,000).
    pub upload_part_size: u64,
    /// Sources longer than this fail early with `source_too_long`.
    pub max_duration: Duration,
    /// The largest pictures, frame rates and stream counts a source may
    /// have; beyond them it fails at probe with `media_too_large`.
    pub media_limits: MediaLimits,
    /// yt-dlp executable.
    pub ytdlp_path: PathBuf,
    pub ytdlp_timeout: Duration,
    /// The tallest picture a video link is downloaded at
    /// (`CUTROOM_MAX_SOURCE_HEIGHT`, default 1080): the best video up to
    /// it, merged with the best audio. Clips are at most 1920 pixels long,
    /// so more only costs download time and scratch space.
    pub max_source_height: u32,
    /// Hosts accepted as video sources besides YouTube's own (tests use a
    /// loopback server). Entries are `host` or `host:port`.
    pub extra_source_hosts: BTreeSet<String>,
    /// The only `host[:port]`s tenants may point their LLM providers at
    /// (`CUTROOM_LLM_HOSTS`); unset: any. Google's API is always allowed.
    pub llm_hosts: Option<BTreeSet<String>>,
    /// `host` or `host:port` entries tenants' LLM endpoints may be on
    /// although they are loopback or private addresses (a llama-server
    /// beside Cutroom; `CUTROOM_LLM_PRIVATE_HOSTS`). Others are refused.
    pub llm_private_hosts: BTreeSet<String>,
    /// How long a job's LLM requests may take, all of them together (the
    /// analysis and the custom moderation policies), besides 10 s for each
    /// minute of its media: past it the job goes on with the builtin
    /// analysis (`CUTROOM_ANALYSIS_DEADLINE_SECS`, default 30), so a
    /// tenant's slow endpoint holds a worker no longer.
    pub analysis_deadline: Duration,
    /// How often abandoned uploads are swept.
    pub sweep_interval: Duration,
    /// Emit logs as JSON lines.
    pub log_json: bool,
    /// The model folder filled by `cutroom models install`.
    pub models_dir: PathBuf,
    /// Threads whisper.cpp uses for one transcription.
    pub whisper_threads: u16,
    /// The transcription model of jobs and tenants that do not choose one.
    pub whisper_model: String,
    /// How webhook messages are sent.
    pub webhooks: WebhookConfig,
    /// Jobs of one tenant in the workers' hands at once; the rest wait in
    /// order, so one tenant's backlog does not starve the others.
    pub tenant_max_running: u32,
    /// Requests a minute per user and per API key; 0: no limit.
    pub rate_limit_per_minute: u32,
    /// Which of each Whisper model's two files transcription loads.
    pub whisper_quant: WhisperQuant,
    /// whisper.cpp's flash attention (`CUTROOM_WHISPER_FLASH_ATTN`, default
    /// off; see docs/benchmarks.md for what it changes on a CPU).
    pub whisper_flash_attn: bool,
    /// The model that tells voices apart (`CUTROOM_SPEAKER_MODEL`,
    /// default `campplus`).
    pub speaker_model: SpeakerModel,
    /// Automatic retries of jobs that failed for a reason that may pass.
    pub retries: RetryConfig,
    /// How the transcription router weighs engines and prices local work.
    pub router: RouterConfig,
    /// The language model beside the workers (the `local` analysis
    /// provider); none unless set.
    pub local_llm: LocalLlmConfig,
    /// How often a worker reports in; one silent for three of these is
    /// presumed dead and its job goes to another worker
    /// (`CUTROOM_WORKER_HEARTBEAT_SECS`, default 10).
    pub worker_heartbeat: Duration,
    /// How often an idle worker looks at the queue without being told
    /// (`CUTROOM_QUEUE_POLL_MS`); `None`: 100 ms on SQLite, which cannot
    /// notify, and 1 s on PostgreSQL, where LISTEN/NOTIFY wakes workers and
    /// the poll only finds tasks that became due later (a retry's backoff).
    pub queue_poll: Option<Duration>,
    /// PostgreSQL connections one process keeps at most
    /// (`CUTROOM_DATABASE_MAX_CONNECTIONS`); `None`: 32 for `serve`, 6 for
    /// `cutroom worker` (`crate::db::SERVE_POOL`, `WORKER_POOL`).
    pub database_max_connections: Option<u32>,
    /// How many jobs a worker takes ahead of the one it computes (0 or 1,
    /// `CUTROOM_WORKER_PREFETCH`, default 0). With 1 the next job is
    /// claimed and its source downloaded while the current one computes;
    /// it waits for the worker's one compute turn before decoding.
    pub worker_prefetch: u8,
    /// The bearer token of `/v1/admin/*` and `/metrics`
    /// (`CUTROOM_OPERATOR_TOKEN`); unset: those routes answer 404.
    pub operator_token: Option<SecretString>,
    /// Media minutes a tenant may process per calendar month (UTC), unless
    /// the operator set its own (`PUT /v1/admin/tenants/{id}/quota`);
    /// `None`: no limit (`CUTROOM_MONTHLY_MEDIA_MINUTES`).
    pub monthly_media_minutes: Option<i64>,
    /// The built web app (`frontend/dist`), served at `/`
    /// (`CUTROOM_WEB_DIR`, default `frontend/dist`); `None` or a folder
    /// without `index.html`: `/` is a page about the API instead.
    pub web_dir: Option<PathBuf>,
    /// Connection, timeout and sign-in limits against clients that would
    /// exhaust the process.
    pub guards: Guards,
}

impl Config {
    /// Defaults for a data folder: the embedded set-up (SQLite, local storage,
    /// worker in-process), listening on 127.0.0.1:8080.
    pub fn for_data_dir(data_dir: impl Into<PathBuf>, secret_key: SecretString) -> Self {
        let data_dir = data_dir.into();
        let models_dir = data_dir.join("models");
        let listen: SocketAddr = ([127, 0, 0, 1], 8080).into();
        Self {
            listen,
            public_url: format!("http://{listen}"),
            database_url: format!(
                "sqlite://{}?mode=rwc",
                data_dir.join("cutroom.db").display()
            ),
            storage: StorageConfig::Local {
                root: data_dir.join("objects"),
            },
            scratch_dir: data_dir.join("scratch"),
            data_dir,
            secret_key,
            in_process_worker: true,
            access_token_ttl: Duration::from_secs(15 * 60),
            refresh_token_ttl: Duration::from_secs(30 * 24 * 3600),
            upload_url_ttl: Duration::from_secs(3600),
            upload_grace: Duration::from_secs(10 * 60),
            download_url_ttl: Duration::from_secs(15 * 60),
            max_upload_bytes: 20 * 1024 * 1024 * 1024,
            max_batch_bytes: 50 * 1024 * 1024 * 1024,
            multipart_threshold: crate::storage::multipart::SINGLE_PUT_MAX,
            upload_part_size: 64 << 20,
            max_duration: Duration::from_secs(4 * 3600),
            media_limits: MediaLimits::default(),
            ytdlp_path: PathBuf::from("yt-dlp"),
            ytdlp_timeout: Duration::from_secs(30 * 60),
            max_source_height: DEFAULT_MAX_SOURCE_HEIGHT,
            extra_source_hosts: BTreeSet::new(),
            llm_hosts: None,
            llm_private_hosts: BTreeSet::new(),
            analysis_deadline: Duration::from_secs(30),
            sweep_interval: Duration::from_secs(60),
            log_json: false,
            models_dir,
            whisper_threads: default_threads(),
            whisper_model: "tiny.en".into(),
            whisper_quant: WhisperQuant::default(),
            whisper_flash_attn: false,
            speaker_model: SpeakerModel::default(),
            webhooks: WebhookConfig::default(),
            tenant_max_running: 4,
            rate_limit_per_minute: 600,
            retries: RetryConfig::default(),
            router: RouterConfig::default(),
            local_llm: LocalLlmConfig::default(),
            worker_heartbeat: Duration::from_secs(10),
            queue_poll: None,
            database_max_connections: None,
            worker_prefetch: 0,
            operator_token: None,
            monthly_media_minutes: None,
            web_dir: None,
            guards: Guards::default(),
        }
    }

    /// Reads `CUTROOM_*` variables. Unknown values are errors, not silent defaults.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// The parser behind [`Config::from_env`], over any lookup (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let var = |name: &str| get(&format!("CUTROOM_{name}")).filter(|v| !v.trim().is_empty());
        let data_dir = PathBuf::from(var("DATA_DIR").unwrap_or_else(|| "./data".into()));
        let secret = secret::secret_key(var("SECRET_KEY"), &data_dir)?;
        let mut c = Self::for_data_dir(data_dir, secret);
        if let Some(v) = var("LISTEN") {
            c.listen = v
                .parse()
                .with_context(|| format!("CUTROOM_LISTEN={v} is not host:port"))?;
            c.public_url = format!("http://{}", c.listen);
        }
        if let Some(v) = var("PUBLIC_URL") {
            c.public_url = v.trim_end_matches('/').to_owned();
        }
        if let Some(v) = var("DATABASE_URL") {
            c.database_url = v;
        }
        if let Some(v) = var("SCRATCH_DIR") {
            c.scratch_dir = v.into();
        }
        c.storage = StorageConfig::from_vars(var, c.storage)?;
        c.in_process_worker = parse_bool("IN_PROCESS_WORKER", var("IN_PROCESS_WORKER"), true)?;
        c.log_json = var("LOG_FORMAT").is_some_and(|f| f == "json");
        c.access_token_ttl = secs(var, "ACCESS_TOKEN_TTL_SECS", c.access_token_ttl)?;
        c.refresh_token_ttl = secs(var, "REFRESH_TOKEN_TTL_SECS", c.refresh_token_ttl)?;
        c.upload_url_ttl = secs(var, "UPLOAD_URL_TTL_SECS", c.upload_url_ttl)?;
        c.upload_grace = secs(var, "UPLOAD_GRACE_SECS", c.upload_grace)?;
        c.download_url_ttl = secs(var, "DOWNLOAD_URL_TTL_SECS", c.download_url_ttl)?;
        c.max_duration = secs(var, "MAX_DURATION_SECS", c.max_duration)?;
        c.ytdlp_timeout = secs(var, "YTDLP_TIMEOUT_SECS", c.ytdlp_timeout)?;
        c.sweep_interval = secs(var, "SWEEP_INTERVAL_SECS", c.sweep_interval)?;
        c.retries.backoff = secs(var, "JOB_RETRY_BACKOFF_SECS", c.retries.backoff)?;
        c.worker_heartbeat = secs(var, "WORKER_HEARTBEAT_SECS", c.worker_heartbeat)?;
        c.router = RouterConfig::from_vars(var, c.router)?;
        c.local_llm = LocalLlmConfig::from_vars(var)?;
        if let Some(v) = var("QUEUE_POLL_MS") {
            let ms = v
                .parse::<u64>()
                .ok()
                .filter(|n| (1..=3_600_000).contains(n))
                .with_context(|| format!("CUTROOM_QUEUE_POLL_MS={v}: expected 1 to 3600000"))?;
            c.queue_poll = Some(Duration::from_millis(ms));
        }
        if let Some(v) = var("DATABASE_MAX_CONNECTIONS") {
            c.database_max_connections = Some(
                v.parse::<u32>()
                    .ok()
                    .filter(|n| (2..=1000).contains(n))
                    .with_context(|| {
                        format!("CUTROOM_DATABASE_MAX_CONNECTIONS={v}: expected 2 to 1000")
                    })?,
            );
        }
        if let Some(v) = var("WORKER_PREFETCH") {
            c.worker_prefetch = match v.as_str() {
                "0" => 0,
                "1" => 1,
                _ => bail!("CUTROOM_WORKER_PREFETCH={v}: expected 0 or 1"),
            };
        }
        if c.worker_heartbeat.is_zero() {
            bail!("CUTROOM_WORKER_HEARTBEAT_SECS must be at least 1");
        }
        if let Some(v) = var("JOB_MAX_ATTEMPTS") {
            c.retries.max_attempts = v
                .parse()
                .ok()
                .filter(|n| (1..=10).contains(n))
                .with_context(|| format!("CUTROOM_JOB_MAX_ATTEMPTS={v}: expected 1 to 10"))?;
        }
        c.operator_token = match var("OPERATOR_TOKEN") {
            Some(t) if t.len() < 32 => {
                bail!("CUTROOM_OPERATOR_TOKEN must be at least 32 characters")
            }
            t => t.map(SecretString::from),
        };
        c.web_dir = Some(
            var("WEB_DIR")
                .unwrap_or_else(|| "frontend/dist".into())
                .into(),
        );
        if let Some(v) = var("MONTHLY_MEDIA_MINUTES") {
            c.monthly_media_minutes = Some(
                v.parse()
                    .ok()
                    .filter(|n| (0..=crate::usage::MAX_QUOTA_MINUTES).contains(n))
                    .with_context(|| {
                        format!(
                            "CUTROOM_MONTHLY_MEDIA_MINUTES={v}: expected 0 to {} (unset: no limit)",
                            crate::usage::MAX_QUOTA_MINUTES
                        )
                    })?,
            );
        }
        c.media_limits.read_vars(var)?;
        if let Some(v) = var("MAX_UPLOAD_BYTES") {
            c.max_upload_bytes = v
                .parse()
                .with_context(|| format!("CUTROOM_MAX_UPLOAD_BYTES={v} is not a number"))?;
        }
        if let Some(v) = var("MAX_BATCH_BYTES") {
            c.max_batch_bytes = v
                .parse()
                .with_context(|| format!("CUTROOM_MAX_BATCH_BYTES={v} is not a number"))?;
        }
        if let Some(v) = var("MULTIPART_THRESHOLD_BYTES") {
            use crate::storage::multipart::{MIN_PART_SIZE, SINGLE_PUT_MAX};
            c.multipart_threshold = v
                .parse()
                .ok()
                .filter(|b| (MIN_PART_SIZE..=SINGLE_PUT_MAX).contains(b))
                .with_context(|| {
                    format!(
                        "CUTROOM_MULTIPART_THRESHOLD_BYTES={v}: expected {MIN_PART_SIZE} to {SINGLE_PUT_MAX} bytes"
                    )
                })?;
        }
        if let Some(v) = var("UPLOAD_PART_BYTES") {
            use crate::storage::multipart::{MAX_PART_SIZE, MIN_PART_SIZE};
            c.upload_part_size = v
                .parse()
                .ok()
                .filter(|b| (MIN_PART_SIZE..=MAX_PART_SIZE).contains(b))
                .with_context(|| {
                    format!(
                        "CUTROOM_UPLOAD_PART_BYTES={v}: expected {MIN_PART_SIZE} to {MAX_PART_SIZE} bytes"
                    )
                })?;
        }
        if let Some(v) = var("MAX_SOURCE_HEIGHT") {
            c.max_source_height = v
                .parse()
                .ok()
                .filter(|h| (MIN_SOURCE_HEIGHT..=MAX_SOURCE_HEIGHT).contains(h))
                .with_context(|| {
                    format!(
                        "CUTROOM_MAX_SOURCE_HEIGHT={v}: expected {MIN_SOURCE_HEIGHT} to {MAX_SOURCE_HEIGHT} (pixels)"
                    )
                })?;
        }
        if let Some(v) = var("YTDLP") {
            c.ytdlp_path = v.into();
        }
        if let Some(v) = var("MODELS_DIR") {
            c.models_dir = v.into();
        }
        if let Some(v) = var("WHISPER_THREADS") {
            c.whisper_threads =
                v.parse().ok().filter(|n| *n > 0).with_context(|| {
                    format!("CUTROOM_WHISPER_THREADS={v} is not a positive number")
                })?;
        }
        if let Some(v) = var("WHISPER_MODEL") {
            if !crate::jobs::WHISPER_MODELS.contains(&v.as_str()) {
                bail!(
                    "CUTROOM_WHISPER_MODEL={v}: expected one of {}",
                    crate::jobs::WHISPER_MODELS.join(", ")
                );
            }
            c.whisper_model = v;
        }
        c.whisper_flash_attn = parse_bool(
            "WHISPER_FLASH_ATTN",
            var("WHISPER_FLASH_ATTN"),
            c.whisper_flash_attn,
        )?;
        if let Some(v) = var("WHISPER_QUANT") {
            c.whisper_quant = v
                .parse()
                .with_context(|| format!("CUTROOM_WHISPER_QUANT={v}"))?;
        }
        if let Some(v) = var("SPEAKER_MODEL") {
            c.speaker_model = v
                .parse()
                .with_context(|| format!("CUTROOM_SPEAKER_MODEL={v}"))?;
        }
        if let Some(v) = var("EXTRA_SOURCE_HOSTS") {
            c.extra_source_hosts = hosts(v);
        }
        c.llm_hosts = var("LLM_HOSTS").map(hosts);
        if let Some(v) = var("LLM_PRIVATE_HOSTS") {
            c.llm_private_hosts = hosts(v);
        }
        if let Some(v) = var("ANALYSIS_DEADLINE_SECS") {
            let secs: u64 = v
                .parse()
                .ok()
                .filter(|n| (1..=3600).contains(n))
                .with_context(|| {
                    format!("CUTROOM_ANALYSIS_DEADLINE_SECS={v}: expected 1 to 3600")
                })?;
            c.analysis_deadline = Duration::from_secs(secs);
        }
        if let Some(v) = var("TENANT_MAX_RUNNING") {
            c.tenant_max_running = v
                .parse()
                .ok()
                .filter(|n| (1..=10_000).contains(n))
                .with_context(|| format!("CUTROOM_TENANT_MAX_RUNNING={v}: expected 1 to 10000"))?;
        }
        if let Some(v) = var("RATE_LIMIT_PER_MINUTE") {
            c.rate_limit_per_minute = v.parse().ok().with_context(|| {
                format!("CUTROOM_RATE_LIMIT_PER_MINUTE={v}: expected a number (0: no limit)")
            })?;
        }
        c.webhooks.read_vars(var)?;
        c.guards = Guards::from_vars(var)?;
        Ok(c)
    }
}
