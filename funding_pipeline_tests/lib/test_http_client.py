"""`TransportClient` sends what `httpx.AsyncClient` would, and hands redirects to it; answers
decode as the standard decoder with fractional numbers kept as text."""

import asyncio
import json

import httpx
import pytest

from funding_pipeline.lib.http.client import TransportClient, cached_url, decode_json
from funding_pipeline.lib.http.errors import BadBody
from funding_pipeline.lib.settings import BUNDLED_RECORDINGS as RECORDINGS

URL = "https://api.example.test/v1/ticker"


def _capture(client_factory, **kwargs):
    seen = []

    def handler(request):
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    async def go():
        client = client_factory(httpx.MockTransport(handler))
        response = await client.request("POST" if "json" in kwargs else "GET", URL, timeout=5.0, **kwargs)
        return response.json()

    return asyncio.run(go()), seen[0]


def test_same_request_as_the_full_client():
    headers = {"user-agent": "funding-pipeline/test"}
    for kwargs in ({"params": {"symbol": "BTC/USDT-P", "limit": 5}}, {"json": {"type": "metaAndAssetCtxs"}}):
        ours, sent = _capture(lambda t: TransportClient(t, headers), **kwargs)
        theirs, expected = _capture(lambda t: httpx.AsyncClient(transport=t, headers=headers), **kwargs)

        assert ours == theirs == {"ok": True}
        assert (sent.method, sent.url, sent.content) == (expected.method, expected.url, expected.content)
        assert sent.headers["user-agent"] == "funding-pipeline/test"
        assert sent.headers.get("content-type") == expected.headers.get("content-type")
        assert sent.extensions["timeout"] == expected.extensions["timeout"]


def test_redirect_is_followed():
    def handler(request):
        if request.url.path == "/old":
            return httpx.Response(301, headers={"location": "https://api.example.test/new"})
        return httpx.Response(200, json={"path": request.url.path})

    async def go():
        client = TransportClient(httpx.MockTransport(handler))
        return json.loads((await client.request("GET", "https://api.example.test/old", timeout=5.0)).content)

    assert asyncio.run(go()) == {"path": "/new"}


def test_cached_urls_are_shared_and_match_httpx():
    first = cached_url(URL, {"symbol": "ETH"})

    assert first is cached_url(URL, {"symbol": "ETH"})
    assert first == httpx.URL(URL, params={"symbol": "ETH"})
    assert cached_url(URL, {"ids": ["a", "b"]}) == httpx.URL(URL, params={"ids": ["a", "b"]})  # unhashable: not cached


def _answer(body: bytes, content_type: str = "application/json") -> httpx.Response:
    return httpx.Response(200, content=body, headers={"content-type": content_type}, request=httpx.Request("GET", URL))


def test_decoded_as_the_standard_decoder_on_every_recording():
    standard = json.JSONDecoder(parse_float=str)
    bodies = [
        json.dumps(json.loads(path.read_text())["response"]["json"]).encode()
        for path in sorted(RECORDINGS.glob("*/*.00.json"))
        if "json" in json.loads(path.read_text())["response"]
    ]
    assert len(bodies) >= 40
    for body in bodies:
        assert decode_json(_answer(body)) == standard.decode(body.decode())


def test_fractional_numbers_keep_their_text():
    big = 123456789012345678901234567890
    body = b'{"rate": 1.250E-5, "px": -0.0, "oi": 12, "big": %d}' % big
    assert decode_json(_answer(body)) == {"rate": "1.250E-5", "px": "-0.0", "oi": 12, "big": big}


def test_answers_the_fast_decoder_refuses_decode_as_before():
    # NaN literals (parsers reject the value, not the poll), lone surrogates, a BOM, UTF-16.
    assert decode_json(_answer(b'{"markPx": NaN, "x": [Infinity]}'))["x"] == [float("inf")]
    assert decode_json(_answer(b'["\\ud800"]')) == ["\ud800"]
    assert decode_json(_answer(b'\xef\xbb\xbf{"a": 1.5}')) == {"a": "1.5"}
    assert decode_json(_answer('{"a": 2.5}'.encode("utf-16"))) == {"a": "2.5"}
    assert decode_json(_answer('{"a": "é"}'.encode("latin-1"), "application/json; charset=latin-1")) == {"a": "é"}


def test_html_and_truncated_answers_are_bad_bodies():
    for body, reason in ((b"<html>Attention Required!</html>", "Expecting value"), (b'[{"name": "BTC"', "Expecting")):
        with pytest.raises(BadBody, match=f"undecodable body \\(application/json\\) from {URL}: {reason}"):
            decode_json(_answer(body))


def test_a_repeated_get_is_a_copy_with_its_own_timeout():
    seen = []

    def handler(request):
        seen.append(request)
        return httpx.Response(200, json={"n": len(seen)})

    async def go():
        # A client per poll, as `poll_exchange` makes them; the second one reuses the first's GETs.
        headers = {"user-agent": "funding-pipeline/test"}
        first = TransportClient(httpx.MockTransport(handler), headers)
        second = TransportClient(httpx.MockTransport(handler), headers)
        other_agent = TransportClient(httpx.MockTransport(handler), {"user-agent": "other/1"})
        params = {"symbol": "BTC/USDT-P"}
        return [
            (await first.request("GET", URL, params=params, timeout=5.0)).json(),
            (await second.request("GET", URL, params=params, timeout=2.0)).json(),
            (await first.request("GET", URL, params={"symbol": "ETH/USDT-P"}, timeout=1.0)).json(),
            (await other_agent.request("GET", URL, params=params, timeout=1.0)).json(),
        ]

    assert asyncio.run(go()) == [{"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}]
    first, again, other, agent = seen
    assert first.headers is again.headers  # one template, built by the first client's poll
    assert agent.headers is not first.headers and agent.headers["user-agent"] == "other/1"
    assert first is not again
    assert (first.extensions["timeout"]["read"], again.extensions["timeout"]["read"]) == (5.0, 2.0)
    assert str(first.url) == str(again.url) == URL + "?symbol=BTC%2FUSDT-P"
    assert str(other.url) == URL + "?symbol=ETH%2FUSDT-P"
    assert first.headers["user-agent"] == again.headers["user-agent"] == "funding-pipeline/test"
    assert first.headers["host"] == "api.example.test" and again.content == b""
