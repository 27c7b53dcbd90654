"""Helpers shared by the batch engine tests: an engine whose sleep only moves a fake clock,
a spec for a questions file, the stored usage rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chat_tui.core.batch import BatchEngine, BatchSpec
from chat_tui.core.batch_input import read_questions
from chat_tui.core.documents import Document
from chat_tui.core.storage import Store
from tests.helpers import FakeClock, loopback_settings
from tests.loopback_batch import BatchLoopbackServer

QUESTIONS = "What is A?\nWhat is B [errored]?\nWhat is C [expired]?\nWhat is D?\nWhat is E?\n"
DOC = "The loopback protocol reference. " * 700  # ~5,800 tokens: above Haiku's 4,096 minimum


class FakeSleep:
    """Records each wait and moves the clock instead of sleeping."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.clock.advance(seconds)


def make_engine(store: Store, **kwargs: Any) -> tuple[BatchEngine, FakeSleep]:
    sleep = FakeSleep(FakeClock())
    return BatchEngine(store, sleep=sleep, clock=sleep.clock, **kwargs), sleep


def spec_for(
    server: BatchLoopbackServer, tmp_path: Path, kind: str, docs: tuple[Document, ...] = (),
    text: str = QUESTIONS,
) -> BatchSpec:  # fmt: skip
    q = tmp_path / "questions.txt"
    q.write_text(text)
    questions = read_questions(q)
    settings = loopback_settings(server)
    return BatchSpec(
        questions=questions.items,
        provider=settings.provider_settings(kind),  # type: ignore[arg-type]
        ttl="1h",
        max_tokens=200,
        system_prompt=settings.system_prompt,
        input_name=q.name,
        input_sha256=questions.sha256,
        documents=docs,
    )


async def run_all(engine: BatchEngine, spec: BatchSpec, *, prewarm: bool = True) -> int:
    warm = await engine.prewarm(spec) if prewarm else None
    job_id = await engine.submit(spec, warm)
    await engine.wait(job_id, spec.provider)
    await engine.fetch_results(job_id, spec.provider)
    return job_id


def requests_rows(store: Store, kind: str) -> list[tuple[Any, ...]]:
    with store.reading() as db:
        return db.execute(
            "SELECT batch_id, custom_id, input_tokens, cache_write_tokens, cache_read_tokens,"
            " output_tokens, cost_usd FROM requests WHERE kind = ? ORDER BY id",
            (kind,),
        ).fetchall()
