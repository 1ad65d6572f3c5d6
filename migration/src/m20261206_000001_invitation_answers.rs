//! Every addition to a tenant is now an invitation that its invitee
//! answers: they may decline it, and an admin may revoke it (also when its
//! inviter is removed). Invitations are listed per tenant for admins and
//! per address for the signed-in invitee, hence the two indexes.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

const INVITATIONS: &str = "invitations";

// The trait's signatures elide SchemaManager's lifetime; naming it breaks async_trait.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds only one at a time.
        for column in ["declined_at", "revoked_at"] {
            m.alter_table(
                Table::alter()
                    .table(INVITATIONS)
                    .add_column(timestamp_with_time_zone_null(column))
                    .to_owned(),
            )
            .await?;
        }
        m.create_index(
            Index::create()
                .name("ix_invitations_tenant_created_at")
                .table(INVITATIONS)
                .col("tenant_id")
                .col("created_at")
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_invitations_email")
                .table(INVITATIONS)
                .col("email")
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for index in ["ix_invitations_email", "ix_invitations_tenant_created_at"] {
            m.drop_index(Index::drop().name(index).table(INVITATIONS).to_owned())
                .await?;
        }
        for column in ["revoked_at", "declined_at"] {
            m.alter_table(
                Table::alter()
                    .table(INVITATIONS)
                    .drop_column(column)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
