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
        Command::Init { org, serve } => {
            init::validate_org_name(&org).map_err(anyhow::Error::msg)?;
            let settings = config::load(serve)?;
            let store = app::open_store(&settings).await?;
            let created =
                init::create_org(store.as_ref(), &org).await.context("creating the org")?;
            #[allow(clippy::print_stdout)]
            {
                println!("{}", serde_json::to_string(&created)?);
            }
            Ok(())
        }
    }
}
