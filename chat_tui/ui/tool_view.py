"""The TUI's :class:`~chat_tui.core.tool_turn.ToolView`: each tool call becomes a
:class:`ToolCallBlock` in the pane as it forms, asks for approval there, then shows its result;
each new round of the turn answers in a new message below the calls."""

from __future__ import annotations

from collections.abc import Sequence

from textual.widget import Widget

from chat_tui.core.tool_turn import Decision
from chat_tui.providers.events import (
    Part,
    ToolCallDelta,
    ToolCallStart,
    ToolResultPart,
    ToolUsePart,
)
from chat_tui.ui.widgets.message_pane import MessagePane
from chat_tui.ui.widgets.thinking_block import TurnView
from chat_tui.ui.widgets.tool_call import ToolCallBlock


class TuiToolView:
    def __init__(self, pane: MessagePane, turn: TurnView) -> None:
        self.pane = pane
        self.turn = turn
        self.blocks: list[ToolCallBlock] = []  # every call of the turn, in order
        self._by_index: dict[int, ToolCallBlock] = {}  # this round's, by stream index
        self._by_id: dict[str, ToolCallBlock] = {}
        self.added: list[Widget] = []  # every widget this turn added (a retry removes them)

    def _new_block(self, name: str) -> ToolCallBlock:
        block = ToolCallBlock(name, flush_interval=self.pane.flush_interval)
        self.pane.add_block(block)
        self.blocks.append(block)
        self.added.append(block)
        return block

    def call_started(self, event: ToolCallStart) -> None:
        answer = self.turn.answer
        if self.turn.block is not None and self.turn.block.live:
            self.turn.block.answer_started()  # the thinking ended: fold it
        answer.flush()
        block = self._new_block(event.name)
        self._by_index[event.index] = block
        if event.id:
            self._by_id[event.id] = block

    def call_arguments(self, event: ToolCallDelta) -> None:
        block = self._by_index.get(event.index)
        if block is not None:
            block.append_arguments(event.text)

    def _block_for(self, call: ToolUsePart) -> ToolCallBlock:
        block = self._by_id.get(call.id)
        if block is None:
            formed = set(self._by_id.values())
            block = next((b for b in self._by_index.values() if b not in formed), None)
            block = block or self._new_block(call.name)
            self._by_id[call.id] = block
        return block

    def call_ended(self, call: ToolUsePart) -> None:
        self._block_for(call).formed(call.arguments)

    async def approve(self, call: ToolUsePart) -> Decision:
        return await self._block_for(call).ask()

    def call_result(self, call: ToolUsePart, result: ToolResultPart) -> None:
        self._block_for(call).show_result(result)

    def round_started(self, number: int) -> None:
        """The next request: its answer goes in a new message below the calls; the last
        round's message is closed, or removed when it said nothing."""
        turn = self.turn
        old = turn.answer
        old.flush()
        if old.text.strip():
            old.finish("complete")
        else:
            self.pane.call_next(old.remove)
        if turn.block is not None:
            turn.block.end()
            self.added.append(turn.block)
            turn.block = None
        turn.answer = self.pane.start_assistant()
        self.added.append(turn.answer)
        self._by_index.clear()

    def stopped(self) -> None:
        for block in self.blocks:
            block.stopped()

    async def remove(self) -> None:
        for widget in self.added:
            if widget.is_mounted:
                await widget.remove()
        self.added.clear()


def add_saved_calls(pane: MessagePane, parts: Sequence[Part]) -> None:
    """A saved turn's tool calls, each with its result, as finished blocks."""
    results = {p.tool_use_id: p for p in parts if isinstance(p, ToolResultPart)}
    for part in parts:
        if isinstance(part, ToolUsePart):
            block = ToolCallBlock(part.name, flush_interval=pane.flush_interval)
            block.formed(part.arguments)
            result = results.get(part.id)
            if result is not None:
                block.show_result(result)
            else:
                block.status = "stopped"
            pane.add_block(block)
