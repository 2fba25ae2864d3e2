"""Stand-in for openai: counts clients and requests; the async client sleeps and logs start/end."""

import asyncio
import os

import probe


class _Item:
    def __init__(self, index, embedding):
        self.index = index
        self.embedding = embedding


class _Response:
    def __init__(self, data):
        self.data = data


class _Message:
    def __init__(self, content):
        self.content = content


class _Choice:
    def __init__(self, content):
        self.message = _Message(content)


class _Completion:
    def __init__(self, content):
        self.choices = [_Choice(content)]


def _embed(input):
    items = [input] if isinstance(input, str) else list(input)
    probe.count("openai.request")
    probe.count("openai.items", len(items))
    return _Response([_Item(i, probe.vector(t)) for i, t in enumerate(items)])


def _answer(messages):
    return "answer to " + str(messages[-1]["content"] if messages else "")


class _Embeddings:
    def create(self, input, model=None, **kwargs):
        return _embed(input)


class _Completions:
    def create(self, messages=(), model=None, **kwargs):
        probe.count("openai.request")
        return _Completion(_answer(list(messages)))


class _Chat:
    def __init__(self, completions):
        self.completions = completions


class OpenAI:
    def __init__(self, api_key=None, base_url=None, http_client=None, **kwargs):
        probe.track("openai.client", self)
        self.api_key = api_key or os.environ.get("OPENAI_API_KEY")
        self.http_client = http_client
        self.embeddings = _Embeddings()
        self.chat = _Chat(_Completions())


AzureOpenAI = OpenAI


class _AsyncEmbeddings:
    async def create(self, input, model=None, **kwargs):
        probe.event(f"start:embed:{input}")
        await asyncio.sleep(0.01)
        probe.event(f"end:embed:{input}")
        return _embed(input)


class _AsyncCompletions:
    async def create(self, messages=(), model=None, **kwargs):
        text = messages[-1]["content"] if messages else ""
        probe.count("openai.request")
        probe.event(f"start:chat:{text}")
        await asyncio.sleep(0.01)
        probe.event(f"end:chat:{text}")
        return _Completion(_answer(list(messages)))


class AsyncOpenAI:
    def __init__(self, api_key=None, base_url=None, **kwargs):
        probe.track("openai.client", self)
        self.embeddings = _AsyncEmbeddings()
        self.chat = _Chat(_AsyncCompletions())


AsyncAzureOpenAI = AsyncOpenAI
