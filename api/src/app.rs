//! The application state every handler reaches through [`AppState`].

use std::sync::Arc;

use anyhow::Context;
use axum::extract::{FromRequestParts, State};
use cutroom_core::{
    Config, Database,
    secrets::Sealer,
    storage::{LocalStore, ObjectStore},
};

use crate::auth::{guard::AuthGuard, jwt::JwtKeys, limit::Limiter, password::Hasher};

/// Everything a request may need, built once at start-up. External services
/// sit behind `Arc<dyn ...>` so tests can swap them.
pub struct App {
    pub config: Config,
    pub db: Database,
    pub store: Arc<dyn ObjectStore>,
    /// The same store again when it is the local one: the API then serves its
    /// presigned URLs itself (`/storage/...`) and must check their signatures.
    pub local_store: Option<Arc<LocalStore>>,
    pub jwt: JwtKeys,
    /// Seals tenant secrets (LLM API keys) before they are stored.
    pub sealer: Sealer,
    /// Requests per credential; `None` when unlimited.
    pub limiter: Option<Limiter>,
    /// Sign-in requests per client address and per account.
    pub auth_guard: AuthGuard,
    /// Password hashing, a few at a time.
    pub hasher: Hasher,
    /// Live streams open, per credential and per tenant.
    pub(crate) live_streams: Arc<crate::live::guard::StreamCounts>,
    /// What `/metrics` reports.
    pub metrics: crate::metrics::Metrics,
    /// A hash checked against when a login names an unknown email, so that
    /// costs as much time as a wrong password and tells nothing. Made on first use.
    pub(crate) dummy_hash: tokio::sync::OnceCell<String>,
}

impl App {
    /// The fleet's housekeeping (retry dispatch, sweeping, webhooks) on
    /// this app's database and store, to run beside the API.
    pub fn housekeeper(&self) -> Arc<cutroom_core::housekeeping::Housekeeper> {
        cutroom_core::housekeeping::Housekeeper::new(
            self.config.clone(),
            self.db.clone(),
            self.store.clone(),
            self.local_store.clone(),
        )
    }

    /// Connects to the database and opens storage. The schema is the
    /// caller's (`cutroom migrate`, `cutroom_migration::up`).
    pub async fn new(config: Config) -> anyhow::Result<Arc<App>> {
        let db = Database::connect_with(
            &config.database_url,
            config
                .database_max_connections
                .unwrap_or(cutroom_core::db::SERVE_POOL),
        )
        .await?;
        let storage = cutroom_core::storage::from_config(&config)
            .await
            .context("opening object storage")?;
        Ok(Self::from_parts(config, db, storage.store, storage.local))
    }

    /// For callers that already hold a database and a store (tests, tools).
    pub fn from_parts(
        config: Config,
        db: Database,
        store: Arc<dyn ObjectStore>,
        local_store: Option<Arc<LocalStore>>,
    ) -> Arc<App> {
        let jwt = JwtKeys::from_secret(&config.secret_key);
        let sealer = Sealer::new(&config.secret_key);
        let limiter = Limiter::new(config.rate_limit_per_minute);
        Arc::new(App {
            limiter,
            auth_guard: AuthGuard::new(&config.guards),
            hasher: Hasher::default(),
            live_streams: Arc::default(),
            metrics: crate::metrics::Metrics::new(),
            config,
            db,
            store,
            local_store,
            jwt,
            sealer,
            dummy_hash: tokio::sync::OnceCell::new(),
        })
    }
}

/// The one state type handlers extract.
#[derive(Clone, FromRequestParts)]
#[from_request(via(State))]
pub struct AppState(pub Arc<App>);

impl std::ops::Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.0
    }
}
