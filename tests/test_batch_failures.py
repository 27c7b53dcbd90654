"""Batch failures against the loopback batch server, through the real SDKs: results cut
short, network and key errors while polling, cancel, a rejected batch, interrupted submission."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chat_tui.core.batch import BatchError, BatchLimits, BatchSpec, Progress
from chat_tui.core.documents import Document, load_document
from chat_tui.core.storage import Store
from chat_tui.providers.base import ProviderSettings
from tests.batch_helpers import DOC, make_engine, requests_rows, spec_for
from tests.loopback_batch import BatchLoopbackServer


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
