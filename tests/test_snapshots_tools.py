"""Snapshot of a turn with a tool call: the call with its arguments and folded result, the
answer of the second round below it, and the panel's tool lines and per-round cache figures
(the second round reads the tools, the document and the history from the cache).
The server listens on a fixed port and the app runs on a frozen clock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chat_tui.config import Settings
from chat_tui.core.prefs import Prefs
from chat_tui.ui.app import ChatApp, make_app
from chat_tui.ui.widgets.chat_input import ChatInput
from chat_tui.ui.widgets.tool_call import ToolCallBlock
from tests.loopback_tools import Call, ToolLoopback
from tests.tool_helpers import mcp_test_server

PORT = 47823
SIZE = (130, 42)


@pytest.fixture
def server() -> Iterator[ToolLoopback]:
    with ToolLoopback(port=PORT) as s:
        yield s


def _app(server: ToolLoopback, tmp_path: Path) -> ChatApp:
    settings = Settings(
        anthropic_api_key="sk-ant-test", anthropic_base_url=server.base_url, max_retries=0,
        data_dir=tmp_path / "data", mcp_servers=(mcp_test_server("notes"),),
    )  # fmt: skip
    doc = tmp_path / "notes.md"  # above the cache minimum: the second round reads the cache
    doc.write_text("Widgets are cached in the prefix. " * 700, encoding="utf-8")
    return make_app(settings, doc=str(doc), clock=lambda: 1000.0,
                    prefs=Prefs(path=tmp_path / "state.json"))  # fmt: skip


def test_turn_with_a_tool_call(snap_compare: Any, server: ToolLoopback, tmp_path: Path) -> None:
    lines = "\n".join(f"note {i}: widgets are cached" for i in range(6))
    server.calls.append([Call.of("toolu_1", "notes__echo", {"text": lines})])
    server.reply_text = "The notes say widgets are **cached**."  # the second round's answer

    async def run(pilot: Any) -> None:
        app: ChatApp = pilot.app
        while not (app.session.tools.started and app.session.tools.tools()):
            await pilot.pause(0.02)
        field = app.chat.query_one(ChatInput)
        field.cursor_blink = False
        field.load_text("What do my notes say?")
        await pilot.press("enter")
        while not [b for b in app.chat.query(ToolCallBlock) if b.status == "asking"]:
            await pilot.pause(0.01)
        await pilot.press("y")
        await app.workers.wait_for_complete()
        for answer in app.chat.pane.query("AssistantMessage"):
            answer.flush()  # type: ignore[attr-defined]
        app.chat.refresh_panel()
        await pilot.pause()

    assert snap_compare(_app(server, tmp_path), terminal_size=SIZE, run_before=run)
