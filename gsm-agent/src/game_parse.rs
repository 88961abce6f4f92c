//! `gsm-agent game parse --type 7dtd`: reads a game server's log lines on stdin and prints one
//! JSON event per recognised line, so an admin can check what gsm will see in their server's
//! real log before pointing the agent at it.
//!
//! The bytes go through the same line framer as the console client (CR, LF or CR LF; NULs and
//! Telnet IAC bytes dropped; invalid UTF-8 decoded lossily; a 64 KiB line cap) and the same
//! parser as the agent's event stream, so what this prints is exactly what the agent would
//! send. Unrecognised lines print nothing. A count of lines, events and overlong lines goes to
//! stderr at the end. Exit status: 0, or 1 when reading or writing fails.

use std::io::{self, BufWriter, Read, Write};
use std::process::ExitCode;

use gsm_core::adapters::sdtd::events;
use gsm_core::adapters::sdtd::framing::{Frame, LineFramer};

/// Arguments of `gsm-agent game parse`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The game whose log format to read.
    #[arg(long = "type", value_enum)]
    pub game: GameType,
}

/// Game types whose logs `game parse` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GameType {
    /// 7 Days to Die.
    #[value(name = "7dtd")]
    SevenDays,
}

/// What one run read and printed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Lines read.
    pub lines: u64,
    /// Events printed.
    pub events: u64,
    /// Lines over the cap, skipped.
    pub overlong: u64,
}

/// Runs the command on stdin and stdout.
pub fn run(args: &Args) -> ExitCode {
    let GameType::SevenDays = args.game;
    let outcome = parse_stream(io::stdin().lock(), BufWriter::new(io::stdout().lock()));
    #[allow(clippy::print_stderr)]
    match outcome {
        Ok(summary) => {
            eprintln!(
                "gsm-agent game parse: {} lines, {} events, {} lines over 64 KiB skipped",
                summary.lines, summary.events, summary.overlong
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("gsm-agent game parse: error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Reads 7DTD log lines from `input` and writes one JSON event per recognised line to `output`.
/// A closed output (`| head`) ends the run quietly.
pub fn parse_stream(mut input: impl Read, mut output: impl Write) -> io::Result<Summary> {
    let mut framer = LineFramer::default();
    let mut frames = Vec::new();
    let mut buffer = vec![0; 64 * 1024];
    let mut summary = Summary::default();
    let outcome = loop {
        let n = match input.read(&mut buffer) {
            Ok(0) => {
                frames.extend(framer.finish());
                break emit(&mut frames, &mut output, &mut summary);
            }
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        framer.push(&buffer[..n], &mut frames);
        if let Err(err) = emit(&mut frames, &mut output, &mut summary) {
            break Err(err);
        }
    };
    match outcome.and_then(|()| output.flush()) {
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => Ok(summary),
        Err(err) => Err(err),
        Ok(()) => Ok(summary),
    }
}

fn emit(frames: &mut Vec<Frame>, output: &mut impl Write, summary: &mut Summary) -> io::Result<()> {
    for frame in frames.drain(..) {
        let line = match frame {
            Frame::Line(line) => line,
            Frame::TooLong { .. } => {
                summary.overlong += 1;
                continue;
            }
        };
        summary.lines += 1;
        let Some(event) = events::parse_line(&line) else { continue };
        serde_json::to_writer(&mut *output, &event)?;
        output.write_all(b"\n")?;
        summary.events += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognised_lines_print_one_json_object_each_and_the_rest_nothing() {
        let input = b"2024-06-01T12:06:00 359.000 INF GMSG: Player 'Lake' died\r\nnoise\n\
                      [NET] ServerShutdown";
        let mut output = Vec::new();
        let summary = parse_stream(&input[..], &mut output).unwrap();
        assert_eq!(summary, Summary { lines: 3, events: 2, overlong: 0 });
        let text = String::from_utf8(output).unwrap();
        let kinds: Vec<String> = text
            .lines()
            .map(|line| {
                serde_json::from_str::<serde_json::Value>(line).unwrap()["kind"].to_string()
            })
            .collect();
        assert_eq!(kinds, [r#""player_died""#, r#""server_stopping""#]);
    }
}
