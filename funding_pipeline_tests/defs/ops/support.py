"""Shared by the ops tests: quiet run config, the collected hour, running a job, reading op output."""

import dagster as dg

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
HOUR_KEY = "2026-11-23-10:00"  # the hour the session's `collected_root` holds


def run(definitions: dg.Definitions, instance: dg.DagsterInstance, job: str, config: dict | None = None, **kw):
    return definitions.resolve_job_def(job).execute_in_process(
        run_config={**QUIET, **(config or {})}, instance=instance, raise_on_error=False, **kw
    )


def output_metadata(result, op: str) -> dict:
    (event,) = [e for e in result.events_for_node(op) if e.event_type_value == "STEP_OUTPUT"]
    return {k: v.value for k, v in event.event_specific_data.metadata.items()}
