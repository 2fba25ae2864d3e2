"""A tiny in-memory vector store, standing in for Chroma or pgvector."""

from __future__ import annotations

import math


class VectorStore:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, list[float], str]] = []

    def add(self, doc_id: str, texts: list[str], vectors: list[list[float]], hashes: list[str]) -> None:
        for text, vector, digest in zip(texts, vectors, hashes):
            self.rows.append((doc_id, text, vector, digest))

    def query(self, vector: list[float], k: int) -> list[tuple[float, str]]:
        scored = [(_cosine(vector, row[2]), row[1]) for row in self.rows]
        scored.sort(reverse=True)
        return scored[:k]


def _cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)) or 1.0)
