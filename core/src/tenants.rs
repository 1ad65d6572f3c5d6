//! Per-tenant settings: the defaults a tenant chooses for its own jobs.
//! They sit between what a job asks for and what the server is configured
//! with, and are stored as one JSON document per tenant, so a new section
//! (an analysis provider, a moderation policy) is a new field here and no
//! migration.

use serde::{Deserialize, Serialize};

use crate::{
    analysis::TenantAnalysisSettings,
    jobs::{DefaultModel, JobOptions, check_model},
    moderation::ModerationPolicy,
    speech::{Budget, Engine, EngineChoice, SpeechEndpoints, Tier},
};

/// Every section and field has a default, so `{}` (and a tenant that never
/// changed anything) means "the server's defaults throughout".
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TenantSettings {
    pub transcription: TenantTranscriptionSettings,
    /// Content analysis: the default provider and the LLM endpoints.
    pub analysis: TenantAnalysisSettings,
    /// The moderation rules of this tenant's jobs; categories left out
    /// keep Cutroom's defaults.
    pub moderation: ModerationPolicy,
    /// A monthly spending limit for every job's recorded cost.
    pub budget: Budget,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TenantTranscriptionSettings {
    /// The model of this tenant's jobs that name none: `tiny.en` or `base`.
    /// Unset: the server's default (`CUTROOM_WHISPER_MODEL`).
    #[schema(example = "base")]
    pub model: Option<String>,
    /// Who transcribes this tenant's jobs that choose none (`auto`
    /// unless set): see `options.transcription.engine`.
    pub engine: Option<EngineChoice>,
    /// The router's tier for jobs that choose none (`balanced` unless set).
    pub tier: Option<Tier>,
    /// Cloud speech APIs this tenant may use, with their keys.
    pub cloud: SpeechEndpoints,
}

impl TenantSettings {
    /// Checks that serde cannot express; the message names the field as it
    /// appears in the settings document.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(model) = &self.transcription.model {
            check_model("transcription.model", model)?;
        }
        self.analysis.validate("analysis")?;
        self.transcription.cloud.validate("transcription.cloud")?;
        if let Some(usd) = self.budget.monthly_usd
            && !(0.0..=1_000_000.0).contains(&usd)
        {
            return Err("budget.monthly_usd must be between 0 and 1000000".into());
        }
        if let Some(engine) = self.transcription.engine.and_then(EngineChoice::engine)
            && engine != Engine::Local
            && !self.transcription.cloud.configured().contains(&engine)
        {
            return Err(format!(
                "transcription.engine cannot be {name}: set transcription.cloud.{name}.api_key first",
                name = engine.name()
            ));
        }
        if let Some(provider) = self.analysis.provider
            && let Some(why) = self.analysis.unusable(provider)
        {
            return Err(format!(
                "analysis.provider cannot be {}: {why}",
                provider.name()
            ));
        }
        self.moderation.validate("moderation")?;
        Ok(())
    }

    /// The settings as the API shows them: no API keys, sealed or not.
    pub fn redact(&mut self) {
        self.analysis.redact();
        self.transcription.cloud.redact();
    }

    /// The model of a job that names none: the tenant's, else `server_default`.
    pub fn default_model<'a>(&'a self, server_default: &'a str) -> DefaultModel<'a> {
        match &self.transcription.model {
            Some(m) => DefaultModel::Tenant(m),
            None => DefaultModel::Server(server_default),
        }
    }

    /// Writes the tenant's defaults into what the job left unset. The
    /// server's defaults are not written: the worker applies those itself.
    pub fn fill_in(&self, options: &mut JobOptions) {
        let t = &mut options.transcription;
        if t.model.is_none() {
            t.model.clone_from(&self.transcription.model);
        }
        if t.engine.is_none() {
            t.engine = self.transcription.engine;
        }
        if t.tier.is_none() {
            t.tier = self.transcription.tier;
        }
        if options.analysis.provider.is_none() {
            options.analysis.provider = self.analysis.provider;
        }
        // The tenant's rules as they are now: a later change of policy does
        // not reach queued jobs, and the job records what it was held to.
        for (category, rule) in &self.moderation.rules {
            options.moderation.rules.entry(*category).or_insert(*rule);
        }
        for custom in &self.moderation.custom {
            if !options
                .moderation
                .custom
                .iter()
                .any(|c| c.name == custom.name)
            {
                options.moderation.custom.push(custom.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_settings_are_the_defaults_and_unknown_fields_are_rejected() {
        let s: TenantSettings = serde_json::from_str("{}").unwrap();
        assert_eq!(s, TenantSettings::default());
        assert_eq!(s.default_model("tiny.en"), DefaultModel::Server("tiny.en"));
        assert!(serde_json::from_str::<TenantSettings>(r#"{"transcripton": {}}"#).is_err());
    }

    #[test]
    fn unknown_models_are_refused_by_field() {
        let s: TenantSettings =
            serde_json::from_str(r#"{"transcription": {"model": "large"}}"#).unwrap();
        let err = s.validate().unwrap_err();
        assert!(
            err.starts_with("transcription.model must be one of tiny.en, base"),
            "{err}"
        );
    }

    #[test]
    fn the_tenant_default_fills_only_what_the_job_left_unset() {
        let s: TenantSettings =
            serde_json::from_str(r#"{"transcription": {"model": "base"}}"#).unwrap();
        let mut unset = JobOptions::default();
        s.fill_in(&mut unset);
        assert_eq!(unset.transcription.model.as_deref(), Some("base"));
        let mut chosen = JobOptions::default();
        chosen.transcription.model = Some("tiny.en".into());
        s.fill_in(&mut chosen);
        assert_eq!(chosen.transcription.model.as_deref(), Some("tiny.en"));
    }

    #[test]
    fn moderation_rules_are_written_into_the_job_unless_it_has_its_own() {
        use crate::moderation::{Action, Category};
        let s: TenantSettings = serde_json::from_str(
            r#"{"moderation": {"rules": {
                "hate": {"threshold": 0.3, "action": "block"},
                "profanity": {"threshold": 0.9, "action": "ignore"}}}}"#,
        )
        .unwrap();
        assert!(s.validate().is_ok());
        let mut job: JobOptions = serde_json::from_str(
            r#"{"moderation": {"rules": {"profanity": {"threshold": 0.5, "action": "flag"}}}}"#,
        )
        .unwrap();
        s.fill_in(&mut job);
        assert_eq!(job.moderation.rule(Category::Hate).action, Action::Block);
        assert_eq!(
            job.moderation.rule(Category::Profanity).action,
            Action::Flag
        );
        assert_eq!(job.moderation.rule(Category::Violence).threshold, 0.5);
        let bad: TenantSettings = serde_json::from_str(
            r#"{"moderation": {"rules": {"hate": {"threshold": -1, "action": "flag"}}}}"#,
        )
        .unwrap();
        assert_eq!(
            bad.validate().unwrap_err(),
            "moderation.rules.hate.threshold must be between 0 and 1"
        );
    }

    #[test]
    fn custom_policies_and_the_provider_are_written_into_the_job() {
        use crate::analysis::Provider;
        let s: TenantSettings = serde_json::from_value(serde_json::json!({
            "analysis": {"provider": "openai",
                         "openai": {"base_url": "http://llama:8080", "model": "m"}},
            "moderation": {"custom": [
                {"name": "rivals", "text": "No rivals.", "category": "harassment", "action": "block"},
                {"name": "mild", "text": "Be mild.", "category": "toxicity", "action": "flag"}
            ]}
        }))
        .unwrap();
        assert!(s.validate().is_ok());
        let mut job: JobOptions = serde_json::from_value(serde_json::json!({
            "analysis": {"provider": "builtin"},
            "moderation": {"custom": [
                {"name": "mild", "text": "Be very mild.", "category": "toxicity", "action": "block"}
            ]}
        }))
        .unwrap();
        s.fill_in(&mut job);
        assert_eq!(
            job.analysis.provider,
            Some(Provider::Builtin),
            "the job's choice stands"
        );
        let names: Vec<&str> = job
            .moderation
            .custom
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(names, ["mild", "rivals"]);
        assert_eq!(job.moderation.custom[0].text, "Be very mild.");
        let mut unset = JobOptions::default();
        s.fill_in(&mut unset);
        assert_eq!(unset.analysis.provider, Some(Provider::Openai));
        let no_key: TenantSettings =
            serde_json::from_value(serde_json::json!({"analysis": {"provider": "gemini"}}))
                .unwrap();
        assert!(
            no_key
                .validate()
                .unwrap_err()
                .contains("analysis.gemini.api_key")
        );
    }
}
