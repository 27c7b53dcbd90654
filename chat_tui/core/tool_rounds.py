"""A turn in rounds: a request; while the model calls tools, the calls (each approved by the
:class:`~chat_tui.core.tool_turn.ToolView`), then another request carrying their results.

Every round is a request with its own metrics, cache-doctor verdict, observer record and
stored figures: a round followed by another is stored as a ``tool_round`` request of the
conversation, the last one on the answer's own row. The exchange holds the whole turn's parts
(calls and results included); a stop between rounds keeps the results already made.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from chat_tui.core.tool_turn import RoundOutcome, ToolView, limit_line, run_calls
from chat_tui.providers.events import Part, ToolUsePart

if TYPE_CHECKING:
    from chat_tui.core.conversation import Exchange, Status
    from chat_tui.core.metrics import TurnMetrics
    from chat_tui.core.session import ChatSession, TurnResult

TextSink = Callable[[str], None]


async def run_rounds(
    session: ChatSession, exchange: Exchange, on_text: TextSink,
    on_thinking: TextSink | None, view: ToolView | None,
) -> TurnResult:  # fmt: skip
    max_tokens = session._turn_max_tokens()
    session._base = []
    rounds: list[TurnMetrics] = []
    made = 0
    while True:
        if rounds and view is not None:
            view.round_started(len(rounds) + 1)
        result = await session._round(exchange, on_text, on_thinking, view, max_tokens)
        rounds.append(result.metrics)
        calls = [p for p in exchange.parts[len(session._base) :] if isinstance(p, ToolUsePart)]
        if result.status != "complete" or result.stop_reason != "tool_use" or not calls:
            return replace(result, rounds=tuple(rounds))
        _record_round(session, result.metrics)
        outcome = RoundOutcome(made=made)
        try:
            await run_calls(
                calls, view, session.tools if session.tools_enabled else None,
                always=session.always_tools, made=made, limit=session.settings.max_tool_calls,
                out=outcome,
            )  # fmt: skip
        except asyncio.CancelledError:  # the results made so far stay
            _end_between_rounds(session, exchange, outcome.results, "stopped")
            raise
        made = outcome.made
        if outcome.stopped:
            _end_between_rounds(session, exchange, outcome.results, "stopped")
            return replace(result, status="stopped", rounds=tuple(rounds),
                           stop_note="stopped before running the tool")  # fmt: skip
        session._base = [*exchange.parts, *outcome.results]
        exchange.parts = list(session._base)
        if outcome.limited:
            _end_between_rounds(session, exchange, [], "complete")
            return replace(result, rounds=tuple(rounds), stop_note=limit_line(made))


def _record_round(session: ChatSession, metrics: TurnMetrics) -> None:
    """A round followed by another: its figures stay, as a request of the conversation (the
    message's own row gets the last round's)."""
    from chat_tui.core.session import _turn_record

    if session.store is not None:
        session.store.record_request(
            "tool_round", _turn_record(metrics, session.provider),
            conversation_id=session.conversation.id,
        )  # fmt: skip


def _end_between_rounds(
    session: ChatSession, exchange: Exchange, results: Sequence[Part], status: Status
) -> None:
    exchange.parts = [*exchange.parts, *results]
    exchange.status = status
    if session.store is not None and exchange.answer_id is not None:
        session.store.checkpoint(exchange.answer_id, exchange.parts, status)
