//! A webhook receiver on a loopback socket that records what it is sent
//! and answers with scripted statuses.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, body::Bytes, extract::State, http::HeaderMap, routing::post};
use reqwest::StatusCode;
use serde_json::Value;

#[derive(Clone, Debug)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
    /// When the request arrived.
    pub received_at: chrono::DateTime<chrono::Utc>,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    pub fn id(&self) -> &str {
        self.headers["webhook-id"].to_str().unwrap()
    }
}

#[derive(Default)]
struct Script {
    /// Statuses to answer with, in order; 204 once they run out.
    answers: VecDeque<u16>,
    got: Vec<Received>,
}

/// A loopback receiver that records what it is sent.
pub struct Receiver {
    pub addr: String,
    script: Arc<Mutex<Script>>,
}

impl Receiver {
    pub async fn start(answers: &[u16]) -> Receiver {
        Self::start_on("127.0.0.1", answers).await
    }

    /// The same, listening on `ip` (the compose test: the host's address on
    /// Docker's bridge, which containers reach).
    pub async fn start_on(ip: &str, answers: &[u16]) -> Receiver {
        let script = Arc::new(Mutex::new(Script {
            answers: answers.iter().copied().collect(),
            got: Vec::new(),
        }));
        let app = Router::new()
            .route(
                "/hook",
                post(
                    |State(s): State<Arc<Mutex<Script>>>, headers: HeaderMap, body: Bytes| async move {
                        let mut s = s.lock().unwrap();
                        s.got.push(Received {
                            headers,
                            body,
                            received_at: chrono::Utc::now(),
                        });
                        StatusCode::from_u16(s.answers.pop_front().unwrap_or(204)).unwrap()
                    },
                ),
            )
            .with_state(script.clone());
        let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { addr, script }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    pub fn got(&self) -> Vec<Received> {
        self.script.lock().unwrap().got.clone()
    }

    /// Waits until `n` requests have arrived (or panics after 30 s).
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let got = self.got();
            if got.len() >= n {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {} of {n} webhook requests arrived: {:?}",
                got.len(),
                got.iter().map(Received::json).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
