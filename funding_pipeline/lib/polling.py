"""One poll slot: every enabled venue asked concurrently, each outcome recorded, none lost.

A venue's failure (transport, bad envelope, open circuit) becomes a `PollOutcome` with the
reason; it never raises into the slot and never delays the other venues past the deadline.
"""

import asyncio
import ssl
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx

from funding_pipeline.lib.exchanges.model import Exchange, MarketRow, ParseError
from funding_pipeline.lib.http.breaker import Breaker
from funding_pipeline.lib.http.client import Sleep, TransportClient, VenueHttp
from funding_pipeline.lib.http.errors import CircuitOpen, TransportError
from funding_pipeline.lib.http.replay import ReplayTransport, load_cassettes

SLOT_SECONDS = 15
# A venue's answer must be in before the next slot starts; the rest is for writing.
SLOT_BUDGET_S = 12.0
USER_AGENT = "funding-pipeline/0.1 (+https://github.com/)"


@dataclass
class PollOutcome:
    exchange: str
    slot_at: datetime
    ok: bool
    rows: list[MarketRow] = field(default_factory=list)
    rejected: list[ParseError] = field(default_factory=list)
    skipped: int = 0
    latency_ms: float = 0.0
    requests: int = 0
    retries: int = 0
    # Why the poll failed; for a poll that answered (`ok`), why markets were rejected, else None.
    error: str | None = None


def rejection_summary(rejected: list[ParseError]) -> str | None:
    """The `error` of a poll that answered but had markets refused by parsing (`ok` stays true)."""
    if not rejected:
        return None
    return f"{len(rejected)} market(s) rejected: {rejected[0]}"


TransportFactory = Callable[[str, int], httpx.AsyncBaseTransport]


def replay_transports(replay_dir: Path) -> TransportFactory:
    """Transport factory for replay mode: venue folder `<replay_dir>/<exchange id>/`."""

    def factory(exchange_id: str, poll_number: int) -> httpx.AsyncBaseTransport:
        return ReplayTransport(load_cassettes(replay_dir / exchange_id), poll_number)

    return factory


class ProxyRouter(httpx.AsyncBaseTransport):
    """The proxied transport, or the direct one for a host `NO_PROXY` names (decided once per
    host, with the standard library's reading of `NO_PROXY`)."""

    def __init__(self, proxied: httpx.AsyncBaseTransport, direct: httpx.AsyncBaseTransport) -> None:
        self.proxied, self.direct = proxied, direct
        self._by_host: dict[str, httpx.AsyncBaseTransport] = {}

    def route(self, host: str) -> httpx.AsyncBaseTransport:
        if host not in self._by_host:
            self._by_host[host] = self.direct if urllib.request.proxy_bypass(host) else self.proxied
        return self._by_host[host]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.route(request.url.host).handle_async_request(request)

    async def aclose(self) -> None:
        await self.proxied.aclose()
        await self.direct.aclose()


class LiveTransports:
    """One network transport per venue for the whole run, sharing one TLS context.

    A new client per venue and slot would load the CA bundle and shake hands again every 15 s:
    ~500 ms CPU per slot for 21 venues, ten times the slot budget. Connections are kept alive.
    `TransportClient` sends straight to these transports, so the environment's HTTPS proxy
    (`HTTPS_PROXY` / `ALL_PROXY`, as httpx reads it) is set on them here, and hosts listed in
    `NO_PROXY` go direct (`ProxyRouter`).
    """

    def __init__(self) -> None:
        self._ssl = ssl.create_default_context()
        proxies = urllib.request.getproxies()
        self._proxy = proxies.get("https") or proxies.get("all")
        self._transports: dict[str, httpx.AsyncBaseTransport] = {}

    def _transport(self, proxy: str | None = None) -> httpx.AsyncHTTPTransport:
        return httpx.AsyncHTTPTransport(verify=self._ssl, retries=0, proxy=proxy)

    def __call__(self, exchange_id: str, poll_number: int) -> httpx.AsyncBaseTransport:
        if exchange_id not in self._transports:
            direct = self._transport()
            self._transports[exchange_id] = (
                direct if self._proxy is None else ProxyRouter(self._transport(self._proxy), direct)
            )
        return self._transports[exchange_id]

    async def aclose(self) -> None:
        for transport in self._transports.values():
            await transport.aclose()
        self._transports.clear()


async def poll_exchange(
    exchange: Exchange,
    slot_at: datetime,
    *,
    transport: httpx.AsyncBaseTransport,
    breaker: Breaker | None = None,
    budget_s: float = SLOT_BUDGET_S,
    sleep: Sleep = asyncio.sleep,
) -> PollOutcome:
    venue_id = exchange.venue.id
    if breaker is not None and not breaker.allows(slot_at):
        error = CircuitOpen(f"circuit open until {breaker.open_until:%H:%M:%S} after {breaker.failures} failures")
        return PollOutcome(venue_id, slot_at, ok=False, error=f"CircuitOpen: {error}")
    # The event loop's clock (time.monotonic in production): the same one `wait_for` uses.
    clock = asyncio.get_running_loop().time
    started = clock()
    # Not closed here: the transport belongs to the run (LiveTransports) or the slot (replay).
    client = TransportClient(transport, {"user-agent": USER_AGENT})
    http = VenueHttp(exchange.venue, client, deadline=started + budget_s, sleep=sleep, clock=clock)
    try:
        result = await asyncio.wait_for(exchange.poll(http, slot_at), timeout=budget_s)
        outcome = PollOutcome(
            venue_id,
            slot_at,
            ok=True,
            rows=result.rows,
            rejected=result.rejected,
            skipped=result.skipped,
            error=rejection_summary(result.rejected),
        )
    except (TransportError, ParseError) as exc:
        outcome = PollOutcome(venue_id, slot_at, ok=False, error=f"{type(exc).__name__}: {exc}")
    except TimeoutError:
        outcome = PollOutcome(venue_id, slot_at, ok=False, error=f"RequestTimeout: no answer within {budget_s:.0f}s")
    except Exception as exc:  # a bug in one venue's code must not cost the others their rows
        outcome = PollOutcome(venue_id, slot_at, ok=False, error=f"{type(exc).__name__}: {exc}")
    outcome.requests, outcome.retries = http.requests, http.retries
    outcome.latency_ms = round((clock() - started) * 1000, 1)
    if breaker is not None:
        breaker.record(outcome.ok, slot_at)
    return outcome


async def poll_slot(
    exchanges: list[Exchange],
    slot_at: datetime,
    poll_number: int,
    transports: TransportFactory,
    breakers: dict[str, Breaker] | None = None,
    sleep: Sleep = asyncio.sleep,
) -> list[PollOutcome]:
    """All venues at once; the result list follows the order of `exchanges`."""
    breakers = breakers or {}
    return list(
        await asyncio.gather(
            *(
                poll_exchange(
                    e,
                    slot_at,
                    transport=transports(e.venue.id, poll_number),
                    breaker=breakers.get(e.venue.id),
                    sleep=sleep,
                )
                for e in exchanges
            )
        )
    )
