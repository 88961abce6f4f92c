//! gsm-server: the control plane's command line. `main` parses arguments, runs the subcommand
//! and maps failure to an exit code, printing the error chain once.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use gsm_server::config::{self, ServeArgs};
use gsm_server::{app, init, telemetry};

/// gsm's control plane.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server: REST API, agent gateway, background tasks.
    Serve(ServeArgs),
    /// Create an org and print its id and a new owner API key as JSON (the key is shown once).
    Init {
        /// The org's name.
        #[arg(long)]
        org: String,
        /// Also create the first owner user with this email (needs a password option).
        #[arg(long, requires = "password")]
        email: Option<String>,
        /// Read the owner's password from this file (first line).
        #[arg(long, group = "password")]
        password_file: Option<std::path::PathBuf>,
        /// Read the owner's password from this environment variable.
        #[arg(long, group = "password")]
        password_env: Option<String>,
        #[command(flatten)]
        serve: ServeArgs,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => return fail(&anyhow::Error::new(err).context("starting the async runtime")),
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail(&err),
    }
}

#[allow(clippy::print_stderr)]
fn fail(err: &anyhow::Error) -> ExitCode {
    eprintln!("gsm-server: {err:#}");
    ExitCode::FAILURE
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            let settings = config::load(args)?;
            telemetry::init(settings.log_format);
            app::serve(settings).await
        }
        Command::Init { org, email, password_file, password_env, serve } => {
            init::validate_org_name(&org).map_err(anyhow::Error::msg)?;
            let password = match (&password_file, &password_env) {
                (Some(path), _) => Some(config::read_secret_file(path)?),
                (None, Some(name)) => Some(config::read_secret_env(name)?),
                (None, None) => None,
            };
            if let Some(email) = &email {
                init::validate_email(email).map_err(anyhow::Error::msg)?;
            }
            if let Some(password) = &password {
                gsm_server::passwords::validate(password).map_err(anyhow::Error::msg)?;
            }
            let settings = config::load(serve)?;
            let store = app::open_store(&settings).await?;
            let created =
                init::create_org(store.as_ref(), &org).await.context("creating the org")?;
            let note = match (email, password) {
                (Some(email), Some(password)) => {
                    let passwords = gsm_server::passwords::Passwords::new(
                        settings.auth.password_memory_kib,
                        settings.auth.password_iterations,
                    )?;
                    let owner = init::Owner { email: &email, password: &password };
                    let org = gsm_server::store::OrgId(created.org);
                    init::create_owner(store.as_ref(), &passwords, org, owner)
                        .await
                        .context("creating the owner user")?;
                    format!("created owner user {email}; log in at POST /api/v1/auth/login")
                }
                _ => "no user created (API key only); pass --email with --password-file or \
                      --password-env to create the first owner user"
                    .to_owned(),
            };
            #[allow(clippy::print_stdout, clippy::print_stderr)]
            {
                println!("{}", serde_json::to_string(&created)?);
                eprintln!("gsm-server init: {note}");
            }
            Ok(())
        }
    }
}
