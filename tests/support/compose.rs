//! The compose stack of `docker-compose.yml`, brought up under a project
//! name of its own for one test and taken down (volumes too) when dropped.
//! The images come from `.ci/docker-images`, which `.ci/test` runs first.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    time::Duration,
};

use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Where `docker-compose.yml` and `.ci/` are.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

/// A Docker engine that answers, with the compose command to use.
pub struct Engine {
    docker: String,
    /// `docker compose` (the v2 plugin) or `docker-compose` (Debian's v1).
    compose: Vec<String>,
}

/// Why there is no engine to run the stack on.
pub enum NoEngine {
    /// `.ci/docker-images --engine` could not start one here.
    CannotStart(String),
}

impl Engine {
    /// Starts an engine where none answers (`.ci/docker-images --engine`),
    /// and checks that the images the compose file names are there.
    pub fn ready() -> Result<Engine, NoEngine> {
        let out = Command::new("bash")
            .arg(repo_root().join(".ci/docker-images"))
            .arg("--engine")
            .output()
            .expect("run .ci/docker-images");
        match out.status.code() {
            Some(0) => {}
            Some(3) => {
                return Err(NoEngine::CannotStart(
                    String::from_utf8_lossy(&out.stderr).into_owned(),
                ));
            }
            _ => panic!(
                ".ci/docker-images --engine failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
        }
        // Debian's CLI speaks to Debian's engine; a newer one also works.
        let docker = if Path::new("/usr/bin/docker").exists() {
            "/usr/bin/docker".to_owned()
        } else {
            "docker".to_owned()
        };
        let v2 = Command::new(&docker)
            .args(["compose", "version"])
            .output()
            .is_ok_and(|o| o.status.success());
        let compose = if v2 {
            vec![docker.clone(), "compose".into()]
        } else {
            vec!["docker-compose".into()]
        };
        let engine = Engine { docker, compose };
        for image in ["cutroom:latest", "cutroom-s3s-fs:0.14.1", "postgres:15"] {
            let found = engine.docker(&["image", "inspect", image]).status.success();
            assert!(
                found,
                "no image {image}: run `bash .ci/docker-images` first (.ci/test does)"
            );
        }
        Ok(engine)
    }

    pub fn docker(&self, args: &[&str]) -> Output {
        Command::new(&self.docker)
            .args(args)
            .output()
            .expect("run docker")
    }

    /// The host's address on Docker's default bridge: every container
    /// reaches it, so the test's source server and webhook receiver listen
    /// there (and nowhere else).
    pub fn host_address(&self) -> String {
        let out = self.docker(&[
            "network",
            "inspect",
            "bridge",
            "-f",
            "{{range .IPAM.Config}}{{.Gateway}}{{end}}",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let gateway = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        if !gateway.is_empty() {
            return gateway;
        }
        // An engine that leaves the gateway to its default gives it to the
        // bridge's interface, docker0.
        let out = Command::new("ip")
            .args(["-4", "-o", "addr", "show", "docker0"])
            .output()
            .expect("run ip");
        let text = String::from_utf8_lossy(&out.stdout);
        text.split_whitespace()
            .skip_while(|w| *w != "inet")
            .nth(1)
            .and_then(|a| a.split('/').next())
            .unwrap_or_else(|| panic!("no address on docker0: {text}"))
            .to_owned()
    }
}

/// One running stack: `up` on creation, `down --volumes` on drop.
pub struct Stack<'e> {
    engine: &'e Engine,
    project: String,
    env: Vec<(String, String)>,
    pub api: String,
    client: reqwest::Client,
}

impl<'e> Stack<'e> {
    /// `up --detach --scale worker=N` with the given variables (besides the
    /// secrets and free host ports it makes itself), then waits for the
    /// API's `/readyz`.
    pub async fn up(engine: &'e Engine, vars: &[(&str, String)], workers: u32) -> Stack<'e> {
        let api_port = free_port();
        let s3_port = free_port();
        let secret = || uuid::Uuid::new_v4().simple().to_string();
        let mut env: Vec<(String, String)> = vec![
            ("POSTGRES_PASSWORD".into(), secret()),
            ("S3_ACCESS_KEY_ID".into(), "cutroom".into()),
            ("S3_SECRET_ACCESS_KEY".into(), secret()),
            ("CUTROOM_SECRET_KEY".into(), secret() + &secret()),
            ("CUTROOM_API_PORT".into(), format!("127.0.0.1:{api_port}")),
            ("CUTROOM_S3_PORT".into(), s3_port.to_string()),
            (
                "CUTROOM_S3_PUBLIC_ENDPOINT".into(),
                format!("http://127.0.0.1:{s3_port}"),
            ),
            (
                "CUTROOM_PUBLIC_URL".into(),
                format!("http://127.0.0.1:{api_port}"),
            ),
        ];
        env.extend(vars.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        let stack = Stack {
            engine,
            project: format!("cutroom-test-{}", std::process::id()),
            env,
            api: format!("http://127.0.0.1:{api_port}"),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("an HTTP client"),
        };
        stack.compose(&[
            "up",
            "--detach",
            "--no-build",
            "--scale",
            &format!("worker={workers}"),
        ]);
        stack.wait_ready(Duration::from_secs(240)).await;
        stack
    }

    /// `docker compose --project-name PROJECT --file docker-compose.yml
    /// --project-directory ROOT ARGS`, with the stack's variables.
    fn command(&self, args: &[&str]) -> Command {
        let (program, rest) = self.engine.compose.split_first().unwrap();
        let root = repo_root();
        let mut command = Command::new(program);
        command
            .args(rest)
            .args(["--project-name", &self.project, "--file"])
            .arg(root.join("docker-compose.yml"))
            .arg("--project-directory")
            .arg(&root)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    /// Runs `docker compose ARGS` on the stack; panics with its output (and
    /// the services' log tails) when it fails.
    pub fn compose(&self, args: &[&str]) -> String {
        let out = self.command(args).output().expect("run docker compose");
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        assert!(
            out.status.success(),
            "compose {args:?} failed: {}\n{}",
            text(&out.stderr),
            self.logs()
        );
        text(&out.stdout)
    }

    /// The last lines of every service's log.
    pub fn logs(&self) -> String {
        self.command(&["logs", "--no-color", "--tail", "30"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    /// The container ids of a service's running replicas.
    pub fn containers(&self, service: &str) -> Vec<String> {
        let project = format!("label=com.docker.compose.project={}", self.project);
        let service = format!("label=com.docker.compose.service={service}");
        let out = self
            .engine
            .docker(&["ps", "-q", "--filter", &project, "--filter", &service]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.trim().to_owned())
            .collect()
    }

    pub fn engine(&self) -> &Engine {
        self.engine
    }

    /// Waits for the API's `/readyz`, at most `limit`.
    pub async fn wait_ready(&self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let ready = self
                .client
                .get(format!("{}/readyz", self.api))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the API was not ready in {limit:?}:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// One API request; the body is JSON both ways.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let url = format!("{}{path}", self.api);
        crate::json_request(&self.client, &url, method, token, body).await
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.request(Method::GET, path, Some(token), None).await
    }
}

impl Drop for Stack<'_> {
    fn drop(&mut self) {
        let _ = self
            .command(&["down", "--volumes", "--timeout", "5"])
            .output();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
