//! Tar archives for batch tests and benches, written as a client's tools
//! would write them, or as an attacker would.

use std::io::{Read, Write};

use tar::{EntryType, Header};

/// Appends a regular file whose path is written into the header's bytes
/// as is: `tar`'s own `set_path` refuses `..` and absolute paths, which
/// hostile archives need.
pub fn append(tar: &mut tar::Builder<impl Write>, path: &str, data: impl Read, len: u64) {
    let mut h = Header::new_gnu();
    h.set_size(len);
    h.set_mode(0o644);
    h.set_entry_type(EntryType::Regular);
    let name = &mut h.as_old_mut().name;
    name.fill(0);
    name[..path.len()].copy_from_slice(path.as_bytes());
    h.set_cksum();
    tar.append(&h, data).expect("append to the archive");
}

/// A gzipped tar of `(path, bytes)` entries.
pub fn tar_gz(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for (path, bytes) in entries {
        append(&mut tar, path, bytes.as_slice(), bytes.len() as u64);
    }
    tar.into_inner()
        .and_then(flate2::write::GzEncoder::finish)
        .expect("finish the archive")
}
