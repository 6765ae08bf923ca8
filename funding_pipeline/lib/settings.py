"""The environment contract, read once into one object (see README "Environment").

Read at call time, not import time, so tests and the demo can set variables before use.
"""

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
BUNDLED_RECORDINGS = Path(__file__).resolve().parents[1] / "recordings"
SOURCES = ("live", "replay")
CLOCKS = ("wall", "simulated")


class SettingsError(ValueError):
    """An environment variable with a value outside its allowed set."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    source: str
    replay_dir: Path
    clock: str
    exchanges: tuple[str, ...] | None  # None = every registered exchange
    alert_webhook: str | None

    @property
    def warehouse(self) -> Path:
        return self.data_dir / "warehouse"

    def as_metadata(self) -> dict[str, str]:
        """What every run shows, so a run that wrote somewhere unexpected is visible."""
        return {
            "data_root": str(self.data_dir),
            "source": self.source,
            "clock": self.clock,
            "replay_dir": str(self.replay_dir) if self.source == "replay" else "-",
            "exchanges": ",".join(self.exchanges) if self.exchanges else "all",
        }


def _choice(env: dict, name: str, allowed: tuple[str, ...], default: str) -> str:
    value = env.get(name, "").strip() or default
    if value not in allowed:
        raise SettingsError(f"{name}={value!r} is not allowed; use one of: {', '.join(allowed)}")
    return value


def load_settings(env: dict[str, str] | None = None, known_exchanges: tuple[str, ...] | None = None) -> Settings:
    """Settings from `env` (default `os.environ`); paths resolved to absolute once, here."""
    env = dict(os.environ if env is None else env)
    raw_dir = env.get("FUNDING_DATA_DIR", "").strip()
    data_dir = Path(raw_dir).expanduser() if raw_dir else REPO_ROOT / "data"
    if data_dir.exists() and not data_dir.is_dir():
        raise SettingsError(f"FUNDING_DATA_DIR={str(data_dir)!r} is a file, not a directory")
    raw_replay = env.get("FUNDING_REPLAY_DIR", "").strip()
    replay_dir = Path(raw_replay).expanduser() if raw_replay else BUNDLED_RECORDINGS
    source = _choice(env, "FUNDING_SOURCE", SOURCES, "live")
    if source == "replay" and not replay_dir.is_dir():
        raise SettingsError(f"FUNDING_REPLAY_DIR={str(replay_dir)!r} is not a directory")
    exchanges = None
    raw_ex = env.get("FUNDING_EXCHANGES", "").strip()
    if raw_ex:
        exchanges = tuple(dict.fromkeys(x.strip() for x in raw_ex.split(",") if x.strip()))
        if known_exchanges is not None:
            unknown = [x for x in exchanges if x not in known_exchanges]
            if unknown:
                raise SettingsError(
                    f"FUNDING_EXCHANGES names unknown exchange(s) {', '.join(unknown)}; "
                    f"known: {', '.join(sorted(known_exchanges))}"
                )
    clock = _choice(env, "FUNDING_CLOCK", CLOCKS, "wall")
    if clock == "simulated" and source != "replay":
        # A simulated clock polls 240 slots back to back: against live venues that is a flood.
        raise SettingsError("FUNDING_CLOCK=simulated needs FUNDING_SOURCE=replay")
    webhook = env.get("FUNDING_ALERT_WEBHOOK", "").strip() or None
    if webhook and not webhook.startswith(("http://", "https://")):
        raise SettingsError(f"FUNDING_ALERT_WEBHOOK={webhook!r} must be an http(s) URL")
    return Settings(
        data_dir=data_dir.resolve(),
        source=source,
        replay_dir=replay_dir.resolve(),
        clock=clock,
        exchanges=exchanges,
        alert_webhook=webhook,
    )
