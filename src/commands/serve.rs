//! `tollgate serve`: the reference server as a standalone process.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Args;

use crate::error::Error;
use crate::limits::Algorithm;
use crate::server::config::LimitTable;
use crate::server::config::{HeaderDialect, RetryAfterForm};
use crate::server::keys::KeySource;
use crate::server::{self, Fault, FaultSet, KeyRing, ServerConfig};
use crate::server::{LimitOverride, ServerProfile};

/// `tollgate serve`'s flags: the reference server's settings, so they live beside it.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Which API style to impersonate.
    #[arg(long, value_enum, default_value_t = ServerProfile::Ouro)]
    pub profile: ServerProfile,
    /// Break one promise of the contract (repeatable); see --list-faults.
    #[arg(long = "fault", value_name = "NAME")]
    pub faults: Vec<Fault>,
    /// Print the available faults and exit.
    #[arg(long)]
    pub list_faults: bool,
    /// Replace a class's limit, e.g. `read=50/s`, `search=5/s,burst=2`, `default=100/min`
    /// (repeatable; several for one class stack as separate policies).
    #[arg(long = "limit", value_name = "CLASS=RATE[,burst=N]")]
    pub limits: Vec<LimitOverride>,
    /// The limiter family that enforces every limit.
    #[arg(long, value_enum, default_value_t = Algorithm::Gcra)]
    pub algorithm: Algorithm,
    /// Burst of every limit (0: none); per class with `--limit read=100/s,burst=N`. Only
    /// gcra, token-bucket and leaky-bucket have a burst; window algorithms admit a whole
    /// window's quota at once by definition.
    #[arg(long, value_name = "N")]
    pub burst: Option<u32>,
    /// Which rate-limit header dialect to speak.
    #[arg(long, value_enum, default_value_t = HeaderDialect::Both)]
    pub rate_headers: HeaderDialect,
    /// How 429s say when to retry: delay-seconds or an HTTP-date.
    #[arg(long, value_enum, default_value_t = RetryAfterForm::Seconds)]
    pub retry_after: RetryAfterForm,
    /// Switch every rate limit and the concurrency limiter off (benchmarks).
    #[arg(long)]
    pub unlimited: bool,
    /// Requests in flight allowed per key (0 switches the concurrency limiter off).
    #[arg(long, default_value_t = crate::server::DEFAULT_CONCURRENCY)]
    pub concurrency: u32,
    /// Tenant keys to generate for performance workloads (printed once); the list in
    /// OURO_TENANT_KEYS, when set, is used instead.
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = clap::value_parser!(u16))]
    pub tenants: u16,
    /// Enable test hooks: `delay_ms` on /v1/search holds a request open.
    #[arg(long)]
    pub test_hooks: bool,
    /// Delay every answer by this long after the limiter decided (e.g. `15ms`): a network
    /// between client and server, for checking verdicts at staging latencies.
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub latency: Option<std::time::Duration>,
    /// Log level for request logs on stderr (off, error, warn, info, debug, trace); also
    /// read from TOLLGATE_LOG.
    #[arg(long, env = "TOLLGATE_LOG", default_value = "off")]
    pub log: String,
}

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
    let (keys, tenant_source) =
        keys.with_tenants_from_env_or(|name| std::env::var(name).ok(), usize::from(args.tenants));
    let config = config_from(&args, keys);

    let runtime = super::runtime()?;
    runtime.block_on(async {
        let listener = crate::server::listen(args.listen)
            .map_err(|e| Error::Runtime(format!("cannot listen on {}: {e}", args.listen)))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Runtime(format!("cannot read the bound address: {e}")))?;
        let _ = write_banner(
            &mut out,
            &addr.to_string(),
            &config,
            &sources,
            tenant_source,
        );
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
    tenant_source: KeySource,
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
    let tenants = config.keys.tenants();
    let tenants_generated = tenant_source == KeySource::Generated && !tenants.is_empty();
    if !generated.is_empty() || tenants_generated {
        writeln!(
            out,
            "generated API keys (set these variables to choose your own):"
        )?;
        for (role, _) in generated {
            let value = config.keys.get(*role).expect("every role has a key");
            writeln!(out, "  export {}={value}", role.env_var())?;
        }
        if tenants_generated {
            writeln!(
                out,
                "  export {}={}",
                crate::keys::TENANT_KEYS_VAR,
                tenants.join(",")
            )?;
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
