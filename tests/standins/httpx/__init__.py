"""Stand-in for httpx: counts clients (and live ones), requests; AsyncClient sleeps and logs."""

import asyncio

import probe


class Response:
    def __init__(self, url, status_code=200):
        self.url = url
        self.status_code = status_code
        self.text = f"body of {url}"

    def json(self):
        return {"url": self.url}

    def raise_for_status(self):
        return None


class Client:
    def __init__(self, base_url="", headers=None, timeout=None, **kwargs):
        probe.track("httpx.Client", self)
        self.base_url = base_url
        self.headers = dict(headers or {})

    def get(self, url, **kwargs):
        probe.count("httpx.request")
        return Response(self.base_url + url)

    def post(self, url, **kwargs):
        probe.count("httpx.request")
        return Response(self.base_url + url)

    def close(self):
        probe.count("httpx.close")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class AsyncClient:
    def __init__(self, base_url="", **kwargs):
        probe.track("httpx.AsyncClient", self)
        self.base_url = base_url

    async def get(self, url, **kwargs):
        probe.count("httpx.request")
        probe.event(f"start:get:{url}")
        await asyncio.sleep(0.01)
        probe.event(f"end:get:{url}")
        return Response(self.base_url + url)

    async def aclose(self):
        pass

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return None


def get(url, **kwargs):
    with Client() as client:
        return client.get(url)
