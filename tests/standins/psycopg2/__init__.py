"""Stand-in for psycopg2 (a DB-API driver): a cursor that counts round trips and keeps the rows."""

import probe

TABLES = {}


class Cursor:
    def __init__(self):
        self.rowcount = -1

    def execute(self, sql, params=()):
        probe.count("db.roundtrip")
        probe.event(f"execute:{sql.split()[0]}")
        TABLES.setdefault(sql, []).append(tuple(params))
        self.rowcount = 1

    def executemany(self, sql, seq):
        probe.count("db.roundtrip")
        probe.event(f"executemany:{sql.split()[0]}")
        rows = [tuple(p) for p in seq]
        TABLES.setdefault(sql, []).extend(rows)
        self.rowcount = len(rows)

    def fetchall(self):
        return [row for rows in TABLES.values() for row in rows]

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


class Connection:
    def __init__(self, dsn=""):
        probe.track("db.connection", self)

    def cursor(self):
        return Cursor()

    def commit(self):
        pass

    def close(self):
        pass


def connect(dsn="", **kwargs):
    return Connection(dsn)
