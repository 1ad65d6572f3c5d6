//! What keeps live streams honest: each is counted against its credential
//! and its tenant while it is open (`CUTROOM_LIVE_STREAMS_PER_CREDENTIAL`,
//! `CUTROOM_LIVE_STREAMS_PER_TENANT`; past either, `429
//! too_many_streams`), and its credential is checked again every
//! `CUTROOM_LIVE_RECHECK_SECS`, so a revoked API key or a removed member
//! stops receiving within that time.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Instant,
};

use axum::http::StatusCode;
use cutroom_core::config::Guards;
use uuid::Uuid;

use crate::ProblemCode;
use crate::{
    app::App,
    auth::{AuthContext, Principal},
    error::ApiError,
    queries,
};

/// Seconds a client refused a stream is told to wait.
const RETRY_AFTER: u64 = 5;

/// Open streams per credential and per tenant, in this process.
#[derive(Default)]
pub struct StreamCounts {
    open: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    by_principal: HashMap<Principal, u32>,
    by_tenant: HashMap<Uuid, u32>,
}

impl StreamCounts {
    /// Counts a new stream of `ctx`, or refuses it.
    pub fn open(self: &Arc<Self>, ctx: &AuthContext, limits: &Guards) -> Result<Ticket, ApiError> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let mine = open.by_principal.get(&ctx.principal).copied().unwrap_or(0);
        let tenant = open.by_tenant.get(&ctx.tenant_id).copied().unwrap_or(0);
        let refuse = |what: &str, n: u32| {
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                ProblemCode::TooManyStreams,
                format!("{what} has {n} live streams open already; close one first"),
            )
            .retry_after(RETRY_AFTER)
        };
        if mine >= limits.live_streams_per_credential {
            return Err(refuse("this credential", mine));
        }
        if tenant >= limits.live_streams_per_tenant {
            return Err(refuse("this tenant", tenant));
        }
        *open.by_principal.entry(ctx.principal).or_default() += 1;
        *open.by_tenant.entry(ctx.tenant_id).or_default() += 1;
        Ok(Ticket {
            counts: self.clone(),
            principal: ctx.principal,
            tenant_id: ctx.tenant_id,
        })
    }
}

/// One open stream; dropping it (the client went away, or the stream
/// ended) gives its place back.
pub struct Ticket {
    counts: Arc<StreamCounts>,
    principal: Principal,
    tenant_id: Uuid,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut open = self.counts.open.lock().unwrap_or_else(|e| e.into_inner());
        fn release<K: std::hash::Hash + Eq>(map: &mut HashMap<K, u32>, key: &K) {
            if let Some(n) = map.get_mut(key) {
                *n -= 1;
                if *n == 0 {
                    map.remove(key);
                }
            }
        }
        release(&mut open.by_principal, &self.principal);
        release(&mut open.by_tenant, &self.tenant_id);
    }
}

/// The credential a stream was opened with, checked again now and then.
pub struct Holder {
    ctx: AuthContext,
    checked: Instant,
    _ticket: Ticket,
}

impl Holder {
    pub fn new(ctx: &AuthContext, ticket: Ticket) -> Self {
        Self {
            ctx: ctx.clone(),
            checked: Instant::now(),
            _ticket: ticket,
        }
    }

    /// False once the credential no longer opens the tenant: the API key
    /// was revoked or deleted, or the user is no longer a member. Checked
    /// at most every `live_recheck`; a failed read keeps the stream open.
    pub async fn still_valid(&mut self, app: &App) -> bool {
        if self.checked.elapsed() < app.config.guards.live_recheck {
            return true;
        }
        self.checked = Instant::now();
        let db = &app.db.orm;
        let tenant = self.ctx.tenant_id;
        let valid = match self.ctx.principal {
            Principal::User { id } => queries::accounts::membership(db, tenant, id)
                .await
                .map(|m| m.is_some()),
            Principal::ApiKey { id } => queries::api_keys::get(db, tenant, id)
                .await
                .map(|k| k.is_some_and(|k| k.revoked_at.is_none())),
        };
        valid.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "live: checking the credential failed; will retry");
            true
        })
    }
}
