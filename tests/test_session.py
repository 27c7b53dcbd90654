"""The session end to end: real SDKs against the loopback server, real storage on disk."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from chat_tui.config import Settings
from chat_tui.core.session import ChatSession
from chat_tui.core.storage import Store
from chat_tui.providers.events import ErrorKind
from tests.helpers import FakeClock, loopback_settings
from tests.loopback import SSE, LoopbackServer, Status
from tests.loopback_wire import anthropic_sse


def _doc(tmp_path: Path, tokens: int = 6000) -> Path:
    path = tmp_path / "spec.md"
    path.write_text("The widget protocol has rules. " * (tokens * 4 // 31), encoding="utf-8")
    return path


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.open(tmp_path / "data" / "chat.db")
    yield s  # type: ignore[misc]
    s.close()


async def test_document_is_written_then_read_and_the_clock_runs(
    loopback: LoopbackServer, tmp_path: Path, store: Store
) -> None:
    clock = FakeClock()
    session = ChatSession(loopback_settings(loopback), store=store, clock=clock)
    session.load_document(_doc(tmp_path))
    assert session.cache_state().status == "cold"
    received: list[str] = []

    first = await session.ask("What is a widget?", received.append)
    assert first.status == "complete"
    assert "".join(received) == "You said: What is a widget?"
    u1 = first.metrics.usage
    assert (u1.cache_write_tokens or 0) > 5000 and u1.cache_read_tokens == 0
    assert session.cache_state().status == "warm"
    assert session.cache_state().seconds_left == pytest.approx(300)

    clock.advance(120)
    assert session.cache_state().seconds_left == pytest.approx(180)
    second = await session.ask("And a gadget?", received.append)
    u2 = second.metrics.usage
    assert u2.cache_read_tokens == u1.cache_write_tokens  # the document came from the cache
    assert (u2.cache_write_tokens or 0) > 0  # the conversation so far is written for next time
    assert session.cache_state().seconds_left == pytest.approx(300)  # a read restarts the clock

    third = await session.ask("Thanks", received.append)
    u3 = third.metrics.usage
    assert u3.cache_read_tokens == (u2.cache_read_tokens or 0) + (u2.cache_write_tokens or 0)
    # cost: caching made the later turns far cheaper than the same tokens uncached
    assert third.metrics.cost.usd is not None and third.metrics.cost.uncached_usd is not None
    assert third.metrics.cost.usd < 0.2 * third.metrics.cost.uncached_usd
    assert session.session_cost.usd == pytest.approx(sum(t.cost.usd or 0 for t in session.turns))

    clock.advance(301)
    assert session.cache_state().status == "expired"

    # the request carried the breakpoints where they belong
    body = loopback.requests[-1].body
    assert body is not None
    assert body["system"][1]["cache_control"]["type"] == "ephemeral"
    marked = [i for i, m in enumerate(body["messages"]) if "cache_control" in m["content"][-1]]
    assert marked == [2, 4]

    stored = store.load_conversation(session.conversation.id or 0)
    assert [m.role for m in stored.messages] == ["user", "assistant"] * 3
    assert all(m.status == "complete" for m in stored.messages)
    assert stored.document is not None and stored.document.name == "spec.md"
    last = stored.messages[-1].metrics
    assert last is not None and last.cache_read_tokens == u3.cache_read_tokens


async def test_switching_provider_or_model_means_a_cold_cache(
    loopback: LoopbackServer, tmp_path: Path
) -> None:
    session = ChatSession(loopback_settings(loopback), clock=FakeClock())
    session.load_document(_doc(tmp_path))
    await session.ask("q", lambda _: None)
    assert session.cache_state().status == "warm"
    session.cycle_provider()
    assert session.provider.kind == "openai"
    assert session.cache_state().status == "cold"
    session.use_provider("anthropic")
    assert session.cache_state().status == "warm"
    session.set_model("claude-sonnet-4-5")
    assert session.cache_state().status == "cold"


async def test_the_question_is_stored_before_the_request(
    loopback: LoopbackServer, store: Store
) -> None:
    session = ChatSession(loopback_settings(loopback), store=store)
    loopback.enqueue(Status(401, {"type": "error", "error": {"type": "authentication_error",
                                                              "message": "invalid x-api-key"}}))  # fmt: skip
    result = await session.ask("keep me", lambda _: None)
    assert result.status == "failed"
    assert result.error_kind == ErrorKind.AUTH
    assert result.error is not None and "ANTHROPIC_API_KEY" in result.error
    assert "SECRET" not in result.error
    stored = store.load_conversation(session.conversation.id or 0)
    assert stored.messages[0].text == "keep me"
    assert stored.messages[1].status == "failed"


async def test_stop_closes_the_stream_and_keeps_the_partial_answer(
    loopback: LoopbackServer, store: Store
) -> None:
    chunks = [f"word{i} " for i in range(200)]
    loopback.enqueue(SSE(anthropic_sse(chunks), chunk_delay=0.01))
    session = ChatSession(loopback_settings(loopback), store=store)
    got: list[str] = []
    first = asyncio.Event()

    def sink(text: str) -> None:
        got.append(text)
        if len(got) >= 3:
            first.set()

    task = asyncio.create_task(session.ask("long answer please", sink))
    await asyncio.wait_for(first.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.to_thread(loopback.wait_for_disconnect, 5)
    ex = session.conversation.last
    assert ex is not None and ex.status == "stopped"
    assert ex.answer == "".join(got) and 3 <= len(got) < 200
    stored = store.load_conversation(session.conversation.id or 0)
    assert stored.messages[1].status == "stopped"
    assert stored.messages[1].text == ex.answer
    assert session.turns[-1].usage.output_estimated


async def test_broken_stream_then_retry_re_asks_the_same_question(
    loopback: LoopbackServer, store: Store
) -> None:
    loopback.enqueue(SSE(anthropic_sse(["Half ", "an ", "answer"]), drop_after=4))
    session = ChatSession(loopback_settings(loopback), store=store)
    result = await session.ask("the question", lambda _: None)
    assert result.status == "interrupted"
    assert result.error is not None and "partial answer kept" in result.error
    ex = session.conversation.last
    assert ex is not None and ex.answer.startswith("Half")

    again = await session.retry(lambda _: None)
    assert again is not None and again.status == "complete"
    body = loopback.requests[-1].body
    assert body is not None
    texts = [(m["role"], m["content"][-1]["text"]) for m in body["messages"]]
    assert texts == [("user", "the question")]  # the broken answer is not sent back
    stored = store.load_conversation(session.conversation.id or 0)
    assert [(m.role, m.status) for m in stored.messages] == [
        ("user", "complete"),
        ("assistant", "complete"),
    ]
    # the replaced answer was billed: usage history keeps its figures as a 'replaced' request
    rows = [r for r in store.usage_rows() if r.kind == "replaced"]
    assert len(rows) == 1
    assert rows[0].record.output_tokens == result.metrics.usage.output_tokens


async def test_checkpoints_while_streaming(loopback: LoopbackServer, store: Store) -> None:
    clock = FakeClock()
    loopback.enqueue(SSE(anthropic_sse([f"t{i} " for i in range(10)])))
    session = ChatSession(loopback_settings(loopback), store=store, clock=clock)
    seen_in_db: list[str] = []

    def sink(_: str) -> None:
        clock.advance(0.6)  # every other token crosses the one-second checkpoint interval
        ex = session.conversation.last
        assert ex is not None and ex.answer_id is not None
        row = store.load_conversation(session.conversation.id or 0).messages[-1]
        seen_in_db.append(row.text)

    await session.ask("q", sink)
    mid = [t for t in seen_in_db if t]
    assert mid, "no checkpoint reached the database while streaming"
    assert all(t.startswith("t0 ") for t in mid)


async def test_ollama_cache_figures_are_unknown(loopback: LoopbackServer) -> None:
    loopback.openai_prompt_details = False
    session = ChatSession(loopback_settings(loopback, provider="ollama"))
    result = await session.ask("hi", lambda _: None)
    assert result.status == "complete"
    assert result.metrics.usage.cache_read_tokens is None
    assert not session.cache_reported
    assert result.metrics.cost.usd == 0.0  # running locally costs nothing


async def test_connection_refused_is_one_line_with_the_fix() -> None:
    server = LoopbackServer().start()
    url = server.base_url
    server.stop()  # nothing listens there now
    session = ChatSession(Settings(ollama_host=url, max_retries=0))
    result = await session.ask("hi", lambda _: None)
    assert result.status == "failed"
    assert result.error is not None
    assert "Cannot reach" in result.error and "Ollama running" in result.error
    assert "\n" not in result.error
