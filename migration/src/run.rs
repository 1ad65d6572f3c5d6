//! Bringing a database up to date (`cutroom migrate`, and `cutroom serve`
//! in the embedded default), and checking that it is (every other
//! process: a worker never changes the schema).

use anyhow::Context;
use cutroom_core::{Database, db::Pool};
use sea_orm_migration::MigratorTrait;

use crate::Migrator;

/// Brings both schemas up to date: Cutroom's tables and apalis' queue
/// tables. Returns the names of the migrations it applied.
pub async fn up(db: &Database) -> anyhow::Result<Vec<String>> {
    let pending = pending(db).await?;
    Migrator::up(&db.orm, None)
        .await
        .context("running Cutroom's migrations")?;
    match &db.pool {
        Pool::Postgres(p) => apalis_postgres::PostgresStorage::setup(p)
            .await
            .context("setting up the queue tables")?,
        Pool::Sqlite(p) => apalis_sqlite::SqliteStorage::setup(p)
            .await
            .context("setting up the queue tables")?,
    }
    Ok(pending)
}

/// The names of the migrations this build knows and the database has not
/// had, oldest first; reads only (no table is created).
pub async fn pending(db: &Database) -> anyhow::Result<Vec<String>> {
    let pending = Migrator::get_pending_migrations_read_only(&db.orm)
        .await
        .context("reading which migrations the database has had")?;
    Ok(pending.iter().map(|m| m.name().to_owned()).collect())
}

/// Fails, saying what to run, when the database is behind this build.
pub async fn ensure_current(db: &Database) -> anyhow::Result<()> {
    let pending = pending(db).await?;
    anyhow::ensure!(
        pending.is_empty(),
        "the database schema is behind this build ({} migration(s) not applied, the first {}): \
         run `cutroom migrate` first",
        pending.len(),
        pending[0]
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_fresh_database_is_behind_until_migrated_and_migrating_twice_does_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("cutroom.db").display());
        let db = Database::connect(&url).await.unwrap();
        let all = pending(&db).await.unwrap();
        assert_eq!(all.len(), Migrator::migrations().len());
        let err = ensure_current(&db).await.unwrap_err().to_string();
        assert!(err.contains("run `cutroom migrate`"), "{err}");
        assert!(err.contains(&all[0]), "{err}");
        // Checking created nothing: still every migration pending.
        assert_eq!(pending(&db).await.unwrap(), all);

        assert_eq!(up(&db).await.unwrap(), all);
        ensure_current(&db).await.unwrap();
        assert!(up(&db).await.unwrap().is_empty());
        // The queue's tables are there too: apalis reads them.
        let cutroom_core::db::Pool::Sqlite(pool) = &db.pool else {
            unreachable!()
        };
        let tables: i64 =
            sqlx::query_scalar("SELECT count(*) FROM sqlite_master WHERE name = 'Jobs'")
                .fetch_one(pool)
                .await
                .unwrap();
        assert_eq!(tables, 1);
    }
}
