//! Objects as files under one folder, with HMAC-signed URLs to the API.
//!
//! The URL scheme mirrors S3's query-string signing closely enough that a
//! client cannot tell the difference: method, key, expiry and (for PUT) the
//! content type and length are signed, and the API checks them in
//! `api::routes::storage` before touching the file.

use std::{
    collections::{BTreeMap, HashSet},
    path::{Path, PathBuf},
    sync::Mutex,
    time::Duration,
};

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::io::AsyncWriteExt;

use super::{ObjectMeta, ObjectStore, PresignedRequest, StorageError, check_key};

pub struct LocalStore {
    root: PathBuf,
    base_url: String,
    key: Vec<u8>,
    /// Keys with an upload in flight in this process: one at a time each,
    /// so a signed URL sent many times over holds one temporary file, not
    /// one per request.
    writing: Mutex<HashSet<String>>,
}

/// The right to write one key, held from before the first byte until the
/// file is in place or given up. Dropping it removes the temporary file.
pub struct WriteSlot<'a> {
    store: &'a LocalStore,
    key: String,
    part: PathBuf,
}

impl WriteSlot<'_> {
    /// Moves the finished temporary file to the key.
    pub async fn commit(self) -> Result<(), StorageError> {
        let path = self.store.path_of(&self.key)?;
        tokio::fs::rename(&self.part, &path).await?;
        Ok(())
    }
}

impl Drop for WriteSlot<'_> {
    fn drop(&mut self) {
        // Gone already after a commit; otherwise a failed or refused upload.
        let _ = std::fs::remove_file(&self.part);
        self.store
            .writing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.key);
    }
}

/// Where a key's bytes wait until they are complete: beside the object,
/// hidden (`list` skips dot files), one name per key.
fn part_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .expect("keys have a file name")
        .to_string_lossy();
    path.with_file_name(format!(".{name}.part"))
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("the URL has expired")]
    Expired,
    #[error("the URL signature does not match the request")]
    Invalid,
}

impl LocalStore {
    pub fn new(root: PathBuf, public_url: &str, secret: &[u8]) -> Result<Self, StorageError> {
        std::fs::create_dir_all(&root)?;
        // A key of its own, so a storage signature can never pass as anything else.
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
        mac.update(b"cutroom local storage v1");
        Ok(Self {
            root,
            base_url: format!("{}/storage", public_url.trim_end_matches('/')),
            key: mac.finalize().into_bytes().to_vec(),
            writing: Mutex::new(HashSet::new()),
        })
    }

    /// Claims `key` for one upload; `None` while another is writing it.
    pub fn claim_write(&self, key: &str) -> Result<Option<WriteSlot<'_>>, StorageError> {
        let part = part_path(&self.path_of(key)?);
        let mut writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        if !writing.insert(key.to_owned()) {
            return Ok(None);
        }
        Ok(Some(WriteSlot {
            store: self,
            key: key.to_owned(),
            part,
        }))
    }

    /// Whether an upload to `key` is in flight in this process.
    pub fn is_writing(&self, key: &str) -> bool {
        self.writing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(key)
    }

    /// Removes the temporary files of uploads no longer in flight: those a
    /// crash or a kill left behind (the ones of failed uploads go at once).
    /// Returns how many. Assumes this process is the only one writing
    /// under the root, as with the embedded default.
    pub async fn sweep_partials(&self) -> Result<usize, StorageError> {
        let root = self.root.clone();
        let found = tokio::task::spawn_blocking(move || partials_under(&root))
            .await
            .map_err(|e| StorageError::Backend(e.to_string()))??;
        let mut removed = 0;
        for (key, part) in found {
            // Claimed first, so an upload starting now cannot lose its file.
            let Some(claimed) = self.claim_write(&key).ok().flatten() else {
                continue;
            };
            match tokio::fs::remove_file(&part).await {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
            drop(claimed);
        }
        Ok(removed)
    }

    pub fn path_of(&self, key: &str) -> Result<PathBuf, StorageError> {
        check_key(key)?;
        Ok(self.root.join(key))
    }

    fn mac(
        &self,
        method: &str,
        key: &str,
        expires: i64,
        content_type: &str,
        size: Option<u64>,
    ) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        let size = size.map(|s| s.to_string()).unwrap_or_default();
        mac.update(format!("{method}\n{key}\n{expires}\n{content_type}\n{size}").as_bytes());
        mac
    }

    fn sign(
        &self,
        method: &str,
        key: &str,
        expires: i64,
        content_type: &str,
        size: Option<u64>,
    ) -> String {
        hex::encode(
            self.mac(method, key, expires, content_type, size)
                .finalize()
                .into_bytes(),
        )
    }

    /// Checks a presigned request as the API received it.
    #[allow(clippy::too_many_arguments)]
    pub fn verify(
        &self,
        method: &str,
        key: &str,
        expires: i64,
        signature: &str,
        content_type: &str,
        size: Option<u64>,
        now: DateTime<Utc>,
    ) -> Result<(), SignatureError> {
        let signature = hex::decode(signature).map_err(|_| SignatureError::Invalid)?;
        // `verify_slice` compares in constant time.
        self.mac(method, key, expires, content_type, size)
            .verify_slice(&signature)
            .map_err(|_| SignatureError::Invalid)?;
        if now.timestamp() > expires {
            return Err(SignatureError::Expired);
        }
        Ok(())
    }

    fn presign(
        &self,
        method: &str,
        key: &str,
        content_type: &str,
        size: Option<u64>,
        ttl: Duration,
    ) -> Result<PresignedRequest, StorageError> {
        check_key(key)?;
        let expires_at = Utc::now() + ttl;
        let expires = expires_at.timestamp();
        let signature = self.sign(method, key, expires, content_type, size);
        let mut headers = BTreeMap::new();
        if method == "PUT" {
            headers.insert("content-type".to_owned(), content_type.to_owned());
        }
        Ok(PresignedRequest {
            method: method.into(),
            url: format!(
                "{}/{key}?expires={expires}&signature={signature}",
                self.base_url
            ),
            headers,
            expires_at,
        })
    }

    /// Writes a request body to the temporary file of `slot`, refusing
    /// anything but exactly `size` bytes; [`WriteSlot::commit`] puts it in
    /// place. A broken upload leaves nothing once the slot is dropped.
    pub async fn write_stream<S, E>(
        &self,
        slot: &WriteSlot<'_>,
        size: u64,
        mut body: S,
    ) -> Result<(), StorageError>
    where
        S: futures::Stream<Item = Result<bytes::Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        use futures::StreamExt;
        let dir = slot.part.parent().expect("keys have a parent");
        tokio::fs::create_dir_all(dir).await?;
        let mut file = tokio::fs::File::create(&slot.part).await?;
        let mut written = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk =
                chunk.map_err(|e| StorageError::Backend(format!("upload interrupted: {e}")))?;
            written += chunk.len() as u64;
            if written > size {
                return Err(StorageError::Backend(
                    "body longer than the signed size".into(),
                ));
            }
            file.write_all(&chunk).await?;
        }
        if written != size {
            return Err(StorageError::Backend(format!(
                "body has {written} bytes, {size} were signed"
            )));
        }
        file.sync_all().await?;
        Ok(())
    }
}

/// Every temporary upload file under `root`, with the key it was for
/// (older versions named them `.{uuid}.part`: those map to keys nobody
/// uses, and go too).
fn partials_under(root: &Path) -> Result<Vec<(String, PathBuf)>, StorageError> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e.into()),
        };
        for entry in entries {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                stack.push(path);
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(object) = name
                .strip_prefix('.')
                .and_then(|n| n.strip_suffix(".part"))
                .filter(|n| !n.is_empty())
            else {
                continue;
            };
            let key = path
                .with_file_name(object)
                .strip_prefix(root)
                .expect("under root")
                .to_string_lossy()
                .replace('\\', "/");
            out.push((key, path));
        }
    }
    Ok(out)
}

#[async_trait::async_trait]
impl ObjectStore for LocalStore {
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        size: u64,
        ttl: Duration,
    ) -> Result<PresignedRequest, StorageError> {
        self.presign("PUT", key, content_type, Some(size), ttl)
    }

    async fn presign_get(
        &self,
        key: &str,
        ttl: Duration,
    ) -> Result<PresignedRequest, StorageError> {
        self.presign("GET", key, "", None, ttl)
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StorageError> {
        match tokio::fs::metadata(self.path_of(key)?).await {
            Ok(m) if m.is_file() => Ok(Some(ObjectMeta {
                key: key.into(),
                size: m.len(),
            })),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn put_file(
        &self,
        key: &str,
        path: &Path,
        _content_type: &str,
    ) -> Result<(), StorageError> {
        let dest = self.path_of(key)?;
        tokio::fs::create_dir_all(dest.parent().expect("keys have a parent")).await?;
        tokio::fs::copy(path, &dest).await?;
        Ok(())
    }

    async fn get_to_file(&self, key: &str, path: &Path) -> Result<u64, StorageError> {
        match tokio::fs::copy(self.path_of(key)?, path).await {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(StorageError::NotFound(key.into()))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        match tokio::fs::remove_file(self.path_of(key)?).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StorageError> {
        let root = self.root.clone();
        let prefix = prefix.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            let mut stack = vec![root.clone()];
            while let Some(dir) = stack.pop() {
                let entries = match std::fs::read_dir(&dir) {
                    Ok(e) => e,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e.into()),
                };
                for entry in entries {
                    let entry = entry?;
                    let path = entry.path();
                    let ty = entry.file_type()?;
                    let name = entry.file_name();
                    if ty.is_dir() {
                        stack.push(path);
                    } else if ty.is_file() && !name.to_string_lossy().starts_with('.') {
                        let key = path
                            .strip_prefix(&root)
                            .expect("under root")
                            .to_string_lossy()
                            .replace('\\', "/");
                        if key.starts_with(&prefix) {
                            out.push(ObjectMeta {
                                key,
                                size: entry.metadata()?.len(),
                            });
                        }
                    }
                }
            }
            out.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(out)
        })
        .await
        .map_err(|e| StorageError::Backend(e.to_string()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn signatures_bind_method_key_type_size_and_time() {
        let dir = tempfile::tempdir().unwrap();
        let s = LocalStore::new(dir.path().into(), "http://127.0.0.1:1", b"secret").unwrap();
        let now = Utc::now();
        let exp = now.timestamp() + 60;
        let sig = s.sign("PUT", "a/b", exp, "video/mp4", Some(10));
        assert_eq!(
            s.verify("PUT", "a/b", exp, &sig, "video/mp4", Some(10), now),
            Ok(())
        );
        assert_eq!(
            s.verify("PUT", "a/b", exp, &sig, "video/mp4", Some(11), now),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            s.verify("PUT", "a/c", exp, &sig, "video/mp4", Some(10), now),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            s.verify("GET", "a/b", exp, &sig, "video/mp4", Some(10), now),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            s.verify("PUT", "a/b", exp, &sig, "audio/mp4", Some(10), now),
            Err(SignatureError::Invalid)
        );
        let later = now + chrono::Duration::seconds(61);
        assert_eq!(
            s.verify("PUT", "a/b", exp, &sig, "video/mp4", Some(10), later),
            Err(SignatureError::Expired)
        );
    }
}
