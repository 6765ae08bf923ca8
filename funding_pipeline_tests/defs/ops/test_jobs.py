"""The retention and run-pruning jobs, run through Dagster against the collected hour."""

from datetime import UTC, datetime, timedelta

import dagster as dg

from funding_pipeline.lib.storage import layout
from funding_pipeline.lib.storage.files import write_atomic
from funding_pipeline.lib.storage.schemas import MARKET_STATS_1M
from funding_pipeline_tests.defs.ops.support import HOUR_KEY, output_metadata, run

HOUR = datetime(2026, 11, 23, 10, tzinfo=UTC)
RAW_GATE = "market_snapshots.finite_values, market_snapshots.no_duplicate_snapshots, market_stats_1m.samples_match_raw"


def retention(definitions, instance, as_of: str, **config):
    result = run(
        definitions, instance, "retention_job", {"ops": {"apply_retention": {"config": {"as_of": as_of, **config}}}}
    )
    assert result.success
    return output_metadata(result, "apply_retention")


def files(root, table: str) -> list[str]:
    folder = root / "warehouse" / table
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.duckdb")) if folder.exists() else []


def observations(instance, asset: str, partitions: list[str]) -> list[dict]:
    records = instance.fetch_observations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=partitions), limit=100
    ).records
    return sorted(
        [
            {
                "partition": r.partition_key,
                **{
                    k: v.value
                    for k, v in r.asset_observation.metadata.items()
                    if k in ("data_present", "tier", "files_deleted")
                },
            }
            for r in records
        ],
        key=lambda o: o["partition"],
    )


def test_each_tier_goes_only_after_the_next_one_exists_and_passed_its_checks(ops_env, definitions, instance):
    root = ops_env
    assert run(definitions, instance, "collection_job", partition_key=HOUR_KEY).success  # rerun: records checks

    raw_gone = retention(definitions, instance, "2026-11-30T11:00")

    assert files(root, "market_snapshots") == []
    assert len(files(root, "market_stats_1m")) == 12
    assert raw_gone["per_tier"]["raw"] == {"expired": 1, "deleted": 1, "kept": 0}
    assert raw_gone["files_deleted"] == 12
    expected = [{"partition": HOUR_KEY, "data_present": False, "tier": "raw", "files_deleted": 12}]
    assert observations(instance, "market_snapshots", [HOUR_KEY]) == expected
    assert observations(instance, "tracker_polls", [HOUR_KEY]) == expected

    waits_for_1h = retention(definitions, instance, "2026-12-23T11:00")

    assert waits_for_1h["kept"] == [
        "1m 2026-11-23 10:00: next tier file market_stats_1h/2026-11-23.duckdb does not exist"
    ]
    assert len(files(root, "market_stats_1m")) == 12

    assert run(definitions, instance, "stats_1h_job", partition_key=HOUR_KEY).success
    m1_gone = retention(definitions, instance, "2026-12-23T11:00")

    assert m1_gone["per_tier"]["1m"] == {"expired": 1, "deleted": 1, "kept": 0}
    assert files(root, "market_stats_1m") == []
    assert files(root, "market_stats_1h") == ["2026-11-23.duckdb"]

    h1_gone = retention(definitions, instance, "2027-12-29T00:00")

    assert h1_gone["per_tier"]["1h"] == {"expired": 1, "deleted": 1, "kept": 0}
    assert files(root, "market_stats_1h") == []
    day = [f"2026-11-23-{h:02d}:00" for h in range(24)]
    assert [o["partition"] for o in observations(instance, "market_stats_1h", day)] == day


def test_hours_whose_checks_were_never_recorded_are_kept(ops_env, definitions, instance):
    # collected outside Dagster: no materialization, no check evaluation in this instance
    meta = retention(definitions, instance, "2026-12-01T00:00")

    assert meta["kept"] == [f"raw 2026-11-23 10:00: check(s) not recorded: {RAW_GATE}"]
    assert len(files(ops_env, "market_snapshots")) == 12


def test_a_failed_later_check_keeps_the_raw_hour(ops_env, definitions, instance):
    assert run(definitions, instance, "collection_job", partition_key=HOUR_KEY).success
    # one 1-minute file loses its rows; the check, run again on its own, now fails
    write_atomic(layout.stats_1m_path(ops_env / "warehouse", HOUR), [MARKET_STATS_1M], lambda con: None)
    check = dg.AssetCheckKey(dg.AssetKey("market_stats_1m"), "samples_match_raw")
    only_check = definitions.resolve_job_def("collection_job").get_subset(
        asset_selection=set(), asset_check_selection={check}
    )
    result = only_check.execute_in_process(instance=instance, partition_key=HOUR_KEY, raise_on_error=False)
    assert [e.passed for e in result.get_asset_check_evaluations()] == [False]

    meta = retention(definitions, instance, "2026-12-01T00:00")

    assert meta["kept"] == ["raw 2026-11-23 10:00: check(s) failed: market_stats_1m.samples_match_raw"]
    assert len(files(ops_env, "market_snapshots")) == 12


def test_dry_run_and_env_override(ops_env, definitions, instance, monkeypatch):
    assert run(definitions, instance, "collection_job", partition_key=HOUR_KEY).success
    monkeypatch.setenv("FUNDING_RETENTION_RAW_DAYS", "2")

    meta = retention(definitions, instance, "2026-11-25T11:00", dry_run=True)

    assert meta["policy_days"] == {"raw": 2.0, "1m": 30.0, "1h": 400.0, "runs": 30.0}
    assert meta["would_delete"] == ["raw 2026-11-23 10:00"]
    assert meta["files_deleted"] == 0
    assert len(files(ops_env, "market_snapshots")) == 12
    assert observations(instance, "market_snapshots", [HOUR_KEY]) == []


def prune(definitions, instance, as_of: datetime):
    config = {"ops": {"prune_runs": {"config": {"as_of": as_of.isoformat()}}}}
    result = run(definitions, instance, "prune_runs_job", config)
    assert result.success
    return result.run_id, output_metadata(result, "prune_runs")


def test_prune_deletes_old_finished_runs_but_never_running_ones_or_those_whose_data_lives(
    ops_env, definitions, instance
):
    stats_1h = run(definitions, instance, "stats_1h_job", partition_key=HOUR_KEY).run_id  # data kept 400 d
    dry = run(definitions, instance, "retention_job", {"ops": {"apply_retention": {"config": {"dry_run": True}}}})
    bad = run(definitions, instance, "retention_job", {"ops": {"apply_retention": {"config": {"raw_days": 0.5}}}})
    assert dry.success and not bad.success
    running = instance.create_run_for_job(
        definitions.resolve_job_def("retention_job"), status=dg.DagsterRunStatus.STARTED
    ).run_id
    now = datetime.now(UTC)

    first, meta = prune(definitions, instance, now + timedelta(days=31))

    assert meta["runs_deleted"] == 2
    assert meta["runs_kept_for_data"] == 1
    assert {r.dagster_run.run_id for r in instance.get_run_records()} == {stats_1h, running, first}
    assert instance.all_logs(dry.run_id) == []

    second, meta = prune(definitions, instance, now + timedelta(days=403))

    assert meta["runs_deleted"] == 2  # the stats_1h run and the first prune run
    assert {r.dagster_run.run_id for r in instance.get_run_records()} == {running, second}
