//! `gsm-sim-7dtd`: a simulated 7 Days to Die console for demos and manual testing. Prints the
//! bound address on one line on stdout, then serves until `shutdown` is run or it is interrupted.

use std::io::Write;

use anyhow::Context;
use clap::Parser;
use gsm_sim_7dtd::{Config, Sim};

/// A simulated 7 Days to Die Telnet console.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// The console password; without one the console asks for none.
    #[arg(long)]
    password: Option<String>,
    /// Script speed: 1.0 plays a step every 5 s, 10 ten times as fast, 0 no script.
    #[arg(long, default_value_t = 1.0)]
    script_speed: f64,
    /// HideCommandExecutionLog: 0 echoes commands to the log, 1 and up do not.
    #[arg(long, default_value_t = 0)]
    hide_command_log: u8,
    /// Write output as Latin-1 instead of UTF-8, as some servers do: any character past ASCII
    /// reaches clients as bytes that are not UTF-8.
    #[arg(long)]
    latin1: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let config = Config {
        password: args.password,
        script_speed: args.script_speed,
        hide_command_log: args.hide_command_log,
        latin1: args.latin1,
        ..Config::default()
    };
    let sim = Sim::start_on(&args.listen, config)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{}", sim.addr()).context("printing the address")?;
        stdout.flush().context("printing the address")?;
    }
    tokio::select! {
        () = sim.stopped() => {}
        signal = tokio::signal::ctrl_c() => signal.context("waiting for Ctrl-C")?,
    }
    Ok(())
}
