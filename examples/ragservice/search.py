"""Retrieval and reranking for one question."""

from __future__ import annotations

import functools

from sentence_transformers import CrossEncoder, SentenceTransformer

from .store import VectorStore


def embed_query(question: str) -> list[float]:
    # PFL101: a 100+ MB model loaded from disk for every question (2-5 s).
    model = SentenceTransformer("all-MiniLM-L6-v2")
    return model.encode(question).tolist()


@functools.cache
def get_reranker() -> CrossEncoder:
    # Correct: cached, built once per process.
    return CrossEncoder("cross-encoder/ms-marco-MiniLM-L-6-v2")


class Searcher:
    def __init__(self, store: VectorStore, model_name: str = "all-MiniLM-L6-v2") -> None:
        # Correct: built once per searcher.
        self.store = store
        self.encoder = SentenceTransformer(model_name)

    def search(self, question: str, k: int = 5) -> list[str]:
        vector = self.encoder.encode(question).tolist()
        hits = self.store.query(vector, k * 3)
        scores = get_reranker().predict([(question, text) for _, text in hits])
        ranked = sorted(zip(scores, (text for _, text in hits)), reverse=True)
        return [text for _, text in ranked[:k]]

    def expand(self, questions: list[str]) -> list[list[float]]:
        # PFL201: self.encoder is a SentenceTransformer, called once per question.
        vectors = []
        for question in questions:
            vector = self.encoder.encode(question)
            vectors.append(vector.tolist())
        return vectors
