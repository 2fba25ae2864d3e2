"""Document ingestion: clean, chunk, embed and store."""

from __future__ import annotations

import hashlib
import re

from sentence_transformers import SentenceTransformer

from .store import VectorStore

# Correct: one model for the process, built at import time.
EMBEDDER = SentenceTransformer("all-MiniLM-L6-v2")
# Correct: compiled once.
WHITESPACE = re.compile(r"\s+")


def clean(text: str) -> str:
    return WHITESPACE.sub(" ", text).strip()


_BOUNDARY = re.compile(r"(?<=[.!?])\s+")


def split_sentences(paragraphs: list[str]) -> list[str]:
    sentences = []
    for text in paragraphs:
        # PFL401: compiled (looked up) again for every paragraph.
        boundary = _BOUNDARY
        sentences += [part for part in boundary.split(text) if part]
    return sentences


def title_of(text: str) -> str:
    # Correct: once per call, outside a loop; re's cache makes this a lookup of about 1 us.
    heading = re.compile(r"^#\s+(.+)$", re.MULTILINE)
    found = heading.search(text)
    return found.group(1) if found else ""


def chunk(text: str, size: int = 400) -> list[str]:
    words = clean(text).split(" ")
    return [" ".join(words[i : i + size]) for i in range(0, len(words), size)]


def fingerprints(chunks: list[str]) -> list[str]:
    # Correct: str.encode is not a model call.
    return [hashlib.sha256(c.encode("utf-8")).hexdigest() for c in chunks]


def embed_chunks(chunks: list[str]) -> list[list[float]]:
    # PFL201: one forward pass per chunk instead of one batched call.
    return [EMBEDDER.encode(c).tolist() for c in chunks]


def embed_batched(chunks: list[str]) -> list[list[float]]:
    # Correct: one call for the whole batch.
    return EMBEDDER.encode(chunks, batch_size=64).tolist()


def ingest(store: VectorStore, documents: dict[str, str]) -> int:
    count = 0
    for doc_id, text in documents.items():
        pieces = chunk(text)
        store.add(doc_id, pieces, embed_chunks(pieces), fingerprints(pieces))
        count += len(pieces)
    return count


_TAGS_FOR_RE = re.compile(r"#(\w+)")


def tags_for(lines: list[str]) -> list[list[str]]:
    # PFL401: the pattern is looked up again for every line.
    return [_TAGS_FOR_RE.findall(line) for line in lines]
