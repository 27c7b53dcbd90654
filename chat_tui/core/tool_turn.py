"""Running the tool calls of one round: approval, the per-turn limit, results.

Before each call runs, the :class:`ToolView` is asked (``approve``): "run" once, "always"
(this tool, for the rest of the session), "refuse" (a refusal result goes back to the model)
or "stop" (the turn ends; the call is closed with an error result in the history). A call
whose arguments are not a JSON object is never run nor asked about: an error result goes
back, naming the problem, so the model can correct itself. Calls past the per-turn limit get
an error result saying so, and the turn ends with one line.

The TUI and ``chat-tui ask`` implement :class:`ToolView`; core never imports either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

from chat_tui.providers.events import (
    ToolCallDelta,
    ToolCallStart,
    ToolResultPart,
    ToolUsePart,
    parse_arguments,
)

if TYPE_CHECKING:
    from chat_tui.core.mcp import McpManager

Decision = Literal["run", "always", "refuse", "stop"]
REFUSED = "The user refused to run this tool call."
NOT_OFFERED = "This tool is not available in this session (tools are off)."


def limit_line(limit: int) -> str:
    return (
        f"stopped after {limit} tool call{'s' if limit != 1 else ''} in one turn "
        "(max_tool_calls): ask again to let the model continue"
    )


class ToolView(Protocol):
    """Where a turn reports its tool calls, and who approves them."""

    def call_started(self, event: ToolCallStart) -> None: ...

    def call_arguments(self, event: ToolCallDelta) -> None: ...

    def call_ended(self, call: ToolUsePart) -> None: ...

    async def approve(self, call: ToolUsePart) -> Decision: ...

    def call_result(self, call: ToolUsePart, result: ToolResultPart) -> None: ...

    def round_started(self, number: int) -> None: ...


@dataclass
class RoundOutcome:
    results: list[ToolResultPart] = field(default_factory=list)
    stopped: bool = False  # the user stopped the turn at an approval
    limited: bool = False  # the per-turn limit was reached
    made: int = 0  # calls made this turn so far (run, refused or invalid)


def invalid_arguments(call: ToolUsePart) -> str:
    shown = call.arguments if len(call.arguments) <= 200 else call.arguments[:199] + "…"
    return f"The arguments are not a valid JSON object, so the tool did not run: {shown}"


async def run_calls(
    calls: Sequence[ToolUsePart],
    view: ToolView | None,
    manager: McpManager | None,
    *,
    always: set[str],
    made: int,
    limit: int,
    out: RoundOutcome | None = None,
) -> RoundOutcome:
    """Run (or refuse) ``calls`` in order. ``made`` calls were made this turn; ``always``
    holds the tools allowed for the session (``a`` adds to it). Results are added to ``out``
    as they come, so a caller that is cancelled mid-round keeps those already made."""
    out = out if out is not None else RoundOutcome(made=made)
    for call in calls:
        arguments = parse_arguments(call.arguments)
        if out.made >= limit:
            out.limited = True
            result = ToolResultPart(call.id, f"Not run: {limit_line(limit)}.", True)
        elif arguments is None:
            out.made += 1
            result = ToolResultPart(call.id, invalid_arguments(call), True)
        elif manager is None or manager.lookup(call.name) is None:
            result = ToolResultPart(call.id, NOT_OFFERED, True)
        else:
            out.made += 1
            decision: Decision = "run" if call.name in always else "refuse"
            if decision != "run" and view is not None:
                decision = await view.approve(call)
            if decision == "stop":
                out.stopped = True
                return out
            if decision == "always":
                always.add(call.name)
            if decision == "refuse":
                result = ToolResultPart(call.id, REFUSED, True)
            else:
                outcome = await manager.call(call.name, arguments)
                result = ToolResultPart(call.id, outcome.content, outcome.is_error)
        out.results.append(result)
        if view is not None:
            view.call_result(call, result)
    return out
