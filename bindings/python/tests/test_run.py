"""gsm.run: real child processes under the fixture policy; Ctrl-C, callback exceptions and
timeouts stop the process group and reap it before the call returns."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

import gsm
from conftest import POLICY, PYTHON, python_job

# A job that reports its pid (its process group) and a grandchild's, then waits.
FAMILY = (
    "import os, subprocess, sys, time\n"
    "child = subprocess.Popen(['/bin/sleep', '30'])\n"
    "print(os.getpid(), child.pid, flush=True)\n"
    "time.sleep(30)\n"
)


def gone(pid: int) -> bool:
    """True when no live process has this pid (a zombie reparented to init counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            state = stat.read().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    # Only zombies left? They hold nothing.
    return all(gone(int(p)) for p in os.listdir("/proc") if p.isdigit() and _pgid(int(p)) == pgid)


def _pgid(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return int(stat.read().rpartition(")")[2].split()[2])
    except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
        return -1


def my_zombies() -> List[int]:
    me = os.getpid()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rpartition(")")[2].split()
        except FileNotFoundError:
            continue
        if fields[0] == "Z" and int(fields[1]) == me:
            found.append(int(entry))
    return found


def test_a_job_runs_and_reports_how_it_ended(policy: gsm.Policy) -> None:
    result = gsm.run(gsm.JobSpec.command("/bin/echo", ["hello", "$(id)"]), policy)
    assert (result.termination, result.state, result.exit_code, result.signal) == ("exited", "succeeded", 0, None)
    assert result.stdout == b"hello $(id)\n" and result.stderr == b"" and result.output == b"hello $(id)\n"
    assert (result.output_bytes, result.kept_bytes, result.truncated) == (12, 12, False)
    assert result.duration_ms >= 0 and result.duration == result.duration_ms / 1000
    assert result.to_dict() == {
        "termination": "exited", "exit_code": 0, "signal": None, "duration_ms": result.duration_ms,
        "output_bytes": 12, "kept_bytes": 12, "truncated": False,
    }
    assert "succeeded" in repr(result)


def test_output_streams_to_the_callback_in_order(policy: gsm.Policy) -> None:
    chunks: List[Tuple[str, bytes]] = []
    code = "import sys, time\nfor i in range(3):\n    print('out', i, flush=True); time.sleep(0.05)\n    print('err', i, file=sys.stderr, flush=True); time.sleep(0.05)\n"
    result = gsm.run(python_job(code), policy, on_output=lambda stream, data: chunks.append((stream, data)))
    assert result.state == "succeeded"
    assert b"".join(d for s, d in chunks if s == "stdout") == b"out 0\nout 1\nout 2\n" == result.stdout
    assert b"".join(d for s, d in chunks if s == "stderr") == b"err 0\nerr 1\nerr 2\n" == result.stderr
    assert [s for s, _ in chunks][:2] == ["stdout", "stderr"]
    assert all(isinstance(d, bytes) for _, d in chunks)


def test_a_failing_job_is_a_result_not_an_exception(policy: gsm.Policy) -> None:
    result = gsm.run(python_job("import os, sys; sys.exit(3)"), policy)
    assert (result.state, result.exit_code) == ("failed", 3)
    result = gsm.run(python_job("import os, signal; os.kill(os.getpid(), signal.SIGKILL)"), policy)
    assert (result.state, result.exit_code, result.signal) == ("failed", None, 9)


def test_the_environment_is_the_policys_only(policy: gsm.Policy, root: Path) -> None:
    os.environ["GSM_LEAK_CHECK"] = "leaked"
    try:
        code = "import json, os; print(json.dumps({'env': dict(os.environ), 'cwd': os.getcwd()}))"
        result = gsm.run(python_job(code, env={"TZ": "UTC"}), policy)
    finally:
        del os.environ["GSM_LEAK_CHECK"]
    seen = json.loads(result.stdout)
    assert seen["env"]["TZ"] == "UTC" and "GSM_LEAK_CHECK" not in seen["env"]
    assert seen["cwd"] == str(root)


def test_output_past_the_cap_is_counted_and_dropped(policy: gsm.Policy) -> None:
    result = gsm.run(python_job("print('x' * 5000)", output_cap_bytes=1000), policy)
    assert (result.kept_bytes, result.output_bytes, result.truncated) == (1000, 5001, True)
    assert result.stdout == b"x" * 1000


def test_a_timeout_stops_the_group(policy: gsm.Policy) -> None:
    pids: List[int] = []
    result = gsm.run(python_job(FAMILY), policy, timeout=1, on_output=lambda s, d: pids.extend(map(int, d.split())))
    assert (result.termination, result.state) == ("timed_out", "timed_out")
    assert result.signal in (15, 9)
    assert group_gone(pids[0]) and gone(pids[1])
    assert my_zombies() == []


def test_the_timeout_argument_is_checked_by_the_policy(policy: gsm.Policy) -> None:
    with pytest.raises(gsm.PolicyViolation) as raised:
        gsm.run(gsm.JobSpec.command("/bin/true"), policy, timeout=601)
    assert raised.value.reason == "timeout_above_limit"


def test_an_exception_in_on_output_stops_the_job_and_propagates(policy: gsm.Policy) -> None:
    pids: List[int] = []

    def explode(stream: str, data: bytes) -> None:
        pids.extend(map(int, data.split()))
        raise ValueError("the callback failed")

    started = time.monotonic()
    with pytest.raises(ValueError, match="the callback failed"):
        gsm.run(python_job(FAMILY), policy, on_output=explode)
    assert time.monotonic() - started < 10, "the job was not stopped"
    assert group_gone(pids[0]) and gone(pids[1])
    assert my_zombies() == []


INTERRUPT = textwrap.dedent(
    """
    import json, os, signal, sys, threading, time
    import gsm
    policy = gsm.Policy.from_toml(sys.argv[1])
    job = gsm.JobSpec.command(sys.executable, ["-c", sys.argv[2]])
    pids = []
    def interrupt_once_started():
        while not pids:
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGINT)
    threading.Thread(target=interrupt_once_started, daemon=True).start()
    started = time.monotonic()
    try:
        gsm.run(job, policy, on_output=lambda s, d: pids.extend(map(int, d.split())))
        outcome = "returned"
    except KeyboardInterrupt:
        outcome = "interrupted"
    print(json.dumps({"outcome": outcome, "pids": pids, "seconds": time.monotonic() - started}))
    """
)


def test_ctrl_c_kills_the_group_and_reaps_it_before_raising(root: Path) -> None:
    policy_text = POLICY.format(root=root, python=PYTHON)
    done = subprocess.run(
        [sys.executable, "-c", INTERRUPT, policy_text, FAMILY], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["outcome"] == "interrupted"
    assert report["seconds"] < 10
    pgid, grandchild = report["pids"]
    assert group_gone(pgid) and gone(grandchild)


ZOMBIE_CHECK = textwrap.dedent(
    """
    import os, signal, sys, threading, time
    import gsm
    policy = gsm.Policy.from_toml(sys.argv[1])
    job = gsm.JobSpec.command(sys.executable, ["-c", "import time; print(1, flush=True); time.sleep(30)"])
    threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    try:
        gsm.run(job, policy)
    except KeyboardInterrupt:
        pass
    me = str(os.getpid())
    zombies = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = open(f"/proc/{entry}/stat").read().rpartition(")")[2].split()
        except FileNotFoundError:
            continue
        if fields[1] == me:
            zombies.append((entry, fields[0]))
    print(zombies)
    """
)


def test_no_child_of_an_interrupted_run_is_left_behind(root: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", ZOMBIE_CHECK, POLICY.format(root=root, python=PYTHON)],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_gil_is_released_while_a_job_runs(policy: gsm.Policy) -> None:
    ticks = 0
    stop = threading.Event()

    def tick() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            time.sleep(0.001)

    thread = threading.Thread(target=tick)
    thread.start()
    try:
        gsm.run(gsm.JobSpec.command("/bin/sleep", ["1"]), policy)
    finally:
        stop.set()
        thread.join()
    # Held, the GIL would let the other thread run at most once or twice during the job.
    assert ticks >= 10, f"the other thread ran only {ticks} times in a second"


def test_runs_from_several_threads_at_once_each_get_their_own_result(policy: gsm.Policy) -> None:
    # gsm.run drives its job on a runtime of the calling thread: threads must not share one.
    results: Dict[int, gsm.JobResult] = {}

    def one(i: int) -> None:
        results[i] = gsm.run(python_job(f"import sys; print({i}); sys.exit({i % 5})"), policy)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == list(range(8))
    for i, result in results.items():
        assert (result.stdout, result.exit_code) == (f"{i}\n".encode(), i % 5)
    assert my_zombies() == []


def test_gsm_run_inside_on_output_runs_to_the_end(policy: gsm.Policy) -> None:
    inner: List[gsm.JobResult] = []
    outer = gsm.run(
        python_job("print('a', flush=True)"),
        policy,
        on_output=lambda _stream, _data: inner.append(gsm.run(gsm.JobSpec.command("/bin/echo", ["b"]), policy)),
    )
    assert outer.stdout == b"a\n" and [result.stdout for result in inner] == [b"b\n"]


def test_a_program_that_cannot_start_is_a_run_error(tmp_path: Path, root: Path) -> None:
    tool = tmp_path / "tool"
    shutil.copy("/bin/true", tool)
    policy = gsm.Policy.from_toml(f'version = 1\nroots = ["{root}"]\n[[program]]\npath = "{tool}"\n')
    tool.chmod(0o644)
    with pytest.raises(gsm.RunError, match="could not start"):
        gsm.run(gsm.JobSpec.command(str(tool)), policy)
