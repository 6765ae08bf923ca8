"""Alert conditions from tracker_polls, firing/resolved transitions, payloads and the webhook POST
(through `httpx.MockTransport`: never the network)."""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import httpx
import pytest

from funding_pipeline.lib import alerts
from funding_pipeline.lib.alerts import AlertPolicy, Finding, VenueHealth
from funding_pipeline.lib.exchanges.model import IntervalSource, MarketRow, RateUnit
from funding_pipeline.lib.polling import PollOutcome
from funding_pipeline.lib.snapshots import polls_table, snapshots_table
from funding_pipeline.lib.storage import layout
from funding_pipeline.lib.storage.files import ChunkWriter

NOW = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)
S = timedelta(seconds=15)
ROW = MarketRow(
    exchange="hyperliquid",
    symbol="BTC",
    mark_price=D("100"),
    index_price=None,
    funding_rate=D("0.00001"),
    funding_rate_raw="0.00001",
    rate_unit=RateUnit.DECIMAL,
    funding_interval_hours=D("1"),
    interval_source=IntervalSource.FIXED,
    open_interest_base=None,
    open_interest_usd=None,
    volume_24h_usd=None,
    next_funding_at=None,
)
URL = "https://hooks.example.test/services/T000/B000"


def outcome(exchange: str, slot: int, start: datetime) -> PollOutcome:
    """80 slots from 10:40: hyperliquid times out until 10:45, then writes; binance fails the last
    8 slots; okx answers with no rows in 3 slots; paradex (enabled) is never polled."""
    at = start + S * slot
    index = int((at - (NOW - timedelta(minutes=15))) / S)
    if exchange == "binance" and index >= 52:
        return PollOutcome(exchange, at, False, error="HTTP 503 from /fapi/v1/premiumIndex")
    if exchange == "okx" and index in (10, 20, 30):
        return PollOutcome(exchange, at, True)
    if exchange == "hyperliquid" and index < 0:
        return PollOutcome(exchange, at, False, error="timeout")
    return PollOutcome(exchange, at, True, rows=[ROW])


def write_chunk(wh, start: datetime) -> None:
    writer = ChunkWriter(layout.chunk_path(wh, start))
    for slot in range(20):
        outcomes = [outcome(e, slot, start) for e in ("hyperliquid", "binance", "okx")]
        writer.append(snapshots_table([]), polls_table(outcomes))
    writer.close()


@pytest.fixture(scope="module")
def wh(tmp_path_factory):
    wh = tmp_path_factory.mktemp("alerts") / "warehouse"
    for minute in (40, 45, 50, 55):
        write_chunk(wh, datetime(2026, 11, 23, 10, minute, tzinfo=UTC))
    ChunkWriter(layout.chunk_path(wh, NOW)).abandon()  # the open chunk of 11:00 is never read
    return wh


ENABLED = ["binance", "hyperliquid", "okx", "paradex"]


def test_venue_health_reads_the_last_hour_of_closed_chunks(wh):
    health = alerts.venue_health(wh, NOW, ENABLED)

    assert (health.start, health.end, health.chunks) == (NOW - timedelta(hours=1), NOW, 4)
    assert health.newest_slot == datetime(2026, 11, 23, 10, 59, 45, tzinfo=UTC)
    assert health.venues == {
        "binance": VenueHealth("binance", 80, 72, 8, "HTTP 503 from /fapi/v1/premiumIndex"),
        "hyperliquid": VenueHealth("hyperliquid", 80, 60, 0, "timeout"),
        "okx": VenueHealth("okx", 80, 77, 0, "answered with no rows"),
        "paradex": VenueHealth("paradex", 80, 0, 80, None),
    }


def test_venue_findings_fire_below_the_share_and_at_n_silent_slots(wh):
    health = alerts.venue_health(wh, NOW, ["binance", "okx"])

    findings = alerts.venue_findings(health, AlertPolicy(min_share=0.95, silent_slots=8))

    assert [(f.key, f.firing) for f in findings] == [
        ("venue_share:binance", True),
        ("venue_silent:binance", True),
        ("venue_share:okx", False),  # 77/80 = 96.25 %
        ("venue_silent:okx", False),
    ]
    assert findings[0].text == (
        "binance wrote rows in 90.0% of the last hour's 80 polled slots (alert below 95.0%); "
        "last error: HTTP 503 from /fapi/v1/premiumIndex"
    )
    assert findings[1].text == (
        "binance wrote nothing in the last 8 consecutive polled slots (alert at 8); "
        "last error: HTTP 503 from /fapi/v1/premiumIndex"
    )
    assert findings[0].details == {
        "slots": 80,
        "ok_slots": 72,
        "silent_slots": 8,
        "last_error": "HTTP 503 from /fapi/v1/premiumIndex",
        "share": 0.9,
        "threshold": 0.95,
    }


def test_collection_stalls_when_no_chunk_closed_for_the_stall_time(wh):
    policy = AlertPolicy()

    fresh = alerts.collection_finding(alerts.venue_health(wh, NOW, ENABLED), policy)
    stalled = alerts.collection_finding(alerts.venue_health(wh, NOW + timedelta(minutes=15), ENABLED), policy)
    empty = alerts.venue_health(wh, NOW + timedelta(hours=2), ENABLED)

    assert (fresh.firing, stalled.firing) == (False, True)
    assert stalled.text == (
        "collection: newest polled slot 2026-11-23 10:59:45 UTC in closed chunks (alert when older than 15 min)"
    )
    assert alerts.collection_finding(empty, policy).firing is True
    assert alerts.venue_findings(empty, policy) == []  # no data is not a recovery


def finding(key="venue_share:binance", firing=True, text="binance wrote rows in 80.0%", **kw) -> Finding:
    condition, _, subject = key.partition(":")
    return Finding(key, condition, subject or condition, firing, text, **kw)


T0 = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)
T1, T2, T3 = T0 + timedelta(minutes=1), T0 + timedelta(minutes=2), T0 + timedelta(minutes=75)


def test_a_condition_alerts_when_it_starts_and_when_it_clears_never_in_between():
    first = alerts.step({}, [finding()], T0)
    again = alerts.step(first.firing, [finding(text="binance wrote rows in 70.0%")], T1)
    unknown = alerts.step(again.firing, [finding(firing=None)], T2)
    cleared = alerts.step(unknown.firing, [finding(firing=False, text="binance wrote rows in 99.0%")], T3)

    assert [(a.state, a.text, a.since, a.at) for a in first.alerts] == [
        ("firing", "binance wrote rows in 80.0%", T0, T0)
    ]
    assert first.firing == {
        "venue_share:binance": {
            "condition": "venue_share",
            "subject": "binance",
            "since": "2026-11-23T11:00:00+00:00",
            "text": "binance wrote rows in 80.0%",
        }
    }
    assert (again.alerts, again.firing) == ([], first.firing)
    assert (unknown.alerts, unknown.firing) == ([], first.firing)
    assert [(a.state, a.text, a.since, a.at) for a in cleared.alerts] == [
        ("resolved", "binance wrote rows in 99.0%", T0, T3)
    ]
    assert cleared.firing == {}


def test_a_subject_no_longer_evaluated_resolves_only_for_complete_conditions():
    previous = alerts.step({}, [finding("venue_share:okx"), finding("freshness:market_stats_1h")], T0).firing

    partial = alerts.step(previous, [], T1, complete=["venue_share"])

    assert [(a.key, a.state, a.text) for a in partial.alerts] == [
        ("venue_share:okx", "resolved", "okx: no longer monitored")
    ]
    assert list(partial.firing) == ["freshness:market_stats_1h"]


def test_a_start_announced_elsewhere_is_tracked_silently_and_its_end_sent():
    started = alerts.step({}, [finding("run_failed:collection_job", text="failed", announce_firing=False)], T0)
    ended = alerts.step(started.firing, [finding("run_failed:collection_job", firing=False, text="succeeded")], T1)

    assert started.alerts == []
    assert list(started.firing) == ["run_failed:collection_job"]
    assert [(a.state, a.text) for a in ended.alerts] == [("resolved", "succeeded")]


def test_undelivered_transitions_stay_pending():
    previous = alerts.step({}, [finding("venue_share:okx")], T0).firing
    result = alerts.step(previous, [finding("venue_share:okx", firing=False), finding("venue_silent:bybit")], T1)

    state = result.without(["venue_share:okx", "venue_silent:bybit"])

    assert state == previous
    assert alerts.step(state, [finding("venue_share:okx", firing=False)], T2).alerts[0].state == "resolved"


def test_payload_carries_slack_text_discord_content_and_the_condition():
    (alert,) = alerts.step(
        {"venue_share:binance": {"condition": "venue_share", "subject": "binance", "since": T0.isoformat()}},
        [finding(firing=False, text="binance wrote rows in 99.0%", details={"share": 0.99})],
        T3,
    ).alerts

    assert alerts.payload(alert) == {
        "text": "[funding_pipeline] RESOLVED venue_share after 1 h 15 min: binance wrote rows in 99.0%",
        "content": "[funding_pipeline] RESOLVED venue_share after 1 h 15 min: binance wrote rows in 99.0%",
        "condition": "venue_share",
        "key": "venue_share:binance",
        "subject": "binance",
        "state": "resolved",
        "since": "2026-11-23T11:00:00+00:00",
        "at": "2026-11-23T12:15:00+00:00",
        "details": {"share": 0.99},
        "source": "funding_pipeline",
    }


def test_firing_message_and_discord_length_limit():
    (alert,) = alerts.step({}, [finding(text="x" * 3000)], T0).alerts

    text = alerts.message(alert)

    assert text.startswith("[funding_pipeline] FIRING venue_share: xxx")
    assert len(text) == 1900


def test_send_posts_the_payload_as_json():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, str(request.url), request.headers["content-type"], json.loads(request.content)))
        return httpx.Response(204)

    (alert,) = alerts.step({}, [finding()], T0).alerts

    alerts.send(URL, alert, transport=httpx.MockTransport(handler))

    assert seen == [("POST", URL, "application/json", alerts.payload(alert))]


@pytest.mark.parametrize(
    ("handler", "message"),
    [
        (lambda r: httpx.Response(500, text="boom"), "alert webhook hooks.example.test answered HTTP 500: boom"),
        (lambda r: (_ for _ in ()).throw(httpx.ConnectError("refused")), "hooks.example.test: ConnectError: refused"),
    ],
)
def test_send_failures_raise_webhook_error(handler, message):
    (alert,) = alerts.step({}, [finding()], T0).alerts

    with pytest.raises(alerts.WebhookError, match=message):
        alerts.send(URL, alert, transport=httpx.MockTransport(handler))


def test_freshness_job_and_run_failure_findings():
    fresh = alerts.freshness_findings({"a": "FAIL", "b": "WARN", "c": "UNKNOWN", "d": "PASS"})
    jobs = alerts.job_findings(
        [
            alerts.JobRun("tokens_job", "fedcba9876543210", "SUCCESS"),
            alerts.JobRun("collection_job", "0123456789abcdef", "FAILURE", "2026-11-23-10:00"),
            alerts.JobRun("collection_job", "00112233aabbccdd", "SUCCESS", "2026-11-23-09:00"),
            alerts.JobRun("stats_1h_job", "4455667788990011", "FAILURE", "2026-11-23-00:00...2026-11-23-23:00"),
        ]
    )
    failed = alerts.run_failure_finding("collection_job", "0123456789abcdef", "boom", "2026-11-23-10:00", True)

    assert [(f.key, f.firing) for f in fresh] == [
        ("freshness:a", True),
        ("freshness:b", False),
        ("freshness:c", None),
        ("freshness:d", False),
    ]
    assert [(f.key, f.subject, f.firing, f.announce_firing, f.text) for f in jobs] == [
        (
            "run_failed:collection_job:2026-11-23-09:00",
            "collection_job",
            False,
            False,
            "collection_job for partition 2026-11-23-09:00: latest finished run 00112233 succeeded",
        ),
        (
            "run_failed:collection_job:2026-11-23-10:00",
            "collection_job",
            True,
            False,
            "collection_job for partition 2026-11-23-10:00: latest finished run 01234567 failed",
        ),
        (
            "run_failed:stats_1h_job:2026-11-23-00:00...2026-11-23-23:00",
            "stats_1h_job",
            True,
            False,
            "stats_1h_job for partition 2026-11-23-00:00...2026-11-23-23:00: latest finished run 44556677 failed",
        ),
        ("run_failed:tokens_job", "tokens_job", False, False, "tokens_job: latest finished run fedcba98 succeeded"),
    ]
    assert (failed.key, failed.text) == (
        "run_failed:collection_job:2026-11-23-10:00",
        "collection_job: run 01234567 for partition 2026-11-23-10:00 failed: boom; Dagster will retry it",
    )


def test_a_failing_job_removed_from_the_code_location_resolves():
    previous = {
        "run_failed:old_job:2026-11-23-10:00": {
            "condition": "run_failed",
            "subject": "old_job",
            "since": T0.isoformat(),
        },
        "run_failed:tokens_job": {"condition": "run_failed", "subject": "tokens_job", "since": T0.isoformat()},
    }

    findings = alerts.removed_job_findings(previous, ["tokens_job", "collection_job"])
    result = alerts.step(previous, findings, T1)

    assert [(a.key, a.state, a.text) for a in result.alerts] == [
        ("run_failed:old_job:2026-11-23-10:00", "resolved", "old_job: no longer in the code location")
    ]
    assert list(result.firing) == ["run_failed:tokens_job"]


def test_alert_policy_from_environment():
    env = {"FUNDING_ALERT_MIN_SHARE": "0.9", "FUNDING_ALERT_SILENT_SLOTS": "4", "FUNDING_ALERT_STALL_MINUTES": "30"}

    assert alerts.load_alert_policy({}) == AlertPolicy(0.95, 8, timedelta(minutes=15))
    assert alerts.load_alert_policy(env) == AlertPolicy(0.9, 4, timedelta(minutes=30))
    with pytest.raises(alerts.AlertSettingsError, match=r"FUNDING_ALERT_MIN_SHARE=95.0 must be in \(0, 1\]"):
        alerts.load_alert_policy({"FUNDING_ALERT_MIN_SHARE": "95"})
    with pytest.raises(alerts.AlertSettingsError, match="not a number"):
        alerts.load_alert_policy({"FUNDING_ALERT_SILENT_SLOTS": "eight"})
