//! The `agentdesk` binary: parses the command line, sets up logging and signals, and hands
//! over to the library crates. Exit codes: 0 clean stop, 1 failure (the message says why),
//! 2 bad command line (clap), 130 a second SIGINT/SIGTERM during shutdown.

mod cli;
mod desktops;
mod snapshots;
mod task;

use std::process::ExitCode;
use std::sync::Arc;

use agentdesk_desktop::{AppPolicy, DesktopConfig, DesktopId, DesktopManager, FleetConfig};
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
    // A desktop sandbox's init (bwrap runs this binary as it): nothing else of agentdesk runs
    // there, no runtime, no threads (it forks).
    let argv: Vec<String> = std::env::args().take(3).collect();
    if argv.get(1).map(String::as_str) == Some("sandbox-init") {
        let fd = argv.get(2).and_then(|f| f.parse().ok()).unwrap_or(-1);
        if fd < 0 {
            eprintln!("agentdesk sandbox-init: run by agentdesk itself, with a descriptor number");
            return ExitCode::from(2);
        }
        return ExitCode::from(agentdesk_desktop::sandbox_init_main(fd).clamp(0, 255) as u8);
    }
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
            cli::Command::Desktops(args) => desktops::run(args).await,
            cli::Command::Snapshots(args) => snapshots::run(args).await,
            cli::Command::Run(args) => task::run(args).await,
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

/// The agent loop's settings: caps from the command line, keys from the environment.
fn agent_config(args: &cli::Serve) -> anyhow::Result<agentdesk_server::AgentConfig> {
    if let Some(usd) = args.max_usd_per_day {
        if !(usd.is_finite() && usd >= 0.0) {
            anyhow::bail!("--max-usd-per-day must be a number of dollars, 0 or more (got {usd})");
        }
    }
    let mut config = agentdesk_server::AgentConfig {
        max_usd_per_day: args.max_usd_per_day,
        tasks_per_minute: args.tasks_per_minute.max(1),
        ..Default::default()
    }
    .with_environment();
    for price in &args.model_prices {
        config
            .add_price(price)
            .map_err(|e| anyhow::anyhow!("--model-price: {e}"))?;
    }
    Ok(config)
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
    // Made now, private, and by its real path: the sandboxes hide it.
    let evidence_dir = match &args.evidence_dir {
        Some(dir) => {
            use std::os::unix::fs::DirBuilderExt as _;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .with_context(|| {
                    format!("error creating the evidence directory {}", dir.display())
                })?;
            Some(std::fs::canonicalize(dir).with_context(|| {
                format!("error opening the evidence directory {}", dir.display())
            })?)
        }
        None => None,
    };
    // What a server killed with SIGKILL left behind: its runtime directory, and processes its
    // desktops' apps had detached.
    let tmp = std::env::temp_dir();
    let cleaned = agentdesk_desktop::clean_stale(&tmp);
    let cgroups = if args.no_sandbox {
        agentdesk_desktop::CgroupKind::None
    } else {
        agentdesk_desktop::CgroupKind::detect()
    };
    agentdesk_desktop::clean_stale_cgroups(&cgroups, &tmp);
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
    let sandbox = if args.no_sandbox {
        tracing::warn!(
            "--no-sandbox: desktops run without the sandbox; their apps see and can change \
             everything this user can (the data directory, the token file, other desktops' \
             homes). SECURITY.md says what the sandbox stops"
        );
        None
    } else {
        if let Err(why) = agentdesk_desktop::probe_sandbox().await {
            anyhow::bail!(
                "desktops run in a sandbox, but {why}. To run them unsandboxed anyway (their \
                 apps then reach everything this user can), start with --no-sandbox"
            );
        }
        let limits = agentdesk_desktop::Limits {
            memory_bytes: args.desktop_memory.max(64) * 1024 * 1024,
            pids: args.desktop_processes.max(64),
        };
        tracing::info!(
            "desktops are sandboxed (bubblewrap); {}",
            cgroups.describe(&limits)
        );
        let mut hide_dirs = vec![data_dir.clone()];
        hide_dirs.extend(evidence_dir.clone());
        if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
            hide_dirs.push(home.into());
        }
        let hide_files = [args.token_file.clone(), args.tls_key.clone()]
            .into_iter()
            .flatten()
            .map(|f| std::fs::canonicalize(&f).unwrap_or(f))
            .collect();
        Some(agentdesk_desktop::SandboxPolicy {
            // This very binary, even if the file was replaced since it started.
            init_exe: format!("/proc/{}/exe", std::process::id()).into(),
            hide_dirs,
            hide_files,
            limits,
            cgroups,
            server: runtime_dir
                .path()
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        })
    };
    let max_desktops = args.max_desktops.unwrap_or_else(default_max_desktops);
    if max_desktops == 0 {
        anyhow::bail!("--max-desktops must be at least 1");
    }
    let fleet = FleetConfig {
        template: DesktopConfig {
            id: DesktopId::default_id(),
            x_server: args.x_server.into(),
            size,
            glx: args.glx,
            data_dir: data_dir.clone(),
            runtime_dir: runtime_dir.path().to_path_buf(),
            window_manager: true,
            session_bus: true,
            background: 0x2f4f6f,
            command_timeout: agentdesk_desktop::COMMAND_TIMEOUT,
            app_policy: AppPolicy {
                allow: args.allow_apps.clone(),
                deny: args.deny_apps.clone(),
                allow_args: args.allow_app_args.clone(),
                only: Vec::new(),
            },
            control_idle: args.control_idle,
            sandbox,
            network: true,
        },
        data_dir: data_dir.clone(),
        runtime_dir: runtime_dir.path().to_path_buf(),
        default_desktop: !args.no_default_desktop,
        max_desktops,
        idle_pause: (args.idle_pause > 0).then(|| std::time::Duration::from_secs(args.idle_pause)),
        lease_seconds: args.lease_ttl,
        max_per_token: args.max_desktops_per_token,
        snapshot_keep: usize::from(args.snapshot_keep),
        max_snapshots_per_token: Some(args.max_snapshots_per_token),
    };
    let service = ServiceConfig {
        default_space: args.model_space,
        call_timeout: args.call_timeout,
        audit: Arc::new({
            let audit = Audit::new(agentdesk_server::DEFAULT_AUDIT_MAX_BYTES);
            match evidence_dir {
                Some(dir) => {
                    tracing::info!(dir = %dir.display(), screens = args.record_screens, "keeping an evidence trail");
                    audit.with_evidence(agentdesk_server::EvidenceConfig {
                        dir,
                        record_screens: args.record_screens,
                    })
                }
                None => audit,
            }
        }),
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
            agent: agent_config(&args)?,
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
    tracing::info!(
        "at most {max_desktops} desktops{} (--max-desktops)",
        if args.max_desktops.is_none() {
            " (the memory available now, at 128 MiB each)"
        } else {
            ""
        }
    );
    let manager = DesktopManager::start(fleet)
        .await
        .context("error starting the desktops")?;
    if manager.default_id().is_some() {
        tracing::info!(
            ms = started.elapsed().as_millis() as u64,
            "default desktop ready ({size})"
        );
    }

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

/// What memory allows: the memory available now, at 128 MiB per desktop (an idle desktop
/// takes about 30; the rest is for its apps), at least one.
fn default_max_desktops() -> usize {
    let available_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("MemAvailable:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .unwrap_or(4 * 1024 * 1024);
    ((available_kib / (128 * 1024)) as usize).clamp(1, 1000)
}

async fn bench(args: cli::Bench) -> anyhow::Result<()> {
    use agentdesk_bench as bench;
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
