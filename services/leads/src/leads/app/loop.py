"""A background loop that runs a unit of work every few seconds (scheduler, importer)."""

from __future__ import annotations

import asyncio
import contextlib


class PeriodicWorker:
    """A :class:`common.app.Worker` calling :meth:`tick` until stopped.

    A tick that reports more work waiting runs again at once; otherwise the loop sleeps
    ``interval_s`` seconds (or until :meth:`stop`). An exception ends :meth:`run`; the
    service shell restarts it with back-off and shows it on ``/readyz``.
    """

    def __init__(self, name: str, interval_s: float) -> None:
        self.name = name
        self.interval_s = interval_s
        self._stopping = asyncio.Event()

    async def tick(self) -> bool:
        """One unit of work; returns True when more work is already waiting."""
        raise NotImplementedError

    async def run(self) -> None:
        while not self._stopping.is_set():
            if await self.tick():
                await asyncio.sleep(0)  # let other tasks in between busy ticks
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.interval_s)

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called: a long tick should wrap up."""
        return self._stopping.is_set()

    def stop(self) -> None:
        self._stopping.set()
