//! The language model the operator runs beside the workers: the `local`
//! analysis provider (`cutroom_core::analysis::Provider::Local`).

use std::path::PathBuf;

use anyhow::bail;

/// Either a llama-server the worker starts itself (`server` and `model`)
/// or one the operator runs (`url`, e.g. a compose service); neither: no
/// local model, and `local` jobs get builtin's analysis with a fallback
/// saying why.
#[derive(Clone, Debug, Default)]
pub struct LocalLlmConfig {
    /// llama.cpp's `llama-server` (`CUTROOM_LLAMA_SERVER`).
    pub server: Option<PathBuf>,
    /// The GGUF weights it loads (`CUTROOM_LOCAL_LLM_MODEL`).
    pub model: Option<PathBuf>,
    /// An OpenAI-compatible server already running
    /// (`CUTROOM_LOCAL_LLM_URL`, `http://host:port` without `/v1`).
    pub url: Option<String>,
    /// The model's name in requests and reports (`CUTROOM_LOCAL_LLM_NAME`;
    /// default: the GGUF's file name without `.gguf`, or `local`).
    pub name: Option<String>,
    /// Threads of a started server (`CUTROOM_LOCAL_LLM_THREADS`, default
    /// the worker's transcription threads).
    pub threads: Option<u16>,
    /// Requests a started server answers at once, each with 4096 tokens
    /// of context (`CUTROOM_LOCAL_LLM_SLOTS`, 1-8, default 2).
    pub slots: u32,
}

impl LocalLlmConfig {
    /// Whether a local model is set up at all.
    pub fn enabled(&self) -> bool {
        self.url.is_some() || self.server.is_some()
    }

    /// The name requests and reports give the model.
    pub fn model_name(&self) -> String {
        if let Some(n) = &self.name {
            return n.clone();
        }
        self.model
            .as_ref()
            .and_then(|m| m.file_name())
            .map(|f| f.to_string_lossy().trim_end_matches(".gguf").to_owned())
            .unwrap_or_else(|| "local".to_owned())
    }

    pub(super) fn from_vars(
        var: impl Fn(&str) -> Option<String> + Copy,
    ) -> anyhow::Result<LocalLlmConfig> {
        let mut c = LocalLlmConfig {
            server: var("LLAMA_SERVER").map(PathBuf::from),
            model: var("LOCAL_LLM_MODEL").map(PathBuf::from),
            url: var("LOCAL_LLM_URL").map(|u| u.trim().trim_end_matches('/').to_owned()),
            name: var("LOCAL_LLM_NAME"),
            threads: None,
            slots: 2,
        };
        c.slots =
            u32::try_from(super::env::bounded(var, "LOCAL_LLM_SLOTS", 2, 8)?).expect("at most 8");
        if var("LOCAL_LLM_THREADS").is_some() {
            c.threads = Some(
                u16::try_from(super::env::bounded(var, "LOCAL_LLM_THREADS", 1, 256)?)
                    .expect("at most 256"),
            );
        }
        match (&c.server, &c.model, &c.url) {
            (Some(_), None, _) => {
                bail!("CUTROOM_LLAMA_SERVER needs CUTROOM_LOCAL_LLM_MODEL (a GGUF file) beside it")
            }
            (None, Some(_), None) => bail!(
                "CUTROOM_LOCAL_LLM_MODEL needs CUTROOM_LLAMA_SERVER (the llama-server to load it)"
            ),
            (Some(_), _, Some(_)) => bail!(
                "set CUTROOM_LOCAL_LLM_URL (a server you run) or CUTROOM_LLAMA_SERVER (one the \
                 worker starts), not both"
            ),
            _ => {}
        }
        if let Some(url) = &c.url {
            let parsed = url::Url::parse(url)
                .map_err(|e| anyhow::anyhow!("CUTROOM_LOCAL_LLM_URL={url} is not a URL ({e})"))?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.path() != "/" {
                bail!("CUTROOM_LOCAL_LLM_URL={url}: expected http(s)://host[:port] without a path");
            }
        }
        if let Some(name) = &c.name {
            crate::analysis::check_model(crate::analysis::Provider::Local, name)
                .map_err(|why| anyhow::anyhow!("CUTROOM_LOCAL_LLM_NAME {why}"))?;
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn read(vars: &[(&str, &str)]) -> anyhow::Result<LocalLlmConfig> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        LocalLlmConfig::from_vars(|k| map.get(k).cloned())
    }

    #[test]
    fn a_started_server_or_a_running_one_never_half_of_either() {
        assert!(!read(&[]).unwrap().enabled());
        let started = read(&[
            ("LLAMA_SERVER", "/opt/llama-server"),
            (
                "LOCAL_LLM_MODEL",
                "/models/qwen2.5-0.5b-instruct-q4_k_m.gguf",
            ),
        ])
        .unwrap();
        assert!(started.enabled());
        assert_eq!(started.model_name(), "qwen2.5-0.5b-instruct-q4_k_m");
        assert_eq!(started.slots, 2);
        let running = read(&[("LOCAL_LLM_URL", "http://llama:8080/")]).unwrap();
        assert_eq!(running.url.as_deref(), Some("http://llama:8080"));
        assert_eq!(running.model_name(), "local");
        for bad in [
            vec![("LLAMA_SERVER", "/opt/llama-server")],
            vec![("LOCAL_LLM_MODEL", "/m.gguf")],
            vec![
                ("LLAMA_SERVER", "/opt/llama-server"),
                ("LOCAL_LLM_MODEL", "/m.gguf"),
                ("LOCAL_LLM_URL", "http://llama:8080"),
            ],
            vec![("LOCAL_LLM_URL", "http://llama:8080/v1")],
            vec![("LOCAL_LLM_URL", "file:///etc/passwd")],
            vec![
                ("LOCAL_LLM_URL", "http://llama:8080"),
                ("LOCAL_LLM_NAME", "../x"),
            ],
            vec![
                ("LOCAL_LLM_URL", "http://llama:8080"),
                ("LOCAL_LLM_SLOTS", "0"),
            ],
        ] {
            assert!(read(&bad).is_err(), "{bad:?}");
        }
    }
}
