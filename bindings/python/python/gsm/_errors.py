"""The exceptions gsm raises, all rooted at :class:`gsm.Error`.

The native module raises these; they are declared here so that their attributes are ordinary,
typed Python attributes.
"""

from __future__ import annotations

from typing import Optional


class Error(Exception):
    """The root of every error gsm raises."""


class InternalError(Error):
    """A bug in gsm (a Rust panic, caught before it could reach the interpreter)."""


class PolicyError(Error):
    """The policy could not be loaded: malformed TOML, an unknown key, an invalid rule."""

    line: Optional[int]
    column: Optional[int]

    def __init__(self, message: str, line: Optional[int] = None, column: Optional[int] = None) -> None:
        super().__init__(message)
        self.line = line
        self.column = column


class PolicyViolation(Error):
    """The policy refused the job; ``reason`` is a stable snake_case code."""

    reason: str

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class JobSpecError(Error, ValueError):
    """The value is not a valid job spec."""


class RunError(Error):
    """The runner could not run an approved command (it could not start, or its binary changed)."""


class GameError(Error):
    """A game console call failed; ``code`` is a stable snake_case code."""

    code: str

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class GameUnreachable(GameError):
    """The console could not be reached."""


class GameAuthFailed(GameError):
    """The console refused the password."""


class GameTimeout(GameError):
    """The console did not answer in time."""


class GameCommandRejected(GameError):
    """The game rejected the command."""


class GameConnectionClosed(GameError):
    """The console closed the connection."""
