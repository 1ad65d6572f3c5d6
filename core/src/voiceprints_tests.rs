//! Matching, samples and their refusals on small hand-made vectors.

use super::*;

/// A unit vector near axis `axis` of `dim`, turned by `noise` towards
/// axis `toward`.
fn near(dim: usize, axis: usize, toward: usize, noise: f32) -> Vec<f32> {
    let mut v = vec![0.0; dim];
    v[axis] = 1.0;
    v[toward] += noise;
    unit(&v)
}

fn voice(segments: Vec<Vec<f32>>) -> Voiceprint {
    let centroid = centre(segments.iter().map(|e| (e.as_slice(), 1.0))).unwrap();
    Voiceprint {
        label: "S1".into(),
        model: SpeakerModel::CamPlus,
        seconds: segments.len() as f64 * 5.0,
        centroid,
        segments: segments
            .into_iter()
            .enumerate()
            .map(|(i, embedding)| Segment {
                start: i as f64 * 5.0,
                end: i as f64 * 5.0 + 5.0,
                speech: 5.0,
                embedding,
            })
            .collect(),
    }
}

#[test]
fn embeddings_survive_their_bytes() {
    let v = vec![0.5, -1.25, 3.0e-7, f32::MAX];
    assert_eq!(from_bytes(&to_bytes(&v)), Some(v.clone()));
    assert_eq!(from_bytes(&[1, 2, 3]), None);
    let many = vec![v.clone(), v.iter().map(|x| -x).collect()];
    assert_eq!(many_from_bytes(&many_to_bytes(&many), 4), Some(many));
    assert_eq!(many_from_bytes(&to_bytes(&v), 3), None);
}

#[test]
fn a_known_voice_is_named_and_a_new_one_is_unknown() {
    let (ada, bob) = (Uuid::new_v4(), Uuid::new_v4());
    let lib = Library::new([
        (ada, near(8, 0, 1, 0.2)),
        (ada, near(8, 0, 2, 0.2)),
        (bob, near(8, 3, 4, 0.2)),
    ]);
    assert_eq!((lib.samples(), lib.speakers()), (3, 2));
    let t = Thresholds::of(SpeakerModel::CamPlus);
    let ada_again = voice(vec![near(8, 0, 5, 0.3), near(8, 0, 6, 0.4)]);
    let id = lib.identify(&ada_again, t);
    assert_eq!(id.speaker_id, Some(ada));
    assert!(id.similarity > 0.9 && id.agreement == 1.0, "{id:?}");
    let stranger = voice(vec![near(8, 7, 5, 0.3), near(8, 7, 6, 0.4)]);
    let id = lib.identify(&stranger, t);
    assert_eq!(id.speaker_id, None, "{id:?}");
    assert_eq!(Library::new([]).identify(&ada_again, t), Identity::UNKNOWN);
}

#[test]
fn segments_that_disagree_leave_a_speaker_unknown() {
    // The centroid sits between two enrolled voices, nearer Ada; half
    // the segments are Bob's: no majority, so no name.
    let (ada, bob) = (Uuid::new_v4(), Uuid::new_v4());
    let lib = Library::new([(ada, near(4, 0, 1, 0.0)), (bob, near(4, 1, 0, 0.0))]);
    let mixed = voice(vec![
        near(4, 0, 1, 0.3),
        near(4, 1, 0, 0.9),
        near(4, 0, 1, 0.3),
        near(4, 1, 0, 0.9),
    ]);
    let id = lib.identify(&mixed, Thresholds::of(SpeakerModel::CamPlus));
    assert!(id.similarity >= 0.47, "{id:?}");
    assert_eq!(id.speaker_id, None, "{id:?}");
    assert!(id.agreement <= 0.5);
}

#[test]
fn consistency_is_high_for_one_voice_and_low_for_a_mix() {
    let one = voice(vec![near(4, 0, 1, 0.1), near(4, 0, 2, 0.1)]);
    assert!(one.consistency() > 0.9);
    let mix = voice(vec![
        near(4, 0, 1, 0.0),
        near(4, 2, 1, 0.0),
        near(4, 3, 1, 0.0),
    ]);
    assert!(mix.consistency() < 0.6, "{}", mix.consistency());
}

#[test]
fn samples_need_enough_speech_of_one_clean_voice() {
    let t = Thresholds::of(SpeakerModel::CamPlus);
    let mut ada = voice(vec![near(4, 0, 1, 0.1), near(4, 0, 2, 0.1)]);
    let sample = sample_of_speaker(&ada, t).unwrap();
    assert_eq!(sample.seconds, 10.0);
    ada.seconds = 3.0;
    assert!(matches!(
        sample_of_speaker(&ada, t),
        Err(Refusal::TooShort { .. })
    ));
    let mix = voice(vec![
        near(4, 0, 1, 0.0),
        near(4, 2, 1, 0.0),
        near(4, 3, 1, 0.0),
    ]);
    let refused = sample_of_speaker(&mix, Thresholds::of(SpeakerModel::DVector));
    assert!(matches!(refused, Err(Refusal::Noisy { .. })), "{refused:?}");
}

#[test]
fn ranges_take_the_segments_they_overlap_and_refuse_two_voices() {
    let t = Thresholds::of(SpeakerModel::CamPlus);
    // Ada's segments at 0-5 and 5-10, Bob's at 10-15.
    let ada = voice(vec![near(4, 0, 1, 0.1), near(4, 0, 2, 0.1)]);
    let mut bob = voice(vec![near(4, 3, 1, 0.1)]);
    bob.label = "S2".into();
    bob.segments[0].start = 10.0;
    bob.segments[0].end = 15.0;
    let voices = [ada, bob];
    let (label, sample) = sample_of_ranges(&voices, &[(0.0, 7.5)], t).unwrap();
    assert_eq!(label, "S1");
    assert!((sample.seconds - 7.5).abs() < 1e-9, "{sample:?}");
    assert!(matches!(
        sample_of_ranges(&voices, &[(0.0, 2.0)], t),
        Err(Refusal::TooShort { .. })
    ));
    assert_eq!(
        sample_of_ranges(&voices, &[(0.0, 10.0), (11.0, 13.0)], t),
        Err(Refusal::SeveralSpeakers(vec!["S1".into(), "S2".into()]))
    );
    // Half a second of the other voice at the edge is tolerated.
    let (label, _) = sample_of_ranges(&voices, &[(0.0, 10.5)], t).unwrap();
    assert_eq!(label, "S1");
}

#[test]
fn a_recording_gives_its_main_voice_unless_another_speaks_much() {
    let t = Thresholds::of(SpeakerModel::CamPlus);
    // Ada 20 s; Bob's 2 s cough of a word is under 15 % of the speech.
    let ada = voice(vec![near(4, 0, 1, 0.1); 4]);
    let mut cough = voice(vec![near(4, 3, 1, 0.1)]);
    cough.label = "S2".into();
    cough.seconds = 2.0;
    let (main, sample) = sample_of_recording(&[cough.clone(), ada.clone()], t).unwrap();
    assert_eq!((main, sample.seconds), (1, 20.0));
    // Bob speaking 10 s of 30 is a conversation.
    let mut bob = cough;
    bob.seconds = 10.0;
    assert_eq!(
        sample_of_recording(&[ada.clone(), bob], t),
        Err(Refusal::SeveralSpeakers(vec!["S1".into(), "S2".into()]))
    );
    assert!(matches!(
        sample_of_recording(&[], t),
        Err(Refusal::TooShort { .. })
    ));
}
