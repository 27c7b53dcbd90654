"""One tool call in the pane: its name, its arguments as they stream, the approval it waits
for, and its result, folded.

The arguments are shown as the text received (partial JSON is never parsed), repainted at most
every ``flush_interval`` seconds so a fast stream costs what text costs. While the call waits
for approval the block holds the focus: ``y`` runs it once, ``a`` always allows this tool for
the session, ``n`` refuses it; ``esc`` (the screen's stop key) stops the turn. The result shows
its first lines; ``enter`` (or a click) unfolds the rest. Everything shown is inert text: model
output and tool output are sanitised and never interpreted as markup.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.timer import Timer
from textual.widgets import Static

from chat_tui.core.sanitize import clean_text
from chat_tui.core.tool_turn import Decision
from chat_tui.providers.events import ToolResultPart

FOLDED_LINES = 3
APPROVAL_HINT = "y run once · a always allow this tool · n refuse · esc stop the turn"


class ToolCallBlock(Static):
    DEFAULT_CSS = """
    ToolCallBlock {
        width: 1fr; height: auto; padding: 0 1; margin: 0 0 1 0;
        border-left: thick $accent 50%; color: $text;
    }
    ToolCallBlock.-asking { border-left: thick $warning; background: $warning 10%; }
    ToolCallBlock.-error { border-left: thick $error 60%; }
    ToolCallBlock:focus { background: $boost; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "decide('run')", "Run once", id="tool_run", show=False),
        Binding("a", "decide('always')", "Always allow", id="tool_always", show=False),
        Binding("n", "decide('refuse')", "Refuse", id="tool_refuse", show=False),
        Binding("enter,space", "unfold", "Unfold result", id="tool_unfold", show=False),
    ]
    can_focus = True

    def __init__(self, name: str, *, flush_interval: float = 0.04) -> None:
        super().__init__("")
        self.tool_name = clean_text(name)
        self.arguments = ""
        self.status = "forming"  # forming, asking, running, done, error, refused, stopped
        self.result: ToolResultPart | None = None
        self.unfolded = False
        self._flush_interval = flush_interval
        self._dirty = False
        self._timer: Timer | None = None
        self._decision: asyncio.Future[Decision] | None = None

    # -- what the turn tells it ------------------------------------------------------------

    def append_arguments(self, text: str) -> None:
        self.arguments += clean_text(text)
        self._dirty = True
        if self._timer is None and self.is_mounted:
            self._timer = self.set_timer(self._flush_interval, self._flush)

    def formed(self, arguments: str) -> None:
        """The call's end: its arguments exactly as received."""
        self.arguments = clean_text(arguments)
        self.status = "formed"
        self._paint()

    async def ask(self) -> Decision:
        """Wait for the user's decision, with the focus on this block."""
        self.status = "asking"
        self.add_class("-asking")
        self._paint()
        self._decision = asyncio.get_running_loop().create_future()
        previous = self.app.focused
        if self.is_mounted:  # else when it is (a question's blocks mount once it is sent)
            self._take_focus()
        try:
            return await self._decision
        finally:
            self._decision = None
            self.remove_class("-asking")
            if previous is not None and previous.is_mounted:
                previous.focus()

    def running(self) -> None:
        self.status = "running"
        self._paint()

    def show_result(self, result: ToolResultPart) -> None:
        self.result = result
        refused = result.is_error and result.content.startswith("The user refused")
        self.status = "refused" if refused else "error" if result.is_error else "done"
        self.set_class(result.is_error, "-error")
        self._paint()

    def stopped(self) -> None:
        if self.status in ("forming", "formed", "asking", "running"):
            self.status = "stopped"
            self._paint()

    # -- keys ----------------------------------------------------------------------------------

    def action_decide(self, decision: Decision) -> None:
        future = self._decision
        if future is not None and not future.done():
            future.set_result(decision)
            if decision != "refuse":
                self.running()

    def action_unfold(self) -> None:
        if self.result is not None and self._hidden_lines() > 0:
            self.unfolded = not self.unfolded
            self._paint()

    def on_click(self, event: events.Click) -> None:
        event.stop()
        self.action_unfold()

    # -- drawing -------------------------------------------------------------------------------

    def on_mount(self) -> None:
        self._paint()
        if self.status == "asking":
            self._take_focus()

    def _take_focus(self) -> None:
        self.focus()
        self.scroll_visible()

    def _flush(self) -> None:
        self._timer = None
        if self._dirty:
            self._paint()

    def _hidden_lines(self) -> int:
        if self.result is None:
            return 0
        return max(0, len(self.result.content.splitlines()) - FOLDED_LINES)

    def render_text(self) -> Text:
        """The block as inert text (also what tests read)."""
        word = {"forming": "calling…", "formed": "", "asking": "wants to run",
                "running": "running…", "done": "done", "error": "failed",
                "refused": "refused", "stopped": "stopped"}[self.status]  # fmt: skip
        out = Text()
        out.append("⚙ ", style="bold")
        out.append(self.tool_name, style="bold")
        if word:
            out.append(f"  {word}", style="italic" if self.status != "error" else "bold red")
        out.append("\n")
        out.append(self.arguments or "{}", style="dim")
        if self.status == "asking":
            out.append(f"\n{APPROVAL_HINT}", style="bold")
        if self.result is not None:
            content = clean_text(self.result.content) or "(no output)"
            lines = content.splitlines() or [""]
            hidden = self._hidden_lines()
            shown = lines if self.unfolded or hidden == 0 else lines[:FOLDED_LINES]
            out.append("\n→ ")
            out.append("\n  ".join(shown))
            if hidden and not self.unfolded:
                out.append(f"\n  … {hidden} more line{'s' if hidden != 1 else ''} — enter to unfold",
                           style="dim italic")  # fmt: skip
        return out

    def _paint(self) -> None:
        self._dirty = False
        self.update(self.render_text())
