"""Stand-in for requests: every Session opens one connection; requests.get/post use a throwaway one.

Counts ``requests.session`` (sessions made) and ``requests.request``; each request logs the id of
the session that sent it (``send:<session id>``), so a test sees which requests shared one.
A ``timeout`` given as a float below 1 stands for the server's latency: the request sleeps that
long between ``start:http`` and ``end:http`` events (so overlap shows in the call log).
"""

import itertools
import threading
import time

import probe

_IDS = itertools.count(1)


class Response:
    def __init__(self, method, url, kwargs):
        self.status_code = 200
        self.url = url
        self.text = f"{method} {url} {sorted(kwargs.get('data', {}).items()) if isinstance(kwargs.get('data'), dict) else kwargs.get('data')}"
        self.ok = True

    def json(self):
        return {"url": self.url}

    def read(self):
        return self.text.encode()

    def raise_for_status(self):
        return None


class Session:
    def __init__(self):
        self.ident = next(_IDS)
        probe.track("requests.session", self)
        self.closed = False

    def request(self, method, url, **kwargs):
        if self.closed:
            raise RuntimeError("session closed")
        probe.count("requests.request")
        probe.event(f"send:{self.ident}")
        delay = kwargs.get("timeout") if isinstance(kwargs.get("timeout"), float) else 0
        if delay and delay < 1:
            probe.event("start:http:" + str(threading.get_ident()))
            time.sleep(delay)
            probe.event("end:http:" + str(threading.get_ident()))
        return Response(method.upper(), url, kwargs)

    def get(self, url, params=None, **kwargs):
        return self.request("get", url, params=params, **kwargs)

    def post(self, url, data=None, json=None, **kwargs):
        return self.request("post", url, data=data, json=json, **kwargs)

    def put(self, url, data=None, **kwargs):
        return self.request("put", url, data=data, **kwargs)

    def delete(self, url, **kwargs):
        return self.request("delete", url, **kwargs)

    def close(self):
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def request(method, url, **kwargs):
    with Session() as session:
        return session.request(method, url, **kwargs)


def get(url, params=None, **kwargs):
    return request("get", url, params=params, **kwargs)


def post(url, data=None, json=None, **kwargs):
    return request("post", url, data=data, json=json, **kwargs)


def put(url, data=None, **kwargs):
    return request("put", url, data=data, **kwargs)


def delete(url, **kwargs):
    return request("delete", url, **kwargs)


class RequestException(Exception):
    pass
