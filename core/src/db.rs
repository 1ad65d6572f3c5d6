//! The database: one sqlx pool shared by sea-orm (rows) and apalis (queue),
//! so a job row and its queue entry can be written in one transaction.

use std::{str::FromStr, time::Duration};

use anyhow::Context;
use sea_orm::{DatabaseConnection, DbBackend, SqlxPostgresConnector, SqlxSqliteConnector};
use sqlx::{
    postgres::{PgPool, PgPoolOptions},
    sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
    },
};

#[derive(Clone, Debug)]
pub enum Pool {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

#[derive(Clone, Debug)]
pub struct Database {
    pub orm: DatabaseConnection,
    pub pool: Pool,
}

/// PostgreSQL connections a process that serves the API keeps at most
/// (`CUTROOM_DATABASE_MAX_CONNECTIONS` overrides it).
pub const SERVE_POOL: u32 = 32;
/// The same for a worker process (`cutroom worker`): its queue loop,
/// its job, the job's cancel watch, a prefetched job, the registry's
/// heartbeat, the housekeeping, and the queue's LISTEN connection, which
/// sqlx's listener takes from the pool.
pub const WORKER_POOL: u32 = 6;
/// An idle pooled connection is closed after this, so a quiet fleet holds
/// few.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

impl Database {
    /// Connects to `postgres://…` or `sqlite://…` (the file is created if
    /// missing), with up to [`SERVE_POOL`] PostgreSQL connections.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        Self::connect_with(url, SERVE_POOL).await
    }

    /// [`connect`](Self::connect) keeping at most `max_connections` to
    /// PostgreSQL (SQLite keeps its own small pool).
    pub async fn connect_with(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        let pool = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(max_connections.max(2))
                .idle_timeout(IDLE_TIMEOUT)
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
                .await
                .context("connecting to PostgreSQL")?;
            Pool::Postgres(pool)
        } else if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)
                .context("parsing the SQLite URL")?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(30))
                .foreign_keys(true);
            if let Some(dir) = opts
                .get_filename()
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
            {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(opts)
                .await
                .context("opening the SQLite database")?;
            Pool::Sqlite(pool)
        } else {
            anyhow::bail!("unsupported database URL (expected postgres:// or sqlite://)");
        };
        let orm = match &pool {
            Pool::Postgres(p) => SqlxPostgresConnector::from_sqlx_postgres_pool(p.clone()),
            Pool::Sqlite(p) => SqlxSqliteConnector::from_sqlx_sqlite_pool(p.clone()),
        };
        Ok(Self { orm, pool })
    }

    pub fn backend(&self) -> DbBackend {
        match self.pool {
            Pool::Postgres(_) => DbBackend::Postgres,
            Pool::Sqlite(_) => DbBackend::Sqlite,
        }
    }

    /// A cheap round trip, for readiness checks.
    pub async fn ping(&self) -> bool {
        match &self.pool {
            Pool::Postgres(p) => sqlx::query("SELECT 1").execute(p).await.is_ok(),
            Pool::Sqlite(p) => sqlx::query("SELECT 1").execute(p).await.is_ok(),
        }
    }
}

/// Starts a transaction that will write. On SQLite it takes the write lock
/// at `BEGIN IMMEDIATE`, waiting its turn under the busy timeout: a
/// deferred transaction that read first fails at once (`database is
/// locked`, no wait) when it tries to write after another connection has
/// written since its read. PostgreSQL ignores the mode. Inside a
/// transaction this is a savepoint, as `begin` is.
pub async fn begin_write<C: sea_orm::TransactionTrait>(
    db: &C,
) -> Result<C::Transaction, sea_orm::DbErr> {
    db.begin_with_options(sea_orm::TransactionOptions {
        sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}

/// Whether `e` says the database could not be reached (connection refused
/// or reset, the server shutting down or restarting, no connection free)
/// rather than that a statement was wrong: a failure that passes once the
/// database is back.
pub fn is_outage(e: &sea_orm::DbErr) -> bool {
    use sea_orm::{DbErr, RuntimeErr};
    match e {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(s)) | DbErr::Query(RuntimeErr::SqlxError(s)) => {
            sqlx_outage(s)
        }
        _ => false,
    }
}

fn sqlx_outage(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        // Class 08: connection exceptions; 57P01-57P03: the server is
        // shutting down, crashed, or cannot take connections yet.
        sqlx::Error::Database(d) => d.code().is_some_and(|c| {
            c.starts_with("08") || matches!(c.as_ref(), "57P01" | "57P02" | "57P03")
        }),
        _ => false,
    }
}

#[cfg(test)]
mod outage_tests {
    use std::sync::Arc;

    use sea_orm::{DbErr, RuntimeErr};

    #[test]
    fn connection_failures_are_outages_and_bad_statements_are_not() {
        let io = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(super::is_outage(&DbErr::Exec(RuntimeErr::SqlxError(
            Arc::new(io)
        ))));
        assert!(super::is_outage(&DbErr::Query(RuntimeErr::SqlxError(
            Arc::new(sqlx::Error::PoolTimedOut)
        ))));
        assert!(!super::is_outage(&DbErr::Query(RuntimeErr::SqlxError(
            Arc::new(sqlx::Error::RowNotFound)
        ))));
        assert!(!super::is_outage(&DbErr::RecordNotFound("x".into())));
    }
}
