"""Identifiers as words: ``SentenceTransformer`` -> ``sentence_transformer`` -> ``SENTENCE_TRANSFORMER``.

Rules read the words of a name (``self._write_lock`` ends in ``lock``) and fixes
make new names from them.
"""

from __future__ import annotations


def snake_to_upper(name: str) -> str:
    """``word_re`` -> ``WORD_RE``; ``self._pat`` style prefixes are stripped by callers."""
    return name.strip("_").upper() or "VALUE"


def camel_to_snake(name: str) -> str:
    """``SentenceTransformer`` -> ``sentence_transformer``; ``AutoModelForCausalLM`` -> ``auto_model_for_causal_lm``."""
    out: list[str] = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and (not name[i - 1].isupper() or (i + 1 < len(name) and name[i + 1].islower())):
            out.append("_")
        out.append(ch.lower())
    return "".join(out).strip("_")


def words_of(segment: str) -> list[str]:
    """The words of one name segment, lower case: ``wsConn`` -> ``["ws", "conn"]``, ``_db_session`` -> ``["db", "session"]``."""
    return [w for w in camel_to_snake(segment).split("_") if w]
