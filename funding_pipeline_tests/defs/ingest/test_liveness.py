"""A collection run whose worker died is failed within its hour and its hour relaunched.

Runs are recorded in a temporary instance (STARTED, with the collection step's start event);
the hour's chunk files are empty files whose modification times play the heartbeat."""

import os
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from dagster._core.events import DagsterEvent, DagsterEventType

from funding_pipeline.definitions import defs
from funding_pipeline.defs.ingest import sensors
from funding_pipeline.lib import liveness
from funding_pipeline.lib.storage import layout

HOUR = datetime(2026, 11, 23, 10, tzinfo=UTC)
KEY = "2026-11-23-10:00"


@pytest.fixture(scope="module")
def definitions() -> dg.Definitions:
    return defs()


@pytest.fixture
def warehouse(monkeypatch, tmp_path):
    monkeypatch.setenv("FUNDING_DATA_DIR", str(tmp_path))
    for name in ("FUNDING_SOURCE", "FUNDING_CLOCK", "FUNDING_EXCHANGES", "FUNDING_REPLAY_DIR"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "warehouse"


def at(now: datetime, monkeypatch) -> None:
    monkeypatch.setattr(sensors, "wall_now", lambda: now)


def touch(path, when: datetime) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    os.utime(path, (when.timestamp(), when.timestamp()))


def write_hour_until(warehouse, last: datetime) -> None:
    """Closed chunks up to the one holding `last`, which is open; its log written at `last`."""
    start = HOUR
    while start + timedelta(minutes=5) <= last:
        touch(layout.chunk_path(warehouse, start), start + timedelta(minutes=5))
        start += timedelta(minutes=5)
    open_chunk = layout.open_chunk_path(warehouse, start)
    touch(open_chunk, start)
    touch(open_chunk.with_name(open_chunk.name + ".wal"), last)


def started_run(instance, definitions, collecting_since: datetime | None, key: str = KEY) -> str:
    run = instance.create_run_for_job(
        job_def=definitions.resolve_job_def("collection_job"),
        tags={"dagster/partition": key},
        status=dg.DagsterRunStatus.STARTED,
    )
    if collecting_since is not None:
        event = DagsterEvent(DagsterEventType.STEP_START.value, "collection_job", step_key="collection_hour")
        instance.report_dagster_event(event, run.run_id, timestamp=collecting_since.timestamp())
    return run.run_id


def tick(instance, definitions):
    with dg.build_sensor_context(instance=instance, definitions=definitions) as context:
        return sensors.collection_liveness.evaluate_tick(context)


def failure_message(instance, run_id) -> str:
    (event,) = instance.all_logs(run_id, of_type=DagsterEventType.RUN_FAILURE)
    return event.dagster_event.message


def test_a_run_still_writing_is_left_alone(definitions, warehouse, monkeypatch):
    write_hour_until(warehouse, HOUR + timedelta(minutes=31))
    at(HOUR + timedelta(minutes=33), monkeypatch)  # silent 120 s: exactly the limit
    with dg.DagsterInstance.ephemeral() as instance:
        run_id = started_run(instance, definitions, HOUR - timedelta(seconds=55))

        result = tick(instance, definitions)

        assert (result.run_requests, result.skip_message) == ([], f"{KEY}: alive")
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED


def test_a_dead_run_is_failed_and_its_hour_relaunched(definitions, warehouse, monkeypatch):
    write_hour_until(warehouse, HOUR + timedelta(minutes=31))
    at(HOUR + timedelta(minutes=33, seconds=1), monkeypatch)
    with dg.DagsterInstance.ephemeral() as instance:  # run retries off
        run_id = started_run(instance, definitions, HOUR - timedelta(seconds=55))

        result = tick(instance, definitions)

        (request,) = result.run_requests
        assert (request.partition_key, request.run_key, request.tags["funding/relaunch_of"]) == (
            KEY,
            f"relaunch:{run_id}",
            run_id,
        )
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
        assert failure_message(instance, run_id) == (
            "collection of 2026-11-23 10:00 UTC wrote nothing for 121 s (last write 10:31:00 UTC; limit 8 slots "
            "= 120 s): the run's worker is presumed dead; no worker answered a termination request"
        )
        # the next tick sees a failed run: nothing more to do
        assert tick(instance, definitions).run_requests == []


def test_dagster_run_retries_relaunch_when_they_will(definitions, warehouse, monkeypatch):
    write_hour_until(warehouse, HOUR + timedelta(minutes=31))
    at(HOUR + timedelta(minutes=40), monkeypatch)
    with dg.instance_for_test(overrides={"run_retries": {"enabled": True, "max_retries": 2}}) as instance:
        run_id = started_run(instance, definitions, HOUR - timedelta(seconds=55))

        result = tick(instance, definitions)

        assert result.run_requests == []
        failed = instance.get_run_by_id(run_id)
        assert (failed.status, failed.tags["dagster/will_retry"]) == (dg.DagsterRunStatus.FAILURE, "true")


def test_silence_counts_from_the_hour_and_only_once_the_step_started(definitions, warehouse, monkeypatch):
    at(HOUR + timedelta(minutes=5), monkeypatch)
    with dg.DagsterInstance.ephemeral() as instance:
        # launched at 09:59, step started, nothing written yet, 10:00:00 only 5 min ago → dead
        early = started_run(instance, definitions, HOUR - timedelta(seconds=55))
        # STARTED but its collection step has not started (waiting for the duckdb_ingest pool)
        queued = started_run(instance, definitions, None)

        result = tick(instance, definitions)

        assert [r.partition_key for r in result.run_requests] == [KEY]
        assert instance.get_run_by_id(early).status == dg.DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(queued).status == dg.DagsterRunStatus.STARTED

    at(HOUR - timedelta(seconds=10), monkeypatch)  # 09:59:50, the run waits for 10:00:00
    with dg.DagsterInstance.ephemeral() as instance:
        waiting = started_run(instance, definitions, HOUR - timedelta(seconds=55))

        assert tick(instance, definitions).run_requests == []
        assert instance.get_run_by_id(waiting).status == dg.DagsterRunStatus.STARTED


def test_after_its_hour_a_dead_run_is_relaunched_only_to_close_what_it_left_open(definitions, warehouse, monkeypatch):
    write_hour_until(warehouse, HOUR + timedelta(minutes=58, seconds=45))
    at(HOUR + timedelta(hours=1, minutes=5), monkeypatch)
    with dg.DagsterInstance.ephemeral() as instance:
        stranded = started_run(instance, definitions, HOUR - timedelta(seconds=55))
        assert [r.tags["funding/relaunch_of"] for r in tick(instance, definitions).run_requests] == [stranded]

    for path in (warehouse / "market_snapshots").rglob("*.open*"):
        path.unlink()
    with dg.DagsterInstance.ephemeral() as instance:
        done = started_run(instance, definitions, HOUR - timedelta(seconds=55))

        result = tick(instance, definitions)

        assert result.run_requests == []
        assert instance.get_run_by_id(done).status == dg.DagsterRunStatus.FAILURE


def test_last_write_is_the_newest_chunk_file(warehouse):
    assert liveness.last_write(warehouse, HOUR) is None
    write_hour_until(warehouse, HOUR + timedelta(minutes=12, seconds=30))
    touch(layout.chunk_path(warehouse, HOUR).parent / "notes.txt", HOUR + timedelta(minutes=50))  # not a chunk

    assert liveness.last_write(warehouse, HOUR) == HOUR + timedelta(minutes=12, seconds=30)
    assert [p.name for p in liveness.open_chunks(warehouse, HOUR)] == ["10.duckdb.open"]


def test_the_watched_step_is_the_collection_step(definitions):
    nodes = [n.name for n in definitions.resolve_job_def("collection_job").graph.node_defs]

    assert sensors.COLLECTION_STEP == "collection_hour" and sensors.COLLECTION_STEP in nodes


def test_a_hung_worker_is_sent_a_termination_before_the_relaunch(definitions, warehouse, monkeypatch):
    write_hour_until(warehouse, HOUR + timedelta(minutes=31))
    at(HOUR + timedelta(minutes=33, seconds=1), monkeypatch)
    with dg.DagsterInstance.ephemeral() as instance:
        run_id = started_run(instance, definitions, HOUR - timedelta(seconds=55))
        asked = []

        def terminate(rid):
            asked.append((rid, instance.get_run_by_id(rid).status))
            return True

        monkeypatch.setattr(instance.run_launcher, "terminate", terminate)

        (request,) = tick(instance, definitions).run_requests

        assert asked == [(run_id, dg.DagsterRunStatus.STARTED)]  # before the run is failed
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
        assert failure_message(instance, run_id).endswith("presumed dead; termination sent to its worker")
        assert request.run_key == f"relaunch:{run_id}"


def test_a_failing_termination_still_fails_and_relaunches(definitions, warehouse, monkeypatch):
    write_hour_until(warehouse, HOUR + timedelta(minutes=31))
    at(HOUR + timedelta(minutes=33, seconds=1), monkeypatch)
    with dg.DagsterInstance.ephemeral() as instance:
        run_id = started_run(instance, definitions, HOUR - timedelta(seconds=55))

        def terminate(rid):
            raise RuntimeError("code server unreachable")

        monkeypatch.setattr(instance.run_launcher, "terminate", terminate)

        (request,) = tick(instance, definitions).run_requests

        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
        assert failure_message(instance, run_id).endswith("no worker answered a termination request")
        assert request.partition_key == KEY
