//! Live progress: a job's history as Server-Sent Events. The stream sends
//! the stored events (status changes, stage starts and ends, flags, clips)
//! as they are written, each with its id so a client that reconnects with
//! `Last-Event-ID` misses nothing, `progress` whenever the stage or the
//! percentage moves, and `end` once the job has ended and its last event
//! has gone out.
//!
//! The database is the only channel between workers and API replicas, so
//! the stream reads it every [`POLL`]: one indexed query for new events
//! and one primary-key read of the job per open stream.
//!
//! Streams are counted per credential and per tenant, and their credential
//! is checked again while they run (see [`guard`]); one whose credential
//! no longer opens the tenant gets a `closed` event and ends.

pub mod guard;

use std::{collections::VecDeque, convert::Infallible, sync::Arc, time::Duration};

use axum::response::sse::{Event, KeepAlive, Sse};
use cutroom_core::queries;
use cutroom_entities::{JobStatus, job};
use futures::Stream;
use serde_json::json;
use uuid::Uuid;

use crate::{
    app::App,
    auth::AuthContext,
    error::ApiError,
    views::{JobEvent, JobSummary},
};
use guard::Holder;

const POLL: Duration = Duration::from_millis(500);
/// How long after a job ended the stream waits for its final status event
/// (the worker writes the state first and the event just after).
const END_GRACE: u32 = 10;

/// Whether the request asked for the stream rather than the JSON list.
pub fn wants_stream(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get_all(axum::http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/event-stream"))
}

/// Counts a new stream of `ctx`, or refuses it (`too_many_streams`).
fn holder(app: &App, ctx: &AuthContext) -> Result<Holder, ApiError> {
    let ticket = app.live_streams.open(ctx, &app.config.guards)?;
    Ok(Holder::new(ctx, ticket))
}

/// The last event of a stream whose credential no longer opens the tenant.
fn closed() -> Event {
    Event::default()
        .event("closed")
        .json_data(json!({
            "code": "unauthorized",
            "detail": "the credential of this stream was revoked or lost its membership",
        }))
        .expect("the closing event serializes")
}

/// The stream of one job, starting after `after` (the client's
/// `Last-Event-ID`), or from the beginning.
pub fn stream(
    app: Arc<App>,
    ctx: &AuthContext,
    job: job::Model,
    after: Option<Uuid>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>> + use<>>, ApiError> {
    let state = Live {
        holder: holder(&app, ctx)?,
        app,
        tenant_id: job.tenant_id,
        job_id: job.id,
        after,
        shown: None,
        ended_polls: None,
        queue: VecDeque::new(),
        done: false,
        first: true,
    };
    let events = futures::stream::unfold(state, |mut s| async move {
        loop {
            if let Some(e) = s.queue.pop_front() {
                return Some((Ok(e), s));
            }
            if s.done {
                return None;
            }
            if !std::mem::take(&mut s.first) {
                tokio::time::sleep(POLL).await;
            }
            if !s.holder.still_valid(&s.app).await {
                s.queue.push_back(closed());
                s.done = true;
                continue;
            }
            s.poll().await;
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

struct Live {
    app: Arc<App>,
    holder: Holder,
    tenant_id: Uuid,
    job_id: Uuid,
    /// The last stored event sent.
    after: Option<Uuid>,
    /// The status, stage and progress last sent.
    shown: Option<(JobStatus, Option<String>, i32)>,
    /// Polls since the job was seen ended.
    ended_polls: Option<u32>,
    queue: VecDeque<Event>,
    done: bool,
    first: bool,
}

impl Live {
    async fn poll(&mut self) {
        let db = &self.app.db.orm;
        // The job first: events written after this read are caught by the
        // event query below or the next round.
        let job = match queries::jobs::get(db, self.tenant_id, self.job_id).await {
            Ok(j) => j,
            Err(e) => {
                tracing::warn!(error = %e, "live events: reading the job failed; will retry");
                return;
            }
        };
        let events =
            match queries::events::list_after(db, self.tenant_id, self.job_id, self.after).await {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!(error = %e, "live events: reading events failed; will retry");
                    return;
                }
            };
        let mut final_event = false;
        for e in events {
            self.after = Some(e.id);
            final_event |= cutroom_core::events::JobEvent::from_row(
                &e.kind,
                e.stage.as_deref(),
                e.message.as_deref(),
            )
            .is_some_and(cutroom_core::events::JobEvent::is_final);
            let id = e.id.to_string();
            let kind = e.kind.clone();
            let view = JobEvent::from(e);
            self.queue.push_back(
                Event::default()
                    .id(id)
                    .event(kind)
                    .json_data(view)
                    .expect("an event serializes"),
            );
        }
        let Some(job) = job else {
            self.finish(json!({ "status": "deleted" }));
            return;
        };
        let now = (job.status, job.stage.clone(), job.progress);
        if self.shown.as_ref() != Some(&now) {
            self.queue.push_back(
                Event::default()
                    .event("progress")
                    .json_data(json!({
                        "status": job.status,
                        "stage": job.stage,
                        "progress": job.progress,
                    }))
                    .expect("progress serializes"),
            );
            self.shown = Some(now);
        }
        if job.status.is_terminal() {
            let polls = self.ended_polls.get_or_insert(0);
            *polls += 1;
            // A job that ended a while ago has written all its events.
            let settled = job
                .finished_at
                .is_some_and(|f| chrono::Utc::now() - f > chrono::Duration::seconds(5));
            if final_event || settled || *polls > END_GRACE {
                self.finish(json!({
                    "status": job.status,
                    "error": job.error_code.map(|code| json!({
                        "code": code,
                        "message": job.error_message,
                    })),
                }));
            }
        }
    }

    fn finish(&mut self, data: serde_json::Value) {
        self.queue.push_back(
            Event::default()
                .event("end")
                .json_data(data)
                .expect("the end serializes"),
        );
        self.done = true;
    }
}

/// How far back a new tenant stream starts, so that a change made between
/// the client's list request and the stream's start is not missed.
const TENANT_LOOKBACK: chrono::TimeDelta = chrono::TimeDelta::seconds(10);
/// Changes read per poll; more wait for the next one.
const TENANT_BATCH: u64 = 200;

/// Every job of a tenant as it changes: a `job` event (a [`JobSummary`])
/// whenever a job is created or its status, stage or progress moves. This
/// is what the jobs list follows, with one connection for the whole page
/// (browsers allow six per host).
pub fn tenant_stream(
    app: Arc<App>,
    ctx: &AuthContext,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>> + use<>>, ApiError> {
    let state = TenantLive {
        holder: holder(&app, ctx)?,
        app,
        tenant_id: ctx.tenant_id,
        since: chrono::Utc::now() - TENANT_LOOKBACK,
        shown: std::collections::HashMap::new(),
        queue: VecDeque::new(),
        first: true,
        done: false,
    };
    let events = futures::stream::unfold(state, |mut s| async move {
        loop {
            if let Some(e) = s.queue.pop_front() {
                return Some((Ok(e), s));
            }
            if s.done {
                return None;
            }
            if !std::mem::take(&mut s.first) {
                tokio::time::sleep(POLL).await;
            }
            if !s.holder.still_valid(&s.app).await {
                s.queue.push_back(closed());
                s.done = true;
                continue;
            }
            s.poll().await;
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

struct TenantLive {
    app: Arc<App>,
    holder: Holder,
    tenant_id: Uuid,
    /// Reads start here: the newest change seen (inclusive, as two changes
    /// may share a timestamp).
    since: chrono::DateTime<chrono::Utc>,
    /// Each job's status, stage and progress last sent: the inclusive read
    /// returns the newest changes again, and other changes (a hand-over
    /// to the queue) are not news to a list.
    shown: std::collections::HashMap<Uuid, (JobStatus, Option<String>, i32)>,
    queue: VecDeque<Event>,
    first: bool,
    done: bool,
}

impl TenantLive {
    async fn poll(&mut self) {
        let jobs = match queries::jobs::changed_since(
            &self.app.db.orm,
            self.tenant_id,
            self.since,
            TENANT_BATCH,
        )
        .await
        {
            Ok(j) => j,
            Err(e) => {
                tracing::warn!(error = %e, "live jobs: reading changes failed; will retry");
                return;
            }
        };
        for job in jobs {
            self.since = self.since.max(job.updated_at);
            let now = (job.status, job.stage.clone(), job.progress);
            if self.shown.get(&job.id) == Some(&now) {
                continue;
            }
            self.shown.insert(job.id, now);
            self.queue.push_back(
                Event::default()
                    .event("job")
                    .json_data(JobSummary::from(job))
                    .expect("a job serializes"),
            );
        }
    }
}
