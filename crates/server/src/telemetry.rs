//! Logging: structured JSON lines (or text) on stdout and, optionally, JSON lines in a file.
//!
//! Every line goes through the core's `LogSink`: request threads copy their line into a
//! bounded buffer and a background thread writes it, so no request thread ever waits on stdout
//! or the file (lines shed when an output cannot keep up are counted and reported). The
//! per-request access line (target `modelgate::request`, on at `info`) is preformatted by the
//! sink itself; everything else is formatted by `tracing_subscriber`.

use modelgate_core::log_sink::{LineFormat, LogSink, SinkGuard, Target};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, fmt};

use crate::config::Settings;

/// Installs the global subscriber and log sink. Keep the returned guard alive: dropping it
/// writes what is buffered and stops the writer thread.
pub fn init(settings: &Settings) -> anyhow::Result<SinkGuard> {
    let level = settings.log_level.to_ascii_lowercase();
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(format!("{level},hyper=warn,sqlx=warn,h2=warn")))?;
    let json = settings.log_format != "text";
    let mut outputs: Vec<(LineFormat, Target)> = vec![(
        if json {
            LineFormat::Json
        } else {
            LineFormat::Text
        },
        Box::new(std::io::stdout()),
    )];
    if let Some(path) = &settings.log_file_path {
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        outputs.push((LineFormat::Json, Box::new(file)));
    }
    let has_file = outputs.len() > 1;
    // Request lines are off until the filter is known to let them through (below).
    let (sink, guard) = LogSink::start(outputs, false)?;
    let out = sink.output(0);
    let stdout = if json {
        fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_writer(move || out.event_writer())
            .boxed()
    } else {
        fmt::layer()
            .with_ansi(false)
            .with_writer(move || out.event_writer())
            .boxed()
    };
    let file_layer = has_file.then(|| {
        let out = sink.output(1);
        fmt::layer()
            .json()
            .flatten_event(true)
            .with_ansi(false)
            .with_writer(move || out.event_writer())
            .boxed()
    });
    tracing_subscriber::registry()
        .with(filter)
        .with(stdout)
        .with(file_layer)
        .try_init()?;
    sink.set_access(tracing::enabled!(
        target: "modelgate::request",
        tracing::Level::INFO
    ));
    sink.install();
    Ok(guard)
}
