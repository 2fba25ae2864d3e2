"""Stand-in for transformers: pipeline() and AutoTokenizer.from_pretrained count loads."""

import probe


class _Pipeline:
    def __init__(self, task, model=None, **kwargs):
        probe.track("model.load", self)
        self.task = task
        self.model = model

    def __call__(self, text, **kwargs):
        probe.count("model.call")
        return [{"label": f"{self.task}:{len(text) % 3}", "summary_text": text[:10]}]


def pipeline(task, model=None, **kwargs):
    return _Pipeline(task, model, **kwargs)


class AutoTokenizer:
    def __init__(self, name):
        probe.track("model.load", self)
        self.name = name

    @classmethod
    def from_pretrained(cls, name, **kwargs):
        return cls(name)

    def __call__(self, text, **kwargs):
        probe.count("model.call")
        return {"input_ids": [ord(c) % 50 for c in text]}

    def encode(self, text, **kwargs):
        probe.count("model.call")
        return [ord(c) % 50 for c in text]
