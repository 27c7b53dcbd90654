"""Tool calls in the TUI, through Pilot: the call forms in the pane, waits for approval there
(``y`` once, ``a`` always, ``n`` refuse, ``esc`` stops the turn), shows its result folded; the
panel lists the servers and each round's cache figures; the palette toggles tools; the tools
screen lists them with their schema sizes."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from rich.console import Console

from chat_tui.config import McpServer
from chat_tui.core.tool_history import CUT_CALL
from chat_tui.core.tool_turn import REFUSED
from chat_tui.ui.app import ChatApp
from chat_tui.ui.screens.tools import ToolsScreen, tools_table
from chat_tui.ui.tool_commands import show_tools, toggle_tools
from chat_tui.ui.widgets.chat_input import ChatInput
from chat_tui.ui.widgets.message_pane import AssistantMessage
from chat_tui.ui.widgets.tool_call import ToolCallBlock
from tests.loopback import SSE, LoopbackServer
from tests.loopback_tools import Call, anthropic_tool_sse
from tests.loopback_wire import anthropic_sse
from tests.test_app import SIZE, build
from tests.tool_helpers import assert_anthropic_history_valid, mcp_test_server


def _build(server: LoopbackServer, tmp_path: Path, **settings: Any) -> ChatApp:
    settings.setdefault("mcp_servers", (mcp_test_server(),))
    return build(server, tmp_path, settings=settings)


async def _tools_ready(pilot: Any) -> None:
    app: ChatApp = pilot.app
    for _ in range(1000):
        if app.session.tools.started and app.session.tools.tools():
            break
        await pilot.pause(0.02)
    await pilot.pause()


async def _submit(pilot: Any, text: str) -> None:
    app: ChatApp = pilot.app
    field = app.chat.query_one(ChatInput)
    field.focus()
    field.load_text(text)
    await pilot.press("enter")


async def _asking(pilot: Any) -> ToolCallBlock:
    app: ChatApp = pilot.app
    for _ in range(1000):
        asking = [b for b in app.chat.query(ToolCallBlock) if b.status == "asking"]
        if asking:
            await pilot.pause()
            return asking[0]
        await pilot.pause(0.01)
    raise AssertionError("no tool call waited for approval")


async def _done(pilot: Any) -> None:
    app: ChatApp = pilot.app
    await app.workers.wait_for_complete()
    await pilot.pause()


def _last_body(server: LoopbackServer) -> dict[str, Any]:
    return [r.body for r in server.requests if r.path == "/v1/messages" and r.body][-1]


async def test_y_runs_the_call_and_the_answer_follows(
    loopback: LoopbackServer, tmp_path: Path
) -> None:
    loopback.enqueue(SSE(anthropic_tool_sse([Call.of("toolu_1", "t__add", {"a": 2, "b": 40})],
                                            text="Adding.")))  # fmt: skip
    loopback.enqueue(SSE(anthropic_sse(["It is 42."])))
    app = _build(loopback, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _tools_ready(pilot)
        await _submit(pilot, "2+40?")
        block = await _asking(pilot)
        assert block.has_focus  # the keys go to the call
        shown = block.render_text().plain
        assert shown.startswith("⚙ t__add  wants to run") and '{"a": 2, "b": 40}' in shown
        assert "y run once · a always allow this tool · n refuse · esc stop the turn" in shown
        await pilot.press("y")
        await _done(pilot)
        assert block.status == "done" and block.result is not None
        assert "→ 42" in block.render_text().plain
        texts = [a.text for a in app.chat.query(AssistantMessage)]
        assert texts == ["Adding.", "It is 42."]  # each round answers in its own message
        assert app.chat.query_one(ChatInput).has_focus  # the focus came back
        panel = app.chat.panel
        rounds = panel.section_text("rounds") or ""
        assert "turn: 2 requests" in rounds and "1. read" in rounds and "2. read" in rounds
        tools = panel.section_text("tools") or ""
        assert "t: 4 tools" in tools and "4 tools · ~" in tools
    assert _last_body(loopback)["messages"][-1]["content"][0]["content"] == "42"


async def test_n_refuses_and_the_model_is_told(loopback: LoopbackServer, tmp_path: Path) -> None:
    loopback.enqueue(SSE(anthropic_tool_sse([Call.of("toolu_1", "t__echo", {"text": "x"})])))
    loopback.enqueue(SSE(anthropic_sse(["OK, I will not."])))
    app = _build(loopback, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _tools_ready(pilot)
        await _submit(pilot, "echo x")
        block = await _asking(pilot)
        await pilot.press("n")
        await _done(pilot)
        assert block.status == "refused"
    result = _last_body(loopback)["messages"][-1]["content"][0]
    assert result["content"] == REFUSED and result["is_error"] is True


async def test_a_allows_the_tool_for_the_session(loopback: LoopbackServer, tmp_path: Path) -> None:
    for n in (1, 2):
        loopback.enqueue(
            SSE(anthropic_tool_sse([Call.of(f"toolu_{n}", "t__echo", {"text": f"v{n}"})]))
        )
        loopback.enqueue(SSE(anthropic_sse(["done"])))
    app = _build(loopback, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _tools_ready(pilot)
        await _submit(pilot, "first")
        await _asking(pilot)
        await pilot.press("a")
        await _done(pilot)
        await _submit(pilot, "second")
        await _done(pilot)  # no approval needed: it would hang here otherwise
        blocks = list(app.chat.query(ToolCallBlock))
        assert [b.status for b in blocks] == ["done", "done"]
        assert app.session.always_tools == {"t__echo"}
    assert _last_body(loopback)["messages"][-1]["content"][0]["content"] == "v2"


async def test_escape_at_approval_stops_the_turn_and_the_history_stays_valid(
    loopback: LoopbackServer, tmp_path: Path
) -> None:
    loopback.enqueue(SSE(anthropic_tool_sse([Call.of("toolu_1", "t__echo", {"text": "x"})])))
    app = _build(loopback, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _tools_ready(pilot)
        await _submit(pilot, "echo")
        block = await _asking(pilot)
        await pilot.press("escape")
        await _done(pilot)
        assert block.status == "stopped"
        assert app.session.conversation.exchanges[-1].status == "stopped"
        await _submit(pilot, "never mind")
        await _done(pilot)
    body = _last_body(loopback)
    assert_anthropic_history_valid(body)
    results = [b for m in body["messages"] for b in m["content"] if b["type"] == "tool_result"]
    assert [r["content"] for r in results] == [CUT_CALL]


async def test_long_results_are_folded_and_enter_unfolds(
    loopback: LoopbackServer, tmp_path: Path
) -> None:
    text = "\n".join(f"line {i}" for i in range(10))
    loopback.enqueue(SSE(anthropic_tool_sse([Call.of("toolu_1", "t__echo", {"text": text})])))
    loopback.enqueue(SSE(anthropic_sse(["ok"])))
    app = _build(loopback, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _tools_ready(pilot)
        await _submit(pilot, "echo")
        block = await _asking(pilot)
        await pilot.press("y")
        await _done(pilot)
        shown = block.render_text().plain.split("→")[1]
        assert "line 2" in shown and "line 3" not in shown and "7 more lines" in shown
        block.focus()
        await pilot.press("enter")
        assert "line 9" in block.render_text().plain.split("→")[1]


async def test_palette_toggle_and_tools_screen(loopback: LoopbackServer, tmp_path: Path) -> None:
    dead = McpServer(name="files", command="/nonexistent/mcp")
    app = _build(loopback, tmp_path, mcp_servers=(dead, mcp_test_server()))
    async with app.run_test(size=SIZE) as pilot:
        await _tools_ready(pilot)
        app.chat.refresh_panel()
        await pilot.pause()
        tools = app.chat.panel.section_text("tools") or ""
        assert "files: not running: cannot run the command" in tools
        show_tools(app)
        await pilot.pause()
        assert isinstance(app.screen, ToolsScreen)
        console = Console(width=120, record=True, file=io.StringIO())
        console.print(tools_table(app.session.tools, True))
        table = console.export_text()
        assert "files: not running" in table and "t__add" in table and "Add two integers." in table
        assert "4 tools · ~" in table
        await pilot.press("escape")
        await pilot.pause()
        toggle_tools(app)
        await pilot.pause()
        assert not app.session.tools_enabled
        await _submit(pilot, "hi")
        await _done(pilot)
    assert "tools" not in _last_body(loopback)


async def test_no_tools_flag_starts_no_server(loopback: LoopbackServer, tmp_path: Path) -> None:
    app = _build(loopback, tmp_path, tools_enabled=False)
    async with app.run_test(size=SIZE) as pilot:
        await _submit(pilot, "hi")
        await _done(pilot)
        assert not app.session.tools.started
    assert "tools" not in _last_body(loopback)
