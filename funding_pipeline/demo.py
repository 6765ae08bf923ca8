"""`funding-pipeline demo`: the whole asset graph, offline, through Dagster.

Runs the real jobs (same assets, same checks) in process against the instance at
`DAGSTER_HOME`, with replay recordings and the simulated clock unless the environment says
otherwise, then prints what landed per venue and every check result.

History and candle cassettes depend on the dates asked for, so in replay the demo generates
them for its window (`lib/recordings.py`) into `<DAGSTER_HOME>/demo_replay/`, next to a copy of
the poll recordings, and points `FUNDING_REPLAY_DIR` there for every run.
"""

import os
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

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


def _prepare_replay(home: Path, start: datetime, end: datetime) -> Path | None:
    """In replay, a folder holding the configured poll recordings plus history and candle
    cassettes generated for [start, end); `FUNDING_REPLAY_DIR` then points at it."""
    from funding_pipeline.lib import recordings
    from funding_pipeline.lib.settings import load_settings

    current = load_settings()
    if current.source != "replay":
        return None
    folder = home / "demo_replay"
    if folder.resolve() != current.replay_dir:
        shutil.rmtree(folder, ignore_errors=True)
    recordings.prepare_replay_dir(folder, start, end, base=current.replay_dir)
    os.environ["FUNDING_REPLAY_DIR"] = str(folder)
    return folder


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


def _range(first: str, last: str) -> dict[str, str]:
    """Tags of a single-run backfill over a partition range."""
    return {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}


class Step(NamedTuple):
    label: str
    job: str
    partition_key: str | None = None
    tags: dict[str, str] | None = None


def plan(hours: list[datetime], exchanges: list[str]) -> list[Step]:
    """The runs in dependency order. History comes after the collection, so venues without a
    history endpoint derive their prints from the snapshots just stored; each venue's days are
    one single-run backfill, as a user launches them."""
    keys = [_hour_key(h) for h in hours]
    first, last = hours[0].date(), (hours[-1] + timedelta(hours=1) - timedelta(microseconds=1)).date()
    days = f"{first}" if first == last else f"{first}..{last}"
    steps = [Step(f"collection_job[{k}]", "collection_job", k) for k in keys]
    steps += [Step(f"stats_1h_job[{k}]", "stats_1h_job", k) for k in keys]
    steps.append(Step("tokens_job", "tokens_job"))
    steps += [
        Step(f"funding_history_job[{days}|{e}]", "funding_history_job", tags=_range(f"{first}|{e}", f"{last}|{e}"))
        for e in exchanges
    ]
    steps.append(Step(f"price_candles_job[{days}]", "price_candles_job", tags=_range(f"{first}", f"{last}")))
    steps.append(Step("funding_ma_job", "funding_ma_job"))
    return steps


def _summary(con, window: list[datetime]) -> None:
    start, end = window[0], window[-1] + timedelta(hours=1)
    polls = con.execute(
        "SELECT exchange, count(*) AS slots, count(*) FILTER (WHERE ok) AS ok_slots, sum(rows) AS rows, "
        "sum(rejected) AS rejected, any_value(error) FILTER (WHERE NOT ok) AS last_error "
        "FROM tracker_polls WHERE slot_at >= ? AND slot_at < ? GROUP BY exchange ORDER BY exchange",
        [start, end],
    ).fetchall()
    prints = dict(
        con.execute(
            "SELECT exchange, count(*) FROM funding_rate_history WHERE funding_time < ? GROUP BY exchange", [end]
        ).fetchall()
    )
    print(f"\n{'venue':<12} {'slots':>6} {'ok':>6} {'rows':>8} {'rejected':>8} {'prints':>7}  last error")
    for exchange, slots, ok_slots, n, rejected, error in polls:
        line = f"{exchange:<12} {slots:>6} {ok_slots:>6} {n:>8} {rejected:>8} {prints.get(exchange, 0):>7}"
        print(f"{line}  {(error or '')[:60]}")
    counts = {
        table: con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # sql-ok: fixed table names
        for table in ("market_stats_1h", "normalized_tokens", "funding_arbitrage", "funding_rate_ma", "price_candles")
    }
    print("  " + ", ".join(f"{table}: {n} rows" for table, n in counts.items()))


def run_demo(hours: int, end: str | None) -> int:
    home = _prepare_environment()
    window = _hours(hours, end)
    replay = _prepare_replay(home, window[0], window[-1] + timedelta(hours=1))
    import dagster as dg

    from funding_pipeline import warehouse
    from funding_pipeline.definitions import defs
    from funding_pipeline.defs.metadata import enabled_exchange_ids, settings

    current = settings()
    print(f"demo: {len(window)} hour(s) {window[0]:%Y-%m-%d %H:00} .. {window[-1] + timedelta(hours=1):%H:00} UTC")
    print(f"  data root: {current.data_dir}\n  source: {current.source}, clock: {current.clock}")
    if replay:
        print(f"  replay: {replay} (history and candle cassettes generated for the window)")
    print(f"  dagster instance: {home}")
    definitions = defs()
    instance = dg.DagsterInstance.get()
    failed_runs, failed_checks = [], []
    started = time.monotonic()
    for step in plan(window, enabled_exchange_ids(current)):
        job = definitions.resolve_job_def(step.job)
        t0 = time.monotonic()
        result = job.execute_in_process(
            run_config=QUIET, instance=instance, partition_key=step.partition_key, tags=step.tags, raise_on_error=False
        )
        print(f"  {step.label}: {'ok' if result.success else 'FAILED'} in {time.monotonic() - t0:.1f}s")
        if not result.success:
            failed_runs.append(step.label)
        for ev in result.get_asset_check_evaluations():
            if not ev.passed:
                failed_checks.append((step.label, ev.asset_key.to_user_string(), ev.check_name, ev.severity.value))
    with warehouse.connect(current.data_dir) as con:
        _summary(con, window)
    print(f"\nfinished in {time.monotonic() - started:.0f}s")
    for label, asset, check, severity in failed_checks:
        print(f"check failed: {asset}.{check} ({severity}) in {label}")
    if failed_runs:
        print(f"failed runs: {', '.join(failed_runs)}")
    blocking = [c for c in failed_checks if c[3] == "ERROR"]
    return 1 if failed_runs or blocking else 0
