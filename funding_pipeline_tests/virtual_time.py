"""An asyncio event loop on virtual time: when nothing is ready, time jumps to the next timer.

Everything awaiting the loop's clock (`asyncio.sleep`, `wait_for`, the poll's deadline) runs
at once but in the right order and at the right virtual instants; `FakeWallClock` is the
collector's wall clock on that time. Only for code without real I/O (replay, mock transports).
"""

import asyncio
import selectors
from datetime import datetime, timedelta

from funding_pipeline.lib.clock import WallClock


class _JumpingSelector(selectors.DefaultSelector):
    def __init__(self, loop: "VirtualTimeLoop"):
        super().__init__()
        self._loop = loop

    def select(self, timeout=None):
        if timeout is None:  # nothing scheduled: wait for real I/O (the loop's self-pipe)
            return super().select(timeout)
        events = super().select(0)
        if not events and timeout > 0:
            self._loop.virtual += timeout
        return events


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self):
        self.virtual = 0.0
        super().__init__(selector=_JumpingSelector(self))

    def time(self) -> float:
        return self.virtual


class FakeWallClock(WallClock):
    """A live (non-simulated) clock reading the running loop's virtual time from `start`."""

    def __init__(self, start: datetime):
        self.start = start

    def now(self) -> datetime:
        return self.start + timedelta(seconds=asyncio.get_running_loop().time())


def run_virtual(coro):
    with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
        return runner.run(coro)
