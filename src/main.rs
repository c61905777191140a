//! The `zt-authz` command: a thin shell over the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use zt_authz::app::{App, AppOptions};
use zt_authz::config::Config;

/// Zero-trust policy decision point for Envoy's ext_authz filter.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve ext_authz Check (gRPC) and the admin HTTP port. SIGHUP or a
    /// change to the file reloads the config; SIGTERM/SIGINT shut down
    /// gracefully.
    Serve {
        /// The YAML config file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Validate a config file: print a normalised summary, or every error
    /// with its key path and exit with status 1.
    CheckConfig {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// DEVELOPMENT ONLY: a local token issuer with in-memory keys, serving
    /// OIDC discovery, a JWKS and GET /token?sub=..&scope=..&acr=..
    DevIssuer {
        /// Loopback address to listen on.
        #[arg(long, default_value = "127.0.0.1:8081")]
        listen: SocketAddr,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    zt_authz::install_crypto_provider();
    match cli.command {
        Command::CheckConfig { config } => match Config::load(&config) {
            Ok(c) => {
                for warning in c.warnings() {
                    eprintln!("warning: {warning}");
                }
                print!("{}", c.summary());
                println!("OK: {}", config.display());
                ExitCode::SUCCESS
            }
            Err(errors) => {
                eprint!("{}: {errors}", config.display());
                ExitCode::FAILURE
            }
        },
        Command::Serve { config } => serve(config),
        Command::DevIssuer { listen } => run_async(zt_authz::dev::serve_dev_issuer(listen)),
    }
}

fn serve(path: PathBuf) -> ExitCode {
    let config = match Config::load(&path) {
        Ok(c) => c,
        Err(errors) => {
            eprint!("{}: {errors}", path.display());
            return ExitCode::FAILURE;
        }
    };
    run_async(async move {
        let tracer = zt_authz::telemetry::init(config.server.log_format);
        for warning in config.warnings() {
            tracing::warn!("{warning}");
        }
        let options = AppOptions {
            config_path: Some(path),
            ..AppOptions::default()
        };
        let app = App::build(config, options)
            .await
            .map_err(std::io::Error::other)?;
        tracing::info!(grpc = %app.grpc_addr()?, admin = %app.admin_addr()?, traces = tracer.is_some(), "zt-authz serving");
        let result = app.run().await;
        if let Some(tracer) = tracer {
            // Sends the spans still queued; blocking, so off the runtime.
            let _ = tokio::task::spawn_blocking(move || tracer.shutdown()).await;
        }
        result
    })
}

fn run_async(fut: impl std::future::Future<Output = std::io::Result<()>>) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(fut) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zt-authz: {e}");
            ExitCode::FAILURE
        }
    }
}
