//! Which packets of a cut a smart render copies: from the first IDR frame
//! inside it to the last, when the stream allows (a constant frame rate,
//! closed GOPs). Apart from the render because it is a pure function of
//! the packets' times, tested on made-up streams.

/// One video packet as the planner sees it, in decode order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Scanned {
    pub pts: i64,
    pub dts: i64,
    /// Holds an IDR slice: decoding can start here.
    pub idr: bool,
}

/// Which packets are copied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    /// The first frame of the clip.
    pub first: i64,
    /// Frames with `pts < end` are in the clip.
    pub end: i64,
    /// The IDR frames the copy starts at and stops before.
    pub copy_from: Times,
    pub copy_to: Times,
    /// `pts - dts` of the copied keyframes: encoded frames get the same,
    /// so decode times keep rising across the joins.
    pub delay: i64,
}

/// A packet's times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Times {
    pub pts: i64,
    pub dts: i64,
}

/// Plans the copy of a cut whose frames are `lo <= pts < hi`, from the
/// packets around it (decode order); `Err` says why it cannot be done.
pub(crate) fn plan(packets: &[Scanned], lo: i64, hi: i64, ticks: i64) -> Result<Plan, String> {
    // The cut's frames. All of them were read: reading stops only past
    // `hi` in decode order, and nothing shown before `hi` decodes later.
    // Frames beyond it may be missing (B-frames not yet read).
    let mut frames: Vec<i64> = packets
        .iter()
        .map(|p| p.pts)
        .filter(|p| (lo..hi).contains(p))
        .collect();
    frames.sort_unstable();
    if frames.windows(2).any(|w| w[1] - w[0] != ticks) {
        return Err("the frame rate is not constant".into());
    }
    let (Some(&first), Some(&last)) = (frames.first(), frames.last()) else {
        return Err("no frame in the cut".into());
    };
    let end = last + ticks;
    let keys: Vec<&Scanned> = packets
        .iter()
        .filter(|p| p.idr && p.pts >= first && p.pts < end)
        .collect();
    let (Some(a), Some(b)) = (keys.first(), keys.last()) else {
        return Err("the cut holds no IDR frame".into());
    };
    if a.pts >= b.pts {
        return Err("the cut holds fewer than two IDR frames".into());
    }
    let delay = a.pts - a.dts;
    if delay < 0 || b.pts - b.dts != delay {
        return Err("the decode delay changes between keyframes".into());
    }
    // Closed GOPs: everything decoded between the two keyframes shows
    // between them, and nothing before the first shows after it.
    for p in packets {
        let copied = p.dts >= a.dts && p.dts < b.dts;
        if copied != (p.pts >= a.pts && p.pts < b.pts) {
            return Err("the source has open GOPs".into());
        }
    }
    Ok(Plan {
        first,
        end,
        copy_from: Times {
            pts: a.pts,
            dts: a.dts,
        },
        copy_to: Times {
            pts: b.pts,
            dts: b.dts,
        },
        delay,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pts: i64, dts: i64, idr: bool) -> Scanned {
        Scanned { pts, dts, idr }
    }

    /// Closed GOPs of 4 frames (I P B B in decode order), one tick each,
    /// decode delay 1.
    fn gops(n: i64) -> Vec<Scanned> {
        let mut out = Vec::new();
        for g in 0..n {
            let b = g * 4;
            out.push(p(b + 1, b, true));
            out.push(p(b + 4, b + 1, false));
            out.push(p(b + 2, b + 2, false));
            out.push(p(b + 3, b + 3, false));
        }
        out
    }

    #[test]
    fn the_copy_runs_between_the_first_and_last_idr_inside_the_cut() {
        let planned = plan(&gops(5), 3, 15, 1).unwrap();
        assert_eq!(planned.first, 3);
        assert_eq!(planned.end, 15);
        assert_eq!(planned.copy_from, Times { pts: 5, dts: 4 });
        assert_eq!(planned.copy_to, Times { pts: 13, dts: 12 });
        assert_eq!(planned.delay, 1);
        assert!(
            plan(&gops(5), 6, 12, 1)
                .unwrap_err()
                .contains("fewer than two")
        );
    }

    #[test]
    fn open_gops_and_uneven_frames_are_refused() {
        let mut open = gops(4);
        // A B-frame after the second keyframe that shows before it.
        open[6].pts = 4;
        open[1].pts = 3;
        open[3].pts = 6;
        assert!(plan(&open, 3, 16, 1).unwrap_err().contains("open GOPs"));
        let mut uneven = gops(4);
        uneven[5].pts = 9;
        assert!(
            plan(&uneven, 1, 16, 1)
                .unwrap_err()
                .contains("not constant")
        );
    }
}
