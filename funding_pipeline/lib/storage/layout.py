"""Where every file lives under `<data root>/warehouse/`, and which tables each file holds.

Granularity keeps common reads to tens of files: one hour of raw rows = 12 chunk files, one
hour of 1m rows = 12 files, 30 days of 1h rows = 30 files.
"""

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

OPEN_SUFFIX = ".open"  # a chunk still being written: `<MM>.duckdb.open`, never read
TMP_MARK = ".tmp-"  # copy-on-write temp files: `.<name>.tmp-<hex>`


@dataclass(frozen=True)
class FileKind:
    folder: str
    pattern: re.Pattern
    tables: tuple[str, ...]

    def files(self, warehouse: Path, since: datetime | None = None) -> list[Path]:
        """The finished files of this kind; with `since`, only those whose period ends after it
        (files without a period, such as `latest.duckdb`, always)."""
        root = warehouse / self.folder
        if not root.is_dir():
            return []
        found = (p for p in root.rglob("*.duckdb") if self.pattern.fullmatch(p.relative_to(root).as_posix()))
        if since is not None:
            found = (p for p in found if (end := period_end(p.relative_to(root).as_posix())) is None or end > since)
        return sorted(found)


def period_end(relative: str) -> datetime | None:
    """End of the time a file covers, from its path under its folder: a 5-minute chunk
    (`<day>/<HH>/<MM>`), a day, a month (`<exchange>/<YYYY-MM>`) or a year; None for the rest."""
    stem = relative.removesuffix(".duckdb")
    if m := re.fullmatch(rf"({_DAY})/(\d{{2}})/(\d{{2}})", stem):
        start = datetime.strptime(" ".join(m.groups()), "%Y-%m-%d %H %M").replace(tzinfo=UTC)
        return start + timedelta(minutes=5)
    if re.fullmatch(_DAY, stem):
        return datetime.strptime(stem, "%Y-%m-%d").replace(tzinfo=UTC) + timedelta(days=1)
    if m := re.fullmatch(r"[a-z0-9_]+/(\d{4})-(\d{2})", stem):
        year, month = int(m[1]), int(m[2])
        return datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    if re.fullmatch(r"\d{4}", stem):
        return datetime(int(stem) + 1, 1, 1, tzinfo=UTC)
    return None


_DAY = r"\d{4}-\d{2}-\d{2}"


def _latest(folder: str) -> FileKind:
    return FileKind(folder, re.compile(r"latest\.duckdb"), (folder,))


KINDS: tuple[FileKind, ...] = (
    FileKind(
        "market_snapshots",
        re.compile(rf"{_DAY}/\d{{2}}/\d{{2}}\.duckdb"),
        ("market_snapshots", "tracker_polls"),
    ),
    FileKind("market_stats_1m", re.compile(rf"{_DAY}/\d{{2}}/\d{{2}}\.duckdb"), ("market_stats_1m",)),
    FileKind("market_stats_1h", re.compile(rf"{_DAY}\.duckdb"), ("market_stats_1h",)),
    FileKind("funding_rate_history", re.compile(r"[a-z0-9_]+/\d{4}-\d{2}\.duckdb"), ("funding_rate_history",)),
    FileKind("price_candles", re.compile(r"\d{4}\.duckdb"), ("price_candles",)),
    _latest("tracker_status"),
    _latest("normalized_tokens"),
    _latest("funding_arbitrage"),
    _latest("cross_exchange_funding"),
    _latest("cross_exchange_weights"),
    _latest("funding_rate_ma"),
    _latest("accumulated_funding"),
    _latest("funding_arbitrage_ma"),
)


def kind_of_table(table: str) -> FileKind:
    return next(k for k in KINDS if table in k.tables)


def chunk_path(warehouse: Path, chunk_start: datetime) -> Path:
    return warehouse / "market_snapshots" / f"{chunk_start:%Y-%m-%d}" / f"{chunk_start:%H}" / f"{chunk_start:%M}.duckdb"


def open_chunk_path(warehouse: Path, chunk_start: datetime) -> Path:
    final = chunk_path(warehouse, chunk_start)
    return final.with_name(final.name + OPEN_SUFFIX)


def stats_1m_path(warehouse: Path, chunk_start: datetime) -> Path:
    """The 1-minute rows of one chunk: written once when the chunk closes, never appended to."""
    return warehouse / "market_stats_1m" / f"{chunk_start:%Y-%m-%d}" / f"{chunk_start:%H}" / f"{chunk_start:%M}.duckdb"


def hour_files(warehouse: Path, hour: datetime, path_of) -> list[Path]:
    """The existing per-chunk files (`chunk_path` or `stats_1m_path`) of one hour."""
    paths = (path_of(warehouse, hour + timedelta(minutes=5 * k)) for k in range(12))
    return [p for p in paths if p.exists()]


def hour_signature(warehouse: Path, hour: datetime) -> str | None:
    """Which 1-minute files the hour has and when each was last written, in one string: it
    changes when a chunk of the hour is closed (or re-aggregated) after its 1h was built."""
    parts = []
    for path in hour_files(warehouse, hour, stats_1m_path):
        try:
            parts.append(f"{path.stem}@{path.stat().st_mtime_ns}")
        except FileNotFoundError:  # deleted since it was listed (retention)
            continue
    return ",".join(parts) or None


def first_stats_1m_hour(warehouse: Path) -> datetime | None:
    """The oldest hour with a 1-minute file (from the folder names; None when there is none)."""
    root = warehouse / "market_stats_1m"
    days = sorted(p for p in root.glob("????-??-??") if p.is_dir()) if root.is_dir() else []
    for day in days:
        for hour in sorted(p for p in day.glob("??") if p.is_dir()):
            if any(hour.glob("??.duckdb")):
                return datetime.strptime(f"{day.name} {hour.name}", "%Y-%m-%d %H").replace(tzinfo=UTC)
    return None


def stats_1h_path(warehouse: Path, day: date) -> Path:
    return warehouse / "market_stats_1h" / f"{day:%Y-%m-%d}.duckdb"


def history_path(warehouse: Path, exchange: str, day: date) -> Path:
    return warehouse / "funding_rate_history" / exchange / f"{day:%Y-%m}.duckdb"


def candles_path(warehouse: Path, day: date) -> Path:
    return warehouse / "price_candles" / f"{day:%Y}.duckdb"


def latest_path(warehouse: Path, table: str) -> Path:
    return warehouse / table / "latest.duckdb"


def is_expected(warehouse: Path, path: Path) -> bool:
    """True for a finished file at a place the layout defines."""
    try:
        rel = path.relative_to(warehouse)
    except ValueError:
        return False
    parts = rel.parts
    if len(parts) < 2:
        return False
    inner = Path(*parts[1:]).as_posix()
    return any(k.folder == parts[0] and k.pattern.fullmatch(inner) for k in KINDS)
