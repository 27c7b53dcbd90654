"""The model's thinking, above its answer: dimmed, collapsible, with a live header.

A :class:`ThinkingBlock` is an :class:`AssistantMessage` underneath (the same incremental
Markdown: finished blocks render once, only the open one re-renders), drawn in the muted
colour, under a one-line header: "▼ thinking… 4.2 s" while the model thinks (only that line
repaints as the clock runs), then "▶ thought for 4.2 s · 312 words" once the answer starts,
when the block folds to that one line unless it is pinned open. ``enter``/``space`` on the
focused block, or a click on it, folds or unfolds it; opening it pins it for this turn, and the
``[ui] thinking_open`` setting pins every block. Text is sanitised like any model text.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.strip import Strip
from textual.timer import Timer

from chat_tui.ui.widgets import markdown_blocks as mb
from chat_tui.ui.widgets.message_pane import AssistantMessage, MessagePane

TICK_S = 0.1  # the live header's refresh interval


class ThinkingBlock(AssistantMessage):
    DEFAULT_CSS = """
    ThinkingBlock {
        width: 1fr; height: auto; padding: 0 1; margin: 0 0 0 0;
        color: $text-muted; text-style: italic;
    }
    ThinkingBlock:focus { background: $boost; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter,space", "fold", "Fold / unfold", id="toggle_thinking",
                tooltip="Fold or unfold the model's thinking"),
    ]  # fmt: skip
    can_focus = True

    def __init__(
        self, *, pinned: bool = False, clock: Callable[[], float] = time.monotonic,
        flush_interval: float = 0.04, id: str | None = None,
    ) -> None:  # fmt: skip
        super().__init__("thinking", flush_interval=flush_interval, id=id)
        self.pinned = pinned  # stays open when the answer starts
        self.folded = False
        self.live = True  # the model is still thinking
        self._clock = clock
        self._began = clock()
        self._seconds: float | None = None  # frozen once the thinking ended
        self._ticker: Timer | None = None
        self._header_cache: tuple[tuple[str, Style], Strip] | None = None
        self._words: int | None = None  # counted once the thinking ended

    # -- state ---------------------------------------------------------------------------

    @property
    def seconds(self) -> float | None:
        if self._seconds is not None:
            return self._seconds
        return self._clock() - self._began if self.live else None

    def header_text(self) -> str:
        seconds = self.seconds
        took = "" if seconds is None else f" {seconds:.1f} s"
        if self.live:
            return f"▼ thinking…{took}"
        if self._words is None:
            self._words = len(self.text.split())
        words = self._words
        arrow = "▶" if self.folded else "▼"
        verb = f"thought for{took}" if took else "thinking"
        hint = " — enter to unfold" if self.folded and self.has_focus else ""
        return f"{arrow} {verb} · {words:,} words{hint}"

    def append(self, text: str) -> None:
        self._words = None
        super().append(text)

    def answer_started(self) -> None:
        """The answer began: stop the clock and fold, unless pinned open."""
        if not self.live:
            return
        self._seconds = self.seconds
        self.live = False
        self._stop_ticker()
        self.flush()
        if not self.pinned:
            self.folded = True
        self._relayout()

    def end(self) -> None:
        """The turn ended (with or without an answer): the header stops; the block stays as
        it is (a turn cut while thinking keeps its thinking in view)."""
        if self.live:
            self._seconds = self.seconds
            self.live = False
            self._stop_ticker()
        super().finish("complete")
        self._relayout()

    def load_thinking(self, text: str, seconds: float | None = None) -> None:
        """A saved turn's thinking: folded unless pinned, rendered when first shown."""
        self.live = False
        self._seconds = seconds
        self.folded = not self.pinned
        self.load(text, "complete")

    def action_fold(self) -> None:
        self.folded = not self.folded
        self.pinned = not self.folded
        self._relayout()

    def on_click(self, event: events.Click) -> None:
        event.stop()
        self.action_fold()

    def _relayout(self) -> None:
        self._footer_dirty = True  # makes _ensure recompute the height
        self._header_cache = None
        self.refresh(layout=True)

    # -- the live header -------------------------------------------------------------------

    def on_mount(self, event: events.Mount) -> None:
        super().on_mount(event)
        if self.live:
            self._ticker = self.set_interval(TICK_S, self._tick, name="thinking-clock")

    def _tick(self) -> None:
        self._header_cache = None
        self.refresh(Region(0, 0, max(1, self.size.width), 1))

    def _stop_ticker(self) -> None:
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker = None

    def on_focus(self, event: events.Focus) -> None:
        self._tick()

    def on_blur(self, event: events.Blur) -> None:
        self._tick()

    # -- rendering (see AssistantMessage) ------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._header_cache = None  # a theme switch recolours the header too

    def _footer_lines(self) -> list[tuple[str, str]]:
        return []

    def _header(self) -> Strip:
        # Keyed by the style too: a header drawn before the widget's CSS applied must not
        # keep the unstyled look once it has.
        key = (self.header_text(), self._style("note"))
        if self._header_cache is None or self._header_cache[0] != key:
            self._header_cache = (key, Strip([Segment(key[0], key[1])]))
        return self._header_cache[1]

    def _parts(self, lines: mb.BlockLines) -> tuple[Sequence[Strip], ...]:
        if self.folded:
            return ((self._header(),),)
        gap = (mb.BLANK,) if lines.lines and lines.tail else ()
        return (self._header(),), lines.lines, gap, lines.tail

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        if self.folded:
            return 1
        return super().get_content_height(container, viewport, width)

    def render_line(self, y: int) -> Strip:
        if self.folded:
            if self._style_dirty:  # the one line is the header: style it as the CSS says now
                self._check_style()
            return self._header() if y == 0 else mb.BLANK
        return super().render_line(y)


class TurnView:
    """Where one streaming turn draws: answer text into its :class:`AssistantMessage`, reasoning
    into a :class:`ThinkingBlock` put above it on the first reasoning token. The first answer
    token folds the block (unless pinned)."""

    def __init__(
        self, pane: MessagePane, answer: AssistantMessage, *, pinned: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        self.pane, self.answer = pane, answer
        self.pinned, self.clock = pinned, clock
        self.block: ThinkingBlock | None = None

    def text(self, text: str) -> None:
        block = self.block
        if block is not None and block.live:
            block.answer_started()
        self.answer.append(text)

    def thinking(self, text: str) -> None:
        if self.block is None:
            block = ThinkingBlock(pinned=self.pinned, clock=self.clock,
                                  flush_interval=self.pane.flush_interval)  # fmt: skip
            self.block = self.pane.insert_before(block, self.answer)
        self.block.append(text)

    def end(self) -> None:
        if self.block is not None:
            self.block.end()

    async def remove(self) -> None:
        if self.block is not None:
            await self.block.remove()
            self.block = None
