"""Tool turns end to end: the real SDKs against the loopback server, the tests' MCP server
(tests/mcp_server.py, the mcp SDK's server side) over stdio, storage on disk."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from chat_tui.config import McpServer
from chat_tui.core.session import ChatSession
from chat_tui.core.storage import Store
from chat_tui.core.tool_history import CUT_CALL
from chat_tui.core.tool_turn import REFUSED
from tests.helpers import loopback_settings
from tests.loopback import SSE, LoopbackServer
from tests.loopback_tools import Call, ToolLoopback, anthropic_tool_sse, openai_tool_sse
from tests.loopback_wire import anthropic_sse
from tests.tool_helpers import (
    RecordingView,
    assert_anthropic_history_valid,
    assert_openai_history_valid,
    mcp_test_server,
)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.open(tmp_path / "data" / "chat.db")
    yield s  # type: ignore[misc]
    s.close()


def _session(server: LoopbackServer, store: Store | None = None, **changes: Any) -> ChatSession:
    changes.setdefault("mcp_servers", (mcp_test_server(),))
    return ChatSession(loopback_settings(server, **changes), store=store)


def _bodies(server: LoopbackServer, path: str = "/v1/messages") -> list[dict[str, Any]]:
    return [r.body for r in server.requests if r.path == path and r.body is not None]


def _doc(tmp_path: Path) -> Path:
    path = tmp_path / "spec.md"
    path.write_text("The widget protocol has rules. " * 800, encoding="utf-8")
    return path


async def test_anthropic_tool_turn_runs_the_call_and_sends_the_result(
    store: Store, tmp_path: Path
) -> None:
    with ToolLoopback() as loopback:
        session = _session(loopback, store)
        session.load_document(_doc(tmp_path))
        loopback.calls.append([Call.of("toolu_1", "t__add", {"a": 2, "b": 40})])
        view = RecordingView("run")
        text: list[str] = []
        try:
            result = await session.ask("What is 2+40?", text.append, None, view)
        finally:
            await session.aclose()
    assert result.status == "complete"
    assert len(result.rounds) == 2
    assert view.asked == ["t__add"]
    assert view.results[0].content == "42" and not view.results[0].is_error
    # the call formed in the view: name first, then the arguments piece by piece, then the end
    assert view.events[0] == ("start", "t__add")
    assert "".join(t for k, t in view.events if k == "args") == '{"a": 2, "b": 40}'
    first, second = _bodies(loopback)
    # tools first in the prefix: all four tools, stable order, cache_control on the last only
    names = [t["name"] for t in first["tools"]]
    assert names == ["t__add", "t__echo", "t__raise", "t__sleep"]
    assert [("cache_control" in t) for t in first["tools"]] == [False, False, False, True]
    assert first["tools"][0]["input_schema"]["required"] == ["a", "b"]
    for body in (first, second):
        marks = sum(1 for t in body["tools"] if "cache_control" in t)
        marks += sum(1 for b in body["system"] if "cache_control" in b)
        marks += sum(1 for m in body["messages"] for b in m["content"] if "cache_control" in b)
        assert marks <= 4
    assert second["tools"] == first["tools"]  # byte-stable: the cached prefix holds
    assert_anthropic_history_valid(second)
    tool_result = second["messages"][-1]["content"][0]
    assert tool_result["type"] == "tool_result" and tool_result["tool_use_id"] == "toolu_1"
    assert tool_result["content"] == "42"
    # the second round read the tools, the document and the history from the cache
    assert (result.rounds[1].usage.cache_read_tokens or 0) > 5000
    assert result.rounds[1].diagnosis is not None and result.rounds[1].diagnosis.status == "hit"
    # stored with its message: call and result in the parts, both rounds' requests recorded
    assert session.conversation.id is not None
    stored = store.load_conversation(session.conversation.id)
    kinds = [type(p).__name__ for p in stored.messages[-1].content()]
    assert kinds == ["ToolUsePart", "ToolResultPart", "TextPart"]
    with store.reading() as db:
        rounds = db.execute("SELECT COUNT(*) FROM requests WHERE kind = 'tool_round'").fetchone()
    assert rounds[0] == 1


async def test_openai_several_calls_in_one_message(loopback: LoopbackServer) -> None:
    session = _session(loopback, provider="openai")
    calls = [
        Call.of("call_a", "t__echo", {"text": "hi"}),
        Call.of("call_b", "t__add", {"a": 1, "b": 2}),
    ]
    loopback.enqueue(SSE(openai_tool_sse(calls)))
    view = RecordingView()
    try:
        result = await session.ask("echo and add", lambda _: None, None, view)
    finally:
        await session.aclose()
    assert result.status == "complete" and len(result.rounds) == 2
    assert [r.content for r in view.results] == ["hi", "3"]
    first, second = _bodies(loopback, "/v1/chat/completions")
    assert [t["function"]["name"] for t in first["tools"]] == [
        "t__add",
        "t__echo",
        "t__raise",
        "t__sleep",
    ]
    assert first["tools"][0]["type"] == "function"
    assert second["tools"] == first["tools"]
    assert_openai_history_valid(second)
    tool_msgs = [m for m in second["messages"] if m["role"] == "tool"]
    assert [(m["tool_call_id"], m["content"]) for m in tool_msgs] == [
        ("call_a", "hi"),
        ("call_b", "3"),
    ]
    # the two calls streamed interleaved and each formed under its own index
    starts = [e for e in view.events if e[0] == "start"]
    assert starts == [("start", "t__echo"), ("start", "t__add")]


async def test_refusal_goes_back_to_the_model(loopback: LoopbackServer) -> None:
    session = _session(loopback)
    loopback.enqueue(SSE(anthropic_tool_sse([Call.of("toolu_1", "t__echo", {"text": "x"})])))
    view = RecordingView("refuse")
    try:
        result = await session.ask("echo x", lambda _: None, None, view)
    finally:
        await session.aclose()
    assert result.status == "complete"
    sent = _bodies(loopback)[-1]["messages"][-1]["content"][0]
    assert sent == {"type": "tool_result", "tool_use_id": "toolu_1", "content": REFUSED,
                    "is_error": True, "cache_control": sent["cache_control"]}  # fmt: skip


async def test_always_allow_asks_once_per_session(loopback: LoopbackServer) -> None:
    session = _session(loopback)
    for n in (1, 2):
        loopback.enqueue(SSE(anthropic_tool_sse([Call.of(f"toolu_{n}", "t__echo", {"text": "x"})])))
        loopback.enqueue(SSE(anthropic_sse(["done"])))
    view = RecordingView("always")
    try:
        await session.ask("one", lambda _: None, None, view)
        await session.ask("two", lambda _: None, None, view)
    finally:
        await session.aclose()
    assert view.asked == ["t__echo"]  # the second call ran without asking
    assert [r.content for r in view.results] == ["x", "x"]


async def test_timeout_and_raising_tool_become_error_results(loopback: LoopbackServer) -> None:
    session = _session(loopback, tool_timeout=0.5)
    calls = [
        Call.of("toolu_1", "t__sleep", {"seconds": 30}),
        Call.of("toolu_2", "t__echo", {"text": "still"}),
    ]
    loopback.enqueue(SSE(anthropic_tool_sse(calls)))
    view = RecordingView()
    try:
        result = await session.ask("sleep", lambda _: None, None, view)
    finally:
        await session.aclose()
    assert result.status == "complete"
    assert view.results[0].is_error and "0.5 s" in view.results[0].content
    assert view.results[1].content == "still"  # the server lives on after a timed-out call


async def test_raising_tool_is_an_error_result(loopback: LoopbackServer) -> None:
    session = _session(loopback)
    loopback.enqueue(SSE(anthropic_tool_sse([Call.of("toolu_1", "t__raise", {"message": "no"})])))
    view = RecordingView()
    try:
        await session.ask("fail", lambda _: None, None, view)
    finally:
        await session.aclose()
    assert view.results[0].is_error and "raise" in view.results[0].content
    assert _bodies(loopback)[-1]["messages"][-1]["content"][0]["is_error"] is True


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
async def test_invalid_json_arguments_are_an_error_result_not_a_crash(
    loopback: LoopbackServer, provider: str
) -> None:
    session = _session(loopback, provider=provider)
    bad = Call("call_1", "t__add", ('{"a": 1, ', '"b": '))
    body = anthropic_tool_sse([bad]) if provider == "anthropic" else openai_tool_sse([bad])
    loopback.enqueue(SSE(body))
    view = RecordingView()
    try:
        result = await session.ask("add", lambda _: None, None, view)
    finally:
        await session.aclose()
    assert result.status == "complete"
    assert view.asked == []  # never run, never asked about
    assert view.results[0].is_error and "not a valid JSON object" in view.results[0].content
    assert ("end", '{"a": 1, "b": ') in view.events  # kept as received


async def test_a_dead_server_is_one_line_and_its_tools_are_left_out(
    loopback: LoopbackServer,
) -> None:
    dead = McpServer(name="files", command="/nonexistent/mcp-server")
    session = _session(loopback, mcp_servers=(dead, mcp_test_server()))
    try:
        await session.ask("hi", lambda _: None)
    finally:
        await session.aclose()
    lines = session.tools.status_lines()
    assert lines[0].startswith("files: not running: cannot run the command")
    names = [t["name"] for t in _bodies(loopback)[0]["tools"]]
    assert names and not any(n.startswith("files") for n in names)


async def test_no_tools_sends_no_tools_and_starts_no_server(loopback: LoopbackServer) -> None:
    session = _session(loopback, tools_enabled=False)
    try:
        await session.ask("hi", lambda _: None)
    finally:
        await session.aclose()
    assert "tools" not in _bodies(loopback)[0]
    assert not session.tools.started


async def test_turning_tools_off_is_named_by_the_cache_doctor(
    loopback: LoopbackServer, tmp_path: Path
) -> None:
    session = _session(loopback)
    session.load_document(_doc(tmp_path))
    try:
        await session.ask("one", lambda _: None)
        session.set_tools_enabled(False)
        second = await session.ask("two", lambda _: None)
    finally:
        await session.aclose()
    d = second.metrics.diagnosis
    assert d is not None and d.reason == "tools_changed"


async def test_stop_at_approval_leaves_a_valid_history(
    loopback: LoopbackServer, store: Store
) -> None:
    session = _session(loopback, store)
    calls = [
        Call.of("toolu_1", "t__echo", {"text": "a"}),
        Call.of("toolu_2", "t__echo", {"text": "b"}),
    ]
    loopback.enqueue(SSE(anthropic_tool_sse(calls)))
    view = RecordingView("run", "stop")
    try:
        result = await session.ask("echo twice", lambda _: None, None, view)
        assert result.status == "stopped"
        # a new session resumes the stored conversation and asks again
        again = _session(loopback, store)
        assert session.conversation.id is not None
        again.resume(session.conversation.id)
        await again.ask("go on", lambda _: None)
        await again.aclose()
    finally:
        await session.aclose()
    body = _bodies(loopback)[-1]
    assert_anthropic_history_valid(body)
    results = [b for m in body["messages"] for b in m["content"] if b["type"] == "tool_result"]
    assert [(r["tool_use_id"], r["content"]) for r in results] == [
        ("toolu_1", "a"),
        ("toolu_2", CUT_CALL),
    ]


async def test_cancel_while_a_call_streams_closes_it_in_the_history(
    loopback: LoopbackServer, store: Store
) -> None:
    session = _session(loopback, store)
    loopback.enqueue(
        SSE(anthropic_tool_sse([Call.of("toolu_9", "t__echo", {"text": "a"})]), chunk_delay=0.2)
    )
    seen = asyncio.Event()

    class View(RecordingView):
        def call_arguments(self, event: Any) -> None:
            super().call_arguments(event)
            seen.set()

    task = asyncio.create_task(session.ask("echo", lambda _: None, None, View()))
    await asyncio.wait_for(seen.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    loopback.enqueue(SSE(anthropic_sse(["ok"])))
    try:
        await session.ask("again", lambda _: None)
    finally:
        await session.aclose()
    assert_anthropic_history_valid(_bodies(loopback)[-1])


async def test_per_turn_limit_is_said_in_one_line(loopback: LoopbackServer) -> None:
    session = _session(loopback, max_tool_calls=1)
    calls = [
        Call.of("toolu_1", "t__echo", {"text": "a"}),
        Call.of("toolu_2", "t__echo", {"text": "b"}),
    ]
    loopback.enqueue(SSE(anthropic_tool_sse(calls)))
    try:
        result = await session.ask("two", lambda _: None, None, RecordingView())
        assert result.stop_note is not None and "1 tool call" in result.stop_note
        assert len(result.rounds) == 1
        await session.ask("next", lambda _: None)
    finally:
        await session.aclose()
    assert_anthropic_history_valid(_bodies(loopback)[-1])


async def test_a_tool_only_answer_stays_in_the_history(loopback: LoopbackServer) -> None:
    session = _session(loopback)
    loopback.enqueue(SSE(anthropic_tool_sse([Call.of("toolu_1", "t__echo", {"text": "a"})])))
    loopback.enqueue(SSE(anthropic_sse([""], output_tokens=1)))  # a final round with no text
    try:
        await session.ask("echo", lambda _: None, None, RecordingView())
        await session.ask("next", lambda _: None)
    finally:
        await session.aclose()
    body = _bodies(loopback)[-1]
    assert any(b["type"] == "tool_use" for m in body["messages"] for b in m["content"])
    assert_anthropic_history_valid(body)


def test_tool_schema_counts_in_the_estimate_and_document_warning(loopback: LoopbackServer) -> None:
    session = _session(loopback)
    without = session.estimate_usd(session._request("hi"))
    session.tools._tools = []
    from chat_tui.core.mcp import ToolInfo

    schema = {"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(200)}}
    session.tools._tools = [ToolInfo("t", "big", "t__big", "A big tool.", schema)]
    with_tools = session.estimate_usd(session._request("hi"))
    assert without is not None and with_tools is not None and with_tools > without
    assert session.tool_tokens() > 1000
    _ = json  # keep the import for readers of the schema above
    _ = replace


async def test_stop_while_a_tool_runs_keeps_the_results_made(
    loopback: LoopbackServer, store: Store
) -> None:
    session = _session(loopback, store)
    calls = [
        Call.of("toolu_1", "t__echo", {"text": "kept"}),
        Call.of("toolu_2", "t__sleep", {"seconds": 30}),
    ]
    loopback.enqueue(SSE(anthropic_tool_sse(calls)))
    view = RecordingView()
    task = asyncio.create_task(session.ask("run both", lambda _: None, None, view))
    for _ in range(500):
        if view.asked == ["t__echo", "t__sleep"]:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.2)  # the sleep tool is running now
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    loopback.enqueue(SSE(anthropic_sse(["ok"])))
    try:
        await session.ask("again", lambda _: None)
    finally:
        await session.aclose()
    body = _bodies(loopback)[-1]
    assert_anthropic_history_valid(body)
    results = [b for m in body["messages"] for b in m["content"] if b["type"] == "tool_result"]
    assert [(r["tool_use_id"], r["content"]) for r in results] == [
        ("toolu_1", "kept"),
        ("toolu_2", CUT_CALL),
    ]
    assert session.conversation.exchanges[0].status == "stopped"
