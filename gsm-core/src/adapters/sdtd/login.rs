//! The 7DTD console login exchange as a pure state machine: lines in, the next step out.
//!
//! The server greets with `Please enter password:`; the right password gets `Logon successful.`,
//! a wrong one `Password incorrect, please enter password:`, and the wrong one that reaches
//! `TelnetFailedLoginLimit` gets `Too many failed login attempts!` and a closed socket. A console
//! without a password skips all that and starts with the banner (`*** Connected with 7DTD
//! server.`). While an address is locked out, the server accepts its connections and closes them
//! at once without a byte.
//!
//! The password is sent at most once per connection: every wrong attempt counts towards the
//! per-address lockout (shared by every connection from that address), so retrying a wrong
//! password could lock the admin's own tools out too.

/// How the server's login lines read (V 2.4 and every older build seen).
pub mod text {
    /// The prompt that asks for the password.
    pub const PASSWORD_PROMPT: &str = "Please enter password:";
    /// The answer to a wrong password while attempts remain.
    pub const PASSWORD_INCORRECT: &str = "Password incorrect, please enter password:";
    /// The answer to the wrong password that reached the limit; the server then closes.
    pub const TOO_MANY_ATTEMPTS: &str = "Too many failed login attempts!";
    /// The answer to the right password.
    pub const LOGON_SUCCESSFUL: &str = "Logon successful.";
    /// The first banner line; without a password the session starts here.
    pub const BANNER: &str = "*** Connected with 7DTD server.";
}

/// Non-empty lines tolerated before the prompt or the banner: a peer that talks this long
/// without either is not a 7DTD console.
pub const MAX_LINES_BEFORE_PROMPT: usize = 100;

/// What to do after a line or the end of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Keep reading.
    Wait,
    /// Send the password, followed by a line end.
    SendPassword,
    /// Logged in (or no password needed); the banner follows.
    LoggedIn,
    /// The login failed; close the connection.
    Failed(Failure),
}

/// Why a login failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The server refused the password.
    WrongPassword,
    /// The server refused the password and locked this address out for a while.
    TooManyAttempts,
    /// The server asks for a password and none is configured.
    PasswordRequired,
    /// The server closed the connection before saying anything: 7DTD does this while it blocks
    /// the address after too many wrong passwords.
    ClosedSilently,
    /// The server closed the connection during the exchange.
    Closed,
    /// The peer does not speak the 7DTD login exchange.
    NotAConsole,
}

/// The login exchange of one connection.
#[derive(Debug, Clone)]
pub struct Login {
    has_password: bool,
    password_sent: bool,
    lines_seen: usize,
    bytes_seen: bool,
}

impl Login {
    /// A login that answers the prompt with a password.
    pub fn with_password() -> Self {
        Login { has_password: true, password_sent: false, lines_seen: 0, bytes_seen: false }
    }

    /// A login with no password to give: only a console without one lets it in.
    pub fn without_password() -> Self {
        Login { has_password: false, ..Login::with_password() }
    }

    /// The next step after one line from the server.
    pub fn on_line(&mut self, line: &str) -> Step {
        self.bytes_seen = true;
        let line = line.trim();
        if line.is_empty() {
            return Step::Wait;
        }
        match line {
            text::PASSWORD_PROMPT if self.password_sent => Step::Wait,
            text::PASSWORD_PROMPT if self.has_password => {
                self.password_sent = true;
                Step::SendPassword
            }
            text::PASSWORD_PROMPT => Step::Failed(Failure::PasswordRequired),
            text::PASSWORD_INCORRECT => Step::Failed(Failure::WrongPassword),
            text::TOO_MANY_ATTEMPTS => Step::Failed(Failure::TooManyAttempts),
            text::LOGON_SUCCESSFUL if self.password_sent => Step::LoggedIn,
            text::BANNER if !self.password_sent => Step::LoggedIn,
            _ => {
                self.lines_seen += 1;
                if self.lines_seen > MAX_LINES_BEFORE_PROMPT {
                    Step::Failed(Failure::NotAConsole)
                } else {
                    Step::Wait
                }
            }
        }
    }

    /// Records that bytes arrived even though no line is complete yet (NULs, a partial line).
    pub fn on_bytes(&mut self) {
        self.bytes_seen = true;
    }

    /// Why the login failed when the server closed the connection now.
    pub fn on_closed(&self) -> Failure {
        if self.bytes_seen { Failure::Closed } else { Failure::ClosedSilently }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(mut login: Login, lines: &[&str], expected: &[Step]) {
        let steps: Vec<Step> = lines.iter().map(|line| login.on_line(line)).collect();
        assert_eq!(steps, expected, "lines {lines:?}");
    }

    #[test]
    fn the_prompt_gets_the_password_once_and_success_logs_in() {
        check(
            Login::with_password(),
            &["Please enter password:", "", "Logon successful."],
            &[Step::SendPassword, Step::Wait, Step::LoggedIn],
        );
    }

    #[test]
    fn a_wrong_password_or_the_lockout_text_fails_without_a_retry() {
        check(
            Login::with_password(),
            &["Please enter password:", "Password incorrect, please enter password:"],
            &[Step::SendPassword, Step::Failed(Failure::WrongPassword)],
        );
        check(
            Login::with_password(),
            &["Please enter password:", "Too many failed login attempts!"],
            &[Step::SendPassword, Step::Failed(Failure::TooManyAttempts)],
        );
    }

    #[test]
    fn a_console_without_password_starts_at_the_banner() {
        check(Login::without_password(), &["*** Connected with 7DTD server."], &[Step::LoggedIn]);
        check(
            Login::with_password(),
            &["", "*** Connected with 7DTD server."],
            &[Step::Wait, Step::LoggedIn],
        );
        check(
            Login::without_password(),
            &["Please enter password:"],
            &[Step::Failed(Failure::PasswordRequired)],
        );
    }

    #[test]
    fn a_banner_line_after_the_password_does_not_count_as_success() {
        check(
            Login::with_password(),
            &["Please enter password:", "*** Connected with 7DTD server."],
            &[Step::SendPassword, Step::Wait],
        );
    }

    #[test]
    fn a_silent_close_is_told_apart_from_a_close_after_talking() {
        assert_eq!(Login::with_password().on_closed(), Failure::ClosedSilently);
        let mut login = Login::with_password();
        login.on_bytes();
        assert_eq!(login.on_closed(), Failure::Closed);
    }

    #[test]
    fn a_chatty_peer_without_prompt_is_not_a_console() {
        let mut login = Login::with_password();
        let steps: Vec<Step> =
            (0..=MAX_LINES_BEFORE_PROMPT).map(|_| login.on_line("HTTP/1.1")).collect();
        assert_eq!(steps.last(), Some(&Step::Failed(Failure::NotAConsole)));
    }
}
