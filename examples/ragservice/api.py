"""The async question-answering endpoint."""

from __future__ import annotations

import asyncio


class AnswerService:
    def __init__(self, llm, profiles, history, db) -> None:
        self.llm = llm
        self.profiles = profiles
        self.history = history
        self.db = db

    async def answer(self, user_id: str, question: str) -> dict:
        # PFL301: three independent lookups, awaited one after another.
        profile = await self.profiles.fetch(user_id)
        past = await self.history.recent(user_id, limit=10)
        context = await self.llm.retrieve(question)

        # Correct: each call needs the one before it.
        prompt = await self.llm.build_prompt(question, context, past)
        reply = await self.llm.complete(prompt, style=profile.get("style"))
        return {"answer": reply, "sources": context}

    async def audit(self, user_id: str, answer: dict) -> None:
        # Correct: one database session runs one statement at a time.
        row = await self.db.fetchrow("SELECT id FROM users WHERE id = $1", user_id)
        log = await self.db.fetchrow("SELECT max(id) FROM audit_log")
        await self.db.execute("INSERT INTO audit_log VALUES ($1, $2, $3)", row, log, answer["answer"])

    async def warm_up(self, questions: list[str]) -> None:
        # Correct: deliberately spaced calls (rate limit).
        for question in questions:
            await self.llm.retrieve(question)
            await asyncio.sleep(0.05)
