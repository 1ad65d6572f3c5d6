//! Stage 2: what is this file? Container, duration and streams, stored on
//! the job, and the early rejections: not media (or a playlist, an image),
//! no audio, too long, pictures or frame rates past the server's limits.

use std::{path::Path, time::Duration};

use cutroom_core::{ErrorCode, config::MediaLimits, queries::jobs};
use ffmpeg_next::{codec, format, media};
use serde::Serialize;

use super::{JobCtx, StageError, fetch::Source};

/// ffmpeg's container durations are in microseconds.
const AV_TIME_BASE: f64 = 1_000_000.0;

/// The probe result, stored as JSON on the job (`media`).
#[derive(Clone, Debug, Serialize)]
pub(crate) struct MediaInfo {
    /// Seconds, when the container or its streams declare it.
    pub duration: Option<f64>,
    /// ffmpeg's demuxer name, such as `mov,mp4,m4a,3gp,3g2,mj2`.
    pub container: String,
    pub size_bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bit_rate: Option<i64>,
    /// Index of the audio stream the pipeline decodes.
    pub audio_stream: usize,
    pub streams: Vec<StreamInfo>,
}

#[derive(Clone, Debug, Serialize)]
pub(crate) struct StreamInfo {
    pub index: usize,
    /// `audio`, `video`, `subtitle`, `data`, `attachment` or `unknown`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub codec: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample_rate: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Frames per second of a video stream, as its header declares them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frame_rate: Option<f64>,
}

pub(crate) async fn run(ctx: &JobCtx<'_>, source: &Source) -> Result<MediaInfo, StageError> {
    let path = source.path.clone();
    let span = tracing::Span::current();
    let info = tokio::task::spawn_blocking(move || span.in_scope(|| probe(&path)))
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
    check_duration(info.duration, ctx.config.max_duration)?;
    check_limits(&info, &ctx.config.media_limits)?;
    let mut json = serde_json::to_value(&info).expect("MediaInfo is plain data");
    // What a video link was fetched as, beside what the file turned out to be.
    if let Some(download) = &source.download {
        json["download"] = serde_json::to_value(download).expect("Download is plain data");
    }
    jobs::set_media(&ctx.db.orm, ctx.job.tenant_id, ctx.job.id, json).await?;
    tracing::info!(duration = info.duration, container = %info.container, streams = info.streams.len(), "probed");
    Ok(info)
}

/// Reads the file's headers. Blocking.
pub(crate) fn probe(path: &Path) -> Result<MediaInfo, StageError> {
    let not_media = |e: ffmpeg_next::Error| {
        // Refused on purpose (a playlist, an image) or unreadable.
        match crate::media::refusal(path) {
            Some(r) => StageError::failed(ErrorCode::UnsupportedMedia, r.message)
                .detail(format!("{} demuxer: {e}", r.demuxer)),
            None => StageError::failed(
                ErrorCode::UnsupportedMedia,
                "the file is not a readable audio or video file",
            )
            .detail(e),
        }
    };
    let input = crate::media::open(path).map_err(not_media)?;
    let container = input.format().name().to_owned();
    let streams: Vec<StreamInfo> = input.streams().map(|s| stream_info(&s)).collect();
    let audio = input.streams().best(media::Type::Audio).ok_or_else(|| {
        StageError::failed(ErrorCode::UnsupportedMedia, "the file has no audio stream")
            .detail(format!("{container} with {} stream(s)", streams.len()))
    })?;
    let audio_stream = audio.index();
    if streams[audio_stream].sample_rate.is_none() {
        let codec = audio.parameters().id().name();
        return Err(StageError::failed(
            ErrorCode::UnsupportedMedia,
            format!("the audio codec `{codec}` is not supported"),
        ));
    }
    let declared = input.duration();
    let duration = if declared > 0 {
        Some(declared as f64 / AV_TIME_BASE)
    } else {
        streams[audio_stream].duration
    };
    let bit_rate = Some(input.bit_rate()).filter(|b| *b > 0);
    let size_bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    Ok(MediaInfo {
        duration,
        container,
        size_bytes,
        bit_rate,
        audio_stream,
        streams,
    })
}

fn stream_info(stream: &format::stream::Stream<'_>) -> StreamInfo {
    let params = stream.parameters();
    let kind = match params.medium() {
        media::Type::Audio => "audio",
        media::Type::Video => "video",
        media::Type::Subtitle => "subtitle",
        media::Type::Data => "data",
        media::Type::Attachment => "attachment",
        media::Type::Unknown => "unknown",
    };
    let tb = stream.time_base();
    let duration = (stream.duration() > 0 && tb.denominator() != 0).then(|| {
        stream.duration() as f64 * f64::from(tb.numerator()) / f64::from(tb.denominator())
    });
    let mut info = StreamInfo {
        index: stream.index(),
        kind,
        codec: params.id().name(),
        duration,
        sample_rate: None,
        channels: None,
        width: None,
        height: None,
        frame_rate: None,
    };
    // Opening a decoder is the safe API's only way to read these, and also
    // tells us whether this build can decode the stream at all.
    let Ok(decoder) = codec::context::Context::from_parameters(params).map(|c| c.decoder()) else {
        return info;
    };
    match kind {
        "audio" => {
            if let Ok(a) = decoder.audio() {
                info.sample_rate = Some(a.rate()).filter(|r| *r > 0);
                info.channels = Some(a.channels());
            }
        }
        "video" => {
            if let Ok(v) = decoder.video() {
                info.width = Some(v.width());
                info.height = Some(v.height());
            }
            // Cover art (an attached picture) has no rate of its own.
            let still = stream
                .disposition()
                .contains(format::stream::Disposition::ATTACHED_PIC);
            info.frame_rate = [stream.avg_frame_rate(), stream.rate()]
                .into_iter()
                .find(|r| r.numerator() > 0 && r.denominator() > 0 && !still)
                .map(f64::from);
        }
        _ => {}
    }
    info
}

fn check_duration(duration: Option<f64>, max: Duration) -> Result<(), StageError> {
    match duration {
        Some(d) if d > max.as_secs_f64() => Err(StageError::failed(
            ErrorCode::SourceTooLong,
            format!(
                "the source is {} long; the limit is {}",
                human(d),
                human(max.as_secs_f64())
            ),
        )),
        _ => Ok(()),
    }
}

/// Refuses a source whose streams would cost far more to decode than
/// their length suggests: too many of them, a picture too large, a frame
/// rate too high (`media_too_large`).
fn check_limits(info: &MediaInfo, limits: &MediaLimits) -> Result<(), StageError> {
    let too_large = |message: String| StageError::failed(ErrorCode::MediaTooLarge, message);
    if info.streams.len() > limits.max_streams as usize {
        return Err(too_large(format!(
            "the file has {} streams; the limit is {}",
            info.streams.len(),
            limits.max_streams
        )));
    }
    for s in &info.streams {
        if let (Some(w), Some(h)) = (s.width, s.height) {
            let (side, pixels) = (w.max(h), u64::from(w) * u64::from(h));
            if side > limits.max_dimension || pixels > limits.max_pixels {
                return Err(too_large(format!(
                    "the video is {w}x{h}; the limit is {} pixels a side and {:.1} megapixels",
                    limits.max_dimension,
                    limits.max_pixels as f64 / 1e6
                )));
            }
        }
        if let Some(fps) = s
            .frame_rate
            .filter(|f| *f > f64::from(limits.max_frame_rate))
        {
            return Err(too_large(format!(
                "the video runs at {fps:.0} frames per second; the limit is {}",
                limits.max_frame_rate
            )));
        }
    }
    Ok(())
}

/// `1 h 02 min`, `12 min 05 s`, `45 s`.
pub(crate) fn human(seconds: f64) -> String {
    // Whole seconds are all a person needs here.
    let s = seconds.max(0.0).round() as u64;
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, s) => format!("{s} s"),
        (0, m, s) => format!("{m} min {s:02} s"),
        (h, m, _) => format!("{h} h {m:02} min"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_person_wrote_them() {
        assert_eq!(human(45.4), "45 s");
        assert_eq!(human(725.0), "12 min 05 s");
        assert_eq!(human(3720.0), "1 h 02 min");
    }

    #[test]
    fn too_long_sources_are_rejected_with_both_lengths() {
        let err = check_duration(Some(7330.0), Duration::from_secs(3600)).unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::SourceTooLong));
        assert!(
            err.to_string().contains("2 h 02 min") && err.to_string().contains("1 h 00 min"),
            "{err}"
        );
        assert!(check_duration(Some(10.0), Duration::from_secs(3600)).is_ok());
        assert!(check_duration(None, Duration::from_secs(3600)).is_ok());
    }

    fn video(width: u32, height: u32, frame_rate: f64) -> StreamInfo {
        StreamInfo {
            index: 0,
            kind: "video",
            codec: "h264",
            duration: None,
            sample_rate: None,
            channels: None,
            width: Some(width),
            height: Some(height),
            frame_rate: Some(frame_rate),
        }
    }

    #[test]
    fn pictures_rates_and_streams_past_the_limits_are_refused() {
        let media = |streams: Vec<StreamInfo>| MediaInfo {
            duration: Some(10.0),
            container: "mov,mp4,m4a,3gp,3g2,mj2".into(),
            size_bytes: 1,
            bit_rate: None,
            audio_stream: 0,
            streams,
        };
        let limits = MediaLimits::default();
        let verdict = |streams| check_limits(&media(streams), &limits).map_err(|e| e.to_string());
        assert!(verdict(vec![video(7680, 4320, 60.0)]).is_ok());
        for (streams, want) in [
            (vec![video(16_000, 16_000, 25.0)], "16000x16000"),
            (vec![video(8192, 8192, 25.0)], "8192x8192"),
            (vec![video(640, 360, 1000.0)], "1000 frames per second"),
            (vec![video(640, 360, 25.0); 33], "33 streams"),
        ] {
            let err = verdict(streams).unwrap_err();
            assert!(
                err.starts_with("media_too_large") && err.contains(want),
                "{err}"
            );
        }
    }
}
