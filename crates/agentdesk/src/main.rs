//! The `agentdesk` binary: parses the command line, sets up logging and signals, and hands
//! over to the library crates. Exit codes: 0 clean stop, 1 failure (the message says why),
//! 2 bad command line (clap), 130 a second SIGINT/SIGTERM during shutdown.

mod cli;

use std::process::ExitCode;
use std::sync::Arc;

use agentdesk_desktop::{AppPolicy, DesktopConfig, DesktopId, DesktopManager};
use agentdesk_server::{Audit, HttpConfig, RateLimit, ServiceConfig, TlsFiles, Tokens, WebConfig};
use anyhow::Context as _;
use clap::Parser as _;
use tokio_util::sync::CancellationToken;

/// Default log filter: our crates at info, everything else at warn. Override with RUST_LOG.
const DEFAULT_LOG: &str = "warn,agentdesk=info,agentdesk_server=info,agentdesk_desktop=info,\
agentdesk_display=info,agentdesk_x11=info";

/// A graceful stop never takes longer than this; what is still running then is killed by the
/// kernel as we exit (PR_SET_PDEATHSIG).
const SHUTDOWN_LIMIT: std::time::Duration = std::time::Duration::from_secs(15);

fn main() -> ExitCode {
    bound_allocator_retention();
    let cli = cli::Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("agentdesk: error starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            cli::Command::Serve(args) => serve(*args).await,
            cli::Command::Bench(args) => bench(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("agentdesk: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// glibc's allocator keeps what it frees for reuse: per-thread arenas (up to eight per core)
/// each keep their own, and after an mmap'd block is freed it raises its mmap threshold (up to
/// 32 MiB), so later screenshot and clipboard buffers come from arenas that never shrink.
/// Measured after four clients' concurrent screenshots and clipboard writes: 88 MiB RSS kept
/// by default, 48 MiB with two arenas, 33 MiB with a fixed 128 KiB mmap threshold (blocks
/// above it go back to the kernel when freed) — docs/performance.md. Both are set here.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn bound_allocator_retention() {
    // SAFETY: mallopt only sets allocator parameters; this runs first thing in main, before any
    // other thread exists or anything is allocated that depends on them.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn bound_allocator_retention() {}

/// Logs go to stderr: with --stdio, stdout carries nothing but MCP messages.
///
/// rmcp's debug and trace events print whole messages (typed text, clipboard contents,
/// screenshots), so they are dropped whatever RUST_LOG says (docs/dev/logging.md).
fn init_logging() {
    use tracing_subscriber::filter::{filter_fn, FilterExt as _};
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    use tracing_subscriber::Layer as _;
    let env = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG));
    let no_message_dumps = filter_fn(|meta| {
        !(meta.target().starts_with("rmcp") && *meta.level() > tracing::Level::INFO)
    });
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(env.and(no_message_dumps)),
        )
        .init();
}

async fn serve(args: cli::Serve) -> anyhow::Result<()> {
    let size = args.screen;
    let data_dir = args.data_dir.clone().unwrap_or_else(cli::default_data_dir);
    // What a server killed with SIGKILL left behind: its runtime directory, and processes its
    // desktops' apps had detached.
    let tmp = std::env::temp_dir();
    let cleaned = agentdesk_desktop::clean_stale(&tmp);
    if cleaned != agentdesk_desktop::Cleaned::default() {
        tracing::info!(
            directories = cleaned.directories,
            processes = cleaned.processes,
            "cleaned up after an agentdesk that did not stop cleanly"
        );
    }
    // Sockets and the Xauthority cookie live in a private directory removed when we exit.
    let runtime_dir = agentdesk_desktop::RuntimeDir::create(&tmp)
        .with_context(|| format!("error creating a runtime directory in {}", tmp.display()))?;
    let policy = !args.allow_apps.is_empty() || !args.deny_apps.is_empty();
    let root = {
        use std::os::unix::fs::MetadataExt as _;
        std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
    };
    if policy && root {
        tracing::warn!(
            "a launch policy is set, but agentdesk runs as root: root ignores file modes, so an \
             allowed app that can save files can replace any program, the allowed ones included. \
             Run agentdesk as an unprivileged user when the policy matters (SECURITY.md)"
        );
    }
    if !args.allow_app_args.is_empty() && !policy {
        tracing::warn!(
            "--allow-app-args has no effect without --allow-app or --deny-app: with no launch \
             policy, every app takes any arguments"
        );
    }
    let id = DesktopId("default".into());
    let config = DesktopConfig {
        id: id.clone(),
        x_server: args.x_server.into(),
        size,
        glx: args.glx,
        data_dir: data_dir.join("desktops").join(&id.0),
        runtime_dir: runtime_dir.path().join(&id.0),
        window_manager: true,
        session_bus: true,
        background: 0x2f4f6f,
        command_timeout: agentdesk_desktop::COMMAND_TIMEOUT,
        app_policy: AppPolicy {
            allow: args.allow_apps.clone(),
            deny: args.deny_apps.clone(),
            allow_args: args.allow_app_args.clone(),
        },
        control_idle: args.control_idle,
    };
    let service = ServiceConfig {
        default_space: args.model_space,
        call_timeout: args.call_timeout,
        audit: Arc::new(Audit::new(agentdesk_server::DEFAULT_AUDIT_MAX_BYTES)),
    };
    // Tokens and TLS are checked before the desktop starts: a refused posture fails at once.
    let http = if args.stdio {
        None
    } else {
        let tokens = Tokens::configure(
            std::env::var("AGENTDESK_AUTH_TOKEN").ok(),
            args.token_file.clone(),
        )?;
        let http = HttpConfig {
            listen: args.listen,
            allowed_origins: args.allowed_origins.clone(),
            allowed_hosts: args.allowed_hosts.clone(),
            tls: args
                .tls_cert
                .clone()
                .zip(args.tls_key.clone())
                .map(|(cert, key)| TlsFiles { cert, key }),
            insecure_http: args.insecure_http,
            tokens,
            rate_limit: (args.rate_limit > 0).then(|| RateLimit::per_second(args.rate_limit)),
            max_body_bytes: agentdesk_server::DEFAULT_MAX_BODY_BYTES,
            service: service.clone(),
            web: WebConfig {
                novnc_dir: agentdesk_server::find_novnc(args.novnc_dir.clone())?,
            },
        };
        if http.web.novnc_dir.is_none() {
            tracing::warn!(
                "noVNC not found: the live view page will say so; run scripts/setup.sh, \
                 `apt install novnc`, or pass --novnc-dir"
            );
        }
        http.check()?;
        Some(http)
    };
    let started = std::time::Instant::now();
    let manager = Arc::new(
        DesktopManager::start(config)
            .await
            .context("error starting the desktop")?,
    );
    tracing::info!(
        ms = started.elapsed().as_millis() as u64,
        "desktop ready ({size})"
    );

    let shutdown = CancellationToken::new();
    let signals = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("stopping (send the signal again to stop at once)");
        signals.cancel();
        wait_for_signal().await;
        // Children die with us (PR_SET_PDEATHSIG); only the runtime directory is left behind.
        eprintln!("agentdesk: stopping at once");
        std::process::exit(130);
    });

    let served = match http {
        None => {
            tokio::select! {
                served = agentdesk_server::serve_stdio(manager.clone(), service) => served,
                () = shutdown.cancelled() => Ok(()),
            }
        }
        Some(http) => {
            agentdesk_server::serve_http(manager.clone(), http, shutdown.clone(), |addr, scheme| {
                // One line on stderr that scripts and people can wait for.
                eprintln!("agentdesk: serving MCP at {scheme}://{addr}/mcp");
                eprintln!("agentdesk: live view at {scheme}://{addr}/");
            })
            .await
        }
    };
    if tokio::time::timeout(SHUTDOWN_LIMIT, manager.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("desktops did not stop within {SHUTDOWN_LIMIT:?}; exiting anyway");
    }
    drop(runtime_dir);
    served
}

async fn bench(args: cli::Bench) -> anyhow::Result<()> {
    use agentdesk_server::bench;
    let default_iterations = if args.quick {
        bench::QUICK_ITERATIONS
    } else {
        bench::DEFAULT_ITERATIONS
    };
    let config = bench::BenchConfig {
        exe: std::env::current_exe().context("error finding the agentdesk binary")?,
        quick: args.quick,
        iterations: args.iterations.unwrap_or(default_iterations),
        json: args.json.unwrap_or_else(bench::default_json_path),
        screen: args.screen,
    };
    bench::run(config).await
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
