//! One object-store interface, two backends: S3 (any S3-compatible server)
//! and a local folder for the embedded default.
//!
//! Keys are `/`-separated and relative; every tenant-owned key starts with
//! [`tenant_prefix`], so deleting a tenant's or a job's files is one prefix.

mod local;
pub mod multipart;
mod s3;

use std::{collections::BTreeMap, path::Path, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use uuid::Uuid;

pub use local::{LocalStore, PartTarget, SignatureError};
pub use multipart::{PartPlan, UploadedPart};
pub use s3::S3Store;

use crate::config::{Config, StorageConfig};

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("object not found: {0}")]
    NotFound(String),
    #[error("invalid object key: {0}")]
    InvalidKey(String),
    #[error("storage I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("storage backend: {0}")]
    Backend(String),
    /// The parts a client listed to complete a multipart upload do not
    /// make the file: one is missing, or its ETag is not the stored one.
    #[error("{0}")]
    Parts(String),
}

/// A request a client can make without credentials until `expires_at`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PresignedRequest {
    pub method: String,
    pub url: String,
    /// Headers the client must send exactly as given (they are signed).
    pub headers: BTreeMap<String, String>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectMeta {
    pub key: String,
    pub size: u64,
}

#[async_trait::async_trait]
pub trait ObjectStore: Send + Sync + 'static {
    /// A URL to `PUT` exactly `size` bytes of `content_type` at `key`.
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        size: u64,
        ttl: Duration,
    ) -> Result<PresignedRequest, StorageError>;
    /// Starts a multipart upload to `key`; returns the storage's id for it.
    async fn create_multipart(&self, key: &str, content_type: &str)
    -> Result<String, StorageError>;
    /// A URL to `PUT` part `number` (1-based) of exactly `size` bytes; its
    /// answer's `ETag` header names the part in
    /// [`ObjectStore::complete_multipart`].
    async fn presign_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u32,
        size: u64,
        ttl: Duration,
    ) -> Result<PresignedRequest, StorageError>;
    /// Puts the parts together as the object at `key`. A part missing or
    /// with another ETag fails with [`StorageError::Parts`], and the parts
    /// stay for another try.
    async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[UploadedPart],
    ) -> Result<(), StorageError>;
    /// Drops a multipart upload's parts; an unknown upload is not an error.
    async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), StorageError>;
    /// A URL to `GET` the object at `key`.
    async fn presign_get(&self, key: &str, ttl: Duration)
    -> Result<PresignedRequest, StorageError>;
    /// Size of the object, or `None` when there is none.
    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StorageError>;
    async fn put_file(
        &self,
        key: &str,
        path: &Path,
        content_type: &str,
    ) -> Result<(), StorageError>;
    /// Streams the object into `path`; returns the byte count.
    async fn get_to_file(&self, key: &str, path: &Path) -> Result<u64, StorageError>;
    /// Deleting a missing object is not an error.
    async fn delete(&self, key: &str) -> Result<(), StorageError>;
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StorageError>;

    /// Deletes every object under `prefix`; returns how many there were.
    async fn delete_prefix(&self, prefix: &str) -> Result<usize, StorageError> {
        let objects = self.list(prefix).await?;
        for o in &objects {
            self.delete(&o.key).await?;
        }
        Ok(objects.len())
    }
}

/// The configured store, and the local one again when that is what it is
/// (the API serves local presigned URLs itself and must check them).
pub struct Storage {
    pub store: Arc<dyn ObjectStore>,
    pub local: Option<Arc<LocalStore>>,
}

pub async fn from_config(config: &Config) -> Result<Storage, StorageError> {
    use secrecy::ExposeSecret;
    Ok(match &config.storage {
        StorageConfig::Local { root } => {
            let local = Arc::new(LocalStore::new(
                root.clone(),
                &config.public_url,
                config.secret_key.expose_secret().as_bytes(),
            )?);
            Storage {
                store: local.clone(),
                local: Some(local),
            }
        }
        StorageConfig::S3(s3) => Storage {
            store: Arc::new(S3Store::new(s3).await?),
            local: None,
        },
    })
}

/// `tenants/{tenant}/`: everything a tenant owns lives below it.
pub fn tenant_prefix(tenant_id: Uuid) -> String {
    format!("tenants/{tenant_id}/")
}

/// `tenants/{tenant}/jobs/{job}/`: a job's outputs.
pub fn job_prefix(tenant_id: Uuid, job_id: Uuid) -> String {
    format!("{}jobs/{job_id}/", tenant_prefix(tenant_id))
}

/// `tenants/{tenant}/settings/logo.png`: the tenant's logo for audiograms,
/// a PNG the API wrote (`PUT /v1/tenant/logo`). Its presence is the
/// setting: no object, no logo.
pub fn tenant_logo_key(tenant_id: Uuid) -> String {
    format!("{}settings/logo.png", tenant_prefix(tenant_id))
}

/// `uploads/{tenant}/`: a tenant's originals waiting for a worker. Apart
/// from `tenants/`, so one bucket lifecycle rule on `uploads/` (the compose
/// bootstrap sets it) removes any a crash left behind, whatever the tenant.
pub fn uploads_prefix(tenant_id: Uuid) -> String {
    format!("uploads/{tenant_id}/")
}

/// `uploads/{tenant}/batches/{batch}/{index}.{ext}`: one recording of a
/// batch's archive, waiting for its child job (which deletes it, as any
/// job its original). The index is the entry's place in the archive; no
/// name from the archive reaches a key.
pub fn batch_entry_key(tenant_id: Uuid, batch_id: Uuid, index: usize, extension: &str) -> String {
    format!(
        "{}batches/{batch_id}/{index:06}.{}",
        uploads_prefix(tenant_id),
        safe_file_name(extension)
    )
}

/// `kept/{tenant}/{job}/source.{ext}`: a job's source, kept for re-renders
/// when the job asked for it and deleted by the sweeper when its time is
/// up. Apart from `tenants/` for the same reason as `uploads/`: a bucket
/// lifecycle rule on `kept/` removes any the sweeper missed.
pub fn kept_source_key(tenant_id: Uuid, job_id: Uuid, extension: &str) -> String {
    format!("kept/{tenant_id}/{job_id}/source.{extension}")
}

/// `uploads/{tenant}/{upload}/{file}`: an original, deleted once the worker
/// has it (or by the sweeper when it is abandoned).
pub fn upload_key(tenant_id: Uuid, upload_id: Uuid, filename: &str) -> String {
    format!(
        "{}{upload_id}/{}",
        uploads_prefix(tenant_id),
        safe_file_name(filename)
    )
}

/// The tenant and upload an [`upload_key`] is for; `None` for any other key.
pub fn parse_upload_key(key: &str) -> Option<(Uuid, Uuid)> {
    let mut parts = key.strip_prefix("uploads/")?.split('/');
    let tenant = parts.next()?.parse().ok()?;
    let upload = parts.next()?.parse().ok()?;
    let _file = parts.next()?;
    parts.next().is_none().then_some((tenant, upload))
}

/// Keeps a user-given file name usable as the last key segment.
pub fn safe_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    let cleaned = cleaned.trim_start_matches('.');
    if cleaned.is_empty() {
        "source".into()
    } else {
        cleaned.into()
    }
}

pub(crate) fn check_key(key: &str) -> Result<(), StorageError> {
    let bad = key.is_empty()
        || key.starts_with('/')
        || key.contains('\\')
        || key.contains('\0')
        || key
            .split('/')
            .any(|seg| seg.is_empty() || seg == "." || seg == "..");
    if bad {
        Err(StorageError::InvalidKey(key.into()))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_escape() {
        for k in ["", "/a", "a/../b", "a//b", "a/./b", "a\\b"] {
            assert!(check_key(k).is_err(), "{k:?} accepted");
        }
        assert!(check_key("tenants/x/jobs/y/silences.json").is_ok());
    }

    #[test]
    fn upload_keys_name_their_upload() {
        let (t, u) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(parse_upload_key(&upload_key(t, u, "a b.mp4")), Some((t, u)));
        for other in [
            format!("tenants/{t}/jobs/{u}/out.mp4"),
            format!("uploads/{t}/{u}"),
            format!("uploads/{t}/{u}/a/b"),
            format!("uploads/{t}/nope/a.mp4"),
        ] {
            assert_eq!(parse_upload_key(&other), None, "{other}");
        }
    }

    #[test]
    fn file_names_are_sanitised() {
        assert_eq!(safe_file_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_file_name("my talk (final).mp4"), "my_talk__final_.mp4");
        assert_eq!(safe_file_name(".."), "source");
    }
}
