//! Housekeeping under leases: every process runs the dispatcher and the
//! sweeper, and the one holding a round's lease runs it, on PostgreSQL
//! and SQLite alike.

use std::time::Duration;

use chrono::Utc;
use cutroom_core::housekeeping::{Round, lease};
use cutroom_entities::lease as lease_row;
use cutroom_tests::{Db, TestApp};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

async fn app(db: Db) -> TestApp {
    TestApp::builder(db)
        .without_worker()
        .configure(|c| c.sweep_interval = Duration::from_secs(3600))
        .start()
        .await
}

/// A lease is one holder's until its time is up; the holder may end it
/// early or late, nobody else.
async fn a_lease_is_one_holders_until_its_time(db: Db) {
    let app = app(db).await;
    let orm = &app.app.db.orm;
    let t0 = Utc::now();
    let s = chrono::Duration::seconds;
    let minute = Duration::from_secs(60);
    assert!(lease::take(orm, "test", "a", t0, minute).await.unwrap());
    assert!(
        !lease::take(orm, "test", "b", t0 + s(1), minute)
            .await
            .unwrap()
    );
    assert!(
        !lease::take(orm, "test", "a", t0 + s(1), minute)
            .await
            .unwrap(),
        "not before its time, by its holder either"
    );
    // Ended early: the next round may start five seconds after the first.
    assert!(
        lease::keep_until(orm, "test", "a", t0 + s(5))
            .await
            .unwrap()
    );
    assert!(
        !lease::take(orm, "test", "b", t0 + s(4), minute)
            .await
            .unwrap()
    );
    assert!(
        lease::take(orm, "test", "b", t0 + s(5), minute)
            .await
            .unwrap()
    );
    // `a` lost it: it cannot shorten or lengthen `b`'s.
    assert!(!lease::keep_until(orm, "test", "a", t0).await.unwrap());
    let row = lease_row::Entity::find_by_id("test")
        .one(orm)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.holder, "b");
    // Stored to the microsecond.
    assert!(
        (row.until - (t0 + s(65))).num_milliseconds().abs() <= 1,
        "{row:?}"
    );
}

#[tokio::test]
async fn a_lease_is_one_holders_until_its_time_sqlite() {
    a_lease_is_one_holders_until_its_time(Db::Sqlite).await;
}

#[tokio::test]
async fn a_lease_is_one_holders_until_its_time_postgres() {
    a_lease_is_one_holders_until_its_time(Db::Postgres).await;
}

/// Many processes reaching for a free lease at the same instant: one gets
/// it.
async fn of_many_at_once_one_takes_the_lease(db: Db) {
    let app = app(db).await;
    let now = Utc::now();
    for round in 0..5 {
        let name = format!("race-{round}");
        let tries = (0..8).map(|i| {
            let (orm, name) = (app.app.db.orm.clone(), name.clone());
            tokio::spawn(async move {
                lease::take(
                    &orm,
                    &name,
                    &format!("holder-{i}"),
                    now,
                    Duration::from_secs(60),
                )
                .await
                .unwrap()
            })
        });
        let won = futures::future::join_all(tries)
            .await
            .into_iter()
            .filter(|r| *r.as_ref().unwrap())
            .count();
        assert_eq!(won, 1, "{name}: {won} holders took it");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_many_at_once_one_takes_the_lease_sqlite() {
    of_many_at_once_one_takes_the_lease(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_many_at_once_one_takes_the_lease_postgres() {
    of_many_at_once_one_takes_the_lease(Db::Postgres).await;
}

/// A second process skips a round the first ran less than an interval
/// ago, as does the first; once the interval is over, whoever comes first
/// runs it.
async fn a_round_runs_once_an_interval(db: Db) {
    let mut app = app(db).await;
    let first = app.housekeeper.clone();
    let second = app.app.housekeeper();
    // The app's own housekeeping ran its first sweep when it started, with
    // an hour's interval: wait until it has.
    let db = app.app.db.orm.clone();
    let orm = &db;
    let swept = || async {
        lease_row::Entity::find_by_id(Round::Sweep.name())
            .one(orm)
            .await
            .unwrap()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let row = loop {
        match swept().await {
            Some(row) if row.until > Utc::now() + chrono::Duration::minutes(50) => break row,
            _ => assert!(tokio::time::Instant::now() < deadline, "no first sweep"),
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    // The lease is taken before the sweep runs and set again when it ends:
    // stop the app's own housekeeping, which finishes the round it is in,
    // so that its end cannot undo the hour moved back below.
    app.stop_serving().await;
    assert_eq!(swept().await.unwrap(), row, "the round ended on time");
    let hour = Duration::from_secs(3600);
    assert!(!second.run_round(Round::Sweep, hour).await.unwrap());
    assert!(!first.run_round(Round::Sweep, hour).await.unwrap());
    assert_eq!(
        swept().await.unwrap(),
        row,
        "a skipped round changes nothing"
    );

    // An hour later (its `until` moved back an hour), the second comes first.
    lease_row::Entity::update_many()
        .col_expr(
            lease_row::Column::Until,
            sea_orm::sea_query::Expr::value(row.until - chrono::Duration::hours(1)),
        )
        .filter(lease_row::Column::Name.eq(Round::Sweep.name()))
        .exec(orm)
        .await
        .unwrap();
    assert!(second.run_round(Round::Sweep, hour).await.unwrap());
    assert!(!first.run_round(Round::Sweep, hour).await.unwrap());
    let next = swept().await.unwrap();
    assert_ne!(next.holder, row.holder);
    assert!(
        next.until > Utc::now() + chrono::Duration::minutes(50),
        "{next:?}"
    );
}

#[tokio::test]
async fn a_round_runs_once_an_interval_sqlite() {
    a_round_runs_once_an_interval(Db::Sqlite).await;
}

#[tokio::test]
async fn a_round_runs_once_an_interval_postgres() {
    a_round_runs_once_an_interval(Db::Postgres).await;
}
