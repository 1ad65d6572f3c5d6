//! The pipeline's stages, in the order a job runs them: what `job.stage`,
//! stage events, usage records and progress speak of. The worker runs
//! them (`worker/src/pipeline/<stage>.rs`); the API and the web app show
//! them.

use serde::{Deserialize, Serialize};

#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Fetch,
    /// A batch's unpack job only: checking the archive's entries and
    /// creating a child job for each recording.
    Unpack,
    Probe,
    Audio,
    Loudness,
    Silence,
    Transcribe,
    Speakers,
    Analyze,
    Moderate,
    Clips,
    Publish,
}

impl Stage {
    /// Every stage, in the order a job runs them.
    pub const ALL: [Stage; 12] = [
        Stage::Fetch,
        Stage::Unpack,
        Stage::Probe,
        Stage::Audio,
        Stage::Loudness,
        Stage::Silence,
        Stage::Transcribe,
        Stage::Speakers,
        Stage::Analyze,
        Stage::Moderate,
        Stage::Clips,
        Stage::Publish,
    ];

    /// The name stored and shown (`job.stage`, events, usage).
    pub fn name(self) -> &'static str {
        match self {
            Stage::Fetch => "fetch",
            Stage::Unpack => "unpack",
            Stage::Probe => "probe",
            Stage::Audio => "audio",
            Stage::Loudness => "loudness",
            Stage::Silence => "silence",
            Stage::Transcribe => "transcribe",
            Stage::Speakers => "speakers",
            Stage::Analyze => "analyze",
            Stage::Moderate => "moderate",
            Stage::Clips => "clips",
            Stage::Publish => "publish",
        }
    }

    pub fn from_name(name: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.name() == name)
    }

    /// A whole job's progress (0-100) when the stage starts, and when the
    /// next one starts (100 after the last). Weighted by how long each
    /// stage takes on a typical talk: fetching and transcribing dominate.
    pub fn span(self) -> (i32, i32) {
        let start = |s: Stage| match s {
            Stage::Fetch => 0,
            // Not run by a job from a source.
            Stage::Unpack | Stage::Probe => 45,
            Stage::Audio => 60,
            Stage::Loudness => 70,
            Stage::Silence => 75,
            Stage::Transcribe => 80,
            Stage::Speakers => 88,
            Stage::Analyze => 92,
            Stage::Moderate => 93,
            Stage::Clips => 94,
            Stage::Publish => 98,
        };
        let next = Stage::ALL
            .iter()
            .skip_while(|s| **s != self)
            .nth(1)
            .map_or(100, |s| start(*s));
        (start(self), next)
    }

    /// [`Stage::span`] in a re-render, which runs fewer stages and spends
    /// most of its time encoding clips.
    pub fn render_span(self) -> (i32, i32) {
        match self {
            Stage::Fetch => (0, 10),
            Stage::Probe => (10, 12),
            Stage::Audio => (12, 20),
            Stage::Silence => (20, 25),
            Stage::Moderate => (25, 27),
            Stage::Clips => (27, 95),
            Stage::Publish => (95, 100),
            // Not run by a re-render.
            Stage::Unpack
            | Stage::Loudness
            | Stage::Transcribe
            | Stage::Speakers
            | Stage::Analyze => (27, 27),
        }
    }

    /// [`Stage::span`] in a job enrolling an uploaded voice sample, which
    /// only finds its speech and embeds it.
    pub fn enrol_span(self) -> (i32, i32) {
        match self {
            Stage::Fetch => (0, 20),
            Stage::Probe => (20, 25),
            Stage::Audio => (25, 35),
            Stage::Silence => (35, 45),
            Stage::Speakers => (45, 95),
            Stage::Publish => (95, 100),
            // Not run by an enrolment.
            Stage::Unpack
            | Stage::Loudness
            | Stage::Transcribe
            | Stage::Analyze
            | Stage::Moderate
            | Stage::Clips => (45, 45),
        }
    }
}

impl Stage {
    /// [`Stage::span`] in a batch's unpack job: the archive's download,
    /// then its entries checked and each recording stored as a child.
    pub fn unpack_span(self) -> (i32, i32) {
        match self {
            Stage::Fetch => (0, 20),
            Stage::Unpack => (20, 100),
            // Not run by an unpack job.
            _ => (100, 100),
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::Stage;

    #[test]
    fn names_read_back_and_match_serde() {
        for s in Stage::ALL {
            assert_eq!(Stage::from_name(s.name()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.name());
        }
        assert_eq!(Stage::from_name("render"), None);
    }

    /// Progress only moves forward, stage by stage, from 0 to 100, in a
    /// job and in a re-render.
    #[test]
    fn spans_tile_zero_to_a_hundred() {
        let mut at = 0;
        for s in Stage::ALL.into_iter().filter(|s| *s != Stage::Unpack) {
            let (start, end) = s.span();
            assert_eq!(start, at, "{s}");
            assert!(end > start, "{s}");
            at = end;
        }
        assert_eq!(at, 100);
        let rendered = [
            Stage::Fetch,
            Stage::Probe,
            Stage::Audio,
            Stage::Silence,
            Stage::Moderate,
            Stage::Clips,
            Stage::Publish,
        ];
        let mut at = 0;
        for s in rendered {
            let (start, end) = s.render_span();
            assert_eq!(start, at, "{s}");
            at = end;
        }
        assert_eq!(at, 100);
        let enrolled = [
            Stage::Fetch,
            Stage::Probe,
            Stage::Audio,
            Stage::Silence,
            Stage::Speakers,
            Stage::Publish,
        ];
        let mut at = 0;
        for s in enrolled {
            let (start, end) = s.enrol_span();
            assert_eq!(start, at, "{s}");
            at = end;
        }
        assert_eq!(at, 100);
        let mut at = 0;
        for s in [Stage::Fetch, Stage::Unpack] {
            let (start, end) = s.unpack_span();
            assert_eq!(start, at, "{s}");
            at = end;
        }
        assert_eq!(at, 100);
    }
}
