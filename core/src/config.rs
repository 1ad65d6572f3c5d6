//! Typed configuration, read once from `CUTROOM_*` environment variables.
//!
//! Tests build [`Config`] directly (see [`Config::for_data_dir`]); nothing
//! else reads the environment.

use std::{collections::BTreeSet, net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::{Context, bail};
use secrecy::SecretString;

mod guards;
pub use guards::Guards;

/// [`Config::max_source_height`] unless changed, and its bounds: 144p is
/// the smallest picture video hosts offer, 4320p (8K) the largest.
pub const DEFAULT_MAX_SOURCE_HEIGHT: u32 = 1080;
const MIN_SOURCE_HEIGHT: u32 = 144;
const MAX_SOURCE_HEIGHT: u32 = 4320;

/// Where outputs and uploads live.
#[derive(Clone, Debug)]
pub enum StorageConfig {
    /// A folder on this machine; presigned URLs point at the API itself.
    Local { root: PathBuf },
    /// Any S3-compatible service.
    S3(S3Config),
}

#[derive(Clone, Debug)]
pub struct S3Config {
    pub bucket: String,
    pub region: String,
    /// `None` means AWS itself; set for MinIO, s3s-fs, Garage...
    pub endpoint: Option<String>,
    /// The endpoint in presigned URLs handed to clients, when they reach
    /// the store at another address than Cutroom does (`http://minio:9000`
    /// inside compose, `http://localhost:9000` from a browser). `None`: the
    /// same as `endpoint`.
    pub public_endpoint: Option<String>,
    pub access_key_id: String,
    pub secret_access_key: SecretString,
    /// Needed by most self-hosted servers (`http://host/bucket/key`).
    pub force_path_style: bool,
    /// Files bigger than this go up as a multipart upload in parts of this
    /// size, several at once (S3's minimum part is 5 MiB).
    pub part_size: u64,
    /// Attempts per request, the first included: transient failures
    /// (timeouts, 5xx, throttling) are retried with exponential backoff and
    /// jitter.
    pub max_attempts: u32,
}

impl S3Config {
    /// Parts of 16 MiB: a 2 GiB render is 128 parts, well under S3's 10,000.
    pub const DEFAULT_PART_SIZE: u64 = 16 << 20;
    /// S3's own smallest part (the last may be smaller).
    pub const MIN_PART_SIZE: u64 = 5 << 20;
    pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;
}

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
    /// Automatic retries of jobs that failed for a reason that may pass.
    pub retries: RetryConfig,
    /// How often a worker reports in; one silent for three of these is
    /// presumed dead and its job goes to another worker
    /// (`CUTROOM_WORKER_HEARTBEAT_SECS`, default 10).
    pub worker_heartbeat: Duration,
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

/// How jobs that failed with a passing error (`download_failed`,
/// `download_timeout`, `storage_error`, or a worker that died under them)
/// run again.
#[derive(Clone, Debug)]
pub struct RetryConfig {
    /// Runs of one job at most, the first included
    /// (`CUTROOM_JOB_MAX_ATTEMPTS`, 1-10, default 3).
    pub max_attempts: u32,
    /// The pause before the first retry; each later one waits four times
    /// longer, with 20 % jitter (`CUTROOM_JOB_RETRY_BACKOFF_SECS`, default 30).
    pub backoff: Duration,
}

impl RetryConfig {
    /// The longest pause between two attempts.
    pub const MAX_DELAY: Duration = Duration::from_secs(3600);

    /// The pause after attempt `failed` (1 for the first run):
    /// `backoff * 4^(failed-1)`, at most an hour, within 20 % either way
    /// so jobs that failed together (a storage outage) do not all come
    /// back in the same second.
    pub fn delay(&self, failed: u32) -> Duration {
        let factor = 4u32.saturating_pow(failed.saturating_sub(1));
        let base = self.backoff.saturating_mul(factor).min(Self::MAX_DELAY);
        base.mul_f64(rand::random_range(0.8..=1.2))
    }
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            backoff: Duration::from_secs(30),
        }
    }
}

/// What a source may hold, checked when the worker probes it, before
/// anything decodes a picture: a small file can declare a picture or a
/// frame rate whose decoding would take a worker's memory and hours.
#[derive(Clone, Debug, PartialEq)]
pub struct MediaLimits {
    /// Widest and tallest picture, in pixels (`CUTROOM_MAX_VIDEO_DIMENSION`,
    /// default 8192).
    pub max_dimension: u32,
    /// Largest picture, width times height (`CUTROOM_MAX_VIDEO_PIXELS`,
    /// default 35,389,440: DCI 8K, 8192x4320).
    pub max_pixels: u64,
    /// Highest frame rate (`CUTROOM_MAX_FRAME_RATE`, default 240).
    pub max_frame_rate: u32,
    /// Most streams in one file, of every kind (`CUTROOM_MAX_STREAMS`,
    /// default 32: a recording has a few; a film with its subtitle tracks
    /// and fonts some twenty).
    pub max_streams: u32,
}

impl MediaLimits {
    /// The largest picture any decoder is allowed to allocate, whatever the
    /// configuration: 8192x8192. It also bounds a picture that grows in the
    /// middle of a stream (each MJPEG frame carries its own size).
    pub const PIXEL_CEILING: u64 = 8192 * 8192;
}

impl Default for MediaLimits {
    fn default() -> Self {
        Self {
            max_dimension: 8192,
            max_pixels: 8192 * 4320,
            max_frame_rate: 240,
            max_streams: 32,
        }
    }
}

/// Webhook delivery (see `cutroom_core::webhooks`).
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    /// `host` or `host:port` entries webhooks may reach although they are
    /// loopback or private addresses (`CUTROOM_WEBHOOK_PRIVATE_HOSTS`).
    pub private_hosts: BTreeSet<String>,
    /// Longest wait for a receiver's answer (`CUTROOM_WEBHOOK_TIMEOUT_SECS`).
    pub timeout: Duration,
    /// An endpoint whose every attempt failed for this long is disabled
    /// (`CUTROOM_WEBHOOK_DISABLE_AFTER_HOURS`, default 24).
    pub disable_after: Duration,
    /// Delays before each attempt; [`crate::webhooks::RETRY_SCHEDULE`]
    /// unless a test shortens it.
    pub schedule: Vec<Duration>,
    /// How often each API process looks for due messages.
    pub poll_interval: Duration,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            private_hosts: BTreeSet::new(),
            timeout: Duration::from_secs(15),
            disable_after: Duration::from_secs(24 * 3600),
            schedule: crate::webhooks::RETRY_SCHEDULE.to_vec(),
            poll_interval: Duration::from_millis(250),
        }
    }
}

/// How the Whisper models' weight matrices are stored (`CUTROOM_WHISPER_QUANT`).
/// The model folder always holds both; see `docs/benchmarks.md` for what
/// each costs in time and word errors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum WhisperQuant {
    /// Half precision, as converted from the packaged models.
    F16,
    /// 8-bit blocks (the default): about half the memory, transcription
    /// 20-25 % faster, no more word errors on the benchmark.
    #[default]
    Q8_0,
}

impl WhisperQuant {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::F16 => "f16",
            Self::Q8_0 => "q8_0",
        }
    }
}

impl std::str::FromStr for WhisperQuant {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> anyhow::Result<Self> {
        match s {
            "f16" => Ok(Self::F16),
            "q8_0" => Ok(Self::Q8_0),
            _ => bail!("expected f16 or q8_0"),
        }
    }
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
            max_upload_bytes: 4 * 1024 * 1024 * 1024,
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
            webhooks: WebhookConfig::default(),
            tenant_max_running: 4,
            rate_limit_per_minute: 600,
            retries: RetryConfig::default(),
            worker_heartbeat: Duration::from_secs(10),
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
        let secret = match var("SECRET_KEY") {
            Some(s) if s.len() < MIN_SECRET_LEN => {
                bail!("CUTROOM_SECRET_KEY must be at least {MIN_SECRET_LEN} characters")
            }
            Some(s) => SecretString::from(s),
            None => load_or_create_secret(&data_dir)?,
        };
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
        match var("STORAGE").as_deref().unwrap_or("local") {
            "local" => {
                if let Some(v) = var("STORAGE_DIR") {
                    c.storage = StorageConfig::Local { root: v.into() };
                }
            }
            "s3" => {
                let need = |n: &str| {
                    var(n)
                        .with_context(|| format!("CUTROOM_{n} is required with CUTROOM_STORAGE=s3"))
                };
                c.storage = StorageConfig::S3(S3Config {
                    bucket: need("S3_BUCKET")?,
                    region: var("S3_REGION").unwrap_or_else(|| "us-east-1".into()),
                    endpoint: var("S3_ENDPOINT"),
                    public_endpoint: var("S3_PUBLIC_ENDPOINT"),
                    access_key_id: need("S3_ACCESS_KEY_ID")?,
                    secret_access_key: need("S3_SECRET_ACCESS_KEY")?.into(),
                    force_path_style: parse_bool(
                        "S3_FORCE_PATH_STYLE",
                        var("S3_FORCE_PATH_STYLE"),
                        true,
                    )?,
                    part_size: match var("S3_PART_SIZE_MB") {
                        None => S3Config::DEFAULT_PART_SIZE,
                        Some(v) => v
                            .parse::<u64>()
                            .ok()
                            .map(|mb| mb << 20)
                            .filter(|b| *b >= S3Config::MIN_PART_SIZE && *b <= 5 << 30)
                            .with_context(|| {
                                format!("CUTROOM_S3_PART_SIZE_MB={v}: expected 5 to 5120")
                            })?,
                    },
                    max_attempts: match var("S3_MAX_ATTEMPTS") {
                        None => S3Config::DEFAULT_MAX_ATTEMPTS,
                        Some(v) => v
                            .parse::<u32>()
                            .ok()
                            .filter(|n| (1..=20).contains(n))
                            .with_context(|| {
                                format!("CUTROOM_S3_MAX_ATTEMPTS={v}: expected 1 to 20")
                            })?,
                    },
                });
            }
            other => bail!("CUTROOM_STORAGE={other}: expected `local` or `s3`"),
        }
        c.in_process_worker = parse_bool("IN_PROCESS_WORKER", var("IN_PROCESS_WORKER"), true)?;
        c.log_json = var("LOG_FORMAT").is_some_and(|f| f == "json");
        let secs = |name: &str, default: Duration| -> anyhow::Result<Duration> {
            var(name).map_or(Ok(default), |v| {
                v.parse::<u64>()
                    .map(Duration::from_secs)
                    .with_context(|| format!("CUTROOM_{name}={v} is not a number of seconds"))
            })
        };
        c.access_token_ttl = secs("ACCESS_TOKEN_TTL_SECS", c.access_token_ttl)?;
        c.refresh_token_ttl = secs("REFRESH_TOKEN_TTL_SECS", c.refresh_token_ttl)?;
        c.upload_url_ttl = secs("UPLOAD_URL_TTL_SECS", c.upload_url_ttl)?;
        c.upload_grace = secs("UPLOAD_GRACE_SECS", c.upload_grace)?;
        c.download_url_ttl = secs("DOWNLOAD_URL_TTL_SECS", c.download_url_ttl)?;
        c.max_duration = secs("MAX_DURATION_SECS", c.max_duration)?;
        c.ytdlp_timeout = secs("YTDLP_TIMEOUT_SECS", c.ytdlp_timeout)?;
        c.sweep_interval = secs("SWEEP_INTERVAL_SECS", c.sweep_interval)?;
        c.retries.backoff = secs("JOB_RETRY_BACKOFF_SECS", c.retries.backoff)?;
        c.worker_heartbeat = secs("WORKER_HEARTBEAT_SECS", c.worker_heartbeat)?;
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
        let bounded = |name: &str, default: u64, max: u64| -> anyhow::Result<u64> {
            var(name).map_or(Ok(default), |v| {
                v.parse()
                    .ok()
                    .filter(|n| (1..=max).contains(n))
                    .with_context(|| format!("CUTROOM_{name}={v}: expected 1 to {max}"))
            })
        };
        let limits = &mut c.media_limits;
        limits.max_dimension = u32::try_from(bounded(
            "MAX_VIDEO_DIMENSION",
            limits.max_dimension.into(),
            16_384,
        )?)?;
        limits.max_pixels = bounded(
            "MAX_VIDEO_PIXELS",
            limits.max_pixels,
            MediaLimits::PIXEL_CEILING,
        )?;
        limits.max_frame_rate = u32::try_from(bounded(
            "MAX_FRAME_RATE",
            limits.max_frame_rate.into(),
            1000,
        )?)?;
        limits.max_streams =
            u32::try_from(bounded("MAX_STREAMS", limits.max_streams.into(), 1000)?)?;
        if let Some(v) = var("MAX_UPLOAD_BYTES") {
            c.max_upload_bytes = v
                .parse()
                .with_context(|| format!("CUTROOM_MAX_UPLOAD_BYTES={v} is not a number"))?;
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
        if let Some(v) = var("WHISPER_QUANT") {
            c.whisper_quant = v
                .parse()
                .with_context(|| format!("CUTROOM_WHISPER_QUANT={v}"))?;
        }
        let hosts = |v: String| -> BTreeSet<String> {
            v.split(',')
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect()
        };
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
        if let Some(v) = var("WEBHOOK_PRIVATE_HOSTS") {
            c.webhooks.private_hosts = hosts(v);
        }
        if let Some(v) = var("WEBHOOK_TIMEOUT_SECS") {
            let secs: u64 = v
                .parse()
                .ok()
                .filter(|n| (1..=120).contains(n))
                .with_context(|| format!("CUTROOM_WEBHOOK_TIMEOUT_SECS={v}: expected 1 to 120"))?;
            c.webhooks.timeout = Duration::from_secs(secs);
        }
        if let Some(v) = var("WEBHOOK_DISABLE_AFTER_HOURS") {
            let hours: u64 = v
                .parse()
                .ok()
                .filter(|n| (1..=720).contains(n))
                .with_context(|| {
                    format!("CUTROOM_WEBHOOK_DISABLE_AFTER_HOURS={v}: expected 1 to 720")
                })?;
            c.webhooks.disable_after = Duration::from_secs(hours * 3600);
        }
        c.guards = Guards::from_vars(var)?;
        Ok(c)
    }
}

#[cfg(test)]
mod retry_tests {
    use std::time::Duration;

    use super::RetryConfig;

    #[test]
    fn retry_pauses_grow_fourfold_with_jitter_and_a_ceiling() {
        let c = RetryConfig {
            max_attempts: 5,
            backoff: Duration::from_secs(30),
        };
        for _ in 0..50 {
            let first = c.delay(1).as_secs_f64();
            let second = c.delay(2).as_secs_f64();
            assert!((24.0..=36.0).contains(&first), "{first}");
            assert!((96.0..=144.0).contains(&second), "{second}");
            assert!(c.delay(9) <= RetryConfig::MAX_DELAY.mul_f64(1.2));
        }
    }
}

/// One thread per core, at most 8 (whisper.cpp gains little beyond).
fn default_threads() -> u16 {
    std::thread::available_parallelism().map_or(4, |n| u16::try_from(n.get().min(8)).unwrap_or(8))
}

fn parse_bool(name: &str, v: Option<String>, default: bool) -> anyhow::Result<bool> {
    match v.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None => Ok(default),
        Some("1" | "true" | "yes" | "on") => Ok(true),
        Some("0" | "false" | "no" | "off") => Ok(false),
        Some(o) => bail!("CUTROOM_{name}={o}: expected true or false"),
    }
}

/// The shortest secret key accepted, from the environment or the file.
const MIN_SECRET_LEN: usize = 32;

/// The embedded default keeps a generated secret in the data folder, so a
/// restart keeps tokens and URLs valid without the user choosing one.
fn load_or_create_secret(data_dir: &std::path::Path) -> anyhow::Result<SecretString> {
    use std::io::Write;
    let path = data_dir.join("secret.key");
    if let Ok(s) = std::fs::read_to_string(&path) {
        let s = s.trim();
        // An empty or short key (a truncated copy, a file made by hand)
        // would let anyone sign access tokens and storage URLs.
        if s.len() < MIN_SECRET_LEN {
            bail!(
                "{} holds {} characters; the secret key needs at least {MIN_SECRET_LEN}. \
                 Delete the file to have a new one generated (signed-in sessions and \
                 stored LLM keys then stop working), or put a random key in it \
                 (`openssl rand -hex 32`)",
                path.display(),
                s.len()
            );
        }
        return Ok(SecretString::from(s.to_owned()));
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let secret = hex::encode(rand::random::<[u8; 32]>());
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(secret.as_bytes())?;
    Ok(SecretString::from(secret))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(vars: &[(&str, &str)]) -> anyhow::Result<Config> {
        let m: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn s3_needs_its_settings() {
        let secret = "x".repeat(32);
        let err = parse(&[("CUTROOM_SECRET_KEY", &secret), ("CUTROOM_STORAGE", "s3")]).unwrap_err();
        assert!(err.to_string().contains("CUTROOM_S3_BUCKET"), "{err}");
        let s3 = [
            ("CUTROOM_SECRET_KEY", secret.as_str()),
            ("CUTROOM_STORAGE", "s3"),
            ("CUTROOM_S3_BUCKET", "b"),
            ("CUTROOM_S3_ACCESS_KEY_ID", "k"),
            ("CUTROOM_S3_SECRET_ACCESS_KEY", "s"),
        ];
        let StorageConfig::S3(c) = parse(&s3).unwrap().storage else {
            panic!("not s3")
        };
        assert_eq!(
            (c.part_size, c.max_attempts),
            (16 << 20, S3Config::DEFAULT_MAX_ATTEMPTS)
        );
        let tuned = [
            &s3[..],
            &[
                ("CUTROOM_S3_PART_SIZE_MB", "64"),
                ("CUTROOM_S3_MAX_ATTEMPTS", "2"),
            ],
        ]
        .concat();
        let StorageConfig::S3(c) = parse(&tuned).unwrap().storage else {
            panic!("not s3")
        };
        assert_eq!((c.part_size, c.max_attempts), (64 << 20, 2));
        // Below S3's smallest part, or no tries at all: refused.
        for bad in [
            ("CUTROOM_S3_PART_SIZE_MB", "4"),
            ("CUTROOM_S3_MAX_ATTEMPTS", "0"),
        ] {
            let err = parse(&[&s3[..], &[bad]].concat()).unwrap_err();
            assert!(err.to_string().contains(bad.0), "{err}");
        }
    }

    #[test]
    fn rejects_bad_values_instead_of_defaulting() {
        let secret = "x".repeat(32);
        assert!(parse(&[("CUTROOM_SECRET_KEY", &secret), ("CUTROOM_LISTEN", "nope")]).is_err());
        assert!(
            parse(&[
                ("CUTROOM_SECRET_KEY", &secret),
                ("CUTROOM_IN_PROCESS_WORKER", "maybe")
            ])
            .is_err()
        );
        assert!(parse(&[("CUTROOM_SECRET_KEY", "short")]).is_err());
        let c = parse(&[
            ("CUTROOM_SECRET_KEY", &secret),
            ("CUTROOM_LISTEN", "127.0.0.1:9000"),
            ("CUTROOM_EXTRA_SOURCE_HOSTS", "127.0.0.1:8000, Example.org"),
        ])
        .unwrap();
        assert_eq!(c.public_url, "http://127.0.0.1:9000");
        assert!(c.extra_source_hosts.contains("example.org"));
        assert_eq!(c.llm_hosts, None);
        assert_eq!(c.max_source_height, 1080);
        let tall = [
            ("CUTROOM_SECRET_KEY", &secret[..]),
            ("CUTROOM_MAX_SOURCE_HEIGHT", "720"),
        ];
        assert_eq!(parse(&tall).unwrap().max_source_height, 720);
        for bad in ["0", "100", "8000", "tall"] {
            let err = parse(&[
                ("CUTROOM_SECRET_KEY", &secret),
                ("CUTROOM_MAX_SOURCE_HEIGHT", bad),
            ])
            .unwrap_err();
            assert!(
                err.to_string().contains("CUTROOM_MAX_SOURCE_HEIGHT"),
                "{err}"
            );
        }
        let c = parse(&[
            ("CUTROOM_SECRET_KEY", &secret),
            ("CUTROOM_LLM_HOSTS", "llama:8080, API.openai.com"),
        ])
        .unwrap();
        let hosts = c.llm_hosts.unwrap();
        assert!(hosts.contains("llama:8080") && hosts.contains("api.openai.com"));
        assert!(c.llm_private_hosts.is_empty());
        assert_eq!(c.analysis_deadline, Duration::from_secs(30));
        let c = parse(&[
            ("CUTROOM_SECRET_KEY", &secret),
            ("CUTROOM_LLM_PRIVATE_HOSTS", "llama:8080"),
            ("CUTROOM_ANALYSIS_DEADLINE_SECS", "45"),
        ])
        .unwrap();
        assert!(c.llm_private_hosts.contains("llama:8080"));
        assert_eq!(c.analysis_deadline, Duration::from_secs(45));
        for bad in ["0", "soon"] {
            let vars = [
                ("CUTROOM_SECRET_KEY", secret.as_str()),
                ("CUTROOM_ANALYSIS_DEADLINE_SECS", bad),
            ];
            assert!(parse(&vars).is_err(), "{bad}");
        }
        for bad in ["-1", "lots", "60000001"] {
            let vars = [
                ("CUTROOM_SECRET_KEY", secret.as_str()),
                ("CUTROOM_MONTHLY_MEDIA_MINUTES", bad),
            ];
            assert!(parse(&vars).is_err(), "{bad}");
        }
        let quota = |v: &str| {
            parse(&[
                ("CUTROOM_SECRET_KEY", &secret),
                ("CUTROOM_MONTHLY_MEDIA_MINUTES", v),
            ])
            .unwrap()
            .monthly_media_minutes
        };
        assert_eq!(quota("600"), Some(600));
        let limits = |vars: &[(&str, &str)]| {
            let mut all = vec![("CUTROOM_SECRET_KEY", secret.as_str())];
            all.extend_from_slice(vars);
            parse(&all).map(|c| c.media_limits)
        };
        assert_eq!(limits(&[]).unwrap(), MediaLimits::default());
        let tuned = limits(&[
            ("CUTROOM_MAX_VIDEO_DIMENSION", "4096"),
            ("CUTROOM_MAX_VIDEO_PIXELS", "8847360"),
            ("CUTROOM_MAX_FRAME_RATE", "60"),
            ("CUTROOM_MAX_STREAMS", "4"),
        ])
        .unwrap();
        assert_eq!(
            tuned,
            MediaLimits {
                max_dimension: 4096,
                max_pixels: 8_847_360,
                max_frame_rate: 60,
                max_streams: 4
            }
        );
        // Past what decoders may allocate, zero, or not a number: refused.
        for bad in [
            ("CUTROOM_MAX_VIDEO_PIXELS", "67108865"),
            ("CUTROOM_MAX_FRAME_RATE", "0"),
            ("CUTROOM_MAX_STREAMS", "many"),
        ] {
            let err = limits(&[bad]).unwrap_err();
            assert!(err.to_string().contains(bad.0), "{err}");
        }
        assert_eq!(quota("0"), Some(0));
        // What compose passes when the variable is unset.
        assert_eq!(quota(""), None);
    }

    #[test]
    fn whisper_quant_defaults_to_q8_0() {
        let secret = "x".repeat(32);
        let c = parse(&[("CUTROOM_SECRET_KEY", &secret)]).unwrap();
        assert_eq!(c.whisper_quant, WhisperQuant::Q8_0);
        let c = parse(&[
            ("CUTROOM_SECRET_KEY", &secret),
            ("CUTROOM_WHISPER_QUANT", "f16"),
        ])
        .unwrap();
        assert_eq!(c.whisper_quant, WhisperQuant::F16);
        let err = parse(&[
            ("CUTROOM_SECRET_KEY", &secret),
            ("CUTROOM_WHISPER_QUANT", "q4"),
        ])
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("expected f16 or q8_0"),
            "{err:#}"
        );
    }

    /// An empty `secret.key` was taken as the key, so anyone could sign
    /// access tokens and storage URLs.
    #[test]
    fn refuses_an_empty_or_short_secret_file() {
        for weak in ["", "\n", "0123456789abcdef"] {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("secret.key"), weak).unwrap();
            let data = dir.path().to_str().unwrap();
            let err = parse(&[("CUTROOM_DATA_DIR", data)]).unwrap_err();
            let err = format!("{err:#}");
            assert!(err.contains("secret.key") && err.contains("32"), "{err}");
        }
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().to_str().unwrap();
        let made = parse(&[("CUTROOM_DATA_DIR", data)]).unwrap();
        let again = parse(&[("CUTROOM_DATA_DIR", data)]).unwrap();
        use secrecy::ExposeSecret;
        assert_eq!(made.secret_key.expose_secret().len(), 64);
        assert_eq!(
            made.secret_key.expose_secret(),
            again.secret_key.expose_secret()
        );
    }
}
