"""Alert conditions, their firing/resolved transitions, messages and the webhook POST.

A condition is identified by a key (`venue_share:okx`). Each evaluation yields `Finding`s
(firing, not firing, or unknown); `step` compares them with the set firing before (kept by the
caller, e.g. in a sensor cursor) and returns one alert when a condition starts and one when it
clears — never one per evaluation while it stays firing. Unknown keeps the previous state, so a
gap in the data never "resolves" an alert.

Webhook payload (Slack reads `text`, Discord `content`; both carry the same message):
    {"text": "...", "content": "...", "condition": "venue_share", "key": "venue_share:okx",
     "subject": "okx", "state": "firing" | "resolved", "since": ISO-8601, "at": ISO-8601,
     "details": {...}, "source": "funding_pipeline"}
"""

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from funding_pipeline.lib.storage import layout
from funding_pipeline.warehouse import connect_files

SOURCE = "funding_pipeline"
WINDOW = timedelta(hours=1)
CHUNK = timedelta(minutes=5)
TEXT_LIMIT = 1900  # Discord rejects `content` over 2000 characters

VENUE_SHARE = "venue_share"
VENUE_SILENT = "venue_silent"
COLLECTION_STALLED = "collection_stalled"
FRESHNESS = "freshness"
RUN_FAILED = "run_failed"

ENV = {
    "min_share": "FUNDING_ALERT_MIN_SHARE",
    "silent_slots": "FUNDING_ALERT_SILENT_SLOTS",
    "stall_minutes": "FUNDING_ALERT_STALL_MINUTES",
}


class AlertSettingsError(ValueError):
    """An alert threshold outside its allowed range."""


class WebhookError(RuntimeError):
    """The webhook did not accept an alert (transport error or non-2xx answer)."""


@dataclass(frozen=True)
class AlertPolicy:
    min_share: float = 0.95  # share of the last hour's polled slots in which a venue wrote rows
    silent_slots: int = 8  # consecutive polled slots without rows
    stall: timedelta = timedelta(minutes=15)  # no closed chunk newer than this = collection stalled


def load_alert_policy(env: Mapping[str, str] | None = None) -> AlertPolicy:
    """Thresholds from `FUNDING_ALERT_MIN_SHARE`, `FUNDING_ALERT_SILENT_SLOTS`,
    `FUNDING_ALERT_STALL_MINUTES`, else the defaults. Read at call time."""
    env = os.environ if env is None else env
    raw = {k: env.get(v, "").strip() for k, v in ENV.items()}
    policy = AlertPolicy()
    try:
        share = float(raw["min_share"]) if raw["min_share"] else policy.min_share
        silent = int(raw["silent_slots"]) if raw["silent_slots"] else policy.silent_slots
        stall = float(raw["stall_minutes"]) if raw["stall_minutes"] else policy.stall / timedelta(minutes=1)
    except ValueError as exc:
        raise AlertSettingsError(
            f"alert threshold is not a number: {exc}; variables: {', '.join(ENV.values())}"
        ) from None
    if not 0 < share <= 1:
        raise AlertSettingsError(f"{ENV['min_share']}={share!r} must be in (0, 1]")
    if silent < 1:
        raise AlertSettingsError(f"{ENV['silent_slots']}={silent!r} must be at least 1")
    if not stall >= 5:
        raise AlertSettingsError(f"{ENV['stall_minutes']}={stall!r} must be at least 5 (one chunk)")
    return AlertPolicy(min_share=share, silent_slots=silent, stall=timedelta(minutes=stall))


# ---------------------------------------------------------------------------------------------
# Venue health over the last hour of closed chunks


@dataclass(frozen=True)
class VenueHealth:
    exchange: str
    slots: int  # slots polled in the window (by any venue)
    ok_slots: int  # slots in which this venue answered with rows
    silent_slots: int  # most recent consecutive polled slots without rows from this venue
    last_error: str | None

    @property
    def share(self) -> float:
        return self.ok_slots / self.slots if self.slots else 0.0


@dataclass(frozen=True)
class HealthWindow:
    start: datetime
    end: datetime
    chunks: int
    newest_slot: datetime | None
    venues: dict[str, VenueHealth]


def window_chunks(warehouse: Path, now: datetime) -> list[Path]:
    """Closed chunk files of the hour before `now` (the chunk still open is never read)."""
    floor = now.replace(minute=now.minute - now.minute % 5, second=0, microsecond=0)
    starts = [floor - CHUNK * k for k in range(1, 13)]
    return [p for p in (layout.chunk_path(warehouse, s) for s in reversed(starts)) if p.exists()]


HEALTH_SELECT = """
SELECT slot_at, exchange, bool_or(ok AND rows > 0) AS wrote, any_value(error) AS error
FROM tracker_polls WHERE slot_at >= ? AND slot_at < ? GROUP BY ALL ORDER BY slot_at
"""


def venue_health(warehouse: Path, now: datetime, enabled: Sequence[str]) -> HealthWindow:
    """Per enabled venue: polled slots, slots with rows, trailing slots without rows, last error."""
    chunks = window_chunks(warehouse, now)
    start = now - WINDOW
    with connect_files({"tracker_polls": chunks}) as con:
        rows = con.execute(HEALTH_SELECT, [start, now]).fetchall()
    slots = sorted({r[0] for r in rows})
    wrote: dict[str, set[datetime]] = {e: set() for e in enabled}
    last_error: dict[str, str | None] = {e: None for e in enabled}
    for slot_at, exchange, ok, error in rows:
        if exchange not in wrote:
            continue
        if ok:
            wrote[exchange].add(slot_at)
        else:
            last_error[exchange] = error or "answered with no rows"
    venues = {}
    for e in enabled:
        silent = 0
        for slot in reversed(slots):
            if slot in wrote[e]:
                break
            silent += 1
        venues[e] = VenueHealth(e, len(slots), len(wrote[e]), silent, last_error[e])
    return HealthWindow(start, now, len(chunks), slots[-1] if slots else None, venues)


# ---------------------------------------------------------------------------------------------
# Findings


@dataclass(frozen=True)
class Finding:
    key: str
    condition: str
    subject: str
    firing: bool | None  # None = could not tell: keep the previous state
    text: str  # what is true now, phrased for both the firing and the resolved message
    details: Mapping = field(default_factory=dict)
    announce_firing: bool = True  # False when another sender already announced the start


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def venue_findings(health: HealthWindow, policy: AlertPolicy) -> list[Finding]:
    """Share and silence per venue; nothing (unknown) when no slot was polled in the window."""
    if not health.venues or not any(v.slots for v in health.venues.values()):
        return []
    out = []
    for e, v in sorted(health.venues.items()):
        err = f"; last error: {v.last_error[:200]}" if v.last_error else ""
        details = {"slots": v.slots, "ok_slots": v.ok_slots, "silent_slots": v.silent_slots, "last_error": v.last_error}
        out.append(
            Finding(
                f"{VENUE_SHARE}:{e}",
                VENUE_SHARE,
                e,
                v.share < policy.min_share,
                f"{e} wrote rows in {_pct(v.share)} of the last hour's {v.slots} polled slots "
                f"(alert below {_pct(policy.min_share)}){err}",
                {**details, "share": round(v.share, 4), "threshold": policy.min_share},
            )
        )
        out.append(
            Finding(
                f"{VENUE_SILENT}:{e}",
                VENUE_SILENT,
                e,
                v.silent_slots >= policy.silent_slots,
                f"{e} wrote nothing in the last {v.silent_slots} consecutive polled slots "
                f"(alert at {policy.silent_slots}){err}",
                {**details, "threshold": policy.silent_slots},
            )
        )
    return out


def collection_finding(health: HealthWindow, policy: AlertPolicy) -> Finding:
    newest = health.newest_slot
    age = None if newest is None else health.end - newest
    stalled = age is None or age >= policy.stall
    when = "no polled slot in the last hour" if newest is None else f"newest polled slot {newest:%Y-%m-%d %H:%M:%S} UTC"
    return Finding(
        COLLECTION_STALLED,
        COLLECTION_STALLED,
        "collection",
        stalled,
        f"collection: {when} in closed chunks (alert when older than {policy.stall / timedelta(minutes=1):g} min)",
        {"newest_slot": newest.isoformat() if newest else None, "chunks_last_hour": health.chunks},
    )


def freshness_findings(states: Mapping[str, str]) -> list[Finding]:
    """Asset -> Dagster freshness state (PASS, WARN, FAIL, UNKNOWN, ...). Only FAIL fires;
    UNKNOWN (never materialized) and missing states keep the previous state."""
    out = []
    for asset, state in sorted(states.items()):
        firing = True if state == "FAIL" else False if state in ("PASS", "WARN") else None
        out.append(
            Finding(
                f"{FRESHNESS}:{asset}",
                FRESHNESS,
                asset,
                firing,
                f"{asset}: freshness policy state {state}",
                {"freshness_state": state},
            )
        )
    return out


@dataclass(frozen=True)
class JobRun:
    job: str
    run_id: str
    status: str  # "SUCCESS" or "FAILURE"
    partition: str | None = None  # partition key, or "<first>...<last>" for a ranged run


def run_failed_key(job: str, partition: str | None) -> str:
    """One condition per job, and per partition for partitioned runs: `run_failed:collection_job:2026-11-23-10:00`."""
    return f"{RUN_FAILED}:{job}" if partition is None else f"{RUN_FAILED}:{job}:{partition}"


def _where(partition: str | None) -> str:
    return f" for partition {partition}" if partition else ""


def job_findings(latest: Iterable[JobRun]) -> list[Finding]:
    """A job (+ partition) is failing while its latest finished run failed, and clears only when
    a run of that same job and partition succeeds. The start is announced by the run-failure
    sensor (once per condition), so only the recovery is sent from here."""
    out = []
    for run in sorted(latest, key=lambda r: (r.job, r.partition or "")):
        failed = run.status == "FAILURE"
        out.append(
            Finding(
                run_failed_key(run.job, run.partition),
                RUN_FAILED,
                run.job,
                failed,
                f"{run.job}{_where(run.partition)}: latest finished run {run.run_id[:8]} "
                f"{'failed' if failed else 'succeeded'}",
                {"run_id": run.run_id, "status": run.status, "partition": run.partition},
                announce_firing=False,
            )
        )
    return out


def removed_job_findings(previous: Mapping[str, dict], jobs: Iterable[str]) -> list[Finding]:
    """Clears the run_failed conditions of jobs no longer in the code location."""
    present = set(jobs)
    out = []
    for key, was in sorted(previous.items()):
        job = was.get("subject", key)
        if was.get("condition") == RUN_FAILED and job not in present:
            out.append(Finding(key, RUN_FAILED, job, False, f"{job}: no longer in the code location"))
    return out


def run_failure_finding(job: str, run_id: str, message: str, partition: str | None, will_retry: bool) -> Finding:
    """The message for a failed run (sent at once by the run-failure sensor)."""
    retry = "; Dagster will retry it" if will_retry else ""
    return Finding(
        run_failed_key(job, partition),
        RUN_FAILED,
        job,
        True,
        f"{job}: run {run_id[:8]}{_where(partition)} failed: {message[:500]}{retry}",
        {"run_id": run_id, "partition": partition, "will_retry": will_retry},
    )


# ---------------------------------------------------------------------------------------------
# Transitions


@dataclass(frozen=True)
class Alert:
    key: str
    condition: str
    subject: str
    state: str  # "firing" | "resolved"
    text: str
    since: datetime
    at: datetime
    details: Mapping = field(default_factory=dict)


@dataclass
class Step:
    alerts: list[Alert]
    firing: dict[str, dict]  # the new state: key -> {"condition", "since", "text"}
    previous: dict[str, dict]

    def without(self, failed: Iterable[str]) -> dict[str, dict]:
        """The state to store when the alerts of `failed` keys were not delivered: those keys
        keep their previous state, so the transition is detected (and sent) again next time."""
        state = dict(self.firing)
        for key in failed:
            if key in self.previous:
                state[key] = self.previous[key]
            else:
                state.pop(key, None)
        return state


def step(
    previous: Mapping[str, dict],
    findings: Iterable[Finding],
    now: datetime,
    complete: Iterable[str] = (),
) -> Step:
    """Alerts for the conditions that started or cleared since `previous`, and the new state.

    `complete` names conditions whose findings cover every subject this time: a key of such a
    condition that was firing and has no finding now (a venue no longer enabled) is resolved.
    """
    firing = {k: dict(v) for k, v in previous.items()}
    complete = set(complete)
    alerts = []
    seen = set()
    for f in findings:
        seen.add(f.key)
        was = previous.get(f.key)
        if f.firing and was is None:
            firing[f.key] = {"condition": f.condition, "subject": f.subject, "since": now.isoformat(), "text": f.text}
            if f.announce_firing:
                alerts.append(Alert(f.key, f.condition, f.subject, "firing", f.text, now, now, f.details))
        elif f.firing is False and was is not None:
            del firing[f.key]
            since = datetime.fromisoformat(was["since"])
            alerts.append(Alert(f.key, f.condition, f.subject, "resolved", f.text, since, now, f.details))
    for key, was in previous.items():
        if key not in seen and was.get("condition") in complete:
            del firing[key]
            subject = was.get("subject", key)
            since = datetime.fromisoformat(was["since"])
            alerts.append(
                Alert(key, was["condition"], subject, "resolved", f"{subject}: no longer monitored", since, now)
            )
    return Step(alerts, firing, {k: dict(v) for k, v in previous.items()})


def announce(finding: Finding, now: datetime) -> Alert:
    """A one-off firing alert for an event (a failed run) rather than a tracked condition."""
    return Alert(finding.key, finding.condition, finding.subject, "firing", finding.text, now, now, finding.details)


# ---------------------------------------------------------------------------------------------
# Messages and delivery


def _duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


def message(alert: Alert) -> str:
    if alert.state == "firing":
        text = f"[{SOURCE}] FIRING {alert.condition}: {alert.text}"
    else:
        text = f"[{SOURCE}] RESOLVED {alert.condition} after {_duration(alert.at - alert.since)}: {alert.text}"
    return text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 1] + "…"


def payload(alert: Alert) -> dict:
    text = message(alert)
    return {
        "text": text,
        "content": text,
        "condition": alert.condition,
        "key": alert.key,
        "subject": alert.subject,
        "state": alert.state,
        "since": alert.since.astimezone(UTC).isoformat(),
        "at": alert.at.astimezone(UTC).isoformat(),
        "details": dict(alert.details),
        "source": SOURCE,
    }


def send(url: str, alert: Alert, *, transport: httpx.BaseTransport | None = None, timeout: float = 10.0) -> None:
    """POST one alert as JSON; raises `WebhookError` naming the URL's host on any failure."""
    with httpx.Client(transport=transport, timeout=timeout) as client:
        try:
            response = client.post(url, json=payload(alert))
        except httpx.HTTPError as exc:
            raise WebhookError(f"alert webhook {httpx.URL(url).host}: {type(exc).__name__}: {exc}") from exc
    if not response.is_success:
        raise WebhookError(
            f"alert webhook {httpx.URL(url).host} answered HTTP {response.status_code}: {response.text[:200]}"
        )
