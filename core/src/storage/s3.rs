//! S3 and S3-compatible servers through aws-sdk-s3.

use std::{collections::BTreeMap, path::Path, time::Duration};

use aws_sdk_s3::{
    Client,
    config::http::HttpResponse,
    config::{
        BehaviorVersion, Credentials, Region, RequestChecksumCalculation,
        ResponseChecksumValidation, retry::RetryConfig, timeout::TimeoutConfig,
    },
    error::{ProvideErrorMetadata, SdkError},
    presigning::PresigningConfig,
    primitives::{ByteStream, Length},
    types::{CompletedMultipartUpload, CompletedPart},
};
use chrono::Utc;
use futures::{StreamExt, TryStreamExt};
use secrecy::ExposeSecret;
use tokio::io::AsyncWriteExt;

use super::{
    ObjectMeta, ObjectStore, PresignedRequest, StorageError, UploadedPart, check_key,
    multipart::bare_etag,
};
use crate::config::S3Config;

pub struct S3Store {
    client: Client,
    /// Signs the URLs clients use: the same settings, with the endpoint
    /// they reach the store at (presigning sends nothing).
    presigner: Client,
    bucket: String,
    part_size: u64,
}

/// Parts of one multipart upload in flight at once.
const PARTS_IN_FLIGHT: usize = 4;
/// First wait before a retry; it doubles each time (with jitter, capped
/// at 20 s by the SDK).
const INITIAL_BACKOFF: Duration = Duration::from_millis(200);

fn backend<E: std::error::Error + Send + Sync + 'static>(
    e: SdkError<E, HttpResponse>,
) -> StorageError {
    StorageError::Backend(aws_sdk_s3::error::DisplayErrorContext(e).to_string())
}

fn is_not_found<E>(e: &SdkError<E, HttpResponse>) -> bool {
    e.raw_response().is_some_and(|r| r.status().as_u16() == 404)
}

impl S3Store {
    pub async fn new(c: &S3Config) -> Result<Self, StorageError> {
        let creds = Credentials::new(
            &c.access_key_id,
            c.secret_access_key.expose_secret(),
            None,
            None,
            "cutroom-config",
        );
        let mut b = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(c.region.clone()))
            .credentials_provider(creds)
            .force_path_style(c.force_path_style)
            // Checksums only where S3 requires them: presigned PUTs then sign no
            // checksum header a browser would have to compute, and self-hosted
            // servers without the newer checksum headers keep working.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            // The SDK's standard retries: timeouts, 5xx and throttling answers
            // are tried again after an exponential, jittered backoff (honouring
            // the server's hints); a body read from a file is re-read.
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(c.max_attempts.max(1))
                    .with_initial_backoff(INITIAL_BACKOFF),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(10))
                    .read_timeout(Duration::from_secs(60))
                    .build(),
            );
        if let Some(endpoint) = &c.endpoint {
            b = b.endpoint_url(endpoint);
        }
        let presigner = match &c.public_endpoint {
            Some(public) => b.clone().endpoint_url(public).build(),
            None => b.clone().build(),
        };
        Ok(Self {
            client: Client::from_conf(b.build()),
            presigner: Client::from_conf(presigner),
            bucket: c.bucket.clone(),
            part_size: c.part_size.max(S3Config::MIN_PART_SIZE),
        })
    }

    /// Creates the bucket if it does not exist (deployment bootstrap and tests).
    pub async fn ensure_bucket(&self) -> Result<(), StorageError> {
        if self
            .client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .is_ok()
        {
            return Ok(());
        }
        match self
            .client
            .create_bucket()
            .bucket(&self.bucket)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if format!("{e:?}").contains("BucketAlready") => Ok(()),
            Err(e) => Err(backend(e)),
        }
    }
}

impl S3Store {
    /// Uploads `path` in parts of `part_size`, [`PARTS_IN_FLIGHT`] at a
    /// time, each retried on its own; aborts the upload (so the server
    /// drops the parts) when any part fails for good. The same create,
    /// complete and abort as a client's upload in parts.
    async fn put_multipart(
        &self,
        key: &str,
        path: &Path,
        content_type: &str,
        size: u64,
    ) -> Result<(), StorageError> {
        let upload_id = self.create_multipart(key, content_type).await?;
        let parts = size.div_ceil(self.part_size);
        let uploaded = futures::stream::iter(0..parts)
            .map(|n| {
                let offset = n * self.part_size;
                let length = self.part_size.min(size - offset);
                self.put_part(key, &upload_id, path, n as u32 + 1, offset, length)
            })
            .buffered(PARTS_IN_FLIGHT)
            .try_collect::<Vec<_>>()
            .await;
        let completed = match uploaded {
            Ok(parts) => self.complete_multipart(key, &upload_id, &parts).await,
            Err(e) => Err(e),
        };
        if let Err(e) = completed {
            if let Err(abort) = self.abort_multipart(key, &upload_id).await {
                tracing::warn!(key, error = %abort, "could not abort a multipart upload");
            }
            return Err(e);
        }
        Ok(())
    }

    async fn put_part(
        &self,
        key: &str,
        upload_id: &str,
        path: &Path,
        number: u32,
        offset: u64,
        length: u64,
    ) -> Result<UploadedPart, StorageError> {
        // A body that reads its range of the file again on each attempt.
        let body = ByteStream::read_from()
            .path(path)
            .offset(offset)
            .length(Length::Exact(length))
            .build()
            .await
            .map_err(|e| StorageError::Backend(e.to_string()))?;
        let part = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(i32::try_from(number).unwrap_or(i32::MAX))
            .content_length(length as i64)
            .body(body)
            .send()
            .await
            .map_err(backend)?;
        Ok(UploadedPart {
            part_number: number,
            etag: part.e_tag().unwrap_or_default().to_owned(),
        })
    }
}

fn presigned(p: aws_sdk_s3::presigning::PresignedRequest, ttl: Duration) -> PresignedRequest {
    PresignedRequest {
        method: p.method().to_owned(),
        url: p.uri().to_owned(),
        headers: p
            .headers()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
            .collect::<BTreeMap<_, _>>(),
        expires_at: Utc::now() + ttl,
    }
}

#[async_trait::async_trait]
impl ObjectStore for S3Store {
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        size: u64,
        ttl: Duration,
    ) -> Result<PresignedRequest, StorageError> {
        check_key(key)?;
        let cfg =
            PresigningConfig::expires_in(ttl).map_err(|e| StorageError::Backend(e.to_string()))?;
        let p = self
            .presigner
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .content_length(size as i64)
            .presigned(cfg)
            .await
            .map_err(backend)?;
        let mut req = presigned(p, ttl);
        // Content-Length is signed, so a body of another size is refused, but
        // clients (browsers above all) set it themselves from the body.
        req.headers.remove("content-length");
        req.headers
            .insert("content-type".into(), content_type.into());
        Ok(req)
    }

    async fn create_multipart(
        &self,
        key: &str,
        content_type: &str,
    ) -> Result<String, StorageError> {
        check_key(key)?;
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .send()
            .await
            .map_err(backend)?;
        created
            .upload_id()
            .map(str::to_owned)
            .ok_or_else(|| StorageError::Backend("the server gave no upload id".into()))
    }

    async fn presign_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u32,
        size: u64,
        ttl: Duration,
    ) -> Result<PresignedRequest, StorageError> {
        check_key(key)?;
        let cfg =
            PresigningConfig::expires_in(ttl).map_err(|e| StorageError::Backend(e.to_string()))?;
        let p = self
            .presigner
            .upload_part()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(i32::try_from(number).unwrap_or(i32::MAX))
            .content_length(size as i64)
            .presigned(cfg)
            .await
            .map_err(backend)?;
        let mut req = presigned(p, ttl);
        // Signed, as for a whole PUT; the client sets it from the body.
        req.headers.remove("content-length");
        Ok(req)
    }

    async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[UploadedPart],
    ) -> Result<(), StorageError> {
        check_key(key)?;
        let parts = parts
            .iter()
            .map(|p| {
                CompletedPart::builder()
                    .part_number(i32::try_from(p.part_number).unwrap_or(i32::MAX))
                    // S3 wants it quoted, as it answered it.
                    .e_tag(format!("\"{}\"", bare_etag(&p.etag)))
                    .build()
            })
            .collect();
        match self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match e.code() {
                Some("InvalidPart" | "InvalidPartOrder" | "EntityTooSmall" | "NoSuchUpload") => {
                    Err(StorageError::Parts(format!(
                        "storage refused the parts: {}",
                        e.message()
                            .unwrap_or("a part is missing or its ETag differs")
                    )))
                }
                _ => Err(backend(e)),
            },
        }
    }

    async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), StorageError> {
        check_key(key)?;
        match self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) || e.code() == Some("NoSuchUpload") => Ok(()),
            Err(e) => Err(backend(e)),
        }
    }

    async fn presign_get(
        &self,
        key: &str,
        ttl: Duration,
    ) -> Result<PresignedRequest, StorageError> {
        check_key(key)?;
        let cfg =
            PresigningConfig::expires_in(ttl).map_err(|e| StorageError::Backend(e.to_string()))?;
        let p = self
            .presigner
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(cfg)
            .await
            .map_err(backend)?;
        Ok(presigned(p, ttl))
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StorageError> {
        check_key(key)?;
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(o) => Ok(Some(ObjectMeta {
                key: key.into(),
                size: o.content_length().unwrap_or(0).max(0) as u64,
            })),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(backend(e)),
        }
    }

    async fn put_file(
        &self,
        key: &str,
        path: &Path,
        content_type: &str,
    ) -> Result<(), StorageError> {
        check_key(key)?;
        let size = tokio::fs::metadata(path).await?.len();
        if size > self.part_size {
            return self.put_multipart(key, path, content_type, size).await;
        }
        let body = ByteStream::from_path(path)
            .await
            .map_err(|e| StorageError::Backend(e.to_string()))?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(body)
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn get_to_file(&self, key: &str, path: &Path) -> Result<u64, StorageError> {
        check_key(key)?;
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) if is_not_found(&e) => return Err(StorageError::NotFound(key.into())),
            Err(e) => return Err(backend(e)),
        };
        let mut reader = out.body.into_async_read();
        let mut file = tokio::fs::File::create(path).await?;
        let n = tokio::io::copy(&mut reader, &mut file).await?;
        file.flush().await?;
        Ok(n)
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        check_key(key)?;
        match self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(backend(e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StorageError> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(backend)?;
            for o in page.contents() {
                if let Some(key) = o.key() {
                    out.push(ObjectMeta {
                        key: key.into(),
                        size: o.size().unwrap_or(0).max(0) as u64,
                    });
                }
            }
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_owned()),
                _ => break,
            }
        }
        Ok(out)
    }
}
