//! The idle worker's wake-up timer.
//!
//! apalis 1.0's `IntervalStrategy` replaces its timer when it fires but does
//! not poll the new one, so no wake-up is registered: when the fetch that
//! follows finishes within the same poll (an empty queue answers at once),
//! the worker sleeps until something else wakes it, its next heartbeat.
//! Measured here: a job submitted just after start-up waited 8.6 s for a
//! worker polling every 100 ms. This strategy re-polls the timer after
//! each tick, so the next wake-up is always armed.

use std::{
    task::{Context, Poll},
    time::Duration,
};

use apalis::prelude::{PollSnapshot, PollStrategy};
use tokio::time::{Interval, MissedTickBehavior};

pub(crate) struct Every(Interval);

impl Every {
    pub(crate) fn new(period: Duration) -> Self {
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Self(interval)
    }
}

impl PollStrategy for Every {
    fn poll_drive(&mut self, cx: &mut Context<'_>, _: &PollSnapshot) -> Poll<Option<()>> {
        let mut fired = false;
        // `Pending` from `poll_tick` is what registers the next wake-up.
        while self.0.poll_tick(cx).is_ready() {
            fired = true;
        }
        if fired {
            Poll::Ready(Some(()))
        } else {
            Poll::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{
        sync::{
            Arc,
            atomic::{AtomicUsize, Ordering},
        },
        task::{Wake, Waker},
    };

    use super::*;

    struct CountWakes(AtomicUsize);

    impl Wake for CountWakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn every_tick_arms_the_next_wake_up() {
        let wakes = Arc::new(CountWakes(AtomicUsize::new(0)));
        let waker = Waker::from(wakes.clone());
        let mut cx = Context::from_waker(&waker);
        let mut every = Every::new(Duration::from_millis(100));
        let snapshot = PollSnapshot::default();
        // The first tick is immediate; each later one must come with a wake-up.
        assert!(every.poll_drive(&mut cx, &snapshot).is_ready());
        for round in 1..=5 {
            tokio::time::sleep(Duration::from_millis(101)).await;
            assert_eq!(
                wakes.0.load(Ordering::SeqCst),
                round,
                "no wake-up armed before round {round}"
            );
            assert!(every.poll_drive(&mut cx, &snapshot).is_ready());
        }
    }
}
