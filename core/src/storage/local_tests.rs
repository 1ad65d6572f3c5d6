//! The local store's signatures and multipart uploads.

use super::*;

#[tokio::test]
async fn signatures_bind_method_key_type_size_and_time() {
    let dir = tempfile::tempdir().unwrap();
    let s = LocalStore::new(dir.path().into(), "http://127.0.0.1:1", b"secret").unwrap();
    let now = Utc::now();
    let exp = now.timestamp() + 60;
    let sig = s.sign("PUT", "a/b", exp, "video/mp4", Some(10), None);
    assert_eq!(
        s.verify("PUT", "a/b", exp, &sig, "video/mp4", Some(10), None, now),
        Ok(())
    );
    assert_eq!(
        s.verify("PUT", "a/b", exp, &sig, "video/mp4", Some(11), None, now),
        Err(SignatureError::Invalid)
    );
    assert_eq!(
        s.verify("PUT", "a/c", exp, &sig, "video/mp4", Some(10), None, now),
        Err(SignatureError::Invalid)
    );
    assert_eq!(
        s.verify("GET", "a/b", exp, &sig, "video/mp4", Some(10), None, now),
        Err(SignatureError::Invalid)
    );
    assert_eq!(
        s.verify("PUT", "a/b", exp, &sig, "audio/mp4", Some(10), None, now),
        Err(SignatureError::Invalid)
    );
    let later = now + chrono::Duration::seconds(61);
    assert_eq!(
        s.verify("PUT", "a/b", exp, &sig, "video/mp4", Some(10), None, later),
        Err(SignatureError::Expired)
    );
}

/// Sends `bytes` as part `number` through a claimed slot, as the API's
/// storage route does; returns the ETag it answers.
async fn send_part(
    s: &LocalStore,
    key: &str,
    upload_id: &str,
    number: u32,
    bytes: &[u8],
) -> String {
    let slot = s.claim_part(key, upload_id, number).unwrap().unwrap();
    let body = futures::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::copy_from_slice(
        bytes,
    ))]);
    let etag = s
        .write_stream(&slot, bytes.len() as u64, body)
        .await
        .unwrap();
    slot.commit_part(&etag).await.unwrap();
    format!("\"{etag}\"")
}

#[tokio::test]
async fn multipart_uploads_put_their_parts_together_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let s = LocalStore::new(dir.path().into(), "http://127.0.0.1:1", b"secret").unwrap();
    let key = "uploads/t/u/big.mp4";
    let id = s.create_multipart(key, "video/mp4").await.unwrap();
    // A part's URL is signed for its upload, number and length.
    let url = s
        .presign_part(key, &id, 2, 3, Duration::from_secs(60))
        .await
        .unwrap()
        .url;
    assert!(
        url.contains(&format!("upload_id={id}&part_number=2")),
        "{url}"
    );
    let q: std::collections::HashMap<String, String> = url::Url::parse(&url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    let exp: i64 = q["expires"].parse().unwrap();
    let part = |number| {
        Some(PartTarget {
            upload_id: &id,
            number,
        })
    };
    let verify = |size, p| {
        s.verify(
            "PUT",
            key,
            exp,
            &q["signature"],
            "",
            Some(size),
            p,
            Utc::now(),
        )
    };
    assert_eq!(verify(3, part(2)), Ok(()));
    assert_eq!(verify(3, part(1)), Err(SignatureError::Invalid));
    assert_eq!(verify(4, part(2)), Err(SignatureError::Invalid));
    assert_eq!(
        verify(3, None),
        Err(SignatureError::Invalid),
        "not a whole PUT"
    );

    // Sent out of order, a part sent twice keeps its last bytes.
    let e2 = send_part(&s, key, &id, 2, b"def").await;
    let _ = send_part(&s, key, &id, 1, b"xyz").await;
    let e1 = send_part(&s, key, &id, 1, b"abc").await;
    // Nothing is listed until the upload is complete.
    assert!(s.list("uploads/").await.unwrap().is_empty());
    let parts = |a: &str, b: &str| {
        vec![
            UploadedPart {
                part_number: 1,
                etag: a.into(),
            },
            UploadedPart {
                part_number: 2,
                etag: b.into(),
            },
        ]
    };
    let wrong = s.complete_multipart(key, &id, &parts(&e2, &e2)).await;
    assert!(matches!(wrong, Err(StorageError::Parts(_))), "{wrong:?}");
    let missing = s
        .complete_multipart(
            key,
            &id,
            &[UploadedPart {
                part_number: 3,
                etag: e1.clone(),
            }],
        )
        .await;
    assert!(
        matches!(missing, Err(StorageError::Parts(_))),
        "{missing:?}"
    );
    // The failed tries kept the parts; the right list completes it.
    s.complete_multipart(key, &id, &parts(&e1, &e2))
        .await
        .unwrap();
    assert_eq!(std::fs::read(s.path_of(key).unwrap()).unwrap(), b"abcdef");
    let again = s.complete_multipart(key, &id, &parts(&e1, &e2)).await;
    assert!(matches!(again, Err(StorageError::Parts(_))), "{again:?}");
    assert_eq!(s.list("uploads/").await.unwrap().len(), 1);
    assert!(
        s.claim_part(key, &id, 1).is_err(),
        "no parts after completion"
    );

    // An aborted upload leaves nothing behind; aborting twice is fine.
    let other = s.create_multipart(key, "video/mp4").await.unwrap();
    send_part(&s, key, &other, 1, b"abc").await;
    s.abort_multipart(key, &other).await.unwrap();
    s.abort_multipart(key, &other).await.unwrap();
    let left: Vec<_> = std::fs::read_dir(dir.path().join("uploads/t/u"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["big.mp4"]);
    // Upload ids are this store's own: no path can hide in one.
    assert!(s.claim_part(key, "../../../etc", 1).is_err());
}
