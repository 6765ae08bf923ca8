"""The alert sensors against the collected hour (hyperliquid, all 240 slots; `okx` enabled but
never polled), with the webhook behind `httpx.MockTransport`."""

import json
import shutil
import time

import dagster as dg
import httpx
import pytest

from funding_pipeline.defs.ops.resources import AlertWebhook
from funding_pipeline.defs.ops.sensors import funding_alerts, run_failure_alerts
from funding_pipeline_tests.defs.ops.support import run
from funding_pipeline_tests.handbuilt import HOUR, build_chunk

URL = "https://hooks.example.test/alerts"


class Hook:
    """What the webhook received; `status` is what it answers."""

    def __init__(self):
        self.received: list[dict] = []
        self.status = 204

    def handler(self, request: httpx.Request) -> httpx.Response:
        assert (request.method, str(request.url)) == ("POST", URL)
        self.received.append(json.loads(request.content))
        return httpx.Response(self.status)

    def texts(self) -> list[str]:
        texts = [m["text"] for m in self.received]
        self.received.clear()
        return texts


@pytest.fixture
def hook() -> Hook:
    return Hook()


@pytest.fixture
def webhook_env(ops_env, monkeypatch):
    monkeypatch.setenv("FUNDING_ALERT_WEBHOOK", URL)
    return ops_env


@pytest.fixture
def alert_env(webhook_env, monkeypatch):
    monkeypatch.setenv("FUNDING_EXCHANGES", "hyperliquid,okx")
    return webhook_env


def webhook(hook: Hook) -> AlertWebhook:
    class MockedWebhook(AlertWebhook):
        def transport(self) -> httpx.BaseTransport:
            return httpx.MockTransport(hook.handler)

    return MockedWebhook()


def tick(definitions, instance, hook, cursor=None) -> str:
    with dg.build_sensor_context(
        instance=instance, cursor=cursor, definitions=definitions, resources={"alert_webhook": webhook(hook)}
    ) as context:
        return funding_alerts.evaluate_tick(context).cursor


def firing(cursor: str) -> list[str]:
    return sorted(json.loads(cursor)["firing"])


OKX_SHARE = (
    "[funding_pipeline] FIRING venue_share: okx wrote rows in 0.0% of the last hour's 240 polled slots "
    "(alert below 95.0%)"
)
OKX_SILENT = (
    "[funding_pipeline] FIRING venue_silent: okx wrote nothing in the last 240 consecutive polled slots (alert at 8)"
)


def test_a_failing_venue_alerts_once_and_stays_in_the_cursor(alert_env, definitions, instance, hook):
    first = tick(definitions, instance, hook)

    assert hook.texts() == [OKX_SHARE, OKX_SILENT]
    assert firing(first) == ["venue_share:okx", "venue_silent:okx"]

    second = tick(definitions, instance, hook, first)

    assert hook.texts() == []
    assert second == first


def test_payload_sent_to_the_webhook(alert_env, definitions, instance, hook):
    tick(definitions, instance, hook)

    assert hook.received[0] == {
        "text": OKX_SHARE,
        "content": OKX_SHARE,
        "condition": "venue_share",
        "key": "venue_share:okx",
        "subject": "okx",
        "state": "firing",
        "since": "2026-11-23T11:00:00+00:00",  # the simulated clock: end of the newest chunk
        "at": "2026-11-23T11:00:00+00:00",
        "details": {
            "slots": 240,
            "ok_slots": 0,
            "silent_slots": 240,
            "last_error": None,
            "share": 0.0,
            "threshold": 0.95,
        },
        "source": "funding_pipeline",
    }


def test_a_venue_no_longer_enabled_resolves(alert_env, definitions, instance, hook, monkeypatch):
    cursor = tick(definitions, instance, hook)
    hook.texts()
    monkeypatch.setenv("FUNDING_EXCHANGES", "hyperliquid")

    cursor = tick(definitions, instance, hook, cursor)

    assert hook.texts() == [
        "[funding_pipeline] RESOLVED venue_share after 0 min: okx: no longer monitored",
        "[funding_pipeline] RESOLVED venue_silent after 0 min: okx: no longer monitored",
    ]
    assert firing(cursor) == []


def test_an_undelivered_alert_is_sent_again_next_tick(alert_env, definitions, instance, hook):
    hook.status = 500
    cursor = tick(definitions, instance, hook)

    assert len(hook.texts()) == 2
    assert firing(cursor) == []

    hook.status = 204
    cursor = tick(definitions, instance, hook, cursor)

    assert hook.texts() == [OKX_SHARE, OKX_SILENT]
    assert firing(cursor) == ["venue_share:okx", "venue_silent:okx"]


def test_without_a_webhook_alerts_are_only_logged(alert_env, definitions, instance, hook, monkeypatch):
    monkeypatch.delenv("FUNDING_ALERT_WEBHOOK")

    cursor = tick(definitions, instance, hook)

    assert hook.received == []
    assert firing(cursor) == ["venue_share:okx", "venue_silent:okx"]


def test_a_failed_run_alerts_at_once_and_resolves_when_the_job_next_succeeds(webhook_env, definitions, instance, hook):
    failed = run(definitions, instance, "retention_job", {"ops": {"apply_retention": {"config": {"raw_days": 0.5}}}})
    assert not failed.success
    context = dg.build_run_status_sensor_context(
        sensor_name="run_failure_alerts",
        dagster_event=failed.get_run_failure_event(),
        dagster_instance=instance,
        dagster_run=failed.dagster_run,
        resources={"alert_webhook": webhook(hook)},
    ).for_run_failure()

    run_failure_alerts(context)

    (message,) = hook.received
    assert message["text"].startswith(
        f"[funding_pipeline] FIRING run_failed: retention_job: run {failed.run_id[:8]} failed: "
    )
    assert (message["key"], message["state"], message["details"]["run_id"]) == (
        "run_failed:retention_job",
        "firing",
        failed.run_id,
    )
    hook.texts()

    cursor = tick(definitions, instance, hook)

    assert hook.texts() == []  # already announced by the run-failure sensor
    assert firing(cursor) == ["run_failed:retention_job"]

    fixed = run(definitions, instance, "retention_job", {"ops": {"apply_retention": {"config": {"dry_run": True}}}})
    assert fixed.success
    cursor = tick(definitions, instance, hook, cursor)

    assert hook.texts() == [
        f"[funding_pipeline] RESOLVED run_failed after 0 min: retention_job: latest finished run {fixed.run_id[:8]} "
        "succeeded"
    ]
    assert firing(cursor) == []


def report_freshness(instance, asset: str, new: str, previous: str) -> None:
    # What Dagster's freshness daemon records; its event class is not exported at the top level.
    from dagster._core.definitions.freshness import FreshnessState, FreshnessStateChange

    instance.report_runless_asset_event(
        FreshnessStateChange(
            key=dg.AssetKey(asset),
            new_state=FreshnessState(new),
            previous_state=FreshnessState(previous),
            state_change_timestamp=time.time(),
        )
    )


def test_a_failing_freshness_policy_alerts_and_resolves(webhook_env, definitions, instance, hook):
    report_freshness(instance, "market_stats_1h", "FAIL", "PASS")

    cursor = tick(definitions, instance, hook)

    assert hook.texts() == ["[funding_pipeline] FIRING freshness: market_stats_1h: freshness policy state FAIL"]

    report_freshness(instance, "market_stats_1h", "WARN", "FAIL")
    cursor = tick(definitions, instance, hook, cursor)

    assert hook.texts() == [
        "[funding_pipeline] RESOLVED freshness after 0 min: market_stats_1h: freshness policy state WARN"
    ]
    assert firing(cursor) == []


def fail_alert(instance, hook, result) -> None:
    """What the run-failure sensor does for `result`'s failed run."""
    context = dg.build_run_status_sensor_context(
        sensor_name="run_failure_alerts",
        dagster_event=result.get_run_failure_event(),
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        resources={"alert_webhook": webhook(hook)},
    ).for_run_failure()
    run_failure_alerts(context)


def stats_1h(definitions, instance, partition: str, **tags):
    return run(definitions, instance, "stats_1h_job", partition_key=partition, tags=tags or None)


def test_run_failures_alert_once_per_job_and_partition_and_resolve_per_partition(
    webhook_env, definitions, instance, hook
):
    # No 1-minute files for 05:00 and 06:00 (the collected hour is 10:00): those runs fail.
    first = stats_1h(definitions, instance, "2026-11-23-05:00")
    fail_alert(instance, hook, first)
    retry = stats_1h(definitions, instance, "2026-11-23-05:00", **{"dagster/parent_run_id": first.run_id})
    fail_alert(instance, hook, retry)
    other = stats_1h(definitions, instance, "2026-11-23-06:00")
    fail_alert(instance, hook, other)

    assert not (first.success or retry.success or other.success)
    assert [(m["key"], m["state"], m["details"]["run_id"]) for m in hook.received] == [
        ("run_failed:stats_1h_job:2026-11-23-05:00", "firing", first.run_id),
        ("run_failed:stats_1h_job:2026-11-23-06:00", "firing", other.run_id),
    ]
    assert hook.texts()[0].startswith(
        f"[funding_pipeline] FIRING run_failed: stats_1h_job: run {first.run_id[:8]} for partition "
        "2026-11-23-05:00 failed: "
    )

    cursor = tick(definitions, instance, hook)
    assert hook.texts() == []  # announced by the run-failure sensor
    assert firing(cursor) == ["run_failed:stats_1h_job:2026-11-23-05:00", "run_failed:stats_1h_job:2026-11-23-06:00"]

    # Another hour of the same job succeeding resolves nothing.
    assert stats_1h(definitions, instance, "2026-11-23-10:00").success
    cursor = tick(definitions, instance, hook, cursor)
    assert hook.texts() == []
    assert len(firing(cursor)) == 2

    # 05:00 collected after all: its next run succeeds and resolves that partition only.
    build_chunk(webhook_env / "warehouse", HOUR.replace(hour=5), range(4))
    fixed = stats_1h(definitions, instance, "2026-11-23-05:00")
    assert fixed.success
    cursor = tick(definitions, instance, hook, cursor)
    assert hook.texts() == [
        "[funding_pipeline] RESOLVED run_failed after 0 min: stats_1h_job for partition 2026-11-23-05:00: "
        f"latest finished run {fixed.run_id[:8]} succeeded"
    ]
    assert firing(cursor) == ["run_failed:stats_1h_job:2026-11-23-06:00"]

    # A failure of 05:00 after that success is a new condition: alerted again.
    shutil.rmtree(webhook_env / "warehouse" / "market_stats_1m" / "2026-11-23" / "05")
    again = stats_1h(definitions, instance, "2026-11-23-05:00")
    fail_alert(instance, hook, again)
    assert [(m["key"], m["details"]["run_id"]) for m in hook.received] == [
        ("run_failed:stats_1h_job:2026-11-23-05:00", again.run_id)
    ]
