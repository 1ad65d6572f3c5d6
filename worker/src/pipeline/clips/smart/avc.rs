//! The H.264 a smart render copies, read and written as bytes: the
//! `avcC` sample description with its parameter sets, length-prefixed
//! packets and their NAL units, and a stream's extradata. Apart from the
//! render because it is plain parsing, tested without any media.

use ffmpeg_next::{Error, codec};

/// An `avcC` record (ISO/IEC 14496-15, 5.3.3.1), the parameter sets a
/// decoder starts from.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct AvcConfig {
    /// Bytes before each NAL unit's length.
    pub length_size: usize,
    pub sps_ids: Vec<u32>,
    pub pps_ids: Vec<u32>,
    /// Version, profile, compatibility, level and length size.
    head: [u8; 5],
    sps: Vec<Vec<u8>>,
    pps: Vec<Vec<u8>>,
    /// What follows the PPS (chroma format and bit depths, for the High
    /// profiles).
    rest: Vec<u8>,
}

/// Reads an `avcC` record; `None` for anything else (an Annex B stream,
/// say).
pub(crate) fn avc_config(data: &[u8]) -> Option<AvcConfig> {
    if data.len() < 7 || data[0] != 1 {
        return None;
    }
    let length_size = usize::from(data[4] & 3) + 1;
    let mut at = 5;
    // A count, then each set as a 16-bit length and its bytes.
    let mut sets = |mask: u8| -> Option<Vec<Vec<u8>>> {
        let count = usize::from(*data.get(at)? & mask);
        at += 1;
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            let len = usize::from(u16::from_be_bytes([*data.get(at)?, *data.get(at + 1)?]));
            out.push(data.get(at + 2..at + 2 + len)?.to_vec());
            at += 2 + len;
        }
        Some(out)
    };
    let sps = sets(31)?;
    let pps = sets(255)?;
    // An SPS's id follows its NAL header, profile, flags and level; a
    // PPS's is its first field. Emulation prevention bytes cannot occur
    // that early (the level is never zero).
    let sps_ids = sps
        .iter()
        .map(|s| Bits::new(s.get(4..)?).ue())
        .collect::<Option<_>>()?;
    let pps_ids = pps
        .iter()
        .map(|p| Bits::new(p.get(1..)?).ue())
        .collect::<Option<_>>()?;
    Some(AvcConfig {
        length_size,
        sps_ids,
        pps_ids,
        head: data[..5].try_into().ok()?,
        sps,
        pps,
        rest: data[at..].to_vec(),
    })
}

impl AvcConfig {
    /// The record with one more SPS and PPS, so a decoder that only reads
    /// the sample description knows the encoded ends' too.
    pub(crate) fn with(&self, sps: &[u8], pps: &[u8]) -> Option<Vec<u8>> {
        let sets = |list: &[Vec<u8>], extra: &[u8], out: &mut Vec<u8>| -> Option<()> {
            for set in list.iter().map(Vec::as_slice).chain([extra]) {
                out.extend_from_slice(&u16::try_from(set.len()).ok()?.to_be_bytes());
                out.extend_from_slice(set);
            }
            Some(())
        };
        let mut out = self.head.to_vec();
        let sps_count = u8::try_from(self.sps.len() + 1).ok().filter(|n| *n < 32)?;
        out.push(0xE0 | sps_count);
        sets(&self.sps, sps, &mut out)?;
        out.push(u8::try_from(self.pps.len() + 1).ok()?);
        sets(&self.pps, pps, &mut out)?;
        out.extend_from_slice(&self.rest);
        Some(out)
    }
}

/// An id for the head's and tail's parameter sets that the source uses
/// for neither its SPS nor its PPS.
pub(crate) fn free_id(config: &AvcConfig) -> Option<u32> {
    (1..32).find(|id| !config.sps_ids.contains(id) && !config.pps_ids.contains(id))
}

/// Reads Exp-Golomb codes off a byte string.
struct Bits<'a> {
    data: &'a [u8],
    bit: usize,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self { data, bit: 0 }
    }

    fn next(&mut self) -> Option<u32> {
        let byte = self.data.get(self.bit / 8)?;
        let b = (byte >> (7 - self.bit % 8)) & 1;
        self.bit += 1;
        Some(u32::from(b))
    }

    /// An unsigned Exp-Golomb code, `ue(v)`.
    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.next()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        let mut value = 0u32;
        for _ in 0..zeros {
            value = (value << 1) | self.next()?;
        }
        Some((1u32 << zeros) - 1 + value)
    }
}

/// The NAL units of a length-prefixed packet; `None` when the lengths do
/// not add up.
pub(crate) fn nal_units(data: &[u8], length_size: usize) -> Option<Vec<&[u8]>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < data.len() {
        let len = data
            .get(at..at + length_size)?
            .iter()
            .fold(0usize, |n, &b| (n << 8) | usize::from(b));
        at += length_size;
        out.push(data.get(at..at + len)?);
        at += len;
    }
    Some(out)
}

/// Whether a length-prefixed packet holds an IDR slice.
pub(crate) fn has_idr(data: &[u8], length_size: usize) -> bool {
    nal_units(data, length_size)
        .is_some_and(|units| units.iter().any(|u| u.first().is_some_and(|h| h & 31 == 5)))
}

/// An Annex B packet (x264's) as length-prefixed NAL units, 4-byte lengths.
pub(crate) fn annex_b_to_avcc(data: &[u8]) -> Vec<u8> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            starts.push((i, i + 3));
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut out = Vec::with_capacity(data.len() + 4 * starts.len());
    for (k, &(_, body)) in starts.iter().enumerate() {
        let mut end = starts.get(k + 1).map_or(data.len(), |&(s, _)| s);
        // A four-byte start code leaves its leading zero on the unit before.
        while end > body && data[end - 1] == 0 && k + 1 < starts.len() {
            end -= 1;
        }
        let unit = &data[body..end];
        out.extend_from_slice(&u32::try_from(unit.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(unit);
    }
    out
}

/// The extradata of a stream or an encoder (an `avcC` record, or x264's
/// parameter sets). ffmpeg-next has no accessor for it.
#[allow(unsafe_code)]
pub(crate) fn extradata(params: &codec::Parameters) -> Vec<u8> {
    // SAFETY: `as_ptr` points at live AVCodecParameters, whose `extradata`
    // holds `extradata_size` bytes (or is null); they are copied out before
    // `params` can go away.
    unsafe {
        let p = &*params.as_ptr();
        if p.extradata.is_null() || p.extradata_size <= 0 {
            return Vec::new();
        }
        std::slice::from_raw_parts(p.extradata, p.extradata_size as usize).to_vec()
    }
}

/// Replaces the extradata of `params` with `data`.
#[allow(unsafe_code)]
pub(crate) fn set_extradata(params: &mut codec::Parameters, data: &[u8]) -> Result<(), Error> {
    let size = i32::try_from(data.len()).map_err(|_| Error::Bug)?;
    let padding = ffmpeg_next::ffi::AV_INPUT_BUFFER_PADDING_SIZE as usize;
    // SAFETY: `as_mut_ptr` points at AVCodecParameters this `params` owns.
    // The old buffer was allocated by libavcodec with av_malloc and is
    // freed with av_freep; the new one comes from av_mallocz with the
    // zeroed padding libavcodec expects after extradata, and is owned (and
    // freed) by the parameters from here on.
    unsafe {
        let p = &mut *params.as_mut_ptr();
        let buffer = ffmpeg_next::ffi::av_mallocz(data.len() + padding).cast::<u8>();
        if buffer.is_null() {
            return Err(Error::Other {
                errno: ffmpeg_next::ffi::ENOMEM,
            });
        }
        std::ptr::copy_nonoverlapping(data.as_ptr(), buffer, data.len());
        ffmpeg_next::ffi::av_freep((&raw mut p.extradata).cast());
        p.extradata = buffer;
        p.extradata_size = size;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avcc_records_and_annex_b_are_read() {
        // avcC: version 1, High@4.0, 4-byte lengths, one SPS (id 0), one PPS (id 0).
        let sps = [0x67, 0x64, 0x00, 0x28, 0xAC];
        let pps = [0x68, 0xEE, 0x3C, 0x80];
        let mut avcc = vec![1, 0x64, 0x00, 0x28, 0xFF, 0xE1, 0, sps.len() as u8];
        avcc.extend_from_slice(&sps);
        avcc.extend_from_slice(&[1, 0, pps.len() as u8]);
        avcc.extend_from_slice(&pps);
        let config = avc_config(&avcc).unwrap();
        assert_eq!(config.length_size, 4);
        assert_eq!(
            (&config.sps_ids[..], &config.pps_ids[..]),
            (&[0][..], &[0][..])
        );
        assert_eq!(free_id(&config), Some(1));
        // Another SPS and PPS added: the record reads back with both.
        let more = config
            .with(&[0x67, 0x64, 0x00, 0x28, 0x40], &[0x68, 0x40])
            .unwrap();
        let both = avc_config(&more).unwrap();
        assert_eq!((both.sps_ids, both.pps_ids), (vec![0, 1], vec![0, 1]));
        assert_eq!(&more[..5], &avcc[..5]);
        assert!(avc_config(&[0, 0, 0, 1, 0x67]).is_none());

        let annex_b = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 4, 5,
        ];
        let avcc_packet = annex_b_to_avcc(&annex_b);
        let units = nal_units(&avcc_packet, 4).unwrap();
        assert_eq!(units, [&[0x67, 1, 2][..], &[0x68, 3], &[0x65, 4, 5]]);
        assert!(has_idr(&avcc_packet, 4));
        assert!(nal_units(&[0, 0, 0, 9, 1], 4).is_none());
        assert_eq!(Bits::new(&[0b0010_1000]).ue(), Some(4));
    }
}
