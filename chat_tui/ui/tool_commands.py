"""The TUI's tool controls: the MCP servers' start after the first frame, the panel's tool
lines, and the palette entries (turn tools off / on, the tools screen)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from textual.app import SystemCommand

from chat_tui.core.mcp import schema_tokens
from chat_tui.ui.widgets.tools_panel import PanelTools

if TYPE_CHECKING:
    from chat_tui.core.session import ChatSession
    from chat_tui.ui.app import ChatApp
    from chat_tui.ui.screens.chat import ChatScreen


def panel_tools(session: ChatSession) -> PanelTools | None:
    manager = session.tools
    if not manager.configured:
        return None
    specs = manager.specs()
    servers = tuple((s.line(), s.status == "failed") for s in manager.servers)
    return PanelTools(session.tools_enabled, servers, len(specs), schema_tokens(specs))


def start_tools(screen: ChatScreen) -> None:
    """Start the MCP servers in a worker (the event loop keeps drawing; the SDK is imported
    in a thread); the panel shows each server's status as it settles."""
    session = screen.session
    if not session.tools_enabled or not session.tools.configured:
        return

    async def run() -> None:
        await session.start_tools()
        screen.refresh_panel()

    screen.run_worker(run(), group="tools", exclusive=True, exit_on_error=False)


def tool_commands(app: ChatApp) -> Iterator[SystemCommand]:
    session = app.session
    word = "off" if session.tools_enabled else "on"
    yield SystemCommand(f"Tools: turn {word}",
                        "Offer the MCP servers' tools to the model, or not, for this session",
                        lambda: toggle_tools(app))  # fmt: skip
    yield SystemCommand("Tools: list servers and tools",
                        "Each MCP server's status and tools, with each schema's size in tokens",
                        lambda: show_tools(app))  # fmt: skip


def toggle_tools(app: ChatApp) -> None:
    chat = app.chat
    if chat.streaming:
        app.notify("Stop the answer first (escape), then switch tools.", severity="warning")
        return
    session = app.session
    session.set_tools_enabled(not session.tools_enabled)
    if session.tools_enabled:
        line = "Tools on: the model may call the MCP servers' tools (you approve each call)"
        start_tools(chat)
    else:
        line = "Tools off: no tools are sent"
    if session.turns:
        line += " (the tool set changed: the cached prompt is written again once)"
    chat.pane.add_notice(line)
    chat.refresh_panel()


def show_tools(app: ChatApp) -> None:
    from chat_tui.ui.screens.tools import ToolsScreen

    app.push_screen(ToolsScreen(app.session.tools, app.session.tools_enabled))
