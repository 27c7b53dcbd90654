"""The key bar: Textual's ``Footer``, redrawn only when the keys it shows change.

Textual's Footer rebuilds itself on every bindings signal: it removes every key widget, mounts
new ones, and the screen is laid out again. A profile of chat-tui's start (benchmarks/
profile_enter.py) showed three such rebuilds in a row before the key bar first appeared, and
two more between Enter and the first token of an answer, each followed by a layout of the
whole screen. This footer coalesces a burst of signals into one check after the next refresh
and rebuilds only if the keys shown (key, label, enabled, tooltip) differ from those drawn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.message import Message
from textual.widgets import Footer

if TYPE_CHECKING:
    from textual.screen import Screen
    from textual.timer import Timer

Shown = tuple[tuple[str, str, bool, str], ...]


class KeyBar(Footer):
    class Drawn(Message):
        """Posted once, after the frame that first showed the keys: the first screen is
        complete (the chat screen starts its background work then, not before)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._drawn: Shown | None = None  # the keys of the last compose
        self._check_pending = False
        self._hold: Timer | None = None
        self.rebuilds = 0  # how many times the keys were rebuilt (for the curious and tests)

    def shown_keys(self) -> Shown:
        """The keys the footer would show now."""
        keys = [
            (binding.key, binding.description, enabled, tooltip or "")
            for _, binding, enabled, tooltip in self.screen.active_bindings.values()
            if binding.show
        ]
        palette = self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE
        return (*keys, ("palette", "", bool(palette), ""))

    def hold(self, seconds: float) -> None:
        """Redraw no keys for ``seconds`` (say, a turn's first moments, when the request and
        the first token must not wait for a layout); what changed meanwhile is drawn then.
        The keys themselves work throughout: only their labels wait."""
        if self._hold is not None:
            self._hold.stop()
        self._hold = self.set_timer(seconds, self._release)

    def release(self) -> None:
        """End a hold now (the turn it covered is over) and draw the keys as they are."""
        if self._hold is not None:
            self._hold.stop()
            self._hold = None
            if self.is_attached:
                self.call_later(self._release)

    def _release(self) -> None:
        self._hold = None
        self.bindings_changed(self.screen)

    def bindings_changed(self, screen: Screen[object]) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus:
            return
        if self.is_attached and screen is self.screen and not self._check_pending:
            self._check_pending = True
            self.call_after_refresh(self._rebuild_if_changed)

    async def _rebuild_if_changed(self) -> None:
        self._check_pending = False
        if not self.is_attached or self._hold is not None:
            return
        shown = self.shown_keys()
        if shown != self._drawn:
            self._drawn = shown
            self.rebuilds += 1
            await self.recompose()
            if self.rebuilds == 1:
                self.call_after_refresh(self.post_message, self.Drawn())
