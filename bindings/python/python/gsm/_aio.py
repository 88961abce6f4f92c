"""asyncio adapters over the native ``Run``: ``gsm.stream`` and ``gsm.run_async``.

The blocking waits happen in the event loop's default executor. If the awaiting task is
cancelled, the job is cancelled and reaped before the cancellation propagates.
"""

from __future__ import annotations

import asyncio
from typing import Callable, Optional, Tuple, TypeVar

from ._errors import InternalError
from ._gsm import JobResult, JobSpec, Policy, Run

T = TypeVar("T")


class OutputStream:
    """The output of a running job, ``async for stream, data in gsm.stream(job, policy)``.

    ``result`` holds the :class:`gsm.JobResult` once the iteration has ended.
    """

    result: Optional[JobResult]

    def __init__(self, job: JobSpec, policy: Policy, *, timeout: Optional[int] = None) -> None:
        self._run = Run(job, policy, timeout=timeout)
        self.result = None

    def __aiter__(self) -> OutputStream:
        return self

    async def __anext__(self) -> Tuple[str, bytes]:
        chunk = await self._off_loop(self._run.next_chunk)
        if chunk is None:
            self.result = await self._off_loop(self._run.wait)
            raise StopAsyncIteration
        return chunk

    async def aclose(self) -> None:
        """Cancels the job if it is still running and waits until it is reaped."""
        self._run.cancel()
        self.result = await asyncio.get_running_loop().run_in_executor(None, self._run.wait)

    async def _off_loop(self, call: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        waiting = loop.run_in_executor(None, call)
        try:
            return await asyncio.shield(waiting)
        except asyncio.CancelledError:
            self._run.cancel()
            await asyncio.wait([waiting])
            await loop.run_in_executor(None, self._run.wait)
            raise


def stream(job: JobSpec, policy: Policy, *, timeout: Optional[int] = None) -> OutputStream:
    """Starts ``job`` under ``policy``; iterate the result for ``(stream, data)`` chunks."""
    return OutputStream(job, policy, timeout=timeout)


async def run_async(
    job: JobSpec,
    policy: Policy,
    *,
    on_output: Optional[Callable[[str, bytes], object]] = None,
    timeout: Optional[int] = None,
) -> JobResult:
    """:func:`gsm.run` for asyncio: awaits the job, calling ``on_output`` with each chunk."""
    output = OutputStream(job, policy, timeout=timeout)
    try:
        async for name, data in output:
            if on_output is not None:
                on_output(name, data)
    except BaseException:
        await asyncio.shield(output.aclose())
        raise
    if output.result is None:
        raise InternalError("the job's output ended without a result")
    return output.result

