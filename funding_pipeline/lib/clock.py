"""Wall and simulated clocks: the simulated one advances to each slot without sleeping."""

import asyncio
from datetime import UTC, datetime


class WallClock:
    simulated = False

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, at: datetime) -> None:
        delay = (at - self.now()).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class SimulatedClock:
    """Replay time: `now` is the slot being polled; backoff and pacing cost no real time."""

    simulated = True

    def __init__(self, start: datetime):
        self._now = start

    def now(self) -> datetime:
        return self._now

    async def sleep_until(self, at: datetime) -> None:
        self._now = max(self._now, at)

    async def sleep(self, seconds: float) -> None:
        return None
