"""Stand-in for sqlalchemy: create_engine counts engines; connect().execute() counts round trips."""

import probe


def text(sql):
    return sql


class _Result:
    def __init__(self, value):
        self.value = value

    def scalar_one(self):
        return self.value


class _Connection:
    def execute(self, statement, params=None):
        probe.count("db.roundtrip")
        return _Result(len(str(statement)) + len(str(params)))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


class Engine:
    def __init__(self, url, **kwargs):
        probe.track("sqlalchemy.engine", self)
        self.url = url

    def connect(self):
        return _Connection()

    def dispose(self):
        pass


def create_engine(url, **kwargs):
    return Engine(url, **kwargs)
