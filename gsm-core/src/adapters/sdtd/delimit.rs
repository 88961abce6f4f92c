//! Where a 7DTD console response ends: a marker command after every command, and log lines told
//! apart from response lines by their shape. Pure: lines in, routed lines out.
//!
//! # The method
//!
//! The console has no prompt and no end-of-response marker, the echo line (`Executing command
//! '…' by Telnet from …`) disappears when `HideCommandExecutionLog` ≥ 1, and log lines from the
//! whole server are broadcast into every session. What the server does guarantee is order: input
//! lines go into one FIFO queue, commands run one at a time, and a command's output lines are sent
//! to the issuing connection, after everything the command logged, before the next command runs.
//!
//! So the client writes every command followed by a **marker**: an unknown command with a unique
//! name, `gsm-sync-<16 hex digits>`. Its output, `*** ERROR: unknown command 'gsm-sync-…'`, is
//! sent only to us, never logged, never suppressed, and cannot come before the real command's
//! output. Everything between the previous marker and this one belongs to this command, except
//! log lines: those have the shape `YYYY-MM-DDTHH:MM:SS <uptime> <LVL> <message>` and are routed
//! to the log stream, wherever they fall. Lines that arrive while no command is waiting are log
//! text too (continuation lines of a multi-line log entry have no timestamp). Right after login
//! the client sends a marker of its own, so the banner is consumed as that marker's response and
//! can never leak into the first command's.
//!
//! A command whose caller stopped waiting (a timeout) keeps its place in the queue: its lines are
//! still collected up to its own marker and then thrown away, so a slow answer can never be
//! mistaken for the next command's.
//!
//! # Limits
//!
//! - A response line that itself looks like a timestamped log line is taken for a log line.
//! - A continuation line of a multi-line log entry (an exception trace) that arrives while a
//!   command is waiting is taken for response text.
//! - Each command costs one extra (unknown) command on the server; the server runs one command
//!   per frame, so a response completes one frame later than it would without the marker.
//! - `exit` closes the session and `shutdown` stops the server: neither is followed by a marker's
//!   answer, so they end in a closed connection rather than a response.

use std::collections::VecDeque;

use super::events;

/// The marker's name prefix; the full name adds 16 hex digits.
pub const MARKER_PREFIX: &str = "gsm-sync-";

/// A marker: the command to send and the output line that answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    /// The command line to send after the real command.
    pub command: String,
    /// The line the server answers it with.
    pub answer: String,
}

impl Marker {
    /// The marker for `nonce`; distinct nonces give distinct markers.
    pub fn new(nonce: u64) -> Self {
        let command = format!("{MARKER_PREFIX}{nonce:016x}");
        let answer = format!("*** ERROR: unknown command '{command}'");
        Marker { command, answer }
    }
}

/// True when `line` has the shape of a server log line (a timestamp, uptime and level prefix).
pub fn is_log_line(line: &str) -> bool {
    events::split_prefix(line).is_some()
}

/// Where a line went.
#[derive(Debug, PartialEq, Eq)]
pub enum Route<T> {
    /// A log line (or log text arriving while no command waits): for the log stream.
    Log(String),
    /// Part of the response being collected.
    Collected,
    /// The marker of the oldest waiting command arrived: here is its complete response.
    Complete {
        /// The token given to [`Delimiter::expect`].
        token: T,
        /// The response lines, in order, without log lines.
        lines: Vec<String>,
    },
    /// The oldest waiting command's response outgrew the cap. Its lines are thrown away up to its
    /// marker; the connection is best closed.
    Overflow {
        /// The token given to [`Delimiter::expect`].
        token: T,
    },
    /// A line (or the marker) of a response already given up on by [`Route::Overflow`].
    Discarded,
}

#[derive(Debug)]
struct Waiting<T> {
    answer: String,
    /// `None` once the response overflowed.
    token: Option<T>,
}

/// Splits the lines of one console session into responses and log lines; `T` identifies a
/// waiting command (the client uses the reply channel).
#[derive(Debug)]
pub struct Delimiter<T> {
    waiting: VecDeque<Waiting<T>>,
    lines: Vec<String>,
    bytes: usize,
    max_response_bytes: usize,
}

impl<T> Delimiter<T> {
    /// A delimiter that gives up on a response longer than `max_response_bytes`.
    pub fn new(max_response_bytes: usize) -> Self {
        Delimiter { waiting: VecDeque::new(), lines: Vec::new(), bytes: 0, max_response_bytes }
    }

    /// Registers a command just written, whose response ends at `marker`'s answer.
    pub fn expect(&mut self, marker: &Marker, token: T) {
        self.waiting.push_back(Waiting { answer: marker.answer.clone(), token: Some(token) });
    }

    /// Commands written whose marker has not arrived yet.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Routes one line from the server.
    pub fn route(&mut self, line: String) -> Route<T> {
        let Some(head) = self.waiting.front_mut() else { return Route::Log(line) };
        if line.len() == head.answer.len() && line.eq_ignore_ascii_case(&head.answer) {
            let token = self.waiting.pop_front().and_then(|waiting| waiting.token);
            let lines = std::mem::take(&mut self.lines);
            self.bytes = 0;
            return match token {
                Some(token) => Route::Complete { token, lines },
                None => Route::Discarded,
            };
        }
        if is_log_line(&line) {
            return Route::Log(line);
        }
        if head.token.is_none() {
            return Route::Discarded;
        }
        self.bytes = self.bytes.saturating_add(line.len() + 1);
        if self.bytes > self.max_response_bytes {
            self.lines = Vec::new();
            self.bytes = 0;
            return match head.token.take() {
                Some(token) => Route::Overflow { token },
                None => Route::Discarded,
            };
        }
        self.lines.push(line);
        Route::Collected
    }

    /// Ends the session: the tokens of every command still waiting, oldest first.
    pub fn close(&mut self) -> Vec<T> {
        self.lines.clear();
        self.bytes = 0;
        self.waiting.drain(..).filter_map(|waiting| waiting.token).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "2020-11-14T23:09:20 31220.643 INF Executing command 'lp' by Telnet from \
                       127.0.0.1:54321";

    fn route_all(delimiter: &mut Delimiter<u32>, lines: &[&str]) -> Vec<Route<u32>> {
        lines.iter().map(|line| delimiter.route((*line).to_owned())).collect()
    }

    #[test]
    fn a_response_ends_at_its_marker_and_log_lines_go_around_it() {
        let marker = Marker::new(1);
        let mut delimiter = Delimiter::new(1024);
        delimiter.expect(&marker, 7);
        let routes = route_all(
            &mut delimiter,
            &[LOG, "0. id=171, Catalysm", LOG, "Total of 1 in the game", &marker.answer, "after"],
        );
        assert_eq!(
            routes,
            [
                Route::Log(LOG.to_owned()),
                Route::Collected,
                Route::Log(LOG.to_owned()),
                Route::Collected,
                Route::Complete {
                    token: 7,
                    lines: vec![
                        "0. id=171, Catalysm".to_owned(),
                        "Total of 1 in the game".to_owned()
                    ]
                },
                Route::Log("after".to_owned()),
            ]
        );
    }

    #[test]
    fn without_an_echo_an_empty_response_is_just_the_marker() {
        let marker = Marker::new(2);
        let mut delimiter = Delimiter::new(1024);
        delimiter.expect(&marker, 1);
        assert_eq!(
            route_all(&mut delimiter, &[&marker.answer]),
            [Route::Complete { token: 1, lines: vec![] }]
        );
    }

    #[test]
    fn queued_commands_complete_in_order_with_their_own_lines() {
        let (first, second) = (Marker::new(10), Marker::new(11));
        let mut delimiter = Delimiter::new(1024);
        delimiter.expect(&first, 1);
        delimiter.expect(&second, 2);
        let routes = route_all(&mut delimiter, &["a", &first.answer, "b", &second.answer]);
        assert_eq!(
            routes,
            [
                Route::Collected,
                Route::Complete { token: 1, lines: vec!["a".to_owned()] },
                Route::Collected,
                Route::Complete { token: 2, lines: vec!["b".to_owned()] },
            ]
        );
        assert_eq!(delimiter.waiting(), 0);
    }

    #[test]
    fn an_oversized_response_overflows_once_and_is_discarded_to_its_marker() {
        let (big, next) = (Marker::new(20), Marker::new(21));
        let mut delimiter = Delimiter::new(8);
        delimiter.expect(&big, 1);
        delimiter.expect(&next, 2);
        let routes =
            route_all(&mut delimiter, &["12345", "6789", "more", &big.answer, "ok", &next.answer]);
        assert_eq!(
            routes,
            [
                Route::Collected,
                Route::Overflow { token: 1 },
                Route::Discarded,
                Route::Discarded,
                Route::Collected,
                Route::Complete { token: 2, lines: vec!["ok".to_owned()] },
            ]
        );
    }

    #[test]
    fn a_marker_of_another_nonce_is_response_text_not_an_end() {
        let mut delimiter = Delimiter::new(1024);
        delimiter.expect(&Marker::new(30), 1);
        assert_eq!(delimiter.route(Marker::new(31).answer), Route::Collected);
        assert_eq!(delimiter.close(), [1]);
    }

    #[test]
    fn log_line_shape_needs_timestamp_uptime_and_level() {
        assert!(is_log_line(LOG));
        assert!(is_log_line("2018-01-18T13:00:50 233494.652 WRN Entity fell"));
        assert!(!is_log_line("Total of 1 in the game"));
        assert!(!is_log_line("2018-01-18T13:00:50 Day 1"));
        assert!(!is_log_line("*** ERROR: unknown command 'foo'"));
    }
}
