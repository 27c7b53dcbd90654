"""The batch engine against loopback servers speaking Anthropic Message Batches and the OpenAI
Files + Batches API, through the real SDKs: submit, poll, results, prefix, prewarm, splitting.
Polling uses an injected sleep and clock. Failures are in test_batch_failures.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from chat_tui.core.batch import FIRST_POLL_S, MAX_POLL_S, BatchError, BatchLimits, Progress
from chat_tui.core.batch_report import summarize, write_results
from chat_tui.core.documents import Document, load_document
from chat_tui.core.storage import Store
from tests.batch_helpers import DOC, make_engine, requests_rows, run_all, spec_for
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
