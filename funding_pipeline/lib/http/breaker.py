"""Per-venue circuit breaker, driven by slot times so simulated clocks behave like wall clocks."""

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass
class Breaker:
    """Opens after `threshold` consecutive failures; lets one trial through after `cooldown`."""

    threshold: int = 4
    cooldown: timedelta = timedelta(seconds=60)
    failures: int = 0
    open_until: datetime | None = None

    def allows(self, now: datetime) -> bool:
        return self.open_until is None or now >= self.open_until

    def record(self, ok: bool, now: datetime) -> None:
        if ok:
            self.failures, self.open_until = 0, None
            return
        self.failures += 1
        if self.failures >= self.threshold:
            self.open_until = now + self.cooldown
