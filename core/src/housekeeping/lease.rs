//! Leases on housekeeping rounds: a row per round (`leases`), held by one
//! process until a time. Taking one is a single conditional upsert, the
//! same SQL on PostgreSQL and SQLite, so two processes that try at once
//! cannot both win.

use std::time::Duration;

use chrono::{DateTime, Utc};
use cutroom_entities::lease;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set,
    sea_query::{Expr, ExprTrait, OnConflict},
};

/// Takes the lease `name` for `holder` from `now` for `hold`, when nobody
/// holds it or its time is up (also when `holder` itself held it: a round
/// is not run again before its time). Returns whether `holder` has it now.
pub async fn take(
    db: &impl ConnectionTrait,
    name: &str,
    holder: &str,
    now: DateTime<Utc>,
    hold: Duration,
) -> Result<bool, DbErr> {
    let until = now + chrono::Duration::from_std(hold).unwrap_or(chrono::Duration::MAX);
    let row = lease::ActiveModel {
        name: Set(name.to_owned()),
        holder: Set(holder.to_owned()),
        until: Set(until),
    };
    let free = Expr::col((lease::Entity, lease::Column::Until)).lte(now);
    let taken = lease::Entity::insert(row)
        .on_conflict(
            OnConflict::column(lease::Column::Name)
                .update_columns([lease::Column::Holder, lease::Column::Until])
                .action_and_where(free)
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(taken == 1)
}

/// Keeps the lease `name` until `until` (earlier or later than now), if
/// `holder` still holds it: a round that ended sets when the next may
/// begin. Returns whether it did.
pub async fn keep_until(
    db: &impl ConnectionTrait,
    name: &str,
    holder: &str,
    until: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let updated = lease::Entity::update_many()
        .col_expr(lease::Column::Until, Expr::value(until))
        .filter(lease::Column::Name.eq(name))
        .filter(lease::Column::Holder.eq(holder))
        .exec(db)
        .await?;
    Ok(updated.rows_affected == 1)
}
