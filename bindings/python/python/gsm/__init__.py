"""gsm for Python: run commands under gsm's policy, validate job specs, parse 7 Days to Die logs
and talk to game consoles, with the same code the gsm agent runs.

The native module ``gsm._gsm`` is a thin layer over the Rust crate gsm-core; every decision is
made there.
"""

from . import rcon, sdtd
from ._aio import OutputStream, run_async, stream
from ._errors import (
    Error,
    GameAuthFailed,
    GameCommandRejected,
    GameConnectionClosed,
    GameError,
    GameTimeout,
    GameUnreachable,
    InternalError,
    JobSpecError,
    PolicyError,
    PolicyViolation,
    RunError,
)
from ._gsm import ApprovedCommand, JobResult, JobSpec, Policy, __version__, run

__all__ = [
    "ApprovedCommand",
    "Error",
    "GameAuthFailed",
    "GameCommandRejected",
    "GameConnectionClosed",
    "GameError",
    "GameTimeout",
    "GameUnreachable",
    "InternalError",
    "JobResult",
    "JobSpec",
    "JobSpecError",
    "OutputStream",
    "Policy",
    "PolicyError",
    "PolicyViolation",
    "RunError",
    "__version__",
    "rcon",
    "run",
    "run_async",
    "sdtd",
    "stream",
]
