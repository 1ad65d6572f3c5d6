//! Multipart uploads by clients: a file too large for one `PUT` (S3 takes
//! at most 5 GiB in one) goes in parts, each through its own presigned
//! URL, and storage puts the parts together when the client completes
//! the upload with each part's ETag. S3 and the local store offer the
//! same contract, so a client cannot tell them apart.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// S3's limits: at most 10,000 parts, each 5 MiB to 5 GiB but the last.
pub const MAX_PARTS: u64 = 10_000;
pub const MIN_PART_SIZE: u64 = 5 << 20;
pub const MAX_PART_SIZE: u64 = 5 << 30;
/// The largest file one presigned `PUT` takes (S3's limit).
pub const SINGLE_PUT_MAX: u64 = 5 << 30;

/// One part as the client sent it: its number and the ETag that storage
/// answered its `PUT` with (the `ETag` response header, quotes and all).
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UploadedPart {
    #[schema(minimum = 1, maximum = 10000)]
    pub part_number: u32,
    #[schema(example = "\"5d41402abc4b2a76b9719d911017c592\"")]
    pub etag: String,
}

/// How a file of `size` bytes is cut: every part `part_size` bytes but
/// the last, which has the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartPlan {
    pub size: u64,
    pub part_size: u64,
    pub count: u32,
}

impl PartPlan {
    /// Parts of `preferred` bytes (kept within S3's limits), larger when
    /// the file would need more than [`MAX_PARTS`] of them.
    pub fn new(size: u64, preferred: u64) -> Self {
        let floor = size.div_ceil(MAX_PARTS).next_multiple_of(1 << 20);
        let part_size = preferred.clamp(MIN_PART_SIZE, MAX_PART_SIZE).max(floor);
        Self::with_part_size(size, part_size)
    }

    /// The plan an upload was given, from the part size it recorded.
    pub fn with_part_size(size: u64, part_size: u64) -> Self {
        let part_size = part_size.max(1);
        Self {
            size,
            part_size,
            count: u32::try_from(size.div_ceil(part_size).max(1)).unwrap_or(u32::MAX),
        }
    }

    /// Bytes in part `number` (1-based).
    pub fn length(&self, number: u32) -> u64 {
        if number < self.count {
            self.part_size
        } else {
            self.size - self.part_size * u64::from(self.count - 1)
        }
    }

    /// Checks a client's list of parts: every part of the plan once, in
    /// order (what S3 requires, and what makes the file whole).
    pub fn check(&self, parts: &[UploadedPart]) -> Result<(), String> {
        if parts.len() != self.count as usize {
            return Err(format!(
                "the upload has {} parts but {} were listed; list every part with the ETag its PUT answered",
                self.count,
                parts.len()
            ));
        }
        for (i, p) in parts.iter().enumerate() {
            if p.part_number as usize != i + 1 {
                return Err(format!(
                    "parts must be listed in order from 1: found part_number {} at place {}",
                    p.part_number,
                    i + 1
                ));
            }
            if p.etag.trim().is_empty() || p.etag.len() > 200 {
                return Err(format!(
                    "part {} has no usable etag: send the ETag header its PUT answered",
                    p.part_number
                ));
            }
        }
        Ok(())
    }
}

/// An ETag as compared: without the quotes storage puts around it.
pub fn bare_etag(etag: &str) -> &str {
    etag.trim().trim_matches('"')
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn parts_cover_the_file_within_s3_limits() {
        let p = PartPlan::new(11 * MIB + 3, 5 * MIB);
        assert_eq!((p.part_size, p.count), (5 * MIB, 3));
        assert_eq!(p.length(1) + p.length(2) + p.length(3), 11 * MIB + 3);
        assert_eq!(p.length(3), MIB + 3);
        // Too small a part size is raised to S3's minimum.
        assert_eq!(PartPlan::new(20 * MIB, 1).part_size, 5 * MIB);
        // 50 GiB in 5 MiB parts would be 10,240 parts: the parts grow.
        let big = PartPlan::new(50 << 30, 5 * MIB);
        assert!(big.count as u64 <= MAX_PARTS, "{big:?}");
        assert_eq!(big.part_size % MIB, 0);
        assert!(big.part_size * u64::from(big.count) >= 50 << 30);
        // A file exactly a whole number of parts has a full last part.
        let even = PartPlan::new(10 * MIB, 5 * MIB);
        assert_eq!((even.count, even.length(2)), (2, 5 * MIB));
    }

    #[test]
    fn every_part_once_in_order() {
        let p = PartPlan::new(11 * MIB, 5 * MIB);
        let part = |n: u32| UploadedPart {
            part_number: n,
            etag: format!("\"e{n}\""),
        };
        assert!(p.check(&[part(1), part(2), part(3)]).is_ok());
        assert!(p.check(&[part(1), part(2)]).is_err());
        assert!(p.check(&[part(1), part(3), part(2)]).is_err());
        assert!(p.check(&[part(1), part(2), part(2)]).is_err());
        let mut blank = part(3);
        blank.etag = " ".into();
        assert!(p.check(&[part(1), part(2), blank]).is_err());
        assert_eq!(bare_etag("\"abc\""), "abc");
    }
}
