"""The key bar: every key the screen shows, drawn as one line by one widget.

Textual's Footer composes a ``FooterKey`` widget per key (in a scrolling container), each with its
own CSS, and recomposes them all on every bindings signal; its keys come a frame after the first.
This bar draws the line itself, in Footer's look (its theme variables and spacing), maps a click
or the mouse pointer to the key under it, and draws its keys when mounted, so the first frame has
them. Measured (headless starts of the real app, 11 interleaved, medians): spawn → first frame
with the keys 789 ms, 904 ms with Footer; a Static showing the same text does no better. Then
it coalesces a burst of bindings signals into one check after the next refresh, and repaints the
line only when the keys shown (key, label, enabled, tooltip) change: a repaint, never a layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual import events
from textual.content import Content
from textual.message import Message
from textual.widget import Widget

if TYPE_CHECKING:
    from textual.screen import Screen
    from textual.timer import Timer


@dataclass(frozen=True)
class Key:
    """One key as shown: ``key`` is what a click presses, ``label`` how it is written."""

    key: str
    label: str
    description: str
    enabled: bool
    tooltip: str


@dataclass(frozen=True)
class Shown:
    """The keys shown: the screen's, from the left, and the command palette's at the right."""

    keys: tuple[Key, ...] = ()
    palette: Key | None = None


class KeyBar(Widget, can_focus=False):
    ALLOW_SELECT = False
    COMPONENT_CLASSES = {
        "key-bar--key", "key-bar--description", "key-bar--item", "key-bar--hover",
        "key-bar--disabled", "key-bar--separator",
    }  # fmt: skip
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        color: $footer-foreground;
        background: $footer-background;
        text-wrap: nowrap;
        text-overflow: clip;
        .key-bar--key {
            color: $footer-key-foreground;
            background: $footer-key-background;
            text-style: bold;
        }
        .key-bar--description {
            color: $footer-description-foreground;
            background: $footer-description-background;
        }
        .key-bar--item { background: $footer-item-background; }
        .key-bar--hover { background: $block-hover-background; }
        .key-bar--disabled { text-style: dim; }
        .key-bar--separator { color: $foreground 20%; }
    }
    """

    class Drawn(Message):
        """Posted once, after the frame that first showed the keys: the first screen is
        complete (the chat screen starts its background work then, not before)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.shown = Shown()  # the keys drawn
        self.redraws = 0  # how many times the keys shown changed and were drawn
        self._spans: list[tuple[int, int, Key]] = []  # (start, end, key) as last rendered
        self._hover: Key | None = None  # the key under the mouse pointer
        self._check_pending = False
        self._hold: Timer | None = None

    def shown_keys(self) -> Shown:
        """The keys the bar would show now: as Footer, one per action, then the palette's."""
        keys: dict[str, Key] = {}
        bindings = self.screen.active_bindings
        for _, binding, enabled, tooltip in bindings.values():
            if binding.show and binding.action not in keys:
                label = self.app.get_key_display(binding)
                keys[binding.action] = Key(binding.key, label, binding.description, enabled,
                                           tooltip or "")  # fmt: skip
        palette = bindings.get(self.app.COMMAND_PALETTE_BINDING)
        if not self.app.ENABLE_COMMAND_PALETTE or palette is None:
            return Shown(tuple(keys.values()))
        _, binding, enabled, _ = palette
        hint = Key(binding.key, self.app.get_key_display(binding), binding.description, enabled,
                   binding.tooltip or binding.description)  # fmt: skip
        return Shown(tuple(keys.values()), hint)

    # -- drawing and the mouse -----------------------------------------------------------

    def render(self) -> Content:
        hint: Content | None = None
        room = self.size.width
        if (palette := self.shown.palette) is not None:
            hint = self._part(palette, palette.label, f" {palette.description} ")
            room = max(0, room - 1 - hint.cell_length)  # the keys are cut there
        # Footer's spacing, or one space less a key when that does not fit (80 columns).
        for compact in (False, True):
            line, self._spans = Content(""), []
            for key in self.shown.keys:
                label, description = (
                    (key.label, f" {key.description} ") if compact
                    else (f" {key.label} ", f"{key.description} ")
                )  # fmt: skip
                line = self._add(line, key, self._part(key, label, description))
            if line.cell_length <= room:
                break
        if palette is not None and hint is not None:
            self._spans = [(a, min(b, room), k) for a, b, k in self._spans if a < room]
            line = line.truncate(room, pad=True) + Content.styled("▏", ".key-bar--separator")
            line = self._add(line, palette, hint)
        return line

    def _add(self, line: Content, key: Key, part: Content) -> Content:
        self._spans.append((line.cell_length, line.cell_length + part.cell_length, key))
        return line + part

    def _part(self, key: Key, label: str, description: str) -> Content:
        """A key as Footer draws it: the key in bold, then its description (if any)."""
        if not key.description:
            label, description = label.strip(), ""
        part = Content.assemble((label, ".key-bar--key"), (description, ".key-bar--description"))
        part = part.stylize_before(".key-bar--hover" if key == self._hover else "")
        part = part.stylize_before(".key-bar--item")  # under the hover's background
        return part if key.enabled else part.stylize(".key-bar--disabled")

    def key_at(self, x: int) -> Key | None:
        """The key drawn at column ``x`` (as last rendered), if any."""
        return next((key for start, end, key in self._spans if start <= x < end), None)

    def on_mouse_move(self, event: events.MouseMove) -> None:
        self._set_hover(self.key_at(event.x))

    def on_leave(self, event: events.Leave) -> None:
        self._set_hover(None)

    def on_mouse_down(self, event: events.MouseDown) -> None:
        """As Footer: a press on a key presses it (a disabled one rings the bell)."""
        if (key := self.key_at(event.x)) is not None:
            if key.enabled:
                self.app.simulate_key(key.key)
            else:
                self.app.bell()

    def _set_hover(self, key: Key | None) -> None:
        if key != self._hover:
            self._hover = key
            self.tooltip = key.tooltip if key is not None and key.tooltip else None
            self.styles.pointer = "default" if key is None else "pointer"
            self.refresh()

    # -- when to redraw ------------------------------------------------------------------

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self.bindings_changed)
        self._redraw_if_changed()  # the keys in the first frame

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def hold(self, seconds: float) -> None:
        """Redraw no keys for ``seconds`` (say, a turn's first moments, when the request and
        the first token must not wait for a redraw); what changed meanwhile is drawn then.
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
        if not screen.app.app_focus:
            return
        if self.is_attached and screen is self.screen and not self._check_pending:
            self._check_pending = True
            self.call_after_refresh(self._redraw_if_changed)

    def _redraw_if_changed(self) -> None:
        self._check_pending = False
        if not self.is_attached or self._hold is not None:
            return
        shown = self.shown_keys()
        if shown != self.shown:
            self.shown = shown
            self.redraws += 1
            self._set_hover(None)  # as Footer's new key widgets: no hover until the mouse moves
            self.refresh()  # one line, the same height: a repaint, no layout
            if self.redraws == 1:
                self.call_after_refresh(self.post_message, self.Drawn())
