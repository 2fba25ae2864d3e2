"""The one receiver inference (perf_lsp.analysis.receivers), through the rules that ask it and directly."""

from __future__ import annotations

import textwrap

from perf_lsp.engine import Engine
from perf_lsp.settings import Settings

ENGINE = Engine()


def reported(source: str, code: str) -> list[tuple[int, str]]:
    analysis = ENGINE.analyze(textwrap.dedent(source).lstrip("\n"), Settings(select=("ALL",)))
    return [(d.range.start.line, d.message) for d in analysis.diagnostics if d.code == code]


def test_blocking_session_method_through_an_attribute_set_in_init():
    found = reported(
        """
        import requests

        class Api:
            def __init__(self):
                self.session = requests.Session()

            async def fetch(self, url):
                return self.session.get(url, timeout=5)
        """,
        "PFL303",
    )
    assert [line for line, _ in found] == [8]
    assert "`self.session.get`" in found[0][1]


def test_blocking_session_method_through_an_annotated_parameter():
    found = reported(
        """
        import requests

        async def fetch(session: requests.Session, url):
            return session.get(url, timeout=5)
        """,
        "PFL303",
    )
    assert [line for line, _ in found] == [4]


def test_blocking_receiver_must_be_a_session_however_it_is_bound():
    # ``s`` may be another object: "must be", not "may be", for a blocking receiver
    assert not reported(
        """
        import requests

        async def fetch(url, other):
            s = requests.Session()
            if other:
                s = other
            return s.get(url, timeout=5)
        """,
        "PFL303",
    )


def test_blocking_cursor_of_a_connection_attribute():
    found = reported(
        """
        import sqlite3

        class Store:
            def __init__(self, path):
                self.conn = sqlite3.connect(path)

            async def rows(self):
                cur = self.conn.cursor()
                return cur.fetchall()
        """,
        "PFL303",
    )
    assert [line for line, _ in found] == [9]  # the fetch on the cursor; making one does not block
