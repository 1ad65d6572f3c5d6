//! A PostgreSQL database per test, dropped afterwards.

use sqlx::{Connection, PgConnection};

pub struct TestDatabase {
    pub url: String,
    admin_url: String,
    name: String,
}

fn admin_url() -> String {
    std::env::var("CUTROOM_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/postgres".into())
}

fn with_database(url: &str, name: &str) -> String {
    let mut u = url::Url::parse(url).expect("CUTROOM_TEST_DATABASE_URL is a URL");
    u.set_path(name);
    u.to_string()
}

impl TestDatabase {
    pub async fn create() -> Self {
        let admin_url = admin_url();
        let name = format!("cutroom_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::connect(&admin_url).await.unwrap_or_else(|e| {
            panic!("cannot reach PostgreSQL at {admin_url} ({e}); run `bash .ci/setup --test` or set CUTROOM_TEST_DATABASE_URL")
        });
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create test database");
        Self {
            url: with_database(&admin_url, &name),
            admin_url,
            name,
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs outside any runtime guarantee, so use a small one of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut conn) = PgConnection::connect(&admin).await {
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await;
                }
            })
        })
        .join();
    }
}

/// A PostgreSQL server of the test's own (`initdb` and `pg_ctl` from the
/// machine's PostgreSQL), so a test can restart it under a running
/// Cutroom without disturbing the tests that share the machine's server.
/// Run as the `postgres` user when the tests run as root (PostgreSQL
/// refuses to run as root).
pub struct PostgresServer {
    pub url: String,
    dir: tempfile::TempDir,
    port: u16,
    /// Server settings (`-c name=value …`).
    settings: String,
}

fn pg_bin(name: &str) -> std::path::PathBuf {
    let out = std::process::Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    let dir = out.unwrap_or_else(|| {
        // Debian's layout, newest version first.
        let mut versions: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
            .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        versions.sort();
        versions
            .last()
            .map(|v| v.join("bin").display().to_string())
            .expect("PostgreSQL's server programs (initdb, pg_ctl) are installed")
    });
    std::path::Path::new(&dir).join(name)
}

fn as_postgres(program: &std::path::Path) -> std::process::Command {
    if nix::unistd::Uid::effective().is_root() {
        let mut c = std::process::Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        std::process::Command::new(program)
    }
}

fn run(mut c: std::process::Command, what: &str) {
    let out = c.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl PostgresServer {
    /// A server for tests: no fsync (nothing here must survive a crash of
    /// the machine).
    pub fn start() -> Self {
        Self::start_with("-c fsync=off")
    }

    /// A server with `settings` (`-c max_connections=700 …`), for the
    /// benchmarks, which keep PostgreSQL's durable defaults.
    pub fn start_with(settings: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("cutroom-pg-")
            .tempdir()
            .expect("temp dir");
        if nix::unistd::Uid::effective().is_root() {
            run(
                {
                    let mut c = std::process::Command::new("chown");
                    c.args(["postgres:postgres"]).arg(dir.path());
                    c
                },
                "chown the data folder",
            );
        }
        let mut init = as_postgres(&pg_bin("initdb"));
        init.args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(dir.path().join("data"));
        run(init, "initdb");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = Self {
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            dir,
            port,
            settings: settings.to_owned(),
        };
        server.pg_ctl(&["start", "-w"]);
        server
    }

    fn pg_ctl(&self, args: &[&str]) {
        let mut c = as_postgres(&pg_bin("pg_ctl"));
        c.arg("-D")
            .arg(self.dir.path().join("data"))
            .arg("-l")
            .arg(self.dir.path().join("log"))
            .arg("-o")
            .arg(format!(
                "-p {} -c listen_addresses=127.0.0.1 -k {} {}",
                self.port,
                self.dir.path().display(),
                self.settings
            ))
            .args(args);
        run(c, &format!("pg_ctl {}", args.join(" ")));
    }

    /// Stops the server the way a crash or an operator's fast restart
    /// does (every connection cut), then starts it again.
    pub fn restart(&self) {
        self.pg_ctl(&["restart", "-m", "fast", "-w"]);
    }

    pub fn stop(&self) {
        self.pg_ctl(&["stop", "-m", "fast", "-w"]);
    }

    pub fn start_again(&self) {
        self.pg_ctl(&["start", "-w"]);
    }

    /// CPU time the server has used so far: the postmaster and every
    /// process it started, those still running and those that ended.
    pub fn cpu_time(&self) -> std::time::Duration {
        let pid_file = self.dir.path().join("data").join("postmaster.pid");
        let Some(postmaster) = std::fs::read_to_string(pid_file)
            .ok()
            .and_then(|t| t.lines().next().and_then(|l| l.trim().parse::<u32>().ok()))
        else {
            return std::time::Duration::ZERO;
        };
        let mut ticks = 0u64;
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Some(stat) = proc_stat(pid) else { continue };
            if pid == postmaster {
                // utime, stime, and the ended children's cutime, cstime.
                ticks += stat[11..15].iter().sum::<u64>();
            } else if stat[1] == u64::from(postmaster) {
                ticks += stat[11] + stat[12];
            }
        }
        // USER_HZ, the unit of /proc's times: 100 on every Linux Cutroom
        // builds for.
        let per_second = 100;
        std::time::Duration::from_millis(ticks * 1000 / per_second)
    }
}

/// The numeric fields of `/proc/{pid}/stat` after the command name,
/// numbered from the state field (0): `[1]` is the parent's pid, `[11]`
/// utime, `[12]` stime, `[13]` cutime, `[14]` cstime; the state letter
/// reads 0.
pub fn proc_stat(pid: u32) -> Option<Vec<u64>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces.
    let rest = &text[text.rfind(')')? + 1..];
    Some(
        rest.split_whitespace()
            .map(|f| f.parse().unwrap_or(0))
            .collect(),
    )
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        let mut c = as_postgres(&pg_bin("pg_ctl"));
        c.arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["stop", "-m", "immediate"]);
        let _ = c.output();
    }
}
