"""`funding-pipeline demo`: the whole asset graph, offline, through Dagster.

Runs the real jobs (same assets, same checks) in process against the instance at
`DAGSTER_HOME`, with replay recordings and the simulated clock unless the environment says
otherwise, then prints what landed per venue and every check result.
"""

import os
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from funding_pipeline.lib.settings import REPO_ROOT

# Run logs stay complete in the instance (UI); the terminal shows warnings and errors only.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _prepare_environment() -> Path:
    os.environ.setdefault("FUNDING_SOURCE", "replay")
    os.environ.setdefault("FUNDING_CLOCK", "simulated")
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(REPO_ROOT / ".dagster_home"))).resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        shutil.copyfile(REPO_ROOT / "dagster.yaml", config)
    return home


def _hours(hours: int, end: str | None) -> list[datetime]:
    if hours < 1:
        raise ValueError("--hours must be at least 1")
    if end:
        stop = datetime.fromisoformat(end)
        stop = stop.replace(tzinfo=UTC) if stop.tzinfo is None else stop.astimezone(UTC)
    else:
        stop = datetime.now(UTC)
    stop = stop.replace(minute=0, second=0, microsecond=0)
    return [stop - timedelta(hours=h) for h in range(hours, 0, -1)]


def _hour_key(hour: datetime) -> str:
    return f"{hour:%Y-%m-%d-%H:%M}"


def plan(hours: list[datetime]) -> list[tuple[str, list[str | None]]]:
    """(job name, partition keys) in dependency order; `None` = unpartitioned."""
    keys = [_hour_key(h) for h in hours]
    return [
        ("collection_job", keys),
        ("stats_1h_job", keys),
        ("tokens_job", [None]),
    ]


def run_demo(hours: int, end: str | None) -> int:
    home = _prepare_environment()
    import dagster as dg

    from funding_pipeline import warehouse
    from funding_pipeline.definitions import defs
    from funding_pipeline.defs.metadata import settings

    current = settings()
    window = _hours(hours, end)
    print(f"demo: {len(window)} hour(s) {window[0]:%Y-%m-%d %H:00} .. {window[-1] + timedelta(hours=1):%H:00} UTC")
    print(f"  data root: {current.data_dir}\n  source: {current.source}, clock: {current.clock}")
    print(f"  dagster instance: {home}")
    definitions = defs()
    instance = dg.DagsterInstance.get()
    failed_runs, failed_checks = [], []
    started = time.monotonic()
    for job_name, partition_keys in plan(window):
        job = definitions.resolve_job_def(job_name)
        for key in partition_keys:
            t0 = time.monotonic()
            result = job.execute_in_process(
                run_config=QUIET, instance=instance, partition_key=key, raise_on_error=False
            )
            label = f"{job_name}[{key}]" if key else job_name
            print(f"  {label}: {'ok' if result.success else 'FAILED'} in {time.monotonic() - t0:.1f}s")
            if not result.success:
                failed_runs.append(label)
            for ev in result.get_asset_check_evaluations():
                if not ev.passed:
                    failed_checks.append((label, ev.asset_key.to_user_string(), ev.check_name, ev.severity.value))
    with warehouse.connect(current.data_dir, tables=["tracker_polls"]) as con:
        rows = con.execute(
            "SELECT exchange, count(*) AS slots, count(*) FILTER (WHERE ok) AS ok_slots, sum(rows) AS rows, "
            "sum(rejected) AS rejected, any_value(error) FILTER (WHERE NOT ok) AS last_error "
            "FROM tracker_polls WHERE slot_at >= ? AND slot_at < ? GROUP BY exchange ORDER BY exchange",
            [window[0], window[-1] + timedelta(hours=1)],
        ).fetchall()
    print(f"\n{'venue':<12} {'slots':>6} {'ok':>6} {'rows':>8} {'rejected':>8}  last error")
    for exchange, slots, ok_slots, n, rejected, error in rows:
        print(f"{exchange:<12} {slots:>6} {ok_slots:>6} {n:>8} {rejected:>8}  {(error or '')[:60]}")
    print(f"\nfinished in {time.monotonic() - started:.0f}s")
    for label, asset, check, severity in failed_checks:
        print(f"check failed: {asset}.{check} ({severity}) in {label}")
    if failed_runs:
        print(f"failed runs: {', '.join(failed_runs)}")
    blocking = [c for c in failed_checks if c[3] == "ERROR"]
    return 1 if failed_runs or blocking else 0
