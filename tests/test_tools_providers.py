"""Tool calls on the wire, per provider, through the real SDKs and the loopback servers: the
``tools`` sent, the neutral start / argument / end events, calls and results sent back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from chat_tui.providers.anthropic import AnthropicProvider, build_params
from chat_tui.providers.base import ProviderSettings
from chat_tui.providers.events import (
    ChatRequest,
    Message,
    PartDone,
    ProviderEvent,
    Stop,
    SystemBlock,
    TextPart,
    ToolCallDelta,
    ToolCallStart,
    ToolResultPart,
    ToolSpec,
    ToolUsePart,
)
from chat_tui.providers.openai_compat import OpenAICompatProvider
from chat_tui.providers.openai_responses import OpenAIResponsesProvider
from tests.loopback import SSE, LoopbackServer
from tests.loopback_responses import ResponsesLoopback
from tests.loopback_tools import Call, anthropic_tool_sse, openai_tool_sse, responses_tool_sse

TOOLS = (
    ToolSpec("s__add", "Add.", {"type": "object", "properties": {"a": {"type": "integer"}}}),
    ToolSpec("s__echo", "Echo.", {"type": "object", "properties": {"text": {"type": "string"}}}),
)
CALLS = [Call.of("c1", "s__add", {"a": 1}), Call.of("c2", "s__echo", {"text": "hé"})]
HISTORY = (
    Message.of("user", "go"),
    Message("assistant", (TextPart("On it."), ToolUsePart("c1", "s__add", '{"a": 1}', {"a": 1}))),
    Message("user", (ToolResultPart("c1", "1"), TextPart("and?")), cache=True),
)


@pytest.fixture
def responses_server() -> AsyncIterator[ResponsesLoopback]:
    with ResponsesLoopback() as s:
        yield s  # type: ignore[misc]


def _request(**changes: Any) -> ChatRequest:
    values: dict[str, Any] = {"model": "m", "system": (SystemBlock("Be brief."),),
                              "messages": (Message.of("user", "go", cache=True),), "tools": TOOLS}  # fmt: skip
    return ChatRequest(**{**values, **changes})


async def _events(provider: Any, request: ChatRequest) -> list[ProviderEvent]:
    try:
        return [e async for e in provider.stream(request)]
    finally:
        await provider.aclose()


def _check_call_events(events: list[ProviderEvent]) -> None:
    starts = [e for e in events if isinstance(e, ToolCallStart)]
    assert [(s.id, s.name) for s in starts] == [("c1", "s__add"), ("c2", "s__echo")]
    for start, call in zip(starts, CALLS, strict=True):
        pieces = [e.text for e in events if isinstance(e, ToolCallDelta) and e.index == start.index]
        assert "".join(pieces) == call.arguments and len(pieces) > 1  # streamed in pieces
    done = [e.part for e in events if isinstance(e, PartDone) and isinstance(e.part, ToolUsePart)]
    assert [(p.id, p.input) for p in done] == [("c1", {"a": 1}), ("c2", {"text": "hé"})]
    stop = events[-1]
    assert isinstance(stop, Stop) and stop.reason == "tool_use"


async def test_anthropic_streams_tool_calls(loopback: LoopbackServer) -> None:
    loopback.enqueue(SSE(anthropic_tool_sse(CALLS)))
    settings = ProviderSettings(
        "anthropic", "m", base_url=loopback.base_url, api_key="k", max_retries=0
    )
    _check_call_events(await _events(AnthropicProvider(settings), _request()))


def test_anthropic_cache_control_on_the_last_tool_within_four_breakpoints() -> None:
    system = (SystemBlock("Be brief."), SystemBlock("doc", cache=True, label="document:d"))
    messages = tuple(Message.of("user" if i % 2 == 0 else "assistant", f"m{i}", cache=True)
                     for i in range(5))  # fmt: skip
    params = build_params(_request(system=system, messages=messages))
    assert "cache_control" not in params["tools"][0]
    assert params["tools"][-1]["cache_control"] == {"type": "ephemeral", "ttl": "5m"}
    marks = 1 + sum("cache_control" in b for b in params["system"])
    marks += sum("cache_control" in b for m in params["messages"] for b in m["content"])
    assert marks == 4
    assert "tools" not in build_params(_request(tools=()))


async def test_openai_streams_several_indexed_calls(loopback: LoopbackServer) -> None:
    loopback.enqueue(SSE(openai_tool_sse(CALLS)))
    settings = ProviderSettings("openai", "m", base_url=loopback.openai_base_url, api_key="k",
                                max_retries=0)  # fmt: skip
    _check_call_events(await _events(OpenAICompatProvider(settings), _request(messages=HISTORY)))
    body = loopback.requests[-1].body or {}
    assert [t["function"]["name"] for t in body["tools"]] == ["s__add", "s__echo"]
    roles = [(m["role"], m.get("tool_call_id")) for m in body["messages"]]
    assert roles == [
        ("system", None),
        ("user", None),
        ("assistant", None),
        ("tool", "c1"),
        ("user", None),
    ]


async def test_responses_streams_function_calls_and_sends_them_back(
    responses_server: ResponsesLoopback,
) -> None:
    responses_server.enqueue(SSE(responses_tool_sse(CALLS)))
    settings = ProviderSettings("openai", "m", base_url=responses_server.openai_base_url,
                                api_key="k", max_retries=0, api="responses")  # fmt: skip
    _check_call_events(await _events(OpenAIResponsesProvider(settings), _request(messages=HISTORY)))
    body = responses_server.requests[-1].body or {}
    assert body["tools"][0] == {"type": "function", "name": "s__add", "description": "Add.",
                                "parameters": TOOLS[0].input_schema}  # fmt: skip
    items = [(i.get("type"), i.get("role"), i.get("call_id")) for i in body["input"]]
    assert items == [
        (None, "user", None),
        (None, "assistant", None),
        ("function_call", None, "c1"),
        ("function_call_output", None, "c1"),
        (None, "user", None),
    ]
