"""Shared by the tool tests: the test MCP server's config, a recording ToolView, and checks
that a request's history is valid (every tool call answered in the next user message)."""

from __future__ import annotations

import sys
from itertools import pairwise
from pathlib import Path
from typing import Any

from chat_tui.config import McpServer
from chat_tui.core.tool_turn import Decision
from chat_tui.providers.events import ToolCallDelta, ToolCallStart, ToolResultPart, ToolUsePart

SERVER_SCRIPT = Path(__file__).with_name("mcp_server.py")


def mcp_test_server(name: str = "t") -> McpServer:
    """The tests' MCP server (echo, add, sleep, raise), run over stdio."""
    return McpServer(name=name, command=sys.executable, args=(str(SERVER_SCRIPT),))


class RecordingView:
    """A ToolView that answers approvals from a script ("run" when it runs out) and records
    everything it is told."""

    def __init__(self, *decisions: Decision) -> None:
        self.decisions = list(decisions)
        self.asked: list[str] = []
        self.events: list[tuple[str, Any]] = []
        self.results: list[ToolResultPart] = []

    def call_started(self, event: ToolCallStart) -> None:
        self.events.append(("start", event.name))

    def call_arguments(self, event: ToolCallDelta) -> None:
        self.events.append(("args", event.text))

    def call_ended(self, call: ToolUsePart) -> None:
        self.events.append(("end", call.arguments))

    async def approve(self, call: ToolUsePart) -> Decision:
        self.asked.append(call.name)
        return self.decisions.pop(0) if self.decisions else "run"

    def call_result(self, call: ToolUsePart, result: ToolResultPart) -> None:
        self.results.append(result)

    def round_started(self, number: int) -> None:
        self.events.append(("round", number))


def assert_anthropic_history_valid(body: dict[str, Any]) -> None:
    """Alternating roles; each assistant tool_use answered, first thing, in the next user
    message by a tool_result with its id."""
    messages = body["messages"]
    roles = [m["role"] for m in messages]
    assert roles[0] == "user" and all(a != b for a, b in pairwise(roles))
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        calls = [b["id"] for b in m["content"] if b["type"] == "tool_use"]
        if not calls:
            continue
        nxt = messages[i + 1]["content"]
        results = [b["tool_use_id"] for b in nxt[: len(calls)] if b["type"] == "tool_result"]
        assert sorted(results) == sorted(calls), (calls, nxt)


def assert_openai_history_valid(body: dict[str, Any]) -> None:
    """Each assistant tool_calls entry followed by one role-tool message per call."""
    messages = body["messages"]
    for i, m in enumerate(messages):
        calls = [c["id"] for c in m.get("tool_calls") or []]
        if calls:
            answered = [x["tool_call_id"] for x in messages[i + 1 : i + 1 + len(calls)]
                        if x["role"] == "tool"]  # fmt: skip
            assert sorted(answered) == sorted(calls), (calls, messages[i + 1 :])
