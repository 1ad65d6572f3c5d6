//! A tenant's settings: who reads and changes them, and the guards on
//! the LLM endpoints they point the workers at.

use super::*;

/// The settings of a tenant that chose nothing: every field unset.
fn defaults() -> Value {
    let endpoint = json!({"base_url": null, "model": null, "api_key_hint": null,
        "input_price": null, "output_price": null, "timeout_seconds": null});
    let speech = json!({"base_url": null, "model": null, "api_key_hint": null,
        "price_per_minute": null, "timeout_seconds": null});
    json!({
        "transcription": {"model": null, "engine": null, "tier": null,
                          "cloud": {"deepgram": speech, "assemblyai": speech, "openai": speech}},
        "analysis": {"provider": null, "gemini": endpoint, "openai": endpoint,
                     "max_in_flight": null, "chunk_seconds": null},
        "moderation": {"rules": {}, "custom": []},
        "budget": {"monthly_usd": null, "at_limit": "cheapest"}
    })
}

#[tokio::test]
async fn tenant_settings_are_read_by_members_and_changed_by_admins() {
    let t = TestApp::new().await;
    let owner = t.signup("settings@example.org").await;
    let member = t.join(&owner, "member@example.org", "member").await;
    let admin = t.join(&owner, "admin@example.org", "admin").await;
    let other = t.signup("elsewhere@example.org").await;
    let settings = "/v1/tenant/settings";

    // A new tenant has no defaults of its own: the server's apply.
    let fresh = t.call(Method::GET, settings, Some(&member), None).await;
    assert_eq!(fresh.status, StatusCode::OK, "{}", fresh.body);
    assert_eq!(fresh.body, defaults());

    let base = json!({"transcription": {"model": "base"}});
    assert_problem(
        &t.call(Method::PATCH, settings, Some(&member), Some(base.clone()))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );

    // Unknown models, fields and types are refused, naming the field.
    for (patch, says) in [
        (
            json!({"transcription": {"model": "large"}}),
            "transcription.model must be one of tiny.en, base",
        ),
        (
            json!({"transcription": {"model": 5}}),
            "transcription.model",
        ),
        (json!({"transcripton": {"model": "base"}}), "transcripton"),
        (json!(["base"]), "JSON object"),
    ] {
        let r = t
            .call(Method::PATCH, settings, Some(&owner), Some(patch))
            .await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert!(
            r.body["detail"].as_str().unwrap().contains(says),
            "{}",
            r.body
        );
    }

    let set = t
        .call(Method::PATCH, settings, Some(&admin), Some(base))
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert_eq!(set.body["transcription"]["model"], "base");
    let read = t.call(Method::GET, settings, Some(&member), None).await;
    assert_eq!(read.body["transcription"]["model"], "base", "{}", read.body);

    // An empty patch changes nothing; `null` clears the tenant's default.
    let same = t
        .call(Method::PATCH, settings, Some(&owner), Some(json!({})))
        .await;
    assert_eq!(same.body["transcription"]["model"], "base", "{}", same.body);
    let clear = json!({"transcription": {"model": null}});
    let cleared = t
        .call(Method::PATCH, settings, Some(&owner), Some(clear))
        .await;
    assert_eq!(cleared.status, StatusCode::OK, "{}", cleared.body);
    assert_eq!(cleared.body, defaults());

    // Moderation rules per category; a threshold outside 0-1 is refused.
    let rules = json!({"moderation": {"rules": {"hate": {"threshold": 0.3, "action": "block"}}}});
    let set = t
        .call(Method::PATCH, settings, Some(&admin), Some(rules))
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert_eq!(set.body["moderation"]["rules"]["hate"]["action"], "block");
    let bad = json!({"moderation": {"rules": {"hate": {"threshold": 3, "action": "block"}}}});
    let r = t
        .call(Method::PATCH, settings, Some(&admin), Some(bad))
        .await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap()
            .contains("moderation.rules.hate.threshold"),
        "{}",
        r.body
    );

    // Another tenant's settings are its own.
    let theirs = json!({"transcription": {"model": "tiny.en"}});
    let set = t
        .call(Method::PATCH, settings, Some(&other), Some(theirs))
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    let ours = t.call(Method::GET, settings, Some(&owner), None).await;
    assert_eq!(
        ours.body["transcription"]["model"],
        Value::Null,
        "{}",
        ours.body
    );
    let elsewhere = t.call(Method::GET, settings, Some(&other), None).await;
    assert_eq!(elsewhere.body["transcription"]["model"], "tiny.en");
}

/// A tenant's LLM endpoint is a URL the workers call with the tenant's
/// key: internal addresses are refused at save (unless the operator lists
/// them), model names cannot steer the request's path, and re-pointing
/// an endpoint needs its key again.
#[tokio::test]
async fn llm_endpoints_are_guarded_at_save() {
    let t = TestApp::with_config(|c| {
        c.llm_private_hosts.insert("127.0.0.1:8089".into());
    })
    .await;
    let owner = t.signup("llm-owner@example.org").await;
    let settings = "/v1/tenant/settings";
    let patch = |body: Value| t.call(Method::PATCH, settings, Some(&owner), Some(body));

    for url in [
        "http://127.0.0.1:8080",
        "http://localhost:11434",
        "http://10.1.2.3:8000",
        "http://169.254.169.254",
        "http://metadata.google.internal",
        "http://[::1]:8080",
        "http://[::ffff:127.0.0.1]:8080",
        "http://0.0.0.0:8080",
    ] {
        for provider in ["openai", "gemini"] {
            let body =
                json!({"analysis": {provider: {"base_url": url, "model": "m", "api_key": "k"}}});
            let r = patch(body).await;
            assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_llm_endpoint");
            assert!(
                r.body["detail"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("analysis.{provider}.base_url")),
                "{url}: {}",
                r.body
            );
        }
    }
    // The operator's list lets a loopback llama-server in, on its port only.
    let ok = patch(
        json!({"analysis": {"openai": {"base_url": "http://127.0.0.1:8089", "model": "smollm2"}}}),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let r = patch(json!({"analysis": {"openai": {"base_url": "http://127.0.0.1:8090"}}})).await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_llm_endpoint");

    // Model names: no path of their own.
    for (provider, model) in [
        ("gemini", "../../internal/admin#"),
        ("gemini", "models/../x"),
        ("gemini", "tuned/model"),
        ("gemini", "gemini-2.5-flash?alt=sse"),
        ("openai", "../../x"),
        ("openai", "a b"),
        ("openai", "m%2e%2e"),
    ] {
        let r = patch(json!({"analysis": {provider: {"model": model}}})).await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_llm_endpoint");
        assert!(
            r.body["detail"]
                .as_str()
                .unwrap()
                .contains(&format!("analysis.{provider}.model")),
            "{model}: {}",
            r.body
        );
    }
    let long = "m".repeat(201);
    let r = patch(json!({"analysis": {"openai": {"model": long}}})).await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_llm_endpoint");
    for (provider, model) in [
        ("gemini", "gemini-2.5-flash"),
        ("openai", "Qwen/Qwen2.5-0.5B-Instruct"),
        ("openai", "qwen2.5:0.5b"),
    ] {
        let r = patch(json!({"analysis": {provider: {"model": model}}})).await;
        assert_eq!(r.status, StatusCode::OK, "{model}: {}", r.body);
    }
}

/// A stored key goes only where it was stored for: an admin (who cannot
/// read the owner's key) may not re-point the endpoint and keep the key.
#[tokio::test]
async fn a_moved_llm_endpoint_needs_its_key_again() {
    let t = TestApp::new().await;
    let owner = t.signup("key-owner@example.org").await;
    let admin = t.join(&owner, "key-admin@example.org", "admin").await;
    let settings = "/v1/tenant/settings";
    let patch = |body: Value| t.call(Method::PATCH, settings, Some(&owner), Some(body));
    let set = patch(json!({"analysis": {"gemini": {"base_url": "https://gemini-proxy.example.com", "api_key": "AIza-owner-secret"}}})).await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    for moved in [
        json!({"analysis": {"gemini": {"base_url": "https://attacker.example.net"}}}),
        json!({"analysis": {"gemini": {"base_url": null}}}),
    ] {
        let r = t
            .call(Method::PATCH, settings, Some(&admin), Some(moved))
            .await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "api_key_required");
        assert!(
            r.body["detail"]
                .as_str()
                .unwrap()
                .contains("analysis.gemini.api_key"),
            "{}",
            r.body
        );
    }
    let kept = t.call(Method::GET, settings, Some(&admin), None).await;
    assert_eq!(
        kept.body["analysis"]["gemini"]["base_url"], "https://gemini-proxy.example.com",
        "{}",
        kept.body
    );
    assert_eq!(kept.body["analysis"]["gemini"]["api_key_hint"], "…cret");
    // With a key of their own, or dropping the stored one, it is fine; so
    // are changes that leave the URL alone.
    let r = t
        .call(
            Method::PATCH,
            settings,
            Some(&admin),
            Some(json!({"analysis": {"provider": "gemini", "gemini": {"timeout_seconds": 30}}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = t
        .call(Method::PATCH, settings, Some(&admin), Some(json!({"analysis": {"gemini": {"base_url": "https://other.example.net", "api_key": "AIza-admin-key"}}})))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["analysis"]["gemini"]["api_key_hint"], "…-key");
    let r = t
        .call(
            Method::PATCH,
            settings,
            Some(&admin),
            Some(json!({"analysis": {"openai": {"base_url": "https://llm.example.org"}}})),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "an endpoint without a key: {}",
        r.body
    );
}
