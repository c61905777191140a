//! Logging, metrics and tracing set-up. Tokens never reach a log line: nothing logs a token,
//! and `VerifiedClaims` carries none.

pub mod metrics;
pub mod redact;
pub mod sharded;
pub mod trace;

use std::io::IsTerminal;

use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::config::LogFormat;

/// Logs to stderr (`RUST_LOG` overrides the default `info`) and, when the
/// `OTEL_*` variables ask for it, exports spans over OTLP. Call inside the
/// Tokio runtime; keep the returned provider and shut it down at exit so
/// the last spans are sent.
pub fn init(format: LogFormat) -> Option<SdkTracerProvider> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour only on a terminal: under Kubernetes stderr is a pipe, and
    // escape codes would end up in the log store.
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let fmt: Box<dyn Layer<Registry> + Send + Sync> = match format {
        LogFormat::Json => Box::new(fmt.json().flatten_event(true).with_filter(filter)),
        LogFormat::Text => Box::new(fmt.with_filter(filter)),
    };
    let provider = if trace::wanted() {
        match trace::provider() {
            Ok(p) => Some(p),
            Err(e) => {
                eprintln!("zt-authz: tracing disabled: {e}");
                None
            }
        }
    } else {
        None
    };
    // Check spans are exported whatever the log level.
    let spans = provider.as_ref().map(|p| {
        trace::layer(p).with_filter(
            tracing_subscriber::filter::Targets::new()
                .with_target("zt_authz", tracing::Level::INFO),
        )
    });
    // A second init (tests) is not an error worth failing over.
    let _ = tracing_subscriber::registry()
        .with(fmt)
        .with(spans)
        .try_init();
    provider
}
