//! docker compose, run for real: `docker-compose.yml` as it is, on images
//! built from `.ci/Dockerfile` and `.ci/s3s-fs.Dockerfile`
//! (`.ci/docker-images`), with three worker replicas. Jobs go in through
//! the API from the host; their sources and the webhook receiver are on the
//! host's address on Docker's bridge.
//!
//! It skips, loudly, only where no Docker engine can be started, and never
//! in CI (`CI` set), where that is a failure.

use std::{collections::BTreeSet, time::Duration};

use cutroom_tests::{
    SourceServer,
    compose::{Engine, NoEngine, Stack},
    email, media,
    webhooks::Receiver,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The bound on each wait: a job of a few seconds of speech, on two cores
/// shared by three workers.
const LIMIT: Duration = Duration::from_secs(300);
const OPERATOR: &str = "operator-token-of-the-compose-test-0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stack_scales_hands_over_killed_work_and_keeps_promises_without_the_api() {
    let engine = match Engine::ready() {
        Ok(engine) => engine,
        Err(NoEngine::CannotStart(why)) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must run the compose test, but no Docker engine started: {why}"
            );
            eprintln!(
                "\n\n*** SKIPPED the compose test: no Docker engine could be started here ***\n{why}\n"
            );
            return;
        }
    };
    let host = engine.host_address();
    let source = SourceServer::start_on(&host).await;
    media::talk_with_gaps(&source.path("talk.mp4"), 6.0, &[]);
    media::talk_with_gaps(&source.path("long.mp4"), 40.0, &[]);
    let receiver = Receiver::start_on(&host, &[]).await;
    let stack = Stack::up(
        &engine,
        &[
            ("CUTROOM_EXTRA_SOURCE_HOSTS", source.host.clone()),
            ("CUTROOM_WEBHOOK_PRIVATE_HOSTS", receiver.addr.clone()),
            ("CUTROOM_WORKER_HEARTBEAT_SECS", "1".into()),
            ("CUTROOM_JOB_RETRY_BACKOFF_SECS", "3".into()),
            ("CUTROOM_OPERATOR_TOKEN", OPERATOR.into()),
        ],
        3,
    )
    .await;
    assert_eq!(stack.containers("worker").len(), 3);
    let (status, body) = stack
        .request(
            Method::POST,
            "/v1/auth/signup",
            None,
            Some(
                json!({"email": email("compose"), "password": "correct horse battery",
                        "name": "Compose", "tenant_name": "Compose"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let token = body["access_token"].as_str().unwrap().to_owned();
    let t = Tenant {
        stack: &stack,
        token,
        source: &source,
    };

    spread_over_three(&t).await;
    killed_mid_job(&t, &engine).await;
    scaled_down_and_up(&t).await;
    without_the_api(&t, &receiver).await;
}

/// Six jobs on three workers: each finishes once, and all three work.
async fn spread_over_three(t: &Tenant<'_>) {
    let ids = t.submit_many("talk.mp4", 6).await;
    let mut runners = BTreeSet::new();
    for id in &ids {
        let job = t.wait(id, terminal).await;
        assert_eq!(job["status"], "succeeded", "{job}");
        assert_eq!(job["attempts"], 1, "{job}");
        let ran = t.runners(id).await;
        assert_eq!(ran.len(), 1, "one attempt: {ran:?}");
        runners.extend(ran);
    }
    assert_eq!(
        runners.len(),
        3,
        "work spread over three workers: {runners:?}"
    );
    let workers = t.workers().await;
    let succeeded: i64 = workers["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["jobs_succeeded"].as_i64().unwrap())
        .sum();
    assert_eq!(succeeded, 6, "each job counted once: {workers}");
}

/// A worker container killed mid-job: another worker finishes the job.
async fn killed_mid_job(t: &Tenant<'_>, engine: &Engine) {
    let stack = t.stack;
    let id = t.submit("long.mp4").await;
    let running = t
        .wait(&id, |j| {
            j["status"] == "running" && j["progress"].as_i64() > Some(0)
        })
        .await;
    let (victim, host_name) = t.worker_running(&id).await;
    let killed = engine.docker(&["kill", &host_name]);
    assert!(
        killed.status.success(),
        "docker kill {host_name}: {running}"
    );
    let job = t.wait(&id, terminal).await;
    assert_eq!(job["status"], "succeeded", "{job}\n{}", stack.logs());
    assert_eq!(job["attempts"], 2, "{job}");
    let ran = t.runners(&id).await;
    assert_eq!(ran.len(), 2, "two attempts: {ran:?}");
    assert_eq!(ran[0], victim, "{ran:?}");
    assert_ne!(ran[1], victim, "another worker finished it: {ran:?}");
    let outputs: Vec<&str> = job["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    let distinct: BTreeSet<&&str> = outputs.iter().collect();
    assert_eq!(
        distinct.len(),
        outputs.len(),
        "each output once: {outputs:?}"
    );
}

/// Down to one worker and back to three while jobs wait: none is lost.
async fn scaled_down_and_up(t: &Tenant<'_>) {
    let stack = t.stack;
    let ids = t.submit_many("talk.mp4", 4).await;
    stack.compose(&[
        "up",
        "--detach",
        "--no-build",
        "--no-recreate",
        "--scale",
        "worker=1",
    ]);
    assert_eq!(stack.containers("worker").len(), 1);
    stack.compose(&[
        "up",
        "--detach",
        "--no-build",
        "--no-recreate",
        "--scale",
        "worker=3",
    ]);
    assert_eq!(stack.containers("worker").len(), 3);
    for id in &ids {
        let job = t.wait(id, terminal).await;
        assert_eq!(job["status"], "succeeded", "{job}");
    }
}

/// The API stopped: the workers alone retry a job whose host was down and
/// send its webhook.
async fn without_the_api(t: &Tenant<'_>, receiver: &Receiver) {
    let (stack, source) = (t.stack, t.source);
    let (status, hook) = stack
        .request(
            Method::POST,
            "/v1/webhooks",
            Some(&t.token),
            Some(json!({"url": receiver.url(), "events": ["job.succeeded"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    source.set_down(true);
    let id = t.submit("flaky/talk.mp4").await;
    t.wait(&id, |j| !j["retry_at"].is_null()).await;
    stack.compose(&["stop", "api"]);
    source.set_down(false);
    let deadline = tokio::time::Instant::now() + LIMIT;
    let message = loop {
        let got = receiver.got();
        if let Some(m) = got
            .iter()
            .find(|m| m.json()["data"]["job_id"] == id.as_str())
        {
            break m.json();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no webhook for {id} in {LIMIT:?} with the API stopped (got {}):\n{}",
            got.len(),
            stack.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(message["type"], "job.succeeded", "{message}");
    stack.compose(&["start", "api"]);
    stack.wait_ready(LIMIT).await;
    let job = t.wait(&id, terminal).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["attempts"], 2, "{job}");
}

fn terminal(job: &Value) -> bool {
    matches!(
        job["status"].as_str(),
        Some("succeeded" | "failed" | "cancelled")
    )
}

/// One tenant's view of the stack.
struct Tenant<'a> {
    stack: &'a Stack<'a>,
    token: String,
    source: &'a SourceServer,
}

impl Tenant<'_> {
    /// A job of the source server's `path`.
    async fn submit(&self, path: &str) -> String {
        let (status, job) = self
            .stack
            .request(
                Method::POST,
                "/v1/jobs",
                Some(&self.token),
                Some(json!({"source": {"type": "youtube", "url": self.source.url(path)}})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{job}");
        job["id"].as_str().unwrap().to_owned()
    }

    async fn submit_many(&self, file: &str, n: usize) -> Vec<String> {
        let mut ids = Vec::new();
        for _ in 0..n {
            ids.push(self.submit(file).await);
        }
        ids
    }

    /// Polls the job until `ready` holds for it.
    async fn wait(&self, id: &str, ready: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + LIMIT;
        loop {
            let (status, job) = self.stack.get(&format!("/v1/jobs/{id}"), &self.token).await;
            assert_eq!(status, StatusCode::OK, "{job}");
            if ready(&job) {
                return job;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "job {id} not there in {LIMIT:?}: {job}\n{}",
                self.stack.logs()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The workers that ran the job's attempts, from its history.
    async fn runners(&self, id: &str) -> Vec<String> {
        let (status, history) = self
            .stack
            .get(&format!("/v1/jobs/{id}/events"), &self.token)
            .await;
        assert_eq!(status, StatusCode::OK, "{history}");
        history
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "status" && e["message"] == "running")
            .map(|e| e["data"]["worker"].as_str().unwrap().to_owned())
            .collect()
    }

    async fn workers(&self) -> Value {
        let (status, workers) = self.stack.get("/v1/admin/workers", OPERATOR).await;
        assert_eq!(status, StatusCode::OK, "{workers}");
        workers
    }

    /// The worker (its id, and its host: the container's) running the job.
    async fn worker_running(&self, id: &str) -> (String, String) {
        let workers = self.workers().await;
        workers["workers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["current_job"]["id"] == id)
            .map(|w| {
                (
                    w["id"].as_str().unwrap().to_owned(),
                    w["host"].as_str().unwrap().to_owned(),
                )
            })
            .unwrap_or_else(|| panic!("no worker runs {id}: {workers}"))
    }
}
