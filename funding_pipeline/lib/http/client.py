"""The one way venue code talks HTTP: timeouts, bounded jittered retries, pacing, JSON decode.

Venue `poll` functions receive a `VenueHttp`; whether it reaches the network or a replay
transport is decided once by whoever builds its client (`TransportClient` or `httpx.AsyncClient`).
"""

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx
import msgspec

from funding_pipeline.lib.exchanges.model import Venue
from funding_pipeline.lib.http.errors import (
    BadBody,
    ConnectFailed,
    HttpStatusError,
    RequestTimeout,
    TransportError,
)

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


# What httpx.AsyncClient sends by default, with our user agent in place of httpx's.
BASE_HEADERS = {"accept": "*/*", "accept-encoding": "gzip, deflate", "connection": "keep-alive"}
_URL_CACHE_SIZE = 20_000
_urls: dict[Any, httpx.URL] = {}
_gets: dict[Any, httpx.Request] = {}


def cached_url(url: str, params: dict[str, Any] | None) -> httpx.URL:
    """`url` with `params` as httpx builds it, parsed once per process: per-market venues ask the
    same few hundred URLs every slot, and parsing one costs ~25 µs."""
    try:
        key = (url, tuple(params.items())) if params else url
        found = _urls.get(key)
    except TypeError:  # an unhashable parameter value: parse every time
        return httpx.URL(url).copy_merge_params(params)
    if found is None:
        if len(_urls) >= _URL_CACHE_SIZE:
            _urls.clear()
        found = _urls[key] = httpx.URL(url).copy_merge_params(params) if params else httpx.URL(url)
    return found


class TransportClient:
    """The `request` of `httpx.AsyncClient` that `VenueHttp` uses, straight over one transport.

    The full client merges URLs, cookies, auth and hooks per request: ~130 µs CPU, and GRVT and
    Hibachi make one request per market (docs/benchmarks.md "Collection"). Here a request is
    built from a cached URL and handed to the transport (~15 µs of client work). A redirect, rare, is sent again
    through a full `httpx.AsyncClient`. Proxies come with the transport (`LiveTransports`).
    """

    def __init__(self, transport: httpx.AsyncBaseTransport, headers: dict[str, str] | None = None):
        self.transport = transport
        self.headers = httpx.Headers({**BASE_HEADERS, **(headers or {})})
        self._header_key = tuple(self.headers.raw)

    def _get(self, url: str, params: dict[str, Any] | None) -> httpx.Request:
        """A GET as `httpx.Request` builds it, built once per process, URL and headers, and
        copied: building one costs ~13 µs (headers copied, Host set, an empty body prepared), a
        copy ~1 µs. Transports only read a request, so copies share the template's headers and
        empty body. (A client lives for one poll; the templates outlive it.)"""
        try:
            key = (self._header_key, url, tuple(params.items()) if params else None)
            template = _gets.get(key)
        except TypeError:  # an unhashable parameter value: build every time
            return httpx.Request("GET", cached_url(url, params), headers=self.headers)
        if template is None:
            if len(_gets) >= _URL_CACHE_SIZE:
                _gets.clear()
            template = _gets[key] = httpx.Request("GET", cached_url(url, params), headers=self.headers)
        request = object.__new__(httpx.Request)
        request.__dict__.update(template.__dict__)
        return request

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        if method == "GET" and json is None:
            request = self._get(url, params)
        else:
            request = httpx.Request(method, cached_url(url, params), headers=self.headers, json=json)
        # What `httpx.Timeout(timeout).as_dict()` gives, without building the object.
        request.extensions = {"timeout": {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}}
        response = await self.transport.handle_async_request(request)
        response.request = request
        try:
            await response.aread()
        finally:
            await response.aclose()
        if response.is_redirect:  # left open: closing the client would close the shared transport
            client = httpx.AsyncClient(transport=self.transport, headers=self.headers, follow_redirects=True)
            return await client.request(method, url, params=params, json=json, timeout=timeout)
        return response


# One decoder for every answer: `json.loads` with options builds a new one per call.
_DECODER = json.JSONDecoder(parse_float=str)
# The same decoding at ~2.6x the speed (the largest step of a slot, docs/benchmarks.md). It is
# stricter: NaN literals, lone surrogates, a BOM or UTF-16 make it refuse, and `_DECODER` decides.
_FAST_DECODER = msgspec.json.Decoder(float_hook=str)


def decode_json(response: httpx.Response) -> Any:
    """JSON whose fractional numbers stay their exact text (parsers make Decimals of the fields
    they use); HTML or truncated bodies raise `BadBody`.

    Decoded from the bytes as `json.loads` does (JSON is UTF-8) unless the answer names another
    charset: httpx's charset lookup costs ~10 µs per answer."""
    try:
        ctype = response.headers.get("content-type", "").lower()
        if "charset" in ctype and "charset=utf-8" not in ctype:
            return _DECODER.decode(response.text)
        content = response.content
        try:
            return _FAST_DECODER.decode(content)
        except msgspec.DecodeError:
            pass
        return _DECODER.decode(content.decode(json.detect_encoding(content), "surrogatepass"))
    except ValueError as exc:
        text = response.text
        ctype = response.headers.get("content-type", "?")
        snippet = " ".join(text[:80].split())
        raise BadBody(f"undecodable body ({ctype}) from {response.url}: {exc}; starts {snippet!r}") from None


def _http_date(value: str | None) -> datetime | None:
    try:
        at = parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError):
        return None
    return None if at is None or at.tzinfo is None else at


def retry_after_seconds(response: httpx.Response, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds: delta-seconds, or an HTTP date measured from the response's
    `Date` header (the server's clock; our clock when it sends none). None when absent or invalid."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    until = _http_date(value)
    if until is None:
        return None
    sent = _http_date(response.headers.get("date")) or now or datetime.now(UTC)
    return max(0.0, (until - sent).total_seconds())


class VenueHttp:
    """Requests for one venue within one poll slot; never retries past `deadline` (monotonic)."""

    def __init__(
        self,
        venue: Venue,
        client: "httpx.AsyncClient | TransportClient",
        *,
        deadline: float,
        max_attempts: int = 3,
        backoff_s: float = 0.25,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ):
        self.venue = venue
        self.client = client
        self.deadline = deadline
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.sleep = sleep
        self.clock = clock
        self.rng = rng or random.Random()
        self.requests = 0
        self.retries = 0
        self._pace_lock = asyncio.Lock()
        self._last_start = 0.0

    async def get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return await self._request("GET", path, params=params)

    async def post_json(self, path: str, body: dict[str, Any]) -> Any:
        return await self._request("POST", path, json_body=body)

    async def gather(
        self, items: Iterable[T], fetch: Callable[[T], Awaitable[Any]], *, client_errors: bool = False
    ) -> list[Any]:
        """Per-market calls for venues without a bulk endpoint, at most `max_concurrency` at once.

        With `client_errors`, a non-retryable `HttpStatusError` (a 4xx: that market is unknown or
        delisted) takes the place of its item's answer, so the caller rejects that market alone;
        retryable failures still fail the whole call.
        """
        # `max_concurrency` workers taking items in order, not one task per item behind a
        # semaphore: the same requests in the same order, ~200 fewer tasks per slot.
        items = list(items)
        answers: list[Any] = [None] * len(items)
        pending = iter(enumerate(items))

        async def worker() -> None:
            for index, item in pending:
                try:
                    answers[index] = await fetch(item)
                except HttpStatusError as exc:
                    if exc.retryable or not client_errors:
                        raise
                    answers[index] = exc

        await asyncio.gather(*(worker() for _ in range(max(1, min(self.venue.max_concurrency, len(items))))))
        return answers

    async def _pace(self) -> None:
        if self.venue.min_interval_s <= 0:
            return
        async with self._pace_lock:
            wait = self._last_start + self.venue.min_interval_s - self.clock()
            if wait > 0:
                await self.sleep(wait)
            self._last_start = self.clock()

    async def _request(self, method: str, path: str, *, params=None, json_body=None) -> Any:
        url = self.venue.base_url + path
        attempt = 0
        while True:
            attempt += 1
            await self._pace()
            remaining = self.deadline - self.clock()
            if remaining <= 0:
                raise RequestTimeout(f"{self.venue.id} {method} {url}: slot deadline passed")
            try:
                self.requests += 1
                response = await self.client.request(
                    method,
                    url,
                    params=params,
                    json=json_body,
                    timeout=min(self.venue.timeout_s, remaining),
                )
                if response.status_code >= 400:
                    raise HttpStatusError(
                        response.status_code,
                        url,
                        " ".join(response.text[:120].split()),
                        retry_after_seconds(response),
                    )
                return decode_json(response)
            except httpx.TimeoutException as exc:
                error: TransportError = RequestTimeout(f"{self.venue.id} {method} {url}: timeout ({exc})")
            except httpx.TransportError as exc:
                error = ConnectFailed(f"{self.venue.id} {method} {url}: {type(exc).__name__}: {exc}")
            except TransportError as exc:
                error = exc
            if not error.retryable or attempt >= self.max_attempts:
                raise error
            delay = self.rng.uniform(0, self.backoff_s * 2 ** (attempt - 1))
            if isinstance(error, HttpStatusError) and error.retry_after_s is not None:
                delay = error.retry_after_s
            if self.clock() + delay >= self.deadline:
                raise error
            self.retries += 1
            await self.sleep(delay)
