"""gsm.run_async and gsm.stream under asyncio, including cancellation."""

from __future__ import annotations

import asyncio
from typing import List, Tuple

import pytest

import gsm
from conftest import python_job
from test_run import FAMILY, gone, group_gone, my_zombies

LINES = "import time\nfor i in range(3):\n    print(i, flush=True); time.sleep(0.05)\n"


def test_run_async_returns_the_result_and_streams_output(policy: gsm.Policy) -> None:
    chunks: List[Tuple[str, bytes]] = []
    result = asyncio.run(gsm.run_async(python_job(LINES), policy, on_output=lambda s, d: chunks.append((s, d))))
    assert result.state == "succeeded"
    assert b"".join(d for _, d in chunks) == b"0\n1\n2\n" == result.stdout


def test_stream_yields_chunks_then_holds_the_result(policy: gsm.Policy) -> None:
    async def main() -> Tuple[bytes, gsm.JobResult]:
        output = gsm.stream(python_job(LINES), policy, timeout=10)
        data = b""
        async for stream, chunk in output:
            assert stream == "stdout"
            data += chunk
        assert output.result is not None
        return data, output.result

    data, result = asyncio.run(main())
    assert data == b"0\n1\n2\n" and result.exit_code == 0


def test_jobs_run_concurrently_on_one_loop(policy: gsm.Policy) -> None:
    async def main() -> List[gsm.JobResult]:
        jobs = [gsm.run_async(gsm.JobSpec.command("/bin/sleep", ["1"]), policy) for _ in range(3)]
        return await asyncio.wait_for(asyncio.gather(*jobs), timeout=2.8)

    assert [r.state for r in asyncio.run(main())] == ["succeeded"] * 3


def test_cancelling_the_task_stops_the_group_before_the_cancellation_propagates(policy: gsm.Policy) -> None:
    pids: List[int] = []

    async def main() -> None:
        await asyncio.wait_for(
            gsm.run_async(python_job(FAMILY), policy, on_output=lambda s, d: pids.extend(map(int, d.split()))),
            timeout=1,
        )

    with pytest.raises(asyncio.TimeoutError):
        asyncio.run(main())
    assert group_gone(pids[0]) and gone(pids[1])
    assert my_zombies() == []


def test_an_exception_in_on_output_stops_the_async_job(policy: gsm.Policy) -> None:
    pids: List[int] = []

    def explode(stream: str, data: bytes) -> None:
        pids.extend(map(int, data.split()))
        raise RuntimeError("no thanks")

    with pytest.raises(RuntimeError, match="no thanks"):
        asyncio.run(gsm.run_async(python_job(FAMILY), policy, on_output=explode))
    assert group_gone(pids[0]) and gone(pids[1])


def test_leaving_a_stream_early_and_closing_it_stops_the_job(policy: gsm.Policy) -> None:
    async def main() -> gsm.JobResult:
        output = gsm.stream(python_job(FAMILY), policy)
        async for _ in output:
            break
        await output.aclose()
        assert output.result is not None
        return output.result

    result = asyncio.run(main())
    assert result.termination == "cancelled"


def test_a_refused_job_raises_before_anything_starts(policy: gsm.Policy) -> None:
    with pytest.raises(gsm.PolicyViolation):
        gsm.stream(gsm.JobSpec.command("/bin/sh"), policy)
    with pytest.raises(gsm.PolicyViolation):
        asyncio.run(gsm.run_async(gsm.JobSpec.command("/bin/sh"), policy))
