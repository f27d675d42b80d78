//! The `orrery` command: serve, migrate, export the schemas, manage admins and keys.

use std::io::Read;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use orrery_api::config::Config;

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
    /// JWT signing keys.
    Jwt {
        #[command(subcommand)]
        command: JwtCommand,
    },
}

#[derive(Subcommand)]
enum SchemaCommand {
    /// Write schema.graphql and openapi/*.json.
    Export {
        #[arg(long, default_value = "schema")]
        out: PathBuf,
    },
    /// Exit non-zero when the files under --dir differ from what this build generates.
    Check {
        #[arg(long, default_value = "schema")]
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an admin account (or grant admin to an existing one).
    Create {
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn,sea_orm=warn".into()),
        )
        .init();
    let cli = Cli::parse();
    match &cli.command {
        Command::Serve { bind } => {
            let mut config = load_config(&cli)?;
            if let Some(bind) = bind {
                config.bind = *bind;
            }
            let listener = tokio::net::TcpListener::bind(config.bind).await?;
            let database = config.database_url();
            let app = orrery_api::build_app(config).await?;
            tracing::info!(
                address = %listener.local_addr()?,
                database = %database.split('@').next_back().unwrap_or_default(),
                "Orrery listening: GraphQL at /graphql, REST at /lukhas/v1, /lunaos, /lumen, docs at /docs"
            );
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
            let admin = app.state.identity.ensure_admin(email, &password).await?;
            println!("admin ready: {} ({})", admin.email, admin.id);
        }
        Command::Jwt {
            command: JwtCommand::Rotate,
        } => {
            let config = load_config(&cli)?;
            let kid = orrery_api::domain::identity::tokens::KeyRing::rotate(&config.data_dir)?;
            println!("new active JWT key: {kid}");
        }
    }
    Ok(())
}
