//! Logging: structured JSON lines (or text) on stdout and, optionally, in a file.

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, fmt};

use crate::config::Settings;

/// Installs the global subscriber. Log lines are written by background threads (request
/// threads never block on stdout); keep the returned guards alive to flush them.
pub fn init(settings: &Settings) -> anyhow::Result<Vec<WorkerGuard>> {
    let level = settings.log_level.to_ascii_lowercase();
    let filter = EnvFilter::try_from_default_env().or_else(|_| {
        EnvFilter::try_new(format!("{level},hyper=warn,sqlx=warn,reqwest=warn,h2=warn"))
    })?;
    let json = settings.log_format != "text";
    let (out, out_guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .finish(std::io::stdout());
    let stdout = if json {
        fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_writer(out)
            .boxed()
    } else {
        fmt::layer().with_writer(out).boxed()
    };
    let (file_layer, guard) = match &settings.log_file_path {
        Some(path) => {
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            std::fs::create_dir_all(dir)?;
            let name = path
                .file_name()
                .map(|n| n.to_owned())
                .unwrap_or_else(|| "modelgate.log".into());
            let appender = tracing_appender::rolling::never(dir, name);
            let (writer, guard) = tracing_appender::non_blocking(appender);
            (
                Some(
                    fmt::layer()
                        .json()
                        .flatten_event(true)
                        .with_ansi(false)
                        .with_writer(writer)
                        .boxed(),
                ),
                Some(guard),
            )
        }
        None => (None, None),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(stdout)
        .with(file_layer)
        .try_init()?;
    Ok([Some(out_guard), guard].into_iter().flatten().collect())
}
