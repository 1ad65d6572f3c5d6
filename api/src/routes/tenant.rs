//! The tenant's own settings: defaults for its jobs. Everyone in the tenant
//! reads them; admins and owners change them.
//!
//! A change is a JSON merge patch (RFC 7396) of the settings document:
//! fields left out stay as they are, `null` clears one (its default applies
//! again). One rule for every section, present and future.

use axum::http::StatusCode;
use cutroom_core::{analysis::KeyError, queries::tenants, tenants::TenantSettings};
use serde_json::{Map, Value};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::ProblemCode;
use crate::{app::AppState, auth::AuthContext, error::ApiError, extract::Json};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_settings, update_settings))
}

fn tenant_gone() -> ApiError {
    ApiError::unauthorized("the tenant no longer exists")
}

/// The tenant's settings. A field that is `null` has no tenant value: the
/// server's default applies.
#[utoipa::path(
    get, path = "/v1/tenant/settings", tag = "tenant", security(("bearer" = [])),
    responses(
        (status = 200, description = "The settings", body = TenantSettings),
        (status = 401, description = "`unauthorized`", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn get_settings(state: AppState, ctx: AuthContext) -> Result<Json<TenantSettings>, ApiError> {
    let mut settings = tenants::settings(&state.db.orm, ctx.tenant_id)
        .await?
        .ok_or_else(tenant_gone)?;
    settings.redact();
    Ok(Json(settings))
}

/// Change the tenant's settings (admins and owners). Jobs submitted from now
/// on use them; queued jobs keep what they were submitted with (an LLM
/// provider's endpoint and key are read when the job is analysed).
///
/// API keys (`analysis.gemini.api_key`, `analysis.openai.api_key`,
/// `transcription.cloud.{deepgram,assemblyai,openai}.api_key`) are
/// write-only: they are stored encrypted and shown only as `api_key_hint`.
/// A change of an endpoint's `base_url` must bring its key again (or
/// `null` to remove it): a stored key is sent only where it was stored for.
/// LLM and speech endpoints must be at public addresses (unless the
/// operator lists the host in `CUTROOM_LLM_PRIVATE_HOSTS`); model names
/// are names. `budget` sets a monthly spending limit for every job's
/// recorded cost.
#[utoipa::path(
    patch, path = "/v1/tenant/settings", tag = "tenant", security(("bearer" = [])),
    request_body(
        description = "A JSON merge patch (RFC 7396) of the settings: fields left out stay as they are, `null` clears one. \
            `{\"transcription\": {\"model\": \"base\"}}` sets the default model, `{\"transcription\": {\"model\": null}}` \
            goes back to the server's.",
        content(
            (TenantSettings = "application/merge-patch+json"),
            (TenantSettings = "application/json"),
        )
    ),
    responses(
        (status = 200, description = "The settings after the change", body = TenantSettings),
        (status = 401, description = "`unauthorized`", body = ApiError, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: not an admin or owner", body = ApiError, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: an unknown field or value, e.g. a model that does not exist; \
            `invalid_llm_endpoint`: an LLM or speech `base_url` on an internal or unlisted host, or a `model` that is not a plain name; \
            `api_key_required`: a `base_url` changed while the stored key was kept", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn update_settings(
    state: AppState,
    ctx: AuthContext,
    Json(patch): Json<Value>,
) -> Result<Json<TenantSettings>, ApiError> {
    ctx.require_admin()?;
    if !patch.is_object() {
        return Err(ApiError::validation(
            "the body must be a JSON object: a merge patch of the settings",
        ));
    }
    let tx = cutroom_core::db::begin_write(&state.db.orm).await?;
    let previous = tenants::settings_for_update(&tx, ctx.tenant_id)
        .await?
        .ok_or_else(tenant_gone)?;
    let mut doc = serde_json::to_value(&previous).map_err(ApiError::internal)?;
    merge_patch(&mut doc, patch);
    // Through axum's deserializer, so a wrong type is reported with its path
    // (`transcription.model: invalid type ...`) like any other JSON body.
    let bytes = serde_json::to_vec(&doc).map_err(ApiError::internal)?;
    let axum::Json(mut settings) = axum::Json::<TenantSettings>::from_bytes(&bytes)?;
    settings.validate().map_err(ApiError::validation)?;
    settings
        .analysis
        .check_endpoints(
            state.config.llm_hosts.as_ref(),
            &state.config.llm_private_hosts,
        )
        .map_err(|why| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ProblemCode::InvalidLlmEndpoint,
                why,
            )
        })?;
    settings
        .transcription
        .cloud
        .check_endpoints(
            state.config.llm_hosts.as_ref(),
            &state.config.llm_private_hosts,
        )
        .map_err(|why| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ProblemCode::InvalidLlmEndpoint,
                why,
            )
        })?;
    let key_error = |e| match e {
        KeyError::Sealed(why) => ApiError::validation(why),
        KeyError::Required(why) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ProblemCode::ApiKeyRequired,
            why,
        ),
    };
    settings
        .analysis
        .seal_keys(&previous.analysis, &state.sealer, ctx.tenant_id)
        .map_err(key_error)?;
    settings
        .transcription
        .cloud
        .seal_keys(&previous.transcription.cloud, &state.sealer, ctx.tenant_id)
        .map_err(key_error)?;
    tenants::replace_settings(&tx, ctx.tenant_id, &settings).await?;
    tx.commit().await?;
    tracing::info!(tenant.id = %ctx.tenant_id, actor = %ctx.actor(), "tenant settings changed");
    settings.redact();
    Ok(Json(settings))
}

/// RFC 7396: objects merge key by key, `null` removes a key, anything else
/// replaces what was there.
fn merge_patch(target: &mut Value, patch: Value) {
    let Value::Object(patch) = patch else {
        *target = patch;
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(t) = target {
        for (key, value) in patch {
            if value.is_null() {
                t.remove(&key);
            } else {
                merge_patch(t.entry(key).or_insert(Value::Null), value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::merge_patch;

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let mut doc = json!({"transcription": {"model": "base"}, "other": {"a": 1, "b": 2}});
        merge_patch(
            &mut doc,
            json!({"transcription": {"model": null}, "other": {"b": 3}, "new": [1]}),
        );
        assert_eq!(
            doc,
            json!({"transcription": {}, "other": {"a": 1, "b": 3}, "new": [1]})
        );
    }
}
