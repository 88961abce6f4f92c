#!/usr/bin/env python3
"""The Python bindings' figures for docs/benchmarks.md (run by ``scripts/python.sh bench``).

- ``gsm.run`` of ``/bin/true`` under a policy against ``subprocess.run`` of the same: median
  wall time per run over N runs each, interleaved so both see the same machine load.
- ``gsm.sdtd.parse_line`` over gsm-core's log corpus: lines per second from Python.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import gsm

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "gsm-core" / "src" / "adapters" / "sdtd" / "testdata" / "log-corpus.txt"


def spawn_figures(runs: int) -> None:
    with tempfile.TemporaryDirectory() as root:
        policy = gsm.Policy.from_toml(f'version = 1\nroots = ["{root}"]\n[[program]]\npath = "/bin/true"\n')
        job = gsm.JobSpec.command("/bin/true")
        ours, theirs = [], []
        for _ in range(20):  # warm-up: the runtime, the page cache
            gsm.run(job, policy)
            subprocess.run(["/bin/true"])
        for _ in range(runs):
            started = time.perf_counter()
            result = gsm.run(job, policy)
            ours.append(time.perf_counter() - started)
            if result.exit_code != 0:
                raise SystemExit(f"gsm.run of /bin/true failed: {result!r}")
            started = time.perf_counter()
            subprocess.run(["/bin/true"], check=True)
            theirs.append(time.perf_counter() - started)
    for name, samples in (("gsm.run(/bin/true)", ours), ("subprocess.run(/bin/true)", theirs)):
        samples.sort()
        print(
            f"{name:<28} median {statistics.median(samples) * 1e3:.3f} ms  "
            f"p90 {samples[int(len(samples) * 0.9)] * 1e3:.3f} ms  over {runs} runs"
        )
    ratio = statistics.median(ours) / statistics.median(theirs)
    print(f"gsm.run / subprocess.run median ratio: {ratio:.2f} (target <= 1.00)")


def parse_figures(rounds: int, lines_per_round: int) -> None:
    """Throughput of ``parse_line`` over the corpus, per round of ``lines_per_round`` lines:
    the best round (least disturbed by other work on the machine) and the median round."""
    lines = CORPUS.read_text(encoding="utf-8").splitlines()
    repeats = max(1, lines_per_round // len(lines))
    parse = gsm.sdtd.parse_line
    events = sum(parse(line) is not None for line in lines)
    rates = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(repeats):
            for line in lines:
                parse(line)
        rates.append(repeats * len(lines) / (time.perf_counter() - started))
    print(
        f"gsm.sdtd.parse_line: best {max(rates):,.0f} lines/s, median {statistics.median(rates):,.0f} lines/s "
        f"over {rounds} rounds of {repeats * len(lines):,} lines "
        f"({events} of the corpus's {len(lines)} lines are events) (target >= 500,000)"
    )


def main() -> None:
    runs = int(os.environ.get("GSM_BENCH_RUNS", "1000"))
    print(f"python {sys.version.split()[0]}, gsm {gsm.__version__}, {os.cpu_count()} CPUs")
    spawn_figures(runs)
    parse_figures(int(os.environ.get("GSM_BENCH_ROUNDS", "10")), int(os.environ.get("GSM_BENCH_LINES", "500000")))
    print(f"load average during the run: {os.getloadavg()}")


if __name__ == "__main__":
    main()
