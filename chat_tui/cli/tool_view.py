"""Tool calls in ``chat-tui ask``: no one to ask, so a call runs only when ``--allow-tool``
names its tool (as the model sees it, ``SERVER__TOOL``, or the server's own name for it) or is
``'*'``. Every call, refusal and result is reported on stderr, one line each; stdout keeps the
answer alone."""

from __future__ import annotations

from typing import TextIO

from chat_tui.cli.common import err
from chat_tui.core.mcp import McpManager
from chat_tui.core.sanitize import clean_text
from chat_tui.core.tool_turn import Decision
from chat_tui.providers.events import ToolCallDelta, ToolCallStart, ToolResultPart, ToolUsePart

SHOWN = 160


def _short(text: str) -> str:
    line = " ".join(clean_text(text).split())
    return line if len(line) <= SHOWN else line[: SHOWN - 1] + "…"


class AskToolView:
    def __init__(self, allowed: list[str], manager: McpManager, stream: TextIO | None = None):
        self.allowed = set(allowed)
        self.manager = manager
        self.stream = stream
        self.refused: list[str] = []

    def allows(self, qualified: str) -> bool:
        if "*" in self.allowed or qualified in self.allowed:
            return True
        tool = self.manager.lookup(qualified)
        return tool is not None and tool.name in self.allowed

    def call_started(self, event: ToolCallStart) -> None:
        pass  # the whole call is reported at its end

    def call_arguments(self, event: ToolCallDelta) -> None:
        pass

    def call_ended(self, call: ToolUsePart) -> None:
        err(f"chat-tui: tool call {call.name} {_short(call.arguments) or '{}'}", self.stream)

    async def approve(self, call: ToolUsePart) -> Decision:
        if self.allows(call.name):
            return "run"
        self.refused.append(call.name)
        err(f"chat-tui: refused {call.name}: not allowed; run it with --allow-tool "
            f"{call.name} (or --allow-tool '*')", self.stream)  # fmt: skip
        return "refuse"

    def call_result(self, call: ToolUsePart, result: ToolResultPart) -> None:
        word = "error" if result.is_error else "result"
        err(f"chat-tui: {call.name} {word}: {_short(result.content)}", self.stream)

    def round_started(self, number: int) -> None:
        pass
