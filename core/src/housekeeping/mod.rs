//! Housekeeping: the promises no request keeps. Jobs waiting for a free
//! slot or for their retry time are handed to the workers' queue (the
//! dispatcher), what is kept only for a while is deleted when its time is
//! up (the [`sweep`]er), past jobs' speakers are named again after a
//! change to their tenant's speaker library (the relabel round), and
//! webhooks are sent ([`webhooks`]).
//!
//! Every long-lived process runs it, API or worker, so any shape of fleet
//! keeps every promise: workers with no API replica still retry, sweep and
//! send. Two processes never run the same round: the dispatcher's and the
//! sweeper's rounds are each run by the holder of their [`lease`], and
//! each webhook message is leased on its own.

pub mod lease;
pub mod sweep;
pub mod webhooks;

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use crate::{
    Config, Database,
    secrets::Sealer,
    storage::{LocalStore, ObjectStore},
};

/// How often jobs whose slot or retry time came are handed over.
const DISPATCH_INTERVAL: Duration = Duration::from_secs(2);
/// How often libraries that changed have their past jobs named again.
const RELABEL_INTERVAL: Duration = Duration::from_secs(2);
/// The longest a round may hold its lease: a process that died mid-round
/// leaves the round to others after this.
const ROUND_LEASE: Duration = Duration::from_secs(10 * 60);

/// A round some process of the fleet runs every so often.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Round {
    /// [`crate::queue::dispatch_all`].
    Dispatch,
    /// [`sweep`].
    Sweep,
    /// [`crate::queries::speakers::relabel_round`].
    Relabel,
}

impl Round {
    /// The lease's name.
    pub fn name(self) -> &'static str {
        match self {
            Round::Dispatch => "dispatch",
            Round::Sweep => "sweep",
            Round::Relabel => "relabel",
        }
    }
}

/// What housekeeping needs: the configuration, the database and the store.
pub struct Housekeeper {
    pub config: Config,
    pub db: Database,
    pub store: Arc<dyn ObjectStore>,
    /// The same store again when it is the local one, whose temporary
    /// files of interrupted uploads are swept too.
    pub local_store: Option<Arc<LocalStore>>,
    /// Opens webhook endpoints' secrets.
    pub(crate) sealer: Sealer,
    /// This process's name on the leases it holds.
    holder: String,
}

impl Housekeeper {
    pub fn new(
        config: Config,
        db: Database,
        store: Arc<dyn ObjectStore>,
        local_store: Option<Arc<LocalStore>>,
    ) -> Arc<Self> {
        Arc::new(Self {
            sealer: Sealer::new(&config.secret_key),
            config,
            db,
            store,
            local_store,
            holder: format!("housekeeper-{}", uuid::Uuid::new_v4().simple()),
        })
    }

    /// Dispatches, sweeps and sends webhooks until `shutdown`.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let dispatch_every = DISPATCH_INTERVAL.min(self.config.sweep_interval);
        tokio::join!(
            self.rounds(Round::Dispatch, dispatch_every, &shutdown),
            self.rounds(Round::Sweep, self.config.sweep_interval, &shutdown),
            self.rounds(
                Round::Relabel,
                RELABEL_INTERVAL.min(self.config.sweep_interval),
                &shutdown
            ),
            webhooks::run(self.clone(), shutdown.clone()),
        );
    }

    /// Every `every`, runs `round` if this process gets its lease.
    async fn rounds(&self, round: Round, every: Duration, shutdown: &CancellationToken) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            if let Err(e) = self.run_round(round, every).await {
                tracing::warn!(error = %e, round = round.name(), "a housekeeping round's lease is unavailable; will retry");
            }
        }
    }

    /// Runs `round` once if no other process is running it or ran it less
    /// than `every` ago. Returns whether this process ran it.
    pub async fn run_round(&self, round: Round, every: Duration) -> Result<bool, sea_orm::DbErr> {
        let started = Utc::now();
        let hold = ROUND_LEASE.max(every);
        if !lease::take(&self.db.orm, round.name(), &self.holder, started, hold).await? {
            return Ok(false);
        }
        match round {
            Round::Dispatch => {
                match crate::queue::dispatch_all(&self.db, self.config.tenant_max_running).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(count = n, "handed waiting jobs to the queue"),
                    Err(e) => {
                        tracing::warn!(error = %e, "handing waiting jobs over failed; will retry")
                    }
                }
            }
            Round::Sweep => sweep::round(self, Utc::now()).await,
            Round::Relabel => {
                if let Err(e) = crate::queries::speakers::relabel_round(&self.db.orm).await {
                    tracing::warn!(error = %e, "naming past jobs' speakers again failed; will retry");
                }
            }
        }
        // The next round is due one interval after this one began, for
        // whichever process comes first.
        let next = started + chrono::Duration::from_std(every).unwrap_or(chrono::Duration::MAX);
        lease::keep_until(&self.db.orm, round.name(), &self.holder, next).await?;
        Ok(true)
    }
}
