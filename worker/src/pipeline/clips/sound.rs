//! A clip's sound: decoded from the source, trimmed (and jump-cut), the
//! gain applied and the peaks limited, encoded as AAC beside the picture.
//! Every renderer sends the sound through here whatever it does with the
//! picture, and [`super::gain`] measures these same filters, so a clip
//! sounds the same however its picture was made.

use ffmpeg_next::{
    ChannelLayout, Dictionary, Error, Packet, Rational, codec, decoder, encoder, filter, format,
    frame,
};

use super::encode::{RenderSpec, State, seconds, write_packets};
use crate::media as ff;

/// AAC at 48 kHz stereo, what every platform takes.
pub(crate) const AUDIO_RATE: i32 = 48_000;

const AUDIO_BIT_RATE: usize = 160_000;

/// Where the limiter holds sample peaks: 2 dB under full scale, leaving the
/// room that inter-sample peaks and the AAC encoder take, so the true peak
/// stays under -1 dBTP.
const LIMIT: f64 = 0.794;

/// The AAC encoder of a clip's sound (48 kHz stereo), and its stream in
/// `output`.
pub(crate) fn aac(
    output: &mut format::context::Output,
) -> Result<(encoder::audio::Encoder, usize), Error> {
    let global_header = output
        .format()
        .flags()
        .contains(format::Flags::GLOBAL_HEADER);
    let aac = encoder::find(codec::Id::AAC).ok_or(Error::EncoderNotFound)?;
    let mut enc = codec::context::Context::new_with_codec(aac)
        .encoder()
        .audio()?;
    enc.set_rate(AUDIO_RATE);
    // ffmpeg 5 derives the channel count from the layout when opening.
    enc.set_channel_layout(ChannelLayout::STEREO);
    enc.set_format(format::Sample::F32(format::sample::Type::Planar));
    enc.set_bit_rate(AUDIO_BIT_RATE);
    enc.set_time_base(Rational::new(1, AUDIO_RATE));
    if global_header {
        enc.set_flags(codec::Flags::GLOBAL_HEADER);
    }
    let enc = enc.open_as(aac)?;
    let ost = {
        let mut s = output.add_stream(aac)?;
        s.set_parameters(&enc);
        s.set_time_base(Rational::new(1, AUDIO_RATE));
        s.index()
    };
    Ok((enc, ost))
}

/// Adds the sound (when `spec` has it) to an output whose video stream
/// `vost` is set up, and writes the header: MP4 with the index in front,
/// so playback starts before the download ends. Returns the sound's side
/// and the video stream's time base as the muxer chose it.
pub(crate) fn finish_output(
    spec: &RenderSpec,
    input: &format::context::Input,
    output: &mut format::context::Output,
    vost: usize,
    (from, to): (f64, f64),
) -> Result<(Option<AudioOut>, Rational), Error> {
    let mut audio = if spec.audio {
        Some(AudioOut::new(spec, input, output, from, to)?)
    } else {
        None
    };
    let mut mux_opts = Dictionary::new();
    mux_opts.set("movflags", "+faststart");
    output.write_header_with(mux_opts)?;
    let vost_tb = output.stream(vost).ok_or(Error::Bug)?.time_base();
    if let Some(a) = audio.as_mut() {
        a.ost_tb = output.stream(a.ost).ok_or(Error::Bug)?.time_base();
    }
    Ok((audio, vost_tb))
}

/// The audio as decoded, for the filter graph's source.
#[derive(Clone, Copy)]
pub(crate) struct AudioIn {
    tb: Rational,
    rate: u32,
    format: format::Sample,
    layout: ChannelLayout,
}

impl AudioIn {
    /// The `abuffer` source's arguments for this audio.
    pub(crate) fn args(&self) -> String {
        format!(
            "time_base={}/{}:sample_rate={}:sample_fmt={}:channel_layout=0x{:x}",
            self.tb.numerator(),
            self.tb.denominator(),
            self.rate,
            self.format.name(),
            self.layout.bits(),
        )
    }

    pub(crate) fn of(dec: &decoder::Audio, tb: Rational) -> Self {
        let layout = if dec.channel_layout().is_empty() {
            ChannelLayout::default(i32::from(dec.channels()))
        } else {
            dec.channel_layout()
        };
        Self {
            tb,
            rate: dec.rate(),
            format: dec.format(),
            layout,
        }
    }
}

/// The decoder of the input's stream `index` (its sound), and the
/// stream's time base.
pub(crate) fn audio_decoder(
    input: &format::context::Input,
    index: usize,
) -> Result<(decoder::Audio, Rational), Error> {
    let s = input.stream(index).ok_or(Error::StreamNotFound)?;
    let dec = codec::context::Context::from_parameters(s.parameters())?
        .decoder()
        .audio()?;
    Ok((dec, s.time_base()))
}

/// The clip's audio: trimmed, the gain applied, peaks limited, as 48 kHz
/// stereo `fltp` frames of `frame_size` for the encoder, or interleaved
/// `flt` (`frame_size` 0) for the loudness meter.
pub(crate) fn audio_graph(
    gain_db: f64,
    input: AudioIn,
    from: f64,
    to: f64,
    keep: &[(f64, f64)],
    frame_size: u32,
) -> Result<filter::Graph, Error> {
    let mut graph = filter::Graph::new();
    graph.add(
        &filter::find("abuffer").ok_or(Error::FilterNotFound)?,
        "in",
        &input.args(),
    )?;
    graph.add(
        &filter::find("abuffersink").ok_or(Error::FilterNotFound)?,
        "out",
        "",
    )?;
    let sample_format = if frame_size > 0 { "fltp" } else { "flt" };
    let spec = audio_filters(gain_db, from, to, keep, sample_format);
    graph.output("in", 0)?.input("out", 0)?.parse(&spec)?;
    graph.validate()?;
    if frame_size > 0 {
        graph
            .get("out")
            .ok_or(Error::Bug)?
            .sink()
            .set_frame_size(frame_size);
    }
    Ok(graph)
}

/// The filters of the clip's sound, as [`audio_graph`] describes it, in
/// `sample_format` (`fltp` for AAC, `flt` for the meter).
pub(crate) fn audio_filters(
    gain_db: f64,
    from: f64,
    to: f64,
    keep: &[(f64, f64)],
    sample_format: &str,
) -> String {
    // The gain takes the clip to its target; the limiter (delay
    // compensated, no auto level) catches the peaks the gain pushed up.
    format!(
        "atrim=start={from:.6}:end={to:.6},asetpts=PTS-STARTPTS,{}volume={gain_db:.3}dB,\
         alimiter=limit={LIMIT}:level=0:latency=1,aresample={AUDIO_RATE},\
         aformat=sample_fmts={sample_format}:sample_rates={AUDIO_RATE}:channel_layouts=stereo",
        jump_cuts(keep)
    )
}

/// Each join of a jump cut fades out and in over this long, so the cut
/// does not click.
const JOIN_FADE: f64 = 0.005;

/// The audio filters that keep only `keep` of the clip, back to back: each
/// stretch trimmed to the sample, faded at its joins, and concatenated.
/// Empty when nothing is cut.
fn jump_cuts(keep: &[(f64, f64)]) -> String {
    if keep.len() < 2 {
        return String::new();
    }
    let n = keep.len();
    let mut graph = format!("asplit={n}");
    for k in 0..n {
        graph.push_str(&format!("[s{k}]"));
    }
    for (k, &(a, b)) in keep.iter().enumerate() {
        let length = b - a;
        graph.push_str(&format!(
            ";[s{k}]atrim=start={a:.6}:end={b:.6},asetpts=PTS-STARTPTS"
        ));
        if k > 0 {
            graph.push_str(&format!(",afade=t=in:d={JOIN_FADE}"));
        }
        if k + 1 < n {
            graph.push_str(&format!(
                ",afade=t=out:st={:.6}:d={JOIN_FADE}",
                (length - JOIN_FADE).max(0.0)
            ));
        }
        graph.push_str(&format!("[k{k}]"));
    }
    graph.push(';');
    for k in 0..n {
        graph.push_str(&format!("[k{k}]"));
    }
    graph.push_str(&format!("concat=n={n}:v=0:a=1,"));
    graph
}

pub(crate) fn pull_audio(dec: &mut decoder::Audio, graph: &mut filter::Graph) -> Result<(), Error> {
    let mut frame = frame::Audio::empty();
    while dec.receive_frame(&mut frame).is_ok() {
        let ts = frame.timestamp();
        frame.set_pts(ts);
        let layout = ff::layout_of(&frame);
        frame.set_channel_layout(layout);
        graph.get("in").ok_or(Error::Bug)?.source().add(&frame)?;
    }
    Ok(())
}

/// The audio side of a render: decoder, filters, AAC encoder, stream.
pub(crate) struct AudioOut {
    dec: decoder::Audio,
    tb: Rational,
    graph: filter::Graph,
    enc: encoder::audio::Encoder,
    ost: usize,
    /// The output stream's time base, known once the header is written.
    ost_tb: Rational,
}

impl AudioOut {
    fn new(
        spec: &RenderSpec,
        input: &format::context::Input,
        output: &mut format::context::Output,
        from: f64,
        to: f64,
    ) -> Result<Self, Error> {
        let (dec, tb) = audio_decoder(input, spec.audio_stream)?;
        let (enc, ost) = aac(output)?;
        let graph = audio_graph(
            spec.gain_db,
            AudioIn::of(&dec, tb),
            from,
            to,
            &spec.keep,
            enc.frame_size(),
        )?;
        Ok(Self {
            dec,
            tb,
            graph,
            enc,
            ost,
            ost_tb: Rational::new(1, AUDIO_RATE),
        })
    }

    /// Decodes, filters, encodes and writes one packet of the sound;
    /// `false` once it is past `enough` (seconds on the file's clock) and
    /// the rest of the file is not needed.
    pub(crate) fn feed(
        &mut self,
        packet: &Packet,
        output: &mut format::context::Output,
        state: &mut State,
        enough: f64,
    ) -> Result<bool, Error> {
        let at = packet.pts().map_or(0.0, |p| seconds(p, self.tb));
        if self.dec.send_packet(packet).is_ok() {
            pull_audio(&mut self.dec, &mut self.graph)?;
        }
        self.drain(output, state)?;
        Ok(at <= enough)
    }

    /// Encodes and writes what the filters have ready.
    fn drain(
        &mut self,
        output: &mut format::context::Output,
        state: &mut State,
    ) -> Result<(), Error> {
        let mut frame = frame::Audio::empty();
        while self
            .graph
            .get("out")
            .ok_or(Error::Bug)?
            .sink()
            .frame(&mut frame)
            .is_ok()
        {
            state.audio_samples += frame.samples() as u64;
            self.enc.send_frame(&frame)?;
            write_packets(
                &mut self.enc,
                output,
                self.ost,
                (Rational::new(1, AUDIO_RATE), 0),
                self.ost_tb,
            )?;
        }
        Ok(())
    }

    /// Flushes the decoder, the filters and the encoder.
    pub(crate) fn finish(
        &mut self,
        output: &mut format::context::Output,
        state: &mut State,
    ) -> Result<(), Error> {
        if self.dec.send_eof().is_ok() {
            pull_audio(&mut self.dec, &mut self.graph)?;
        }
        self.graph.get("in").ok_or(Error::Bug)?.source().flush()?;
        self.drain(output, state)?;
        self.enc.send_eof()?;
        write_packets(
            &mut self.enc,
            output,
            self.ost,
            (Rational::new(1, AUDIO_RATE), 0),
            self.ost_tb,
        )
    }
}
