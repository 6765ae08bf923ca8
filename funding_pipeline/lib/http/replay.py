"""Replay transport: serves recorded responses (cassettes) in place of the network.

A cassette is `{"request": {"method", "url", "params"?, "json"?}, "response": {"status",
"headers"?, "json" | "text"}}`. A request matches when method and URL (without query) are equal
and every key the cassette gives in `params` / `json` has the same value; keys it leaves out
match anything. Matching cassettes are served in file-name order, one per poll, cycling: the
poll number selects the cassette, so a rerun of a slot replays exactly the same answer.
"""

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import httpx

from funding_pipeline.lib.http.errors import NoCassette


@dataclass(frozen=True)
class Cassette:
    name: str
    method: str
    url: str
    params: dict[str, Any]
    body: dict[str, Any] | None
    status: int
    headers: dict[str, str]
    content: bytes

    def matches(self, method: str, url: str, params: dict[str, str], body: Any) -> bool:
        if method != self.method or url != self.url:
            return False
        if any(params.get(k) != _as_query(v) for k, v in self.params.items()):
            return False
        if self.body:
            if not isinstance(body, dict):
                return False
            return all(body.get(k) == v for k, v in self.body.items())
        return True


def _as_query(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _load_one(path: Path) -> Cassette:
    try:
        doc = json.loads(path.read_text())
        req, resp = doc["request"], doc["response"]
        content = json.dumps(resp["json"]).encode() if "json" in resp else resp["text"].encode()
        return Cassette(
            name=path.name,
            method=req.get("method", "GET").upper(),
            url=req["url"].split("?", 1)[0],
            params=req.get("params") or {},
            body=req.get("json"),
            status=int(resp.get("status", 200)),
            headers=resp.get("headers") or {},
            content=content,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"malformed cassette {path}: {exc}") from exc


def _pin(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _json_body(request: httpx.Request) -> Any:
    if not request.content:
        return None
    try:
        return json.loads(request.content)
    except ValueError:
        return None


class CassetteIndex:
    """Cassettes grouped by method + URL, then by the values of the query and body keys they pin,
    so a venue with one cassette per market and step (thousands) is matched without a full scan."""

    def __init__(self, cassettes: tuple[Cassette, ...]):
        self.cassettes = cassettes
        # Answers by (method, full URL, body bytes): the index never changes after loading, and a
        # venue asks the same requests every slot (thousands of per-market cassettes).
        self._answers: dict[tuple[str, str, bytes], list[Cassette]] = {}
        self._groups: dict[tuple[str, str], dict[tuple, dict[tuple, list]]] = {}
        for order, c in enumerate(cassettes):
            keys = tuple(("q", k) for k in sorted(c.params)) + tuple(("j", k) for k in sorted(c.body or {}))
            values = tuple(_as_query(c.params[k]) if where == "q" else _pin((c.body or {})[k]) for where, k in keys)
            by_keys = self._groups.setdefault((c.method, c.url), {})
            by_keys.setdefault(keys, {}).setdefault(values, []).append((order, c))

    def __len__(self) -> int:
        return len(self.cassettes)

    def __iter__(self):
        return iter(self.cassettes)

    def answers(self, request: httpx.Request) -> list[Cassette]:
        """`find` for an httpx request, remembered per method, URL and body."""
        key = (request.method, str(request.url), request.content)
        found = self._answers.get(key)
        if found is None:
            if len(self._answers) >= 100_000:  # history walks ask ever new windows
                self._answers.clear()
            url = str(request.url.copy_with(query=None))
            found = self._answers[key] = self.find(request.method, url, dict(request.url.params), _json_body(request))
        return found

    def find(self, method: str, url: str, params: dict[str, str], body: Any) -> list[Cassette]:
        fields = body if isinstance(body, dict) else {}
        found = []
        for keys, by_values in self._groups.get((method, url), {}).items():
            if any(where == "j" and k not in fields for where, k in keys):
                continue
            asked = tuple(params.get(k) if where == "q" else _pin(fields[k]) for where, k in keys)
            for order, c in by_values.get(asked, ()):
                if c.matches(method, url, params, body):
                    found.append((order, c))
        return [c for _, c in sorted(found, key=lambda pair: pair[0])]


@lru_cache(maxsize=64)
def load_cassettes(folder: Path) -> CassetteIndex:
    """All cassettes of one venue folder, in file-name order; loaded once per process."""
    if not folder.is_dir():
        return CassetteIndex(())
    return CassetteIndex(tuple(_load_one(p) for p in sorted(folder.glob("*.json"))))


class ReplayTransport(httpx.AsyncBaseTransport):
    """httpx transport answering from cassettes; `poll_number` picks among matches."""

    def __init__(self, cassettes: "CassetteIndex | tuple[Cassette, ...]", poll_number: int):
        self.cassettes = cassettes if isinstance(cassettes, CassetteIndex) else CassetteIndex(tuple(cassettes))
        self.poll_number = poll_number

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        found = self.cassettes.answers(request)
        if not found:
            body = _json_body(request)
            shown = f" json={body}" if body is not None else ""
            raise NoCassette(f"no cassette for {request.method} {request.url}{shown}")
        cassette = found[self.poll_number % len(found)]
        headers = {"content-type": "application/json", **cassette.headers}
        return httpx.Response(cassette.status, headers=headers, content=cassette.content)
