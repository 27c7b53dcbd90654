"""The batch engine against loopback servers speaking Anthropic Message Batches and the OpenAI
Files + Batches API, through the real SDKs. Polling uses an injected sleep and clock."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chat_tui.core.batch import (
    FIRST_POLL_S,
    MAX_POLL_S,
    BatchEngine,
    BatchError,
    BatchLimits,
    BatchSpec,
    Progress,
)
from chat_tui.core.batch_input import read_questions
from chat_tui.core.batch_report import summarize, write_results
from chat_tui.core.documents import Document, load_document
from chat_tui.core.storage import Store
from chat_tui.providers.base import ProviderSettings
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


@pytest.fixture
def server() -> Iterator[BatchLoopbackServer]:
    with BatchLoopbackServer(polls_to_finish=3) as s:
        yield s


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "data" / "chat-tui.db")
    yield s
    s.close()


@pytest.fixture
def doc(tmp_path: Path) -> Document:
    p = tmp_path / "reference.txt"
    p.write_text(DOC)
    return load_document(p)


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


@pytest.mark.parametrize("kind", ["anthropic", "openai"])
async def test_submit_poll_and_results_in_input_order(
    kind: str, server: BatchLoopbackServer, store: Store, tmp_path: Path, doc: Document
) -> None:
    engine, sleep = make_engine(store)
    spec = spec_for(server, tmp_path, kind, (doc,))
    seen: list[Progress] = []
    job_id = await engine.submit(spec)
    final = await engine.wait(job_id, spec.provider, on_progress=seen.append)
    job = await engine.fetch_results(job_id, spec.provider)
    await engine.aclose()

    assert final.ended and final.total == 5 and final.done == 5
    assert [p.ended for p in seen] == [False, False, True]  # three polls, two waits
    assert all(p.total == 5 for p in seen)
    assert sleep.waits == [2.0, 3.0]
    # The server returns results in reverse order; the job keeps the input order.
    assert [i.custom_id for i in job.items] == ["q1", "q2", "q3", "q4", "q5"]
    assert [i.status for i in job.items] == [
        "succeeded", "errored", "expired", "succeeded", "succeeded",
    ]  # fmt: skip
    assert job.items[0].answer == "Answer to: What is A?"
    assert "this question errs" in (job.items[1].error or "")
    assert "24-hour window" in (job.items[2].error or "")
    # Only the succeeded requests are billed, and each has its usage row.
    rows = requests_rows(store, "batch")
    assert sorted(r[1] for r in rows) == ["q1", "q4", "q5"]
    assert all(r[0] == job.batches[0].id and r[6] > 0 for r in rows)


@pytest.mark.parametrize("kind", ["anthropic", "openai"])
async def test_every_request_shares_one_prefix_built_like_a_chat_turn(
    kind: str, server: BatchLoopbackServer, store: Store, tmp_path: Path, doc: Document
) -> None:
    engine, _ = make_engine(store)
    spec = spec_for(server, tmp_path, kind, (doc,))
    await run_all(engine, spec)
    await engine.aclose()
    batch = next(iter(server.batches.values()))
    if kind == "anthropic":
        params = [line["params"] for line in batch.lines]
        assert all("stream" not in p for p in params)
        assert len({json.dumps(p["system"]) for p in params}) == 1
        system = params[0]["system"]
        # Instructions, then the document with the only cache mark, at the 1-hour TTL.
        assert system[1]["text"].startswith('<document name="reference.txt">')
        assert system[1]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
        marks = [
            b for p in params for m in p["messages"] for b in m["content"] if "cache_control" in b
        ]
        assert marks == []  # each question is asked once: no write premium on it
        # The prewarm request was an ordinary streamed request with the same system blocks.
        prewarm = next(r for r in server.requests if r.path == "/v1/messages")
        assert prewarm.body is not None and prewarm.body["system"] == system
    else:
        bodies = [line["body"] for line in batch.lines]
        assert all(line["url"] == "/v1/chat/completions" for line in batch.lines)
        assert all("stream" not in b and "stream_options" not in b for b in bodies)
        assert len({b["messages"][0]["content"] for b in bodies}) == 1
        assert len({b["prompt_cache_key"] for b in bodies}) == 1


async def test_the_prewarm_writes_the_cache_and_the_batch_reads_it(
    server: BatchLoopbackServer, store: Store, tmp_path: Path, doc: Document
) -> None:
    engine, _ = make_engine(store)
    spec = spec_for(server, tmp_path, "anthropic", (doc,))
    warm = await engine.prewarm(spec)
    assert warm.usage is not None and warm.error is None and warm.skipped is None
    written = warm.usage.cache_write_1h_tokens
    assert written and written > 4096 and not warm.usage.cache_read_tokens
    # Its cost is at the interactive price: a 1-hour write is 2x input on Haiku ($1/M).
    u = warm.usage
    expected = ((u.input_tokens or 0) * 1.0 + written * 2.0 + (u.output_tokens or 0) * 5.0) / 1e6
    assert warm.cost.usd == pytest.approx(expected)
    job_id = await engine.submit(spec, warm)
    await engine.wait(job_id, spec.provider)
    job = await engine.fetch_results(job_id, spec.provider)
    await engine.aclose()
    ok = [i for i in job.items if i.status == "succeeded"]
    assert ok and all(i.usage and i.usage.cache_read_tokens == written for i in ok)
    assert all(i.usage and i.usage.cache_write_tokens == 0 for i in ok)
    assert job.prewarm_usage == warm.usage.__class__(
        **{k: getattr(warm.usage, k) for k in (
            "input_tokens", "cache_write_tokens", "cache_write_5m_tokens",
            "cache_write_1h_tokens", "cache_read_tokens", "output_tokens",
        )}
    )  # fmt: skip
    assert [r[3] for r in requests_rows(store, "prewarm")] == [written]


async def test_no_prewarm_means_the_first_batch_request_writes_the_cache(
    server: BatchLoopbackServer, store: Store, tmp_path: Path, doc: Document
) -> None:
    engine, _ = make_engine(store)
    spec = spec_for(server, tmp_path, "anthropic", (doc,), text="One?\nTwo?\n")
    job_id = await run_all(engine, spec, prewarm=False)
    job = engine.batches.job(job_id)
    await engine.aclose()
    assert not any(r.path == "/v1/messages" for r in server.requests)
    first, second = (i.usage for i in job.items)
    assert first and second and first.cache_write_tokens and not first.cache_read_tokens
    assert second.cache_read_tokens == first.cache_write_tokens
    assert job.prewarm_usage is None and summarize(job).prewarm_usd == 0.0


async def test_prewarm_is_skipped_without_a_document_or_below_the_cache_minimum(
    server: BatchLoopbackServer, store: Store, tmp_path: Path
) -> None:
    engine, _ = make_engine(store)
    spec = spec_for(server, tmp_path, "anthropic")
    assert "no document" in (await engine.prewarm(spec)).skipped  # type: ignore[operator]
    short = tmp_path / "short.txt"
    short.write_text("A short note.")
    spec = spec_for(server, tmp_path, "anthropic", (load_document(short),))
    skipped = (await engine.prewarm(spec)).skipped or ""
    assert "below the 4,096 that claude-haiku-4-5 caches" in skipped
    assert not server.requests  # nothing was sent
    await engine.aclose()


async def test_a_failed_prewarm_says_how_to_go_on(
    server: BatchLoopbackServer, store: Store, tmp_path: Path, doc: Document
) -> None:
    from tests.loopback import Status

    server.enqueue(Status(401), Status(529))
    engine, _ = make_engine(store)
    spec = spec_for(server, tmp_path, "anthropic", (doc,))
    warm = await engine.prewarm(spec)
    assert warm.error == "Anthropic rejected the key (401): set a valid ANTHROPIC_API_KEY"
    warm = await engine.prewarm(spec)
    await engine.aclose()
    assert warm.error is not None and warm.error.startswith("Anthropic is overloaded")
    assert warm.error.endswith("(or pass --no-prewarm to send the batch without it)")
    assert requests_rows(store, "prewarm") == []


@pytest.mark.parametrize("kind", ["anthropic", "openai"])
async def test_results_are_idempotent(
    kind: str, server: BatchLoopbackServer, store: Store, tmp_path: Path, doc: Document
) -> None:
    engine, _ = make_engine(store)
    spec = spec_for(server, tmp_path, kind, (doc,))
    job_id = await run_all(engine, spec)
    calls = server.results_calls
    out = tmp_path / "out" / "results.jsonl"
    write_results(engine.batches.job(job_id), out)
    first = out.read_text()
    job = await engine.fetch_results(job_id, spec.provider)  # again: nothing new to fetch
    write_results(job, out)
    await engine.aclose()
    assert server.results_calls == calls  # the stored results were used
    assert out.read_text() == first
    assert len(requests_rows(store, "batch")) == 3  # no duplicate usage rows
    lines = [json.loads(x) for x in first.splitlines()]
    assert [x["id"] for x in lines] == ["q1", "q2", "q3", "q4", "q5"]
    assert lines[1]["status"] == "errored" and lines[1]["cost_usd"] == 0.0
    assert set(lines[0]["usage"]) == {
        "input_tokens", "cache_write_tokens", "cache_read_tokens", "output_tokens",
    }  # fmt: skip
    report = out.with_suffix(".md").read_text()
    assert "## q1: What is A?" in report and "Answer to: What is D?" in report


async def test_a_results_fetch_cut_short_resumes_without_duplicates(
    server: BatchLoopbackServer, store: Store, tmp_path: Path, doc: Document
) -> None:
    from chat_tui.core.batch import request_record
    from chat_tui.core.pricing import batch_cost

    engine, _ = make_engine(store)
    spec = spec_for(server, tmp_path, "anthropic", (doc,))
    job_id = await engine.submit(spec)
    await engine.wait(job_id, spec.provider)
    batch_id = engine.batches.job(job_id).batches[0].id
    # A first run died part-way: it stored q5 whole, and q4's usage but not its outcome.
    outcomes = [o async for o in engine.client(spec.provider).results(batch_id)]
    assert [o.custom_id for o in outcomes] == ["q5", "q4", "q3", "q2", "q1"]  # any order
    for outcome in outcomes[:2]:
        assert outcome.usage is not None
        record = request_record(spec.provider, spec.provider.model, outcome.usage,
                                batch_cost(None, outcome.usage), outcome.response_id)  # fmt: skip
        row = store.record_request("batch", record, batch_id=batch_id, custom_id=outcome.custom_id)
        if outcome.custom_id == "q5":
            engine.batches.record_outcome(job_id, outcome, row)
    job = await engine.fetch_results(job_id, spec.provider)
    await engine.aclose()
    assert job.fetched and all(i.status != "pending" for i in job.items)
    rows = requests_rows(store, "batch")
    assert sorted(r[1] for r in rows) == ["q1", "q4", "q5"]  # each billed request once
    assert all(i.usage is not None for i in job.items if i.status == "succeeded")


async def test_a_results_stream_that_breaks_keeps_what_arrived(
    server: BatchLoopbackServer, store: Store, tmp_path: Path
) -> None:
    engine, _ = make_engine(store)
    spec = spec_for(server, tmp_path, "anthropic")
    job_id = await engine.submit(spec)
    await engine.wait(job_id, spec.provider)
    server.cut_results_after = 2  # q5 and q4 are sent, then the connection drops
    with pytest.raises(BatchError, match="cannot read the results of msgbatch_loop"):
        await engine.fetch_results(job_id, spec.provider)
    job = engine.batches.job(job_id)
    statuses = [i.status for i in job.items]
    # What the SDK delivered before the break is stored (it may hold back the last line).
    assert statuses[4] == "succeeded" and statuses[:3] == ["pending"] * 3
    assert not job.fetched
    job = await engine.fetch_results(job_id, spec.provider)  # run again: the rest
    await engine.aclose()
    assert job.fetched and [i.status for i in job.items][:3] == ["succeeded", "errored", "expired"]
    assert sorted(r[1] for r in requests_rows(store, "batch")) == ["q1", "q4", "q5"]


@pytest.mark.parametrize("kind", ["anthropic", "openai"])
async def test_splitting_at_the_limits_tracks_the_batches_together(
    kind: str, server: BatchLoopbackServer, store: Store, tmp_path: Path, doc: Document
) -> None:
    engine, _ = make_engine(store, limits={kind: BatchLimits(max_requests=2, max_bytes=10**9)})
    spec = spec_for(server, tmp_path, kind, (doc,))
    job_id = await run_all(engine, spec)
    job = engine.batches.job(job_id)
    await engine.aclose()
    assert [b.request_count for b in job.batches] == [2, 2, 1]
    assert len(server.batches) == 3
    assert [i.batch_id for i in job.items] == [
        job.batches[0].id, job.batches[0].id, job.batches[1].id, job.batches[1].id,
        job.batches[2].id,
    ]  # fmt: skip
    assert [i.custom_id for i in job.items] == ["q1", "q2", "q3", "q4", "q5"]
    assert summarize(job).counts == {"succeeded": 3, "errored": 1, "canceled": 0, "expired": 1}


async def test_splitting_by_size(
    server: BatchLoopbackServer, store: Store, tmp_path: Path, doc: Document
) -> None:
    # Each request carries the ~24 kB document: 60 kB holds two of them.
    limits = {"anthropic": BatchLimits(max_requests=100, max_bytes=60_000)}
    engine, _ = make_engine(store, limits=limits)
    spec = spec_for(server, tmp_path, "anthropic", (doc,))
    job_id = await run_all(engine, spec, prewarm=False)
    job = engine.batches.job(job_id)
    assert [b.request_count for b in job.batches] == [2, 2, 1]
    tiny = {"anthropic": BatchLimits(max_requests=100, max_bytes=10_000)}
    engine2, _ = make_engine(store, limits=tiny)
    with pytest.raises(BatchError, match="over the provider's batch limit of 10,000"):
        await engine2.submit(spec)
    await engine.aclose()
    await engine2.aclose()


async def test_polling_backs_off_to_a_minute_or_keeps_a_fixed_interval(
    server: BatchLoopbackServer, store: Store, tmp_path: Path
) -> None:
    server.polls_to_finish = 14
    engine, sleep = make_engine(store)
    spec = spec_for(server, tmp_path, "anthropic")
    job_id = await engine.submit(spec)
    final = await engine.wait(job_id, spec.provider)
    assert sleep.waits[0] == FIRST_POLL_S and sleep.waits[1] == 3.0
    assert all(b >= a for a, b in zip(sleep.waits, sleep.waits[1:], strict=False))
    assert sleep.waits[-1] == MAX_POLL_S and max(sleep.waits) == MAX_POLL_S
    assert len(sleep.waits) == 13
    assert final.elapsed_s == pytest.approx(sum(sleep.waits))

    server.polls_to_finish = 4
    engine2, sleep2 = make_engine(store)
    job2 = await engine2.submit(spec)
    await engine2.wait(job2, spec.provider, poll=7.5)
    assert sleep2.waits == [7.5, 7.5, 7.5]
    await engine.aclose()
    await engine2.aclose()


@pytest.mark.parametrize("kind", ["anthropic", "openai"])
async def test_network_errors_while_polling_are_retried_and_keep_the_batch(
    kind: str, server: BatchLoopbackServer, store: Store, tmp_path: Path
) -> None:
    engine, sleep = make_engine(store)
    spec = spec_for(server, tmp_path, kind)
    job_id = await engine.submit(spec)
    server.retrieve_faults.extend([None, 500, 529])  # dropped, server error, overloaded
    seen: list[Progress] = []
    final = await engine.wait(job_id, spec.provider, on_progress=seen.append)
    await engine.aclose()
    assert final.ended
    assert [p.retrying is not None for p in seen] == [True, True, True, False, False, False]
    assert sleep.waits == [2.0, 3.0, 4.5, 6.75, 10.125]  # backing off through the errors
    assert engine.batches.job(job_id).batches[0].ended


async def test_a_rejected_key_while_polling_stops_with_the_fix_and_keeps_the_job(
    server: BatchLoopbackServer, store: Store, tmp_path: Path
) -> None:
    engine, _ = make_engine(store)
    spec = spec_for(server, tmp_path, "anthropic")
    job_id = await engine.submit(spec)
    server.retrieve_faults.append(401)
    with pytest.raises(BatchError) as caught:
        await engine.wait(job_id, spec.provider)
    await engine.aclose()
    assert "rejected the key" in str(caught.value) and "ANTHROPIC_API_KEY" in str(caught.value)
    assert engine.batches.find_job(engine.batches.job(job_id).batches[0].id) == job_id


@pytest.mark.parametrize("kind", ["anthropic", "openai"])
async def test_cancel_keeps_what_had_run_and_marks_the_rest_canceled(
    kind: str, server: BatchLoopbackServer, store: Store, tmp_path: Path
) -> None:
    server.polls_to_finish = 4
    engine, _ = make_engine(store)
    spec = spec_for(server, tmp_path, kind, text="One?\nTwo?\nThree?\nFour?\n")
    job_id = await engine.submit(spec)
    job = engine.batches.job(job_id)
    await engine.refresh(job, spec.provider)
    await engine.refresh(engine.batches.job(job_id), spec.provider)  # two polls: half done
    states = await engine.cancel(job_id, spec.provider)
    assert [s.status for s in states] == ["canceling" if kind == "anthropic" else "cancelling"]
    await engine.wait(job_id, spec.provider)
    job = await engine.fetch_results(job_id, spec.provider)
    await engine.aclose()
    assert [i.status for i in job.items] == ["succeeded", "succeeded", "canceled", "canceled"]
    assert "canceled before this request ran" in (job.items[3].error or "")
    assert len(requests_rows(store, "batch")) == 2


async def test_a_provider_without_a_batch_api_or_a_key_is_refused_up_front(
    server: BatchLoopbackServer, store: Store, tmp_path: Path
) -> None:
    engine, _ = make_engine(store)
    spec = spec_for(server, tmp_path, "anthropic")
    ollama = ProviderSettings(kind="ollama", model="qwen2.5:3b")
    with pytest.raises(BatchError, match="Ollama has no batch API"):
        await engine.submit(BatchSpec(**{**spec.__dict__, "provider": ollama}))
    no_key = ProviderSettings(kind="anthropic", model="claude-haiku-4-5", base_url=server.base_url)
    with pytest.raises(BatchError, match="No Anthropic API key: set"):
        await engine.submit(BatchSpec(**{**spec.__dict__, "provider": no_key}))
    assert engine.batches.list_jobs() == []  # nothing reached a provider: no job kept
    await engine.aclose()


async def test_an_openai_batch_the_provider_rejects_says_why_for_each_question(
    server: BatchLoopbackServer, store: Store, tmp_path: Path
) -> None:
    engine, _ = make_engine(store)
    spec = spec_for(server, tmp_path, "openai", text="One?\nTwo?\n")
    server.reject_next_batch = "the input file has an invalid line"
    job_id = await engine.submit(spec)
    final = await engine.wait(job_id, spec.provider)
    job = await engine.fetch_results(job_id, spec.provider)
    await engine.aclose()
    assert final.ended and job.batches[0].status == "failed"
    assert [i.status for i in job.items] == ["errored", "errored"]
    assert job.items[0].error == (
        "the provider rejected the batch: the input file has an invalid line"
    )
    assert requests_rows(store, "batch") == []


class InterruptedAt:
    """A real batch client whose n-th submit is interrupted (Ctrl-C) instead of sent."""

    def __init__(self, settings: ProviderSettings, at: int) -> None:
        from chat_tui.providers.batch_base import make_batch_client

        self.inner = make_batch_client(settings)
        self.settings = settings
        self.at = at
        self.calls = 0

    def request_line(self, custom_id: str, request: Any) -> dict[str, Any]:
        return self.inner.request_line(custom_id, request)

    async def submit(self, lines: list[dict[str, Any]]) -> Any:
        self.calls += 1
        if self.calls == self.at:
            raise asyncio.CancelledError
        return await self.inner.submit(lines)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.mark.parametrize("at", [1, 2])
async def test_an_interrupted_submission_keeps_what_was_sent_and_nothing_else(
    at: int, server: BatchLoopbackServer, store: Store, tmp_path: Path
) -> None:
    clients: list[InterruptedAt] = []

    def factory(settings: ProviderSettings) -> Any:
        clients.append(InterruptedAt(settings, at))
        return clients[-1]

    limits = {"anthropic": BatchLimits(max_requests=2, max_bytes=10**9)}
    engine, _ = make_engine(store, limits=limits, client_factory=factory)
    spec = spec_for(server, tmp_path, "anthropic")
    submitted: list[int] = []
    with pytest.raises(asyncio.CancelledError):
        await engine.submit(spec, on_submitted=lambda job, state: submitted.append(job))
    await engine.aclose()
    if at == 1:  # nothing reached the provider: no job left behind
        assert engine.batches.list_jobs() == [] and submitted == []
        return
    job = engine.batches.job(submitted[0])
    assert len(job.batches) == 1 and len(server.batches) == 1
    assert [i.status for i in job.items] == ["pending", "pending", "errored", "errored", "errored"]
    assert job.items[2].error == "not submitted: interrupted"
