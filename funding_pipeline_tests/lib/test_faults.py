"""Bad answers through the replay transport: the bad venue's poll (or rows) fail with the
reason, every other venue's rows still land."""

import asyncio
import dataclasses
import json
import logging
import random
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from funding_pipeline import warehouse
from funding_pipeline.lib.clock import SimulatedClock
from funding_pipeline.lib.collector import FailureLog, run_collect_hour
from funding_pipeline.lib.exchanges import hyperliquid
from funding_pipeline.lib.http.breaker import Breaker
from funding_pipeline.lib.http.client import VenueHttp, retry_after_seconds
from funding_pipeline.lib.http.errors import HttpStatusError
from funding_pipeline.lib.polling import PollOutcome, poll_slot, replay_transports
from funding_pipeline_tests.fixtures import FIXTURES

SLOT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
GOOD, BAD = hyperliquid.EXCHANGES[0], hyperliquid.EXCHANGES[1]  # hyperliquid, hyena
URL = "https://api.hyperliquid.xyz/info"
UNPACED = dataclasses.replace(GOOD.venue, min_interval_s=0.0)  # fake sleeps would otherwise add pacing waits
PAYLOAD = json.loads((FIXTURES / "hyperliquid" / "info_metaAndAssetCtxs.docs_example.json").read_text())


def cassette(folder, name, response, body=None):
    folder.mkdir(parents=True, exist_ok=True)
    request = {"method": "POST", "url": URL, "json": body or {"type": "metaAndAssetCtxs"}}
    (folder / f"{name}.json").write_text(json.dumps({"request": request, "response": response}))


def poll_both(tmp_path, bad_response, breakers=None, slot=SLOT):
    cassette(tmp_path / "hyperliquid", "ok", {"status": 200, "json": PAYLOAD})
    cassette(tmp_path / "hyena", "bad", bad_response, {"type": "metaAndAssetCtxs", "dex": "hyna"})
    return asyncio.run(poll_slot([GOOD, BAD], slot, 0, replay_transports(tmp_path), breakers))


ABSENT = object()  # the key is left out of the market, not set to null


def with_market_field(index, field, value):
    payload = json.loads(json.dumps(PAYLOAD))
    if value is ABSENT:
        del payload[1][index][field]
    else:
        payload[1][index][field] = value
    return {"status": 200, "json": payload}


@pytest.mark.parametrize(
    ("response", "error"),
    [
        ({"status": 200, "text": "<html><body>Attention Required! | Cloudflare</body></html>"}, "BadBody"),
        ({"status": 200, "text": '[{"universe": [{"name": "BTC"'}, "BadBody"),
        ({"status": 200, "json": {"error": "moved to /v2"}}, "ParseError: hyena metaAndAssetCtxs $: expected an array"),
        ({"status": 503, "text": "upstream unavailable"}, "HttpStatusError: HTTP 503"),
    ],
)
def test_broken_answer_fails_that_venue_only(tmp_path, response, error):
    good, bad = poll_both(tmp_path, response)

    assert good.ok and len(good.rows) == 3
    assert not bad.ok and bad.rows == []
    assert bad.error.startswith(error)


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("markPx", None, "$[1][1].markPx: required field missing"),
        ("markPx", ABSENT, "$[1][1].markPx: required field missing"),
        ("markPx", "Infinity", "$[1][1].markPx: not finite"),
        ("oraclePx", "-Infinity", "$[1][1].oraclePx: not finite"),
        ("markPx", "NaN", "$[1][1].markPx: not finite"),
        ("markPx", "0", "$[1][1]: mark price must be positive"),
        ("markPx", "-6.04", "$[1][1]: mark price must be positive"),
        ("funding", "0.5", "$[1][1]: funding rate beyond the sane cap of 0.05/h"),
        ("openInterest", "Infinity", "$[1][1].openInterest: not finite"),
    ],
)
def test_bad_market_rejected_with_reason_rest_kept(tmp_path, field, value, reason):
    good, bad = poll_both(tmp_path, with_market_field(1, field, value))

    assert good.ok and len(good.rows) == 3
    assert bad.ok
    assert [r.symbol for r in bad.rows] == ["BTC", "HPOS"]
    (rejected,) = bad.rejected
    assert reason in str(rejected)
    assert bad.error == f"1 market(s) rejected: {rejected}"
    assert good.error is None


def test_no_cassette_is_an_error_never_an_empty_success(tmp_path):
    cassette(tmp_path / "hyperliquid", "ok", {"status": 200, "json": PAYLOAD})

    (outcome,) = asyncio.run(poll_slot([BAD], SLOT, 0, replay_transports(tmp_path)))

    assert not outcome.ok
    assert outcome.error.startswith("NoCassette: no cassette for POST https://api.hyperliquid.xyz/info")


def test_circuit_opens_after_repeated_failures_and_retries_after_cooldown(tmp_path):
    breakers = {"hyena": Breaker(threshold=3, cooldown=timedelta(seconds=60))}
    errors = []
    for i in range(6):
        slot = SLOT + timedelta(seconds=15 * i)
        _, bad = poll_both(tmp_path, {"status": 200, "text": "<html>"}, breakers, slot)
        errors.append(bad.error.split(":")[0])
    recovered = tmp_path / "recovered"  # cassette folders are cached per path
    _, trial = poll_both(recovered, {"status": 200, "json": PAYLOAD}, breakers, SLOT + timedelta(seconds=105))

    assert errors == ["BadBody", "BadBody", "BadBody", "CircuitOpen", "CircuitOpen", "CircuitOpen"]
    assert trial.ok and breakers["hyena"].failures == 0


def _retried_once(first: httpx.Response) -> tuple[list[float], int]:
    """Sleeps and retries of one poll whose first answer is `first` and second a good payload."""
    answers = [first, httpx.Response(200, json=PAYLOAD)]
    slept = []

    async def fake_sleep(seconds):
        slept.append(seconds)

    async def run():
        transport = httpx.MockTransport(lambda request: answers.pop(0))
        async with httpx.AsyncClient(transport=transport) as client:
            http = VenueHttp(UNPACED, client, deadline=time.monotonic() + 12, sleep=fake_sleep)
            body = await http.post_json("/info", {"type": "metaAndAssetCtxs"})
            return body, http.retries

    body, retries = asyncio.run(run())
    assert body[0]["universe"][0]["name"] == "BTC"
    return slept, retries


def test_429_retry_after_is_honoured_within_the_slot():
    assert _retried_once(httpx.Response(429, headers={"retry-after": "2"}, text="slow down")) == ([2.0], 1)


def test_retry_after_beyond_the_slot_fails_fast():
    async def run():
        transport = httpx.MockTransport(lambda r: httpx.Response(429, headers={"retry-after": "60"}))
        async with httpx.AsyncClient(transport=transport) as client:
            http = VenueHttp(UNPACED, client, deadline=time.monotonic() + 12)
            await http.post_json("/info", {"type": "metaAndAssetCtxs"})

    with pytest.raises(HttpStatusError, match="HTTP 429"):
        asyncio.run(run())


def test_timeouts_retry_with_jittered_backoff_then_fail():
    calls, slept = [], []

    def handler(request):
        calls.append(request)
        raise httpx.ReadTimeout("read timed out", request=request)

    async def fake_sleep(seconds):
        slept.append(seconds)

    async def run():
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            http = VenueHttp(UNPACED, client, deadline=time.monotonic() + 12, sleep=fake_sleep, rng=random.Random(1))
            await http.post_json("/info", {"type": "metaAndAssetCtxs"})

    with pytest.raises(Exception, match="timeout") as err:
        asyncio.run(run())

    assert type(err.value).__name__ == "RequestTimeout"
    assert len(calls) == 3  # max_attempts
    assert len(slept) == 2 and 0 <= slept[0] <= 0.25 and 0 <= slept[1] <= 0.5


def _gather_coins(statuses: dict[str, int], **options):
    """`VenueHttp.gather` over one request per coin, each answered with its status."""

    def handler(request):
        coin = json.loads(request.content)["coin"]
        return httpx.Response(statuses[coin], json={"coin": coin})

    async def run():
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            http = VenueHttp(UNPACED, client, deadline=time.monotonic() + 12, max_attempts=1)
            return await http.gather(statuses, lambda coin: http.post_json("/info", {"coin": coin}), **options)

    return asyncio.run(run())


def test_gather_with_client_errors_returns_a_4xx_in_place_of_its_answer():
    answers = _gather_coins({"BTC": 200, "GONE": 404, "ETH": 200}, client_errors=True)

    assert answers[0] == {"coin": "BTC"} and answers[2] == {"coin": "ETH"}
    assert isinstance(answers[1], HttpStatusError) and answers[1].status == 404


@pytest.mark.parametrize(
    ("statuses", "options"),
    [
        ({"BTC": 200, "GONE": 404}, {}),  # without the option any failure fails the call
        ({"BTC": 200, "BUSY": 429}, {"client_errors": True}),  # retryable: never swallowed
        ({"BTC": 200, "DOWN": 503}, {"client_errors": True}),
    ],
)
def test_gather_raises_what_it_must_not_swallow(statuses, options):
    with pytest.raises(HttpStatusError):
        _gather_coins(statuses, **options)


def test_live_transports_are_kept_per_venue_for_the_run():
    from funding_pipeline.lib.polling import LiveTransports

    transports = LiveTransports()

    first, again, other = transports("binance", 1), transports("binance", 2), transports("okx", 1)

    assert first is again and first is not other
    asyncio.run(transports.aclose())


def test_429_retry_after_as_http_date_is_honoured():
    dated = httpx.Response(
        429,
        headers={"date": "Mon, 23 Nov 2026 12:00:00 GMT", "retry-after": "Mon, 23 Nov 2026 12:00:03 GMT"},
        text="slow down",
    )
    assert _retried_once(dated) == ([3.0], 1)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "Mon, 23 Nov 2026 12:00:05 GMT"}, 5.0),  # no Date header: our clock
        ({"retry-after": "Mon, 23 Nov 2026 11:59:00 GMT"}, 0.0),  # already past
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_seconds(headers, seconds):
    response = httpx.Response(429, headers=headers)

    assert retry_after_seconds(response, now=SLOT) == seconds


class LiveAt(SimulatedClock):
    """A live run started at a given time; slots advance without sleeping."""

    simulated = False


def test_faults_reach_tracker_polls_and_the_run_log(tmp_path, caplog):
    """Hyena answers by slot parity: even slots one market without `markPx` (rejected), odd
    slots HTTP 503. Driven through the collector, stored, and read back from the closed chunk."""
    replay = tmp_path / "replay"
    cassette(replay / "hyperliquid", "ok", {"status": 200, "json": PAYLOAD})
    hyena = {"type": "metaAndAssetCtxs", "dex": "hyna"}
    cassette(replay / "hyena", "a_rejected", with_market_field(1, "markPx", ABSENT), hyena)
    cassette(replay / "hyena", "b_down", {"status": 503, "text": "upstream unavailable"}, hyena)
    hour = datetime(2026, 11, 23, 10, tzinfo=UTC)
    log = logging.getLogger("test.faults")

    with caplog.at_level(logging.INFO, logger="test.faults"):
        report = run_collect_hour(
            hour,
            warehouse=tmp_path / "warehouse",
            exchanges=[GOOD, BAD],
            transports=replay_transports(replay),
            clock=LiveAt(hour + timedelta(minutes=55)),
            log=log,
        )

    rejected = "hyena metaAndAssetCtxs $[1][1].markPx: required field missing (got None)"
    down = "HttpStatusError: HTTP 503 from https://api.hyperliquid.xyz/info: upstream unavailable"
    con = warehouse.connect(tmp_path)
    polls = con.execute(
        "SELECT slot_at, exchange, ok, rows, rejected, retries, error, first_rejection FROM tracker_polls "
        "ORDER BY slot_at, exchange LIMIT 4"
    ).fetchall()
    at = hour + timedelta(minutes=55)
    assert polls == [
        (at, "hyena", True, 2, 1, 0, f"1 market(s) rejected: {rejected}", rejected),
        (at, "hyperliquid", True, 3, 0, 0, None, None),
        (at + timedelta(seconds=15), "hyena", False, 0, 0, 2, down, None),
        (at + timedelta(seconds=15), "hyperliquid", True, 3, 0, 0, None, None),
    ]
    assert con.execute(
        "SELECT exchange, count(*), count(*) FILTER (WHERE ok), count(error) FROM tracker_polls GROUP BY 1 ORDER BY 1"
    ).fetchall() == [("hyena", 20, 10, 20), ("hyperliquid", 20, 20, 0)]
    assert (report.venues["hyena"].slots_failed, report.venues["hyena"].rejected) == (10, 10)
    assert report.venues["hyena"].last_error == down
    messages = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert messages[:3] == [
        ("WARNING", f"hyena at 10:55:00: 1 market(s) rejected: {rejected}"),
        ("ERROR", f"hyena failed at 10:55:15: {down}"),
        ("WARNING", f"hyena at 10:55:30: 1 market(s) rejected: {rejected}"),
    ]
    assert len(messages) == 20  # one per change of state, none for hyperliquid


def test_run_log_reports_a_lasting_fault_once_and_its_recovery():
    slot = [SLOT + timedelta(seconds=15 * i) for i in range(4)]
    failures = FailureLog(logging.getLogger("test.failure_log"))
    messages = []

    class Capture(logging.Handler):
        def emit(self, record):
            messages.append((record.levelname, record.getMessage()))

    failures.log.addHandler(Capture())
    failures.log.setLevel(logging.INFO)
    down = PollOutcome("okx", slot[0], ok=False, error="RequestTimeout: no answer within 12s")
    for outcomes in (
        [down],
        [dataclasses.replace(down, slot_at=slot[1])],
        [PollOutcome("okx", slot[2], ok=True, error="1 market(s) rejected: bad")],
        [PollOutcome("okx", slot[3], ok=True)],
    ):
        failures.observe(outcomes)

    assert messages == [
        ("ERROR", "okx failed at 12:00:00: RequestTimeout: no answer within 12s"),
        ("WARNING", "okx at 12:00:30: 1 market(s) rejected: bad"),
        ("INFO", "okx recovered at 12:00:45"),
    ]


def test_live_transports_honour_no_proxy(monkeypatch):
    from funding_pipeline.lib.polling import LiveTransports, ProxyRouter

    for name in ("HTTP_PROXY", "ALL_PROXY", "http_proxy", "all_proxy", "https_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.test:3128")
    monkeypatch.setenv("NO_PROXY", "api.hyperliquid.xyz,.okx.com")
    transports = LiveTransports()

    router = transports("hyperliquid", 1)

    assert isinstance(router, ProxyRouter)
    assert router.route("api.hyperliquid.xyz") is router.direct
    assert router.route("www.okx.com") is router.direct
    assert router.route("fapi.binance.com") is router.proxied
    asyncio.run(transports.aclose())


def test_live_transports_without_a_proxy_go_direct(monkeypatch):
    from funding_pipeline.lib.polling import LiveTransports, ProxyRouter

    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)

    transports = LiveTransports()

    assert isinstance(transports("binance", 1), httpx.AsyncHTTPTransport)
    assert not isinstance(transports("binance", 1), ProxyRouter)
    asyncio.run(transports.aclose())


def test_proxy_router_sends_each_host_its_way(monkeypatch):
    from funding_pipeline.lib.polling import ProxyRouter

    monkeypatch.setenv("NO_PROXY", "api.hyperliquid.xyz")
    monkeypatch.delenv("no_proxy", raising=False)
    router = ProxyRouter(
        httpx.MockTransport(lambda r: httpx.Response(200, text="via proxy")),
        httpx.MockTransport(lambda r: httpx.Response(200, text="direct")),
    )

    async def go():
        async with httpx.AsyncClient(transport=router) as client:
            return [
                (await client.get(url)).text
                for url in ("https://api.hyperliquid.xyz/info", "https://fapi.binance.com/x")
            ]

    assert asyncio.run(go()) == ["direct", "via proxy"]
