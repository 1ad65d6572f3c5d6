//! Prometheus metrics, served at `/metrics` in the text format.
//!
//! Two kinds live here. Request latencies are this API process's own (each
//! replica reports its requests; sum them across replicas). Everything
//! about jobs and workers is read from the shared database when scraped,
//! so every replica reports the same fleet-wide figures (aggregate those
//! with `max`, not `sum`): jobs by status, the queue's depth, workers by
//! state, and stage durations, which each process counts from the stage
//! events workers write, starting when the process started.

use std::{
    sync::{Mutex, atomic::AtomicU64},
    time::Instant,
};

use axum::{
    body::Body,
    extract::{MatchedPath, State},
    http::{Method, Request},
    middleware::Next,
    response::Response,
};
use chrono::Utc;
use cutroom_core::queries::{fleet, workers};
use cutroom_entities::JobStatus;
use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};
use sea_orm::DbErr;
use uuid::Uuid;

use crate::app::AppState;

/// Stage events read per scrape at most; the rest are read at the next.
const STAGE_BATCH: u64 = 10_000;

/// Every label takes few values whatever clients send, so the label set,
/// and with it memory and the size of each scrape, stays bounded.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    /// One of HTTP's own methods, or `other` (see [`method_label`]).
    method: &'static str,
    /// The route's template (`/v1/jobs/{id}`), never the raw path, so ids
    /// do not explode the label set; `unmatched` for every path no route
    /// matched.
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabel {
    stage: String,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Histogram>,
    jobs: Family<StatusLabel, Gauge>,
    queue: Family<StateLabel, Gauge>,
    queue_age: Gauge<f64, AtomicU64>,
    workers: Family<StateLabel, Gauge>,
    stages: Family<StageLabel, Histogram>,
    /// The last stage event counted.
    stage_cursor: tokio::sync::Mutex<Uuid>,
    /// Serialises encoding (the registry is read while gauges are reset).
    encoding: Mutex<()>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("cutroom");
        // 1 ms to about 33 s.
        let requests = Family::<RequestLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 16))
        });
        // 0.1 s to about 1.8 h.
        let stages = Family::<StageLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.1, 3.0, 12))
        });
        let jobs = Family::<StatusLabel, Gauge>::default();
        let queue = Family::<StateLabel, Gauge>::default();
        let workers = Family::<StateLabel, Gauge>::default();
        let queue_age = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "http_request_duration_seconds",
            "Time to answer HTTP requests, by method, route and status (this process)",
            requests.clone(),
        );
        registry.register(
            "jobs",
            "Jobs by status, all tenants (from the database)",
            jobs.clone(),
        );
        registry.register(
            "queue_depth",
            "Queued jobs by where they wait: dispatched (for a worker to take), waiting_for_slot, retry_scheduled",
            queue.clone(),
        );
        registry.register(
            "queue_oldest_age_seconds",
            "Seconds the oldest dispatched job has waited for a worker (0 when none waits): with queue_depth, the autoscaling signal",
            queue_age.clone(),
        );
        registry.register(
            "workers",
            "Worker processes by state: busy, idle, lost (seen in the last day, not stopped)",
            workers.clone(),
        );
        registry.register(
            "stage_duration_seconds",
            "Pipeline stage durations, from the stage events workers wrote since this process started",
            stages.clone(),
        );
        Self {
            registry,
            requests,
            jobs,
            queue,
            queue_age,
            workers,
            stages,
            stage_cursor: tokio::sync::Mutex::new(Uuid::now_v7()),
            encoding: Mutex::new(()),
        }
    }

    fn observe_request(&self, method: &'static str, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                method,
                route: route.to_owned(),
                status,
            })
            .observe(seconds);
    }

    /// Reads the fleet's figures from the database, then encodes everything.
    pub async fn render(&self, state: &AppState) -> Result<String, DbErr> {
        let db = &state.db.orm;
        let by_status = fleet::jobs_by_status(db).await?;
        let depth = fleet::queue_depth(db).await?;
        let oldest = fleet::oldest_dispatched_at(db).await?;
        let now = Utc::now();
        let listed = workers::list(db, now - chrono::Duration::hours(24), 10_000).await?;
        {
            let mut cursor = self.stage_cursor.lock().await;
            let (runs, last) = fleet::stages_completed_after(db, *cursor, STAGE_BATCH).await?;
            for run in runs {
                self.stages
                    .get_or_create(&StageLabel { stage: run.stage })
                    .observe(run.seconds);
            }
            if let Some(last) = last {
                *cursor = last;
            }
        }
        let _guard = self.encoding.lock().unwrap_or_else(|e| e.into_inner());
        for status in JobStatus::ALL {
            let n = by_status
                .iter()
                .find(|(s, _)| *s == status)
                .map_or(0, |(_, n)| *n);
            self.jobs
                .get_or_create(&StatusLabel {
                    status: status.as_str().into(),
                })
                .set(n);
        }
        for (state, n) in [
            ("dispatched", depth.dispatched),
            ("waiting_for_slot", depth.waiting_for_slot),
            ("retry_scheduled", depth.retry_scheduled),
        ] {
            self.queue
                .get_or_create(&StateLabel {
                    state: state.into(),
                })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        self.queue_age
            .set(oldest.map_or(0.0, |t| fleet::age_seconds(t, now)));
        let (mut busy, mut idle, mut lost) = (0, 0, 0);
        for w in &listed {
            match workers::state(w, now, state.config.worker_heartbeat) {
                workers::State::Busy => busy += 1,
                workers::State::Idle => idle += 1,
                workers::State::Lost => lost += 1,
                workers::State::Stopped => {}
            }
        }
        for (state, n) in [("busy", busy), ("idle", idle), ("lost", lost)] {
            self.workers
                .get_or_create(&StateLabel {
                    state: state.into(),
                })
                .set(n);
        }
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        Ok(out)
    }
}

/// HTTP's own methods keep their name; any other token a client makes up
/// (hyper accepts them) counts as `other`.
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT",
    ];
    KNOWN
        .into_iter()
        .find(|known| *known == method.as_str())
        .unwrap_or("other")
}

/// Times every routed request.
pub async fn layer(State(state): State<AppState>, req: Request<Body>, next: Next) -> Response {
    let method = method_label(req.method());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(req).await;
    state.metrics.observe_request(
        method,
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}
