//! Queries only the API needs: accounts and credentials. Job, upload and
//! artifact queries live in `cutroom_core::queries`, shared with the worker.
//!
//! As there, everything a tenant owns is read and changed with the tenant id
//! as an argument. The few lookups that cannot know the tenant yet (a login
//! by email, an API key by its prefix, a token by its digest) say so.

pub mod accounts;
pub mod api_keys;
pub mod invitations;
pub mod refresh_tokens;
