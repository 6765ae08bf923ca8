"""`TransportClient` sends what `httpx.AsyncClient` would, and hands redirects to it."""

import asyncio
import json

import httpx

from funding_pipeline.lib.http.client import TransportClient, cached_url

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
