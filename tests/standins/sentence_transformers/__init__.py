"""Stand-in for sentence_transformers: counts model loads and encode calls."""

import threading
import time

import numpy
import probe


class SentenceTransformer:
    def __init__(self, model_name_or_path="all-MiniLM-L6-v2", **kwargs):
        probe.track("model.load", self)
        self.name = model_name_or_path
        self.kwargs = kwargs

    def encode(self, sentences, delay=0.0, **kwargs):
        probe.count("model.encode")
        probe.event("start:encode:" + str(threading.get_ident()))
        if delay:
            time.sleep(delay)
        single = isinstance(sentences, str)
        items = [sentences] if single else list(sentences)
        probe.count("model.encoded_items", len(items))
        rows = numpy.array([probe.vector(s) for s in items], dtype=numpy.float32).reshape(len(items), 4)
        probe.event("end:encode:" + str(threading.get_ident()))
        return rows[0] if single else rows


class CrossEncoder:
    def __init__(self, model_name, max_length=None, **kwargs):
        probe.track("model.load", self)
        self.name = model_name

    def predict(self, pairs, **kwargs):
        probe.count("model.predict")
        return numpy.array([probe.vector(a + "|" + b)[0] for a, b in pairs])
