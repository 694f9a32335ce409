//! `tollgate serve`: the reference server as a standalone process.

use std::io::Write;
use std::process::ExitCode;

use tokio::net::TcpListener;

use super::cli::ServeArgs;
use crate::error::Error;
use crate::server::config::LimitTable;
use crate::server::keys::KeySource;
use crate::server::{self, Fault, FaultSet, KeyRing, ServerConfig};

pub fn serve(args: ServeArgs) -> Result<ExitCode, Error> {
    let mut out = std::io::stdout().lock();
    if args.list_faults {
        for fault in Fault::ALL {
            // A closed pipe (`| head`) is not an error worth reporting.
            if writeln!(out, "{:<22} {}", fault.name(), fault.description()).is_err() {
                break;
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    init_logging(&args.log)?;
    let (keys, sources) = KeyRing::from_env_or_generate(|name| std::env::var(name).ok());
    let config = config_from(&args, keys);

    let runtime = super::runtime()?;
    runtime.block_on(async {
        let listener = TcpListener::bind(args.listen)
            .await
            .map_err(|e| Error::Runtime(format!("cannot listen on {}: {e}", args.listen)))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Runtime(format!("cannot read the bound address: {e}")))?;
        let _ = write_banner(&mut out, &addr.to_string(), &config, &sources);
        let _ = out.flush();
        drop(out);
        server::run(listener, config, shutdown_signal())
            .await
            .map_err(|e| Error::Runtime(format!("the server stopped: {e}")))
    })?;
    Ok(ExitCode::SUCCESS)
}

fn config_from(args: &ServeArgs, keys: KeyRing) -> ServerConfig {
    let mut config = ServerConfig::new(args.profile, keys);
    if let Some(burst) = args.burst {
        config.limits.set_burst(burst);
    }
    config.limits.apply_overrides(&args.limits);
    config.algorithm = args.algorithm;
    config.rate_headers = args.rate_headers;
    config.retry_after = args.retry_after;
    if args.unlimited {
        config.limits = LimitTable::default();
    }
    config.concurrency = (args.concurrency > 0 && !args.unlimited).then_some(args.concurrency);
    config.test_hooks = args.test_hooks;
    config.latency = args.latency.unwrap_or_default();
    config.faults = FaultSet::new(args.faults.iter().copied());
    config
}

/// The one place `serve` prints key values: only keys it generated, once, so the operator
/// can export them for the harness. Keys taken from the environment are never echoed.
fn write_banner(
    out: &mut impl Write,
    addr: &str,
    config: &ServerConfig,
    sources: &[(server::KeyRole, KeySource)],
) -> std::io::Result<()> {
    writeln!(
        out,
        "tollgate serve: listening on http://{addr} (profile {})",
        config.profile
    )?;
    let limits: Vec<String> = config
        .limits
        .classes()
        .map(|(class, policies)| {
            let list: Vec<String> = policies.iter().map(ToString::to_string).collect();
            format!(
                "{class}={}",
                if list.is_empty() {
                    "unlimited".into()
                } else {
                    list.join("+")
                }
            )
        })
        .collect();
    let limits = if limits.is_empty() {
        "none".to_string()
    } else {
        limits.join(" ")
    };
    writeln!(out, "limits: {limits}")?;
    let burst_note = if config.algorithm.uses_burst() {
        ""
    } else {
        " (a window algorithm: bursts are a whole window's quota, burst settings do not apply)"
    };
    writeln!(out, "algorithm: {}{burst_note}", config.algorithm)?;
    match config.concurrency {
        Some(n) => writeln!(out, "concurrency: {n} requests in flight per key")?,
        None => writeln!(out, "concurrency: unlimited")?,
    }
    if !config.latency.is_zero() {
        writeln!(
            out,
            "latency: every answer is delayed by {} ms",
            config.latency.as_millis()
        )?;
    }
    let faults: Vec<&str> = config.faults.iter().map(Fault::name).collect();
    if !faults.is_empty() {
        writeln!(
            out,
            "faults: {} (this server breaks its contract on purpose)",
            faults.join(", ")
        )?;
    }
    let generated: Vec<_> = sources
        .iter()
        .filter(|(_, source)| *source == KeySource::Generated)
        .collect();
    if !generated.is_empty() {
        writeln!(
            out,
            "generated API keys (set these variables to choose your own):"
        )?;
        for (role, _) in generated {
            let value = config.keys.get(*role).expect("every role has a key");
            writeln!(out, "  export {}={value}", role.env_var())?;
        }
    }
    Ok(())
}

fn init_logging(level: &str) -> Result<(), Error> {
    let level = level.trim().to_ascii_lowercase();
    if level == "off" || level.is_empty() {
        return Ok(());
    }
    let filter: tracing_subscriber::filter::LevelFilter = level.parse().map_err(|_| {
        Error::Usage(format!(
            "unknown log level `{level}` (off, error, warn, info, debug, trace)"
        ))
    })?;
    tracing_subscriber::fmt()
        .with_max_level(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init()
        .map_err(|e| Error::Runtime(format!("cannot start logging: {e}")))
}

/// Resolves on Ctrl-C or SIGTERM, so `serve` drains open requests before exiting.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
