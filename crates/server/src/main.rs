//! The `modelgate` binary.

use clap::Parser;
use modelgate_server::cli::{Cli, Command, ConfigCommand};
use modelgate_server::config::Settings;
use std::io::Write;
use std::process::ExitCode;

fn print(s: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{s}");
}

fn fail(e: &anyhow::Error) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "modelgate: error: {e:#}");
    tracing::error!(error = format!("{e:#}"), "modelgate failed");
    ExitCode::FAILURE
}

fn main() -> ExitCode {
    let _ = dotenvy::dotenv();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let overrides = cli.global.overrides();
    let settings = match Settings::load(&overrides) {
        Ok(s) => s,
        Err(e) => return fail(&anyhow::anyhow!("invalid configuration: {e}")),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(&e.into()),
    };
    let result = runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => {
                let _guard = modelgate_server::telemetry::init(&settings)?;
                modelgate_server::app::serve(settings, overrides).await
            }
            Command::Migrate => {
                let db = modelgate_server::app::open_database(&settings).await?;
                db.close().await;
                print("migrations applied");
                Ok(())
            }
            Command::Config {
                command: ConfigCommand::Check,
            } => {
                print(&modelgate_server::cli::config_check(&settings)?);
                print("configuration ok");
                Ok(())
            }
            Command::Keys { command } => {
                print(&modelgate_server::cli::keys(&settings, command).await?);
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}
