//! Declared providers: those named in the config file or by well-known env vars (seed 004),
//! written to the database at start and on `POST /admin/reload-config`.

use modelgate_store::secrets::mask_secret;
use modelgate_store::{
    Database, ModelRecord, ProviderRecord, SecretBox, StoreError, UpstreamKeyRecord, new_id, now_ms,
};

use crate::config::{ModelConfig, ProviderConfig, Settings, resolve_secret};

/// A provider declared outside the admin API.
struct Declared {
    source: &'static str,
    cfg: ProviderConfig,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// Providers registered by well-known env vars (seeds 002, 004).
fn env_providers() -> Vec<ProviderConfig> {
    let mut out = Vec::new();
    if let Some(key) = env("OPENAI_API_KEY") {
        let base = env("OPENAI_BASE_URL").unwrap_or_else(|| "https://api.openai.com/v1".into());
        let kind = if base.contains(".openai.azure.com") {
            "azure_openai"
        } else {
            "openai"
        };
        out.push(ProviderConfig {
            name: "openai".into(),
            kind: kind.into(),
            base_url: Some(base),
            display_name: Some("OpenAI".into()),
            description: Some("Registered from OPENAI_API_KEY".into()),
            api_version: env("OPENAI_API_VERSION"),
            api_keys: vec![key],
            weight: None,
            default: true,
            passthrough_auth: false,
            timeout_ms: None,
            models: vec![],
        });
    }
    if let Some(key) = env("DEEPSEEK_API_KEY") {
        out.push(ProviderConfig {
            name: "deepseek".into(),
            kind: "deepseek".into(),
            base_url: Some(
                env("DEEPSEEK_BASE_URL").unwrap_or_else(|| "https://api.deepseek.com/v1".into()),
            ),
            display_name: Some("DeepSeek".into()),
            description: Some("Registered from DEEPSEEK_API_KEY".into()),
            api_version: None,
            api_keys: vec![key],
            weight: None,
            default: false,
            passthrough_auth: false,
            timeout_ms: None,
            models: ["deepseek-chat", "deepseek-coder", "deepseek-reasoner"]
                .iter()
                .map(|m| ModelConfig {
                    model_id: (*m).into(),
                    provider_model_id: None,
                    pricing: None,
                    custom_parameters: None,
                    context_window: None,
                })
                .collect(),
        });
    }
    if let (Some(key), Some(endpoint)) = (env("AZURE_OPENAI_API_KEY"), env("AZURE_OPENAI_ENDPOINT"))
    {
        out.push(ProviderConfig {
            name: "azure".into(),
            kind: "azure_openai".into(),
            base_url: Some(endpoint),
            display_name: Some("Azure OpenAI".into()),
            description: Some("Registered from AZURE_OPENAI_API_KEY".into()),
            api_version: env("AZURE_OPENAI_API_VERSION").or_else(|| env("OPENAI_API_VERSION")),
            api_keys: vec![key],
            weight: None,
            default: false,
            passthrough_auth: false,
            timeout_ms: None,
            models: vec![],
        });
    }
    out
}

/// Errors of start-up provisioning.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("provider '{name}' in the config: {message}")]
    Invalid { name: String, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(name: &str, message: impl Into<String>) -> BootstrapError {
    BootstrapError::Invalid {
        name: name.into(),
        message: message.into(),
    }
}

/// Creates or updates the declared providers; entries made through the API are never touched.
pub async fn sync_declared(
    db: &Database,
    secrets: &SecretBox,
    settings: &Settings,
) -> Result<usize, BootstrapError> {
    let mut declared: Vec<Declared> = settings
        .providers
        .iter()
        .cloned()
        .map(|cfg| Declared {
            source: "config",
            cfg,
        })
        .collect();
    if settings.env_providers {
        for cfg in env_providers() {
            if declared.iter().any(|d| d.cfg.name == cfg.name) {
                continue; // the config file wins over env registration
            }
            declared.push(Declared { source: "env", cfg });
        }
    }
    let n = declared.len();
    let names: Vec<String> = declared.iter().map(|d| d.cfg.name.clone()).collect();
    for d in declared {
        upsert(db, secrets, settings, d).await?;
    }
    // A provider that is no longer declared (removed from the file, or its env var unset)
    // goes away with its keys and models; providers made through the API are never touched.
    for p in db.all_providers().await? {
        if (p.source == "config" || p.source == "env") && !names.contains(&p.name) {
            db.delete_provider(&p.id).await?;
            tracing::info!(provider = %p.name, source = %p.source, "declared provider removed");
        }
    }
    Ok(n)
}

async fn upsert(
    db: &Database,
    secrets: &SecretBox,
    settings: &Settings,
    d: Declared,
) -> Result<(), BootstrapError> {
    let c = &d.cfg;
    let kind: modelgate_providers::ProviderKind =
        c.kind.parse().map_err(|e: String| invalid(&c.name, e))?;
    if c.name.is_empty() || c.name.contains('/') {
        return Err(invalid(
            &c.name,
            "name must be non-empty and must not contain `/`",
        ));
    }
    let base_url = c
        .base_url
        .clone()
        .or_else(|| kind.spec().default_base_url.map(str::to_owned))
        .ok_or_else(|| invalid(&c.name, "base_url is required for this kind"))?;
    if url::Url::parse(&base_url).is_err() {
        return Err(invalid(&c.name, "base_url is not a valid URL"));
    }
    let existing = db.find_provider(&c.name).await?;
    if let Some(p) = &existing
        && p.source == "api"
    {
        tracing::warn!(provider = %c.name, source = d.source, "a provider with this name was created through the API; the declared one is ignored");
        return Ok(());
    }
    let mut rec: ProviderRecord = existing
        .clone()
        .unwrap_or_else(|| ProviderRecord::blank(d.source));
    rec.name = c.name.clone();
    rec.display_name = c.display_name.clone().unwrap_or_else(|| c.name.clone());
    rec.kind = kind.as_str().into();
    rec.base_url = base_url.trim_end_matches('/').into();
    rec.description = c.description.clone().unwrap_or_default();
    rec.weight = c.weight.unwrap_or(1.0);
    rec.api_version = c.api_version.clone();
    rec.is_default = c.default;
    rec.passthrough_auth = c.passthrough_auth;
    rec.timeout_ms = c.timeout_ms.unwrap_or(settings.upstream_timeout_ms as i64);
    rec.connect_timeout_ms = ProviderRecord::DEFAULT_CONNECT_TIMEOUT_MS;
    rec.source = d.source.into();
    rec.updated_at = now_ms();
    let now = now_ms();
    let mut keys = Vec::new();
    for (i, raw) in c.api_keys.iter().enumerate() {
        let Some(secret) = resolve_secret(raw) else {
            tracing::warn!(provider = %c.name, key = i, "an api_keys entry names an unset env var; skipped");
            continue;
        };
        keys.push(UpstreamKeyRecord {
            id: new_id(),
            provider_id: rec.id.clone(),
            alias: format!("{}-{}", d.source, i + 1),
            secret_enc: secrets.encrypt(&secret)?,
            preview: mask_secret(&secret),
            weight: 1.0,
            max_qps: None,
            max_rpm: None,
            enabled: true,
            created_at: now,
            updated_at: now,
        });
    }
    let mut models = Vec::new();
    for m in &c.models {
        models.push(ModelRecord {
            id: new_id(),
            provider_id: rec.id.clone(),
            model_id: m.model_id.clone(),
            provider_model_id: m
                .provider_model_id
                .clone()
                .unwrap_or_else(|| m.model_id.clone()),
            version: None,
            context_window: m.context_window,
            pricing_info: m
                .pricing
                .as_ref()
                .map_or_else(|| "{}".into(), |v| v.to_string()),
            is_available: true,
            custom_parameters: m
                .custom_parameters
                .as_ref()
                .map_or_else(|| "{}".into(), |v| v.to_string()),
            dialect: "openai_chat".into(),
            created_at: now,
            updated_at: now,
        });
    }
    if existing.is_some() {
        db.update_provider(&rec).await?;
        db.replace_upstream_keys(&rec.id, &keys).await?;
        for mut m in models {
            match db.find_model(&rec.id, &m.model_id).await? {
                Some(cur) => {
                    m.id = cur.id;
                    m.created_at = cur.created_at;
                    db.update_model(&m).await?;
                }
                None => db.insert_model(&m).await?,
            }
        }
    } else {
        db.create_provider(&rec, &keys, &models).await?;
    }
    tracing::info!(provider = %c.name, source = d.source, keys = keys.len(), "declared provider registered");
    Ok(())
}
