use sea_orm::entity::prelude::*;

use crate::Role;

/// An invitation to join a tenant: the only way in besides signing up.
/// Redeemed with its token, by the account of `email` (or by creating it).
/// One with none of `accepted_at`, `declined_at` and `revoked_at` is open
/// until `expires_at`; an admin may still revoke a declined one.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "invitations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// Lower-cased.
    pub email: String,
    pub role: Role,
    /// sha256 of the token; the token itself is shown once.
    pub token_hash: String,
    /// The user or API key that created it.
    pub invited_by: Uuid,
    pub expires_at: DateTimeUtc,
    pub accepted_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    /// The invitee said no.
    pub declined_at: Option<DateTimeUtc>,
    /// An admin took it back, or its inviter was removed from the tenant.
    pub revoked_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
