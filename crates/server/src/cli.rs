//! The command line: `serve` (default), `migrate`, `config check`, `keys create|list|revoke`.

use clap::{Args, Parser, Subcommand};
use modelgate_core::keyring::mint_key;
use modelgate_store::{Page, VirtualKeyRecord, now_ms};
use std::path::PathBuf;

use crate::config::{Overrides, Settings};

#[derive(Debug, Parser)]
#[command(
    name = "modelgate",
    version,
    about = "An AI gateway in front of many LLM providers"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// Address to listen on [env: MODELGATE_HOST, HOST] [default: 0.0.0.0]
    #[arg(long, global = true)]
    pub host: Option<String>,
    /// Port to listen on [env: MODELGATE_PORT, PORT] [default: 8000]
    #[arg(long, global = true)]
    pub port: Option<u16>,
    /// TOML config file
    #[arg(long, global = true, env = "MODELGATE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory (SQLite file, generated secret) [env: MODELGATE_DATA_DIR] [default: ./data]
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Configuration commands.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Manage virtual API keys without the HTTP API.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Load and validate the configuration, print it with secrets masked.
    Check,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Mint a key and print its plaintext (shown once).
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        user_id: Option<String>,
        #[arg(long)]
        tenant_id: Option<String>,
        /// Comma-separated model names; empty means all.
        #[arg(long, value_delimiter = ',')]
        allowed_models: Vec<String>,
        /// Days until expiry.
        #[arg(long)]
        expires_in_days: Option<i64>,
    },
    /// List keys (prefix, never the secret).
    List,
    /// Disable a key by id or prefix.
    Revoke { id_or_prefix: String },
}

impl GlobalArgs {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            host: self.host.clone(),
            port: self.port,
            config: self.config.clone(),
            data_dir: self.data_dir.clone(),
        }
    }
}

fn masked(v: &Option<String>) -> Option<String> {
    v.as_deref().map(modelgate_store::secrets::mask_secret)
}

/// `config check`.
pub fn config_check(s: &Settings) -> anyhow::Result<String> {
    let mut shown = s.clone();
    shown.secret_key = masked(&s.secret_key);
    shown.admin_key = masked(&s.admin_key);
    shown.api_keys = s.api_keys.as_ref().map(|_| "***".into());
    shown.database_url = s.database_url.as_deref().map(|u| match url::Url::parse(u) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => u.to_owned(),
    });
    for p in &mut shown.providers {
        p.api_keys = p
            .api_keys
            .iter()
            .map(|k| {
                if k.starts_with("env:") {
                    k.clone()
                } else {
                    modelgate_store::secrets::mask_secret(k)
                }
            })
            .collect();
        p.kind
            .parse::<modelgate_providers::ProviderKind>()
            .map_err(|e| anyhow::anyhow!("provider '{}': {e}", p.name))?;
    }
    Ok(toml_like(&serde_json::to_value(&shown)?))
}

fn toml_like(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// `keys …` against the database directly.
pub async fn keys(settings: &Settings, cmd: KeysCommand) -> anyhow::Result<String> {
    let db = crate::app::open_database(settings).await?;
    let out = match cmd {
        KeysCommand::Create {
            name,
            user_id,
            tenant_id,
            allowed_models,
            expires_in_days,
        } => {
            let (plain, hash, prefix) = mint_key();
            let now = now_ms();
            let mut rec = VirtualKeyRecord::new(hash, prefix, name, user_id);
            rec.tenant_id = tenant_id;
            rec.expires_at = expires_in_days.map(|d| now + d * 86_400_000);
            rec.allowed_models = serde_json::to_string(&allowed_models)?;
            db.insert_virtual_key(&rec).await?;
            db.bump_catalogue_version().await?;
            format!(
                "id: {}\nkey: {plain}\n(the key is shown only this once)",
                rec.id
            )
        }
        KeysCommand::List => {
            let rows = db
                .list_virtual_keys(
                    None,
                    Page {
                        skip: 0,
                        limit: 1000,
                    },
                )
                .await?;
            let mut s = String::from("id\tprefix\tname\tenabled\n");
            for r in rows {
                s.push_str(&format!(
                    "{}\t{}\t{}\t{}\n",
                    r.id, r.prefix, r.name, r.enabled
                ));
            }
            s
        }
        KeysCommand::Revoke { id_or_prefix } => {
            let rows = db
                .list_virtual_keys(
                    None,
                    Page {
                        skip: 0,
                        limit: 1_000_000,
                    },
                )
                .await?;
            let matches: Vec<_> = rows
                .into_iter()
                .filter(|r| r.id == id_or_prefix || r.prefix == id_or_prefix)
                .collect();
            match matches.as_slice() {
                [one] => {
                    let mut r = one.clone();
                    r.enabled = false;
                    r.updated_at = now_ms();
                    db.update_virtual_key(&r).await?;
                    db.bump_catalogue_version().await?;
                    format!("revoked {} ({})", r.id, r.prefix)
                }
                [] => anyhow::bail!("no key with id or prefix '{id_or_prefix}'"),
                _ => anyhow::bail!("'{id_or_prefix}' matches several keys; use the id"),
            }
        }
    };
    db.close().await;
    Ok(out)
}
