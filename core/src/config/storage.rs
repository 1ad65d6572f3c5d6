//! Where outputs and uploads live: a local folder or an S3-compatible
//! service (`CUTROOM_STORAGE` and its `CUTROOM_S3_*` settings).

use std::path::PathBuf;

use anyhow::{Context, bail};
use secrecy::SecretString;

use super::env::parse_bool;

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

impl StorageConfig {
    /// `CUTROOM_STORAGE` and the settings of the store it names; `local`
    /// (the default) keeps `local` unless `CUTROOM_STORAGE_DIR` is set.
    pub(super) fn from_vars(
        var: impl Fn(&str) -> Option<String>,
        local: StorageConfig,
    ) -> anyhow::Result<Self> {
        match var("STORAGE").as_deref().unwrap_or("local") {
            "local" => {
                if let Some(v) = var("STORAGE_DIR") {
                    return Ok(StorageConfig::Local { root: v.into() });
                }
                Ok(local)
            }
            "s3" => {
                let need = |n: &str| {
                    var(n)
                        .with_context(|| format!("CUTROOM_{n} is required with CUTROOM_STORAGE=s3"))
                };
                Ok(StorageConfig::S3(S3Config {
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
                }))
            }
            other => bail!("CUTROOM_STORAGE={other}: expected `local` or `s3`"),
        }
    }
}
