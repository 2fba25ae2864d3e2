"""Stand-in for redis: counts connections (clients) and commands; one shared in-memory store."""

import probe

_STORE = {}


class Redis:
    def __init__(self, host="localhost", port=6379, db=0, decode_responses=False, **kwargs):
        probe.track("redis.connection", self)
        self.decode = decode_responses

    @classmethod
    def from_url(cls, url, **kwargs):
        return cls(**kwargs)

    def get(self, key):
        probe.count("redis.command")
        return _STORE.get(key)

    def set(self, key, value, **kwargs):
        probe.count("redis.command")
        _STORE[key] = value
        return True

    def incr(self, key):
        probe.count("redis.command")
        _STORE[key] = int(_STORE.get(key, 0)) + 1
        return _STORE[key]

    def close(self):
        pass


StrictRedis = Redis


def from_url(url, **kwargs):
    return Redis.from_url(url, **kwargs)
