"""``# noqa`` comments: which lines suppress which codes, and the edit that adds one.

Comments are found with :mod:`tokenize`, so ``"# noqa"`` inside a string does not
count. Lines are 1-based and relative to the text given.
"""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass

from perf_lsp.text import line_body, split_lines

ALL = "*"
_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:\s*,\s*[A-Z]+[0-9]+|\s+[A-Z]+[0-9]+)*))?", re.IGNORECASE)
_CODE = re.compile(r"[A-Z]+[0-9]+", re.IGNORECASE)


@dataclass(frozen=True)
class LineComment:
    """The comment at the end of a line: its text and 0-based code-point column."""

    column: int
    text: str


def _tokens(text: str) -> list[tokenize.TokenInfo]:
    try:
        return list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return []


def comments_by_line(text: str) -> dict[int, LineComment]:
    """Comment tokens of ``text`` keyed by their line (1-based)."""
    return {
        tok.start[0]: LineComment(tok.start[1], tok.string)
        for tok in _tokens(text)
        if tok.type == tokenize.COMMENT
    }


def suppressed_codes(comment: str) -> set[str] | str:
    """Codes a comment's ``noqa`` suppresses: a set of codes, :data:`ALL` for a bare ``# noqa``, or an empty set."""
    match = _NOQA.search(comment)
    if not match:
        return set()
    if match.group("codes") is None:
        return ALL
    return {code.upper() for code in _CODE.findall(match.group("codes"))}


def noqa_map(text: str) -> dict[int, set[str] | str]:
    """Lines (1-based) of ``text`` that carry a ``noqa``, with the codes they suppress."""
    if "noqa" not in text.lower():
        return {}
    out: dict[int, set[str] | str] = {}
    for line, comment in comments_by_line(text).items():
        codes = suppressed_codes(comment.text)
        if codes:
            out[line] = codes
    return out


def is_suppressed(noqa: dict[int, set[str] | str], line: int, code: str) -> bool:
    """True when ``line`` has a bare ``# noqa`` or one naming ``code``."""
    codes = noqa.get(line)
    return codes == ALL or (isinstance(codes, set) and code in codes)


def noqa_insertion(text: str, line: int, code: str) -> tuple[int, str] | None:
    """Where and what to insert on ``line`` (1-based) of ``text`` to suppress ``code``.

    Returns ``(column, text)`` (column 0-based, code points), or None when the line
    cannot take a comment: its end is inside a string, or it ends with a backslash.
    An existing ``# noqa: X`` gets ``, CODE`` appended; otherwise ``  # noqa: CODE``
    goes at the end of the line.
    """
    lines = split_lines(text)
    if not 1 <= line <= len(lines):
        return None
    body = line_body(lines[line - 1])
    if body.rstrip().endswith("\\"):
        return None
    tokens = _tokens(text)
    for tok in tokens:
        if tok.start[0] <= line < tok.end[0] and tok.type not in (tokenize.NL, tokenize.NEWLINE):
            return None
    for tok in tokens:
        if tok.type == tokenize.COMMENT and tok.start[0] == line:
            match = _NOQA.search(tok.string)
            if match and match.group("codes"):
                return tok.start[1] + match.end("codes"), f", {code}"
            if match:
                return None
    return len(body.rstrip()), f"  # noqa: {code}"
