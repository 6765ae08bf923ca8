"""Finds what would make two views of the data disagree: files outside the layout, foreign
DuckDB files, leftover temp files, stale open chunks, wrong schema versions, unreadable files.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from funding_pipeline.lib.settings import REPO_ROOT, Settings
from funding_pipeline.lib.storage import layout
from funding_pipeline.lib.storage.files import file_versions
from funding_pipeline.lib.storage.schemas import TABLES

STALE_OPEN_AFTER = timedelta(minutes=10)


@dataclass
class Finding:
    level: str  # "problem" (exit 1) or "warning"
    path: Path
    what: str


@dataclass
class Report:
    checked: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "problem"]

    def add(self, level: str, path: Path, what: str) -> None:
        self.findings.append(Finding(level, path, what))


def _check_finished(report: Report, warehouse: Path, path: Path) -> None:
    kind = next(k for k in layout.KINDS if path.relative_to(warehouse).parts[0] == k.folder)
    try:
        versions = file_versions(path)
    except duckdb.Error as exc:
        report.add("problem", path, f"cannot be opened read-only: {str(exc).splitlines()[0]}")
        return
    for table in kind.tables:
        expected = TABLES[table].version
        if table not in versions:
            report.add("problem", path, f"no schema version recorded for {table}")
        elif versions[table] != expected:
            report.add("problem", path, f"{table} schema version {versions[table]}, code expects {expected}")


def _open_chunk_age(path: Path, now: datetime) -> timedelta | None:
    try:
        rel = path.relative_to(path.parents[2])
        day, hour, name = rel.parts
        start = datetime.strptime(f"{day} {hour}:{name[:2]}", "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
    except (ValueError, IndexError):
        return None
    return now - (start + timedelta(minutes=5))


def diagnose(settings: Settings, now: datetime | None = None) -> Report:
    now = now or datetime.now(UTC)
    report = Report()
    root, warehouse = settings.data_dir, settings.warehouse
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        name = path.name
        if layout.TMP_MARK in name:
            report.add("problem", path, "leftover temp file of an interrupted write (safe to delete)")
        elif name.endswith(".duckdb" + layout.OPEN_SUFFIX):
            age = _open_chunk_age(path, now)
            if age is None or age > STALE_OPEN_AFTER:
                report.add(
                    "warning",
                    path,
                    "open chunk of a past window: its run stopped; rerun that hour to finish it",
                )
        elif name.endswith(".duckdb"):
            report.checked += 1
            if layout.is_expected(warehouse, path):
                _check_finished(report, warehouse, path)
            elif warehouse in path.parents:
                report.add("problem", path, "stray DuckDB file: not a place the warehouse layout defines")
            else:
                report.add("problem", path, "foreign DuckDB file in the data root, outside warehouse/")
        elif name.endswith(".wal") and not name.endswith(layout.OPEN_SUFFIX + ".wal"):
            report.add("problem", path, "write-ahead log next to a finished file: it was not closed cleanly")
    default_root = (REPO_ROOT / "data").resolve()
    if default_root != root and default_root.is_dir():
        for path in sorted(default_root.rglob("*.duckdb*")):
            report.add("problem", path, f"DuckDB file under the default data root, but the data root is {root}")
    return report
