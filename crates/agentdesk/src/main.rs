//! The `agentdesk` binary: parses the command line, sets up logging and signals, and hands
//! over to the library crates. Exit codes: 0 clean stop, 1 failure (the message says why),
//! 2 bad command line (clap), 130 a second SIGINT/SIGTERM during shutdown.

mod cli;

use std::process::ExitCode;
use std::sync::Arc;

use agentdesk_desktop::{DesktopConfig, DesktopId, DesktopManager};
use agentdesk_server::HttpConfig;
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
    let cli = cli::Cli::parse();
    // Logs go to stderr: with --stdio, stdout carries nothing but MCP messages.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG)),
        )
        .with_writer(std::io::stderr)
        .init();
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
            cli::Command::Serve(args) => serve(args).await,
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

async fn serve(args: cli::Serve) -> anyhow::Result<()> {
    let size = args.screen;
    let data_dir = args.data_dir.clone().unwrap_or_else(cli::default_data_dir);
    // Sockets and the RFB password live in a private directory removed when we exit.
    let runtime_dir = tempfile::Builder::new()
        .prefix("agentdesk-")
        .tempdir()
        .context("error creating a runtime directory under /tmp")?;
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

    let served = if args.stdio {
        tokio::select! {
            served = agentdesk_server::serve_stdio(manager.clone(), args.model_space) => served,
            () = shutdown.cancelled() => Ok(()),
        }
    } else {
        let http = HttpConfig {
            listen: args.listen,
            allowed_origins: args.allowed_origins.clone(),
            allowed_hosts: args.allowed_hosts.clone(),
            default_space: args.model_space,
        };
        agentdesk_server::serve_http(manager.clone(), http, shutdown.clone(), |addr| {
            // One line on stderr that scripts and people can wait for.
            eprintln!("agentdesk: serving MCP at http://{addr}/mcp");
        })
        .await
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
