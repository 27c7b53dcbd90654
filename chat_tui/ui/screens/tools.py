"""The tools screen: each MCP server with its status, and each of its tools with the name the
model sees, its description and its schema's size in tokens (what it adds to every prompt,
cached after the first request). ``escape`` closes."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import ScrollableContainer, Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from chat_tui.core.mcp import McpManager
from chat_tui.core.sanitize import clean_text


def tools_table(manager: McpManager, enabled: bool) -> Table:
    """Servers and tools as one table (inert text: names and descriptions are sanitised)."""
    table = Table(expand=True, show_edge=False, pad_edge=False)
    table.add_column("tool (as the model sees it)", no_wrap=True)
    table.add_column("description", ratio=1)
    table.add_column("tokens", justify="right", no_wrap=True)
    tools = manager.tools()
    for state in manager.servers:
        style = "bold" if state.status == "running" else "bold yellow"
        table.add_row(Text(clean_text(state.line()), style=style), Text(""), Text(""))
        for tool in (t for t in tools if t.server == state.name):
            table.add_row(Text(f"  {tool.qualified}"),
                          Text(clean_text(tool.description).split("\n")[0], style="dim"),
                          Text(f"{tool.tokens:,}"))  # fmt: skip
    total = sum(t.tokens for t in tools)
    note = "" if enabled else " (tools are off for this session: none are sent)"
    table.caption = f"{len(tools)} tools · ~{total:,} tokens in every request{note}"
    return table


class ToolsScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    ToolsScreen { align: center middle; }
    ToolsScreen > Vertical {
        width: 90%; height: 80%; border: thick $accent; background: $surface; padding: 0 1;
    }
    ToolsScreen ScrollableContainer { height: 1fr; }
    ToolsScreen .hint { color: $text-muted; }
    """
    BINDINGS = [Binding("escape", "dismiss", "Close", id="close_tools")]

    def __init__(self, manager: McpManager, enabled: bool) -> None:
        super().__init__()
        self.manager = manager
        self.enabled = enabled

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("MCP tools", classes="title")
            with ScrollableContainer():
                if not self.manager.servers:
                    yield Static(
                        "No MCP servers configured: add [mcp.servers.NAME] with command (and "
                        "args) or url to the config file.", markup=False,
                    )  # fmt: skip
                else:
                    yield Static(tools_table(self.manager, self.enabled), id="tools-table")
            yield Label("escape closes", classes="hint")

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
