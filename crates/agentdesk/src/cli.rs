//! The command line. Every option has an environment variable; the command line wins.

use std::net::SocketAddr;
use std::path::PathBuf;

use agentdesk_desktop::{ModelSpace, Size, XServerKind};

/// Real Linux desktops for AI agents, served over MCP.
#[derive(Debug, clap::Parser)]
#[command(name = "agentdesk", version)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Start a desktop and serve it as MCP tools (Streamable HTTP by default, or stdio).
    Serve(Box<Serve>),
    /// Measure a desktop with realistic content through MCP over HTTP, beside the conventional
    /// way (a scrot/xdotool/xclip process per action); print a table and write JSON.
    Bench(Bench),
    /// Manage the desktops of a running server: create, list, status, destroy, pause, resume,
    /// acquire, release, heartbeat (through its REST API).
    Desktops(Desktops),
    /// Save, list, restore, delete and check snapshots of desktops' homes on a running server.
    Snapshots(Snapshots),
    /// Give a model a goal and let it drive a desktop of a running server, step by step,
    /// printing each step as it happens (the built-in agent loop, `POST /api/tasks`).
    Run(Run),
}

/// `agentdesk run`.
#[derive(Debug, clap::Args)]
pub(crate) struct Run {
    #[command(flatten)]
    pub(crate) remote: Remote,

    /// What the model should get done.
    #[arg(long)]
    pub(crate) goal: String,

    /// PROVIDER:MODEL: anthropic:claude-opus-4-7, openai:computer-use-preview,
    /// chat:Qwen/Qwen3-VL-8B-Instruct (any OpenAI-compatible chat endpoint: vLLM, llama.cpp).
    #[arg(long, env = "AGENTDESK_MODEL")]
    pub(crate) model: String,

    /// The desktop to drive (default: the server's default desktop).
    #[arg(long)]
    pub(crate) desktop: Option<String>,

    /// At most this many model calls.
    #[arg(long, default_value_t = agentdesk_server::DEFAULT_MAX_STEPS)]
    pub(crate) max_steps: u32,

    /// Stop before the task would spend more than this, in dollars.
    #[arg(long)]
    pub(crate) max_usd: Option<f64>,

    /// Dollars per million input and output tokens, e.g. 3,15, for a model whose price the
    /// server does not know.
    #[arg(long, value_delimiter = ',', num_args = 2)]
    pub(crate) price: Option<Vec<f64>>,

    /// The provider's key (default: ANTHROPIC_API_KEY or OPENAI_API_KEY, as the vendors' SDKs
    /// read it; the server's own if neither is set). Prefer the environment: a command line
    /// is visible to other users of the machine.
    #[arg(long)]
    pub(crate) api_key: Option<String>,

    /// The provider's base URL (default: ANTHROPIC_BASE_URL or OPENAI_BASE_URL, else the
    /// server's setting). Only an admin token may choose it.
    #[arg(long)]
    pub(crate) base_url: Option<String>,

    /// Start the task and print its id without following it.
    #[arg(long)]
    pub(crate) detach: bool,
}

/// Where `agentdesk desktops` and `agentdesk snapshots` send their requests, and how they
/// print the answers.
#[derive(Debug, clap::Args)]
pub(crate) struct Remote {
    /// The server, e.g. http://127.0.0.1:3000 or https://desk.example.com.
    #[arg(
        long,
        env = "AGENTDESK_SERVER",
        default_value = "http://127.0.0.1:3000",
        global = true
    )]
    pub(crate) server: String,

    /// PEM file of the CA certificate(s) to trust for an https:// server (default: the
    /// system's). The token comes from AGENTDESK_TOKEN (or AGENTDESK_AUTH_TOKEN), never the
    /// command line.
    #[arg(long, env = "AGENTDESK_CA_CERT", global = true)]
    pub(crate) ca_cert: Option<PathBuf>,

    /// Print the server's JSON instead of a table.
    #[arg(long, global = true)]
    pub(crate) json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Desktops {
    #[command(flatten)]
    pub(crate) remote: Remote,

    #[command(subcommand)]
    pub(crate) command: DesktopsCommand,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Snapshots {
    #[command(flatten)]
    pub(crate) remote: Remote,

    #[command(subcommand)]
    pub(crate) command: SnapshotsCommand,
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum SnapshotsCommand {
    /// Save a desktop's home as a snapshot (the desktop is frozen for the copy).
    Save {
        /// The desktop's id.
        desktop: String,
        /// A name to restore it by, e.g. logged-into-crm.
        #[arg(long)]
        label: Option<String>,
    },
    /// List your snapshots.
    List {
        /// Only this desktop's.
        #[arg(long)]
        desktop: Option<String>,
    },
    /// One snapshot.
    Status {
        /// Its id or label.
        snapshot: String,
    },
    /// Replace a desktop's home with a snapshot's (its apps are closed; it starts again).
    Restore {
        /// The desktop's id.
        desktop: String,
        /// The snapshot's id or label.
        snapshot: String,
    },
    /// Delete a snapshot (your newest of a desktop needs --force).
    Delete {
        /// Its id or label.
        snapshot: String,
        /// Delete it even if it is your newest of its desktop.
        #[arg(long)]
        force: bool,
    },
    /// Read every byte of a snapshot and check it.
    Verify {
        /// Its id or label.
        snapshot: String,
    },
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum DesktopsCommand {
    /// Create a desktop and start it; prints its id and MCP endpoint.
    Create {
        /// Its id (1 to 40 of a-z, 0-9, '-', starting with a letter or digit); default: a new
        /// random one.
        id: Option<String>,
        /// Screen size, WIDTHxHEIGHT (default: the server's).
        #[arg(long)]
        screen: Option<String>,
        /// on (default) or off (loopback only).
        #[arg(long)]
        network: Option<String>,
        /// Only these apps (repeatable or comma-separated).
        #[arg(long = "app", value_delimiter = ',')]
        apps: Vec<String>,
        /// Start with this snapshot's home (its id or label): a clone.
        #[arg(long)]
        from_snapshot: Option<String>,
    },
    /// List the desktops you can use.
    List,
    /// One desktop's state.
    Status {
        /// The desktop's id.
        id: String,
    },
    /// Stop a desktop and delete it (with its home, unless --keep-home).
    Destroy {
        /// The desktop's id.
        id: String,
        /// Move its home aside on the server instead of deleting it.
        #[arg(long)]
        keep_home: bool,
    },
    /// Freeze a desktop's processes; the next call or view resumes it.
    Pause {
        /// The desktop's id.
        id: String,
    },
    /// Resume a paused desktop (or start a stopped one).
    Resume {
        /// The desktop's id.
        id: String,
    },
    /// Lease a desktop: the one named, or a free one, or a new one.
    Acquire {
        /// The desktop's id (default: any free one).
        id: Option<String>,
        /// Lease length in seconds (default: the server's --lease-ttl).
        #[arg(long)]
        lease_seconds: Option<i64>,
    },
    /// Give up your lease on a desktop.
    Release {
        /// The desktop's id.
        id: String,
    },
    /// Renew your lease on a desktop.
    Heartbeat {
        /// The desktop's id.
        id: String,
    },
}

#[derive(Debug, clap::Args)]
pub(crate) struct Bench {
    /// A short run (few iterations) that proves the benchmark works; the test suite uses it.
    #[arg(long)]
    pub(crate) quick: bool,

    /// Iterations per operation (default 30, or 5 with --quick).
    #[arg(short = 'n', long)]
    pub(crate) iterations: Option<usize>,

    /// Where to write the JSON report (default target/bench.json, or ./bench.json outside a
    /// Cargo workspace).
    #[arg(long)]
    pub(crate) json: Option<PathBuf>,

    /// Screen size of the benchmarked desktop, WIDTHxHEIGHT.
    #[arg(long, default_value = "1280x800", value_parser = parse_size)]
    pub(crate) screen: Size,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Serve {
    /// Address for HTTP: MCP at /mcp, liveness at /healthz.
    #[arg(long, env = "AGENTDESK_LISTEN", default_value = "127.0.0.1:3000")]
    pub(crate) listen: SocketAddr,

    /// Serve MCP on stdin/stdout instead of HTTP (for clients that launch their servers).
    #[arg(long, env = "AGENTDESK_STDIO")]
    pub(crate) stdio: bool,

    /// Screen size, WIDTHxHEIGHT. 1280x800 is under Claude's 1.15 MP limit, so the model sees
    /// screenshots 1:1.
    #[arg(long, env = "AGENTDESK_SCREEN", default_value = "1280x800", value_parser = parse_size)]
    pub(crate) screen: Size,

    /// Where desktops keep their files (home directory, app logs).
    /// Default: $XDG_STATE_HOME/agentdesk or ~/.local/state/agentdesk.
    #[arg(long, env = "AGENTDESK_DATA_DIR")]
    pub(crate) data_dir: Option<PathBuf>,

    /// The X server: xvnc (TigerVNC, default) or xvfb.
    #[arg(long, env = "AGENTDESK_X_SERVER", default_value = "xvnc")]
    pub(crate) x_server: XServerArg,

    /// Keep the GLX extension, for OpenGL apps (costs ~55 MB of X server memory).
    #[arg(long, env = "AGENTDESK_GLX")]
    pub(crate) glx: bool,

    /// Coordinate space for clients that send no GhostDesk-Model-Space header or model_space
    /// query parameter: 0 means pixels; N means the model speaks 0..N on each axis (Qwen: 1000).
    #[arg(long, env = "AGENTDESK_MODEL_SPACE", default_value = "0", value_parser = parse_space)]
    pub(crate) model_space: ModelSpace,

    /// Another `Origin` accepted on /mcp and the live view (repeatable), e.g. a proxy's public
    /// URL; the listener's own are always accepted. Requests with another Origin get 403.
    /// (agentdesk answers no CORS preflight: this does not open it to scripts of other sites.)
    #[arg(
        long = "allowed-origin",
        env = "AGENTDESK_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub(crate) allowed_origins: Vec<String>,

    /// Another Host name accepted by /mcp (repeatable), e.g. behind a proxy. Loopback names are
    /// always accepted.
    #[arg(
        long = "allowed-host",
        env = "AGENTDESK_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    pub(crate) allowed_hosts: Vec<String>,

    /// A file of named bearer tokens, one `name: token` per line (one per agent). Re-read when
    /// it changes, so deleting a line revokes that agent at once. For a single token, set
    /// AGENTDESK_AUTH_TOKEN instead (an environment variable only: command lines are visible
    /// to every user of the machine).
    #[arg(long, env = "AGENTDESK_TOKEN_FILE")]
    pub(crate) token_file: Option<PathBuf>,

    /// PEM certificate chain for HTTPS (read at start; restart to renew).
    #[arg(long, env = "AGENTDESK_TLS_CERT", requires = "tls_key")]
    pub(crate) tls_cert: Option<PathBuf>,

    /// PEM private key for HTTPS.
    #[arg(long, env = "AGENTDESK_TLS_KEY", requires = "tls_cert")]
    pub(crate) tls_key: Option<PathBuf>,

    /// Serve plain HTTP on a non-loopback address, for deployments behind a TLS-terminating
    /// proxy. A token is still required.
    #[arg(long, env = "AGENTDESK_INSECURE_HTTP")]
    pub(crate) insecure_http: bool,

    /// Tool calls per second allowed per token (bursts of twice that, at least 10); 0 turns the
    /// limit off.
    #[arg(long, env = "AGENTDESK_RATE_LIMIT", default_value_t = 20)]
    pub(crate) rate_limit: u32,

    /// Seconds a tool call may take before it is abandoned with a tool error.
    #[arg(long, env = "AGENTDESK_CALL_TIMEOUT", default_value = "30", value_parser = parse_timeout)]
    pub(crate) call_timeout: std::time::Duration,

    /// Only these applications are listed and launchable (repeatable or comma-separated; an
    /// executable, a desktop-file name, or an app's Name). Default: every installed app.
    #[arg(
        long = "allow-app",
        env = "AGENTDESK_ALLOW_APPS",
        value_delimiter = ','
    )]
    pub(crate) allow_apps: Vec<String>,

    /// Seconds without input after which a human who took control in the live view hands it
    /// back to the agent.
    #[arg(long, env = "AGENTDESK_CONTROL_IDLE", default_value = "300", value_parser = parse_timeout)]
    pub(crate) control_idle: std::time::Duration,

    /// noVNC's package directory, for the live view (the setup installs npm's @novnc/novnc
    /// into web/node_modules/@novnc/novnc). Default: Debian's /usr/share/novnc if installed.
    #[arg(long, env = "AGENTDESK_NOVNC_DIR")]
    pub(crate) novnc_dir: Option<PathBuf>,

    /// Run desktops without the sandbox: their apps then see (and can change) everything
    /// agentdesk's user can, including the data directory and the token file. Not
    /// recommended; agentdesk warns at every start.
    #[arg(long, env = "AGENTDESK_NO_SANDBOX")]
    pub(crate) no_sandbox: bool,

    /// Memory one desktop (X server, apps and all) may use, in MiB, where the machine lets
    /// agentdesk set limits (the start-up log says which apply).
    #[arg(long, env = "AGENTDESK_DESKTOP_MEMORY", default_value_t = 2048)]
    pub(crate) desktop_memory: u64,

    /// Processes (and threads) one desktop may run, where the machine lets agentdesk set it.
    #[arg(long, env = "AGENTDESK_DESKTOP_PROCESSES", default_value_t = 2048)]
    pub(crate) desktop_processes: u64,

    /// Do not create the desktop named "default" at start; /mcp's desktop tools then need
    /// their `desktop` argument, and clients use each desktop's own /desktops/{id}/mcp.
    #[arg(long, env = "AGENTDESK_NO_DEFAULT_DESKTOP")]
    pub(crate) no_default_desktop: bool,

    /// The most desktops this server holds (default: what the machine's available memory
    /// allows at 128 MiB per desktop; printed at start).
    #[arg(long, env = "AGENTDESK_MAX_DESKTOPS")]
    pub(crate) max_desktops: Option<usize>,

    /// The most desktops one token (not an admin) may own; default: no limit of its own.
    #[arg(long, env = "AGENTDESK_MAX_DESKTOPS_PER_TOKEN")]
    pub(crate) max_desktops_per_token: Option<usize>,

    /// Seconds without a call or viewer after which a desktop is paused (its processes
    /// frozen: 0% CPU); the next call or view resumes it transparently. 0 never pauses.
    #[arg(long, env = "AGENTDESK_IDLE_PAUSE", default_value = "1200", value_parser = parse_seconds)]
    pub(crate) idle_pause: u64,

    /// Default lease length in seconds for desktop_acquire; a lease lapses unless renewed
    /// (desktop_heartbeat), which frees the desktop without destroying it.
    #[arg(long, env = "AGENTDESK_LEASE_TTL", default_value = "600", value_parser = parse_lease)]
    pub(crate) lease_ttl: u64,

    /// Keep an evidence trail here: per desktop, every call's audit line
    /// (<DIR>/<desktop>/calls.jsonl), and with --record-screens the screen after each call.
    #[arg(long, env = "AGENTDESK_EVIDENCE_DIR")]
    pub(crate) evidence_dir: Option<PathBuf>,

    /// Save the screen after each desktop tool call into the evidence directory (PNG; needs
    /// --evidence-dir).
    #[arg(long, env = "AGENTDESK_RECORD_SCREENS", requires = "evidence_dir")]
    pub(crate) record_screens: bool,

    /// Snapshots each token keeps of each desktop: saving one more deletes its oldest.
    #[arg(long, env = "AGENTDESK_SNAPSHOT_KEEP", default_value = "10", value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub(crate) snapshot_keep: u16,

    /// Snapshots one (non-admin) token may hold in all, whatever desktops they are of.
    #[arg(long, env = "AGENTDESK_MAX_SNAPSHOTS_PER_TOKEN", default_value = "100")]
    pub(crate) max_snapshots_per_token: usize,

    /// A cap on the model spending of all tasks of the built-in agent loop per UTC day, in
    /// dollars; it holds across restarts (the ledger is in the data directory).
    #[arg(long, env = "AGENTDESK_MAX_USD_PER_DAY")]
    pub(crate) max_usd_per_day: Option<f64>,

    /// The price of a model the built-in list lacks, or the operator's own:
    /// PROVIDER:MODEL=INPUT,OUTPUT in dollars per million tokens (MODEL a prefix of the names
    /// it covers). Repeat it for more; only an admin token may set prices per task.
    #[arg(
        long = "model-price",
        env = "AGENTDESK_MODEL_PRICES",
        value_delimiter = ';'
    )]
    pub(crate) model_prices: Vec<String>,

    /// Tasks of the agent loop one token may start per minute.
    #[arg(long, env = "AGENTDESK_TASKS_PER_MINUTE", default_value_t = 10)]
    pub(crate) tasks_per_minute: u32,

    /// Never these applications, whatever --allow-app says (same forms).
    #[arg(long = "deny-app", env = "AGENTDESK_DENY_APPS", value_delimiter = ',')]
    pub(crate) deny_apps: Vec<String>,

    /// Under --allow-app/--deny-app, these applications take any arguments (same forms). The
    /// others take only what their .desktop Exec line accepts: URLs or files, never options.
    #[arg(
        long = "allow-app-args",
        env = "AGENTDESK_ALLOW_APP_ARGS",
        value_delimiter = ','
    )]
    pub(crate) allow_app_args: Vec<String>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum XServerArg {
    Xvnc,
    Xvfb,
}

impl From<XServerArg> for XServerKind {
    fn from(arg: XServerArg) -> XServerKind {
        match arg {
            XServerArg::Xvnc => XServerKind::Xvnc,
            XServerArg::Xvfb => XServerKind::Xvfb,
        }
    }
}

/// WIDTHxHEIGHT, read by the one parser the fleet API uses too.
fn parse_size(text: &str) -> Result<Size, String> {
    let (width, height) = agentdesk_proto::parse_screen(text)?;
    Ok(Size { width, height })
}

fn parse_space(text: &str) -> Result<ModelSpace, String> {
    match text.trim().parse::<u32>() {
        Ok(0) => Ok(ModelSpace(None)),
        Ok(n) if n <= 1_000_000 => Ok(ModelSpace(Some(n))),
        _ => Err(format!(
            "expected 0 (pixels) or a positive integer up to 1000000 such as 1000, got {text:?}"
        )),
    }
}

fn parse_seconds(text: &str) -> Result<u64, String> {
    text.trim()
        .parse::<u64>()
        .map_err(|_| format!("expected a number of seconds, got {text:?}"))
}

fn parse_lease(text: &str) -> Result<u64, String> {
    match text.trim().parse::<u64>() {
        Ok(secs) if agentdesk_desktop::LEASE_SECONDS.contains(&secs) => Ok(secs),
        _ => Err(format!(
            "expected a number of seconds from {} to {}, got {text:?}",
            agentdesk_desktop::LEASE_SECONDS.start(),
            agentdesk_desktop::LEASE_SECONDS.end()
        )),
    }
}

fn parse_timeout(text: &str) -> Result<std::time::Duration, String> {
    match text.trim().parse::<u64>() {
        Ok(secs) if (1..=3600).contains(&secs) => Ok(std::time::Duration::from_secs(secs)),
        _ => Err(format!(
            "expected a number of seconds from 1 to 3600, got {text:?}"
        )),
    }
}

pub(crate) fn default_data_dir() -> PathBuf {
    if let Some(state) = std::env::var_os("XDG_STATE_HOME").filter(|s| !s.is_empty()) {
        return PathBuf::from(state).join("agentdesk");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    home.join(".local/state/agentdesk")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn screen_sizes_parse_and_bad_ones_say_why() {
        assert_eq!(
            parse_size("1280x800").unwrap(),
            Size {
                width: 1280,
                height: 800
            }
        );
        assert_eq!(
            parse_size("1024X768").unwrap(),
            Size {
                width: 1024,
                height: 768
            }
        );
        assert!(parse_size("1280").unwrap_err().contains("WIDTHxHEIGHT"));
        assert!(parse_size("10x10").unwrap_err().contains("64 to 8192"));
        assert!(parse_size("axb").unwrap_err().contains("not a number"));
    }

    #[test]
    fn model_space_zero_means_pixels() {
        assert_eq!(parse_space("0").unwrap(), ModelSpace(None));
        assert_eq!(parse_space("1000").unwrap(), ModelSpace(Some(1000)));
        assert!(parse_space("-3").is_err());
        assert!(parse_space("2000000").is_err());
    }
}
