"""Replay scaffolding for the venue tests: cassettes built from payloads, and a `VenueHttp` over them."""

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpx

from funding_pipeline.lib.exchanges.model import Venue
from funding_pipeline.lib.http.client import VenueHttp
from funding_pipeline.lib.http.replay import Cassette, ReplayTransport


async def no_sleep(_seconds: float) -> None:
    """Stands in for `asyncio.sleep`: pacing and pauses between pages cost no time in tests."""


def cassette(
    url: str,
    payload: Any = None,
    *,
    params: dict[str, Any] | None = None,
    body: dict[str, Any] | None = None,
    method: str | None = None,
    status: int = 200,
    name: str | None = None,
    content: bytes | None = None,
) -> Cassette:
    """A recorded answer for `url`: `payload` as JSON (Decimals written as numbers), or raw `content`.

    The request matches when every key given in `params` (query) or `body` (JSON, which makes it
    a POST unless `method` says otherwise) has that value; keys left out match anything.
    """
    if content is None:
        content = json.dumps(payload, default=float).encode()
    method = method or ("GET" if body is None else "POST")
    return Cassette(name or url, method, url, params or {}, body, status, {}, content)


def replay(
    venue: Venue,
    cassettes: Iterable[Cassette],
    call: Callable[[VenueHttp], Awaitable[Any]],
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> tuple[Any, int]:
    """Run `call(http)` against `cassettes` (the first match answers: poll 0) without sleeping.

    Returns what `call` returned and how many requests it made.
    """

    async def go():
        async with httpx.AsyncClient(transport=transport or ReplayTransport(tuple(cassettes), 0)) as client:
            http = VenueHttp(venue, client, deadline=time.monotonic() + 30, sleep=no_sleep)
            return await call(http), http.requests

    return asyncio.run(go())
