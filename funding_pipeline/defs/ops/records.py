"""What the ops jobs and sensors read from the Dagster instance (no definitions here).

Check results per partition: the ingest checks are unpartitioned checks on partitioned assets,
so Dagster 1.13 records their evaluations without a partition key (the planned rows of the
partition stay PLANNED). An evaluation is matched to an hour through the materialization it
targeted: the hour's latest materialization, by storage id, or — when a ranged run recorded no
target — by being in the run that wrote that materialization.
"""

from collections.abc import Iterable, Sequence
from datetime import timedelta

import dagster as dg

PAGE = 500
# Evaluations follow their materialization; a run may have started this long before it ended.
EVALUATION_SLACK = timedelta(days=1)
FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]


def check_label(key: dg.AssetCheckKey) -> str:
    return f"{key.asset_key.to_user_string()}.{key.name}"


def _latest_materializations(instance: dg.DagsterInstance, asset_key: dg.AssetKey, partitions: Iterable[str]):
    found = {}
    for partition in partitions:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[partition]), limit=1
        ).records
        if records:
            found[partition] = records[0]
    return found


def _verdicts(instance: dg.DagsterInstance, key: dg.AssetCheckKey, materializations: dict) -> dict[str, bool]:
    """Partition -> passed, from the newest evaluation of `key` that targets the partition's
    latest materialization. Pages back only as far as the oldest of those materializations."""
    by_storage_id = {rec.storage_id: p for p, rec in materializations.items()}
    by_run: dict[str, list[str]] = {}
    for p, rec in materializations.items():
        by_run.setdefault(rec.run_id, []).append(p)
    if not materializations:
        return {}
    oldest = min(rec.timestamp for rec in materializations.values()) - EVALUATION_SLACK.total_seconds()
    verdicts: dict[str, bool] = {}
    cursor = None
    while len(verdicts) < len(materializations):
        page = instance.event_log_storage.get_asset_check_execution_history(key, limit=PAGE, cursor=cursor)
        for record in page:
            event = record.event.dagster_event if record.event is not None else None
            evaluation = event.event_specific_data if event is not None else None
            if not isinstance(evaluation, dg.AssetCheckEvaluation):
                continue  # a planned (never finished) execution
            target = evaluation.target_materialization_data
            if target is not None:
                partitions = [by_storage_id[target.storage_id]] if target.storage_id in by_storage_id else []
            else:
                partitions = by_run.get(record.run_id, [])
            for p in partitions:
                verdicts.setdefault(p, evaluation.passed)
        if len(page) < PAGE or page[-1].create_timestamp < oldest:
            break
        cursor = page[-1].id
    return verdicts


def check_results(
    instance: dg.DagsterInstance, gate: Sequence[dg.AssetCheckKey], partitions: Sequence[str]
) -> dict[str, dict[str, bool | None]]:
    """Partition -> check label -> passed; None when the partition was never materialized or
    no evaluation of that check targets its latest materialization."""
    results: dict[str, dict[str, bool | None]] = {p: {} for p in partitions}
    if not partitions:
        return results
    materializations = {}
    for key in gate:
        if key.asset_key not in materializations:
            materializations[key.asset_key] = _latest_materializations(instance, key.asset_key, partitions)
        verdicts = _verdicts(instance, key, materializations[key.asset_key])
        for p in partitions:
            results[p][check_label(key)] = verdicts.get(p)
    return results


def materialized_assets(instance: dg.DagsterInstance, run_id: str) -> set[str]:
    """Asset keys (user strings) a run materialized, from its event log."""
    assets: set[str] = set()
    cursor = None
    while True:
        conn = instance.get_records_for_run(
            run_id, cursor=cursor, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION, limit=PAGE
        )
        for record in conn.records:
            asset_key = record.event_log_entry.dagster_event.asset_key
            if asset_key is not None:
                assets.add(asset_key.to_user_string())
        if not conn.has_more:
            return assets
        cursor = conn.cursor


def finished_runs_before(instance: dg.DagsterInstance, cutoff) -> list[dg.RunRecord]:
    """Every finished run (success, failure, canceled) last updated before `cutoff`, oldest first.
    Queued, starting, running and canceling runs are never listed."""
    records: list[dg.RunRecord] = []
    cursor = None
    while True:
        page = instance.get_run_records(
            filters=dg.RunsFilter(updated_before=cutoff, statuses=FINISHED), limit=PAGE, cursor=cursor
        )
        records.extend(page)
        if len(page) < PAGE:
            return list(reversed(records))
        cursor = page[-1].dagster_run.run_id


RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"
RECENT_RUNS = 200  # finished runs per job read on each alert tick (about 8 days of collection runs)
SETTLED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE]  # canceled runs say nothing either way


def run_partition(tags: dict[str, str]) -> str | None:
    """The partition a run covered: its partition key, `<first>...<last>` for a ranged run, else None."""
    if "dagster/partition" in tags:
        return tags["dagster/partition"]
    if RANGE_START in tags and RANGE_END in tags:
        return f"{tags[RANGE_START]}...{tags[RANGE_END]}"
    return None


def latest_finished_runs(instance: dg.DagsterInstance, job_name: str, limit: int = RECENT_RUNS) -> list[dg.RunRecord]:
    """The newest succeeded or failed run of each partition (one for an unpartitioned job) among
    the job's last `limit` such runs."""
    records = instance.get_run_records(filters=dg.RunsFilter(job_name=job_name, statuses=SETTLED), limit=limit)
    latest: dict[str | None, dg.RunRecord] = {}
    for record in records:  # newest first
        latest.setdefault(run_partition(record.dagster_run.tags), record)
    return list(latest.values())


def previous_finished_run(instance: dg.DagsterInstance, run: dg.DagsterRun) -> dg.RunRecord | None:
    """The newest succeeded or failed run of the same job and partition created before `run`."""
    partition = run_partition(run.tags)
    tags = {k: run.tags[k] for k in ("dagster/partition", RANGE_START, RANGE_END) if k in run.tags}
    filters = dg.RunsFilter(job_name=run.job_name, tags=tags, statuses=SETTLED)
    cursor = run.run_id  # pages go from newest to oldest: start just before `run`
    while True:
        page = instance.get_run_records(filters=filters, limit=PAGE, cursor=cursor)
        for record in page:
            if run_partition(record.dagster_run.tags) == partition:
                return record
        if len(page) < PAGE:
            return None
        cursor = page[-1].dagster_run.run_id


def freshness_states(instance: dg.DagsterInstance, repository_def: dg.RepositoryDefinition) -> dict[str, str]:
    """Asset -> freshness state recorded by Dagster's freshness daemon (PASS, WARN, FAIL, UNKNOWN)
    for every asset with a freshness policy; assets the daemon has not evaluated are left out."""
    graph = repository_def.asset_graph
    keys = [k for k in graph.get_all_asset_keys() if graph.get(k).freshness_policy is not None]
    records = instance.get_freshness_state_records(keys) if keys else {}
    return {k.to_user_string(): r.freshness_state.value for k, r in records.items()}
