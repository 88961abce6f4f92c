#!/usr/bin/env python3
"""Back up a game server's world with tar, under a gsm policy, printing tar's output as it runs.

    python3 backup.py --policy backup-policy.toml Saves

The policy decides what may run: the job is checked before anything starts, and a refusal says
why (``PolicyViolation.reason``). Ctrl-C stops tar's whole process group before the script exits.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import gsm


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", help="the directory to archive, relative to the policy's root")
    parser.add_argument("--policy", type=Path, default=Path(__file__).with_name("backup-policy.toml"))
    args = parser.parse_args()

    policy = gsm.Policy.from_file(args.policy)
    archive = f"backups/{args.directory}-{time.strftime('%Y%m%d-%H%M%S')}.tar.gz"
    job = gsm.JobSpec.command("/bin/tar", ["--create", "--gzip", "--verbose", f"--file={archive}", args.directory])
    try:
        approved = policy.check(job)
    except gsm.PolicyViolation as refusal:
        print(f"refused ({refusal.reason}): {refusal}", file=sys.stderr)
        return 2
    (approved.cwd / "backups").mkdir(exist_ok=True)

    def show(stream: str, data: bytes) -> None:
        out = sys.stdout if stream == "stdout" else sys.stderr
        out.buffer.write(data)
        out.flush()

    result = gsm.run(job, policy, on_output=show)
    print(f"{archive}: {result.state} (exit code {result.exit_code}) in {result.duration:.1f} s")
    return 0 if result.state == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
