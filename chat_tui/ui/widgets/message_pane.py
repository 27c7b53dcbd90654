"""The conversation: user turns, streamed Markdown answers and one-line notices.

An :class:`AssistantMessage` is *one* line-API widget however long the answer: ``append``
buffers, a timer flushes every ``flush_interval``, a flush renders the blocks that became
final once and re-renders only the open one (``markdown_blocks``), then asks for a layout
only if the height changed. Following the bottom is Textual's scroll anchor. Saved answers
render when first shown. Model text goes through :func:`clean_text`, never parsed as markup.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from time import perf_counter
from typing import ClassVar, Literal, TypeVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.containers import VerticalScroll
from textual.content import Content
from textual.geometry import Region, Size
from textual.reactive import reactive
from textual.strip import Strip
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Static

from chat_tui.core.sanitize import clean_text
from chat_tui.ui.widgets import markdown_blocks as mb

FLUSH_INTERVAL = 0.04  # seconds between renders of a streaming answer
FREEZE_EVERY_S = 2.0  # at most this often, move a streaming answer's finished blocks out of GC
SHOWN = 80  # messages shown while following; older ones fold behind the "earlier" bar
CURSOR = "▍"
W = TypeVar("W", bound=Widget)
BLANK = mb.BLANK


def _freeze() -> None:
    """Conversation content lives until ``clear_messages``: keep the cycle collector's full
    collections (~100 ms with hundreds of turns, felt as a stall) from re-scanning it."""
    gc.collect(1)
    gc.freeze()


def _lines_after(parts: Sequence[Sequence[Strip]], skip: int) -> list[Strip]:
    """The lines of ``parts`` (a message's, top to bottom) after the first ``skip``."""
    out: list[Strip] = []
    for part in parts:
        if skip >= len(part):
            skip -= len(part)
        else:
            out += part[skip:]
            skip = 0
    return out


def _same_prefix(old: Sequence[Strip], new: Sequence[Strip]) -> int:
    """How many leading lines ``new`` kept from ``old`` (the same objects)."""
    n = min(len(old), len(new))
    return next((i for i in range(n) if old[i] is not new[i]), n)


class _OneLayout(Widget):
    def _size_updated(
        self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True
    ) -> bool:
        # A new size comes from a layout: no second layout for the virtual size (a reactive).
        return super()._size_updated(size, virtual_size, container_size, layout=False)


class AssistantMessage(_OneLayout):
    """One answer: streamed with :meth:`append`, closed with :meth:`finish`. ``status`` is
    "streaming" until then; ``note`` / ``error`` are the lines shown under the answer."""

    DEFAULT_CSS = """
    AssistantMessage {
        width: 1fr; height: auto; padding: 0 1; margin: 0 0 1 0;
        border-left: thick $secondary 50%;
    }
    """
    # Lines drawn as they are through a layout (see _size_updated): above this line...
    _kept: int | None = None
    _keep: Region | None = None  # ...those below, while Textual takes the new size

    def __init__(
        self, label: str = "Assistant", *, flush_interval: float = FLUSH_INTERVAL,
        name: str | None = None, id: str | None = None, classes: str | None = None,
    ) -> None:  # fmt: skip
        super().__init__(name=name, id=id, classes=classes)
        self.label = clean_text(label)
        self.status: str = "streaming"
        self.note: str | None = None
        self.error: str | None = None
        self.flush_interval = flush_interval
        self._last_flush = 0.0  # perf_counter() of the last render
        self._last_freeze = 0.0
        self.token_count = self.flush_count = 0
        self._splitter: mb.BlockSplitter | None = mb.BlockSplitter()  # None once finished
        self._pending, self._chunks = list[str](), list[str]()  # raw deltas, sanitized text
        self._timer: Timer | None = None
        self._blocks: list[mb.Block] = []
        self._lazy, self._estimate = False, (0, 0)  # lazy: an estimated (width, height) until shown
        # Line cache for one width and style: label, blocks (self._lines), footer.
        self._width = self._height = 0
        self._style_key: tuple[Style, str] | None = None
        self._style_dirty = True
        self._lines: mb.BlockLines | None = None
        self._label, self._footer = BLANK, list[Strip]()
        self._tail_dirty = self._footer_dirty = False

    @property
    def text(self) -> str:
        """Everything appended so far, sanitized."""
        return "".join(self._chunks) + clean_text("".join(self._pending))

    def append(self, text: str) -> None:
        """Add a streamed delta. Cheap: it is buffered and rendered on the next flush."""
        if not text or self._splitter is None:
            return
        self._pending.append(text)
        self.token_count += 1
        if self._timer is None and self.is_mounted:
            # Leading edge: a token after a quiet spell (the first one above all) is drawn at
            # once; within the interval, tokens are coalesced into the next flush.
            wait = self._last_flush + self.flush_interval - perf_counter()
            if wait <= 0:
                self.flush()
            else:
                self._timer = self.set_timer(wait, self.flush, name="flush")

    def flush(self) -> None:
        """Render what was appended since the last flush (normally done by the timer)."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if not self._pending or self._splitter is None:
            return
        self._last_flush = now = perf_counter()
        text = clean_text("".join(self._pending))
        self._pending.clear()
        self._chunks.append(text)
        finished = self._splitter.feed(text)
        self._blocks += finished
        self._tail_dirty = True
        self._changed()
        if finished and now - self._last_freeze > FREEZE_EVERY_S:
            # Finished blocks live as long as the conversation: keep the collector's full
            # passes, which grow with a long answer, from scanning them again.
            self._last_freeze = now
            _freeze()

    def finish(
        self, status: Literal["complete", "stopped", "interrupted", "failed"] = "complete",
        note: str | None = None, error: str | None = None,
    ) -> None:  # fmt: skip
        """Flush, freeze into the final form and show the status / error line."""
        if self._splitter is None:
            return
        self.flush()
        self._blocks += self._splitter.close()
        self._splitter = None
        self._set_status(status, note, error)
        self._changed()
        self.call_after_refresh(_freeze)

    def load(self, text: str, status: str = "complete", note: str | None = None) -> None:
        """Show a saved answer: one widget, rendered when first shown."""
        splitter, text = mb.BlockSplitter(), clean_text(text)
        self._chunks = [text]
        self._blocks = splitter.feed(text) + splitter.close()
        self._splitter = None
        self._set_status(status, note, note if status == "failed" else None)
        self._lazy = True

    def _set_status(self, status: str, note: str | None, error: str | None) -> None:
        self.status = status
        self.note = clean_text(note) if note else None
        self.error = clean_text(error) if error else None
        self._tail_dirty = self._footer_dirty = True

    def _footer_lines(self) -> list[tuple[str, str]]:
        status, note, error = self.status, self.note, self.error
        lines: list[tuple[str, str]] = [(CURSOR, "cursor")] if status == "streaming" else []
        if status == "stopped":
            lines.append(("■ " + (note or "stopped"), "warning"))
        elif status not in ("complete", "failed", "streaming"):  # interrupted, or unfinished
            default = f"interrupted — {self.token_count:,} tokens received"
            lines.append(("⚠ " + (note or default), "warning"))
        elif note and note != error:
            lines.append((note, "note"))
        if status == "failed" or error:
            lines.append(("✖ " + (error or "failed"), "error"))
        return lines

    def _style(self, name: str) -> Style:
        # On the pane: a component class is a styled DOM node per instance, costly x 1,000.
        base, pane = self._style_key[0] if self._style_key else Style(), self.parent
        if isinstance(pane, MessagePane):
            return base + pane.get_component_rich_style(f"message-pane--{name}", partial=True)
        return base

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._style_dirty = True

    def _check_style(self) -> bool:  # after a CSS update: did the base style or theme change?
        key = (self.rich_style, self.app.current_theme.name)
        self._style_dirty, self._footer_dirty = False, True
        self._label = Strip([Segment(self.label, self._style("label"))])
        if key == self._style_key:
            return False
        self._style_key, self._lines = key, None
        return True

    def _ensure(self, width: int) -> None:
        """Bring the line cache up to date for ``width``; cheap when nothing changed."""
        if width <= 0:
            return
        if self._style_dirty:
            self._check_style()
        if self._lines is None or width != self._width:
            app, base = self.app, self._style_key[0] if self._style_key else Style()
            theme, options = mb.markdown_theme(app.theme_variables), app.console_options
            options = options.update_width(width).update(highlight=False)
            self._width, self._tail_dirty, self._footer_dirty = width, True, True
            self._kept = 0
            self._lines = mb.BlockLines(
                lambda r: mb.render_strips(app.console, options, r, base, theme),
                app.current_theme.dark,
            )
        lines = self._lines
        if lines.blocks == len(self._blocks) and not (self._tail_dirty or self._footer_dirty):
            return
        while lines.blocks < len(self._blocks):
            lines.add(self._blocks[lines.blocks])
        if self._tail_dirty:
            lines.set_tail(self._splitter)
            self._tail_dirty = False
        if self._footer_dirty:
            footer = [lines.render(Text(t, self._style(n))) for t, n in self._footer_lines()]
            self._footer, self._footer_dirty = [s for strips in footer for s in strips], False
        self._height = sum(len(part) for part in self._parts(lines))

    def _parts(self, lines: mb.BlockLines) -> tuple[Sequence[Strip], ...]:
        gap = (BLANK,) if lines.lines and lines.tail else ()
        if self._splitter is not None and not lines.lines and not lines.tail:
            # Waiting for the first token: a blank line where it will go, so that drawing it
            # changes no height and needs no layout of the screen, only a repaint.
            gap = (BLANK,)
        return (self._label,), lines.lines, gap, lines.tail, self._footer

    def _changed(self) -> None:
        """Repaint after a flush / finish: a layout only if the height changed."""
        self.flush_count += 1
        lines, height = self._lines, self._height
        if not self.is_mounted or lines is None or self._lazy:
            self.refresh(layout=True)
            return
        done = 1 + len(lines.lines)  # the label and the final blocks' lines stay as they are
        before = _lines_after(self._parts(lines), done)
        self._ensure(self._width)
        if self._lines is not lines:
            self.refresh(layout=True)
            return
        # The first line that can have changed: after those, and the lines of the open block
        # that were kept (frozen, or made final as they were)
        first = done + _same_prefix(before, _lines_after(self._parts(lines), done))
        changed = Region(0, first, self._width, max(1, self._height - first))
        if self._height == height:
            self.refresh(changed)
        else:  # the lines above ``first`` stay as drawn through the layout (_size_updated)
            self._kept = first if self._kept is None else min(self._kept, first)
            self.refresh(changed, layout=True)

    def _size_updated(
        self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True
    ) -> bool:
        # Textual repaints a widget whole when its size changes. An answer grows (or loses
        # its cursor line) at the bottom: at the same width its lines above the first that
        # changed are drawn as before, and repainting all the ones shown (~0.15 ms a line)
        # made each streamed line's layout cost ~6 ms (see _set_dirty).
        kept = self._kept
        if kept and size.width == self.outer_size.width:
            self._keep = Region(0, kept, self.size.width, max(0, size.height - kept))
        try:
            return super()._size_updated(size, virtual_size, container_size, layout)
        finally:
            self._keep = self._kept = None

    def _set_dirty(self, *regions: Region) -> None:
        if not regions:
            if self._keep is not None:
                regions = (self._keep,) if self._keep.height else ()
                if not regions:
                    return
            else:
                self._kept = 0  # a whole repaint was asked for: nothing is kept
        super()._set_dirty(*regions)

    def on_mount(self, event: events.Mount) -> None:
        if self._pending and self._timer is None:
            self._timer = self.set_timer(self.flush_interval, self.flush, name="flush")

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        if not self._lazy and self._splitter is None and self._lines is not None:
            # A finished answer whose lines went stale (resize, theme): re-render when shown.
            if width != self._width:
                self._lazy = True
            elif self._style_dirty and self._check_style():
                self._lazy, self._estimate = True, (width, self._height)
        if self._lazy:
            if self._estimate[0] != width:
                lines = mb.estimate_height(self._blocks, width) + len(self._footer_lines())
                self._estimate = (width, lines)
            return self._estimate[1]
        self._ensure(width)
        return self._height

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if self._lazy and width > 0:  # first shown: render, and lay out if the guess was off
            self._lazy = False
            self._ensure(width)
            if self._height != self._estimate[1]:
                self.refresh(layout=True)
        self._ensure(width)
        for part in self._parts(self._lines) if self._lines else ():
            if y < len(part):
                return part[y]
            y -= len(part)
        return BLANK


class UserMessage(Static):
    """A user turn: plain text (never markup) under a "You" label."""

    DEFAULT_CSS = """
    UserMessage {
        width: 1fr; height: auto; padding: 0 1; margin: 0 0 1 0;
        background: $surface; border-left: thick $primary;
    }
    """

    def __init__(self, text: str, *, label: str = "You") -> None:
        self.text = clean_text(text)
        super().__init__(Content.assemble((clean_text(label), "bold $primary"), "\n", self.text))


class Notice(Static):
    """A one-line system notice (provider switched, document loaded, warnings...)."""

    DEFAULT_CSS = """
    Notice { width: 1fr; height: auto; padding: 0 1; margin: 0 0 1 0; color: $text-muted; }
    Notice.-warning { color: $warning; }
    Notice.-error { color: $error; }
    """

    def __init__(self, text: str, *, severity: str = "information") -> None:
        self.text = clean_text(text)
        icon = {"warning": "⚠ ", "error": "✖ "}.get(severity, "· ")
        super().__init__(Content(icon + self.text), classes=f"-{severity}")


class MessagePane(VerticalScroll, _OneLayout):
    """The scrolling conversation. Follows the bottom unless the user scrolls up."""

    DEFAULT_CSS = """
    MessagePane { scrollbar-gutter: stable; padding: 1 1 0 1; }
    MessagePane > #more-below {
        dock: bottom; width: 1fr; height: 1; display: none; content-align: center middle;
        background: $accent 30%; color: $text; text-style: bold;
    }
    MessagePane > #more-below:hover { background: $accent 50%; }
    MessagePane.-detached > #more-below { display: block; }
    MessagePane > #earlier { width: 1fr; color: $text-muted; content-align: center middle; }
    MessagePane > #earlier:hover { color: $text; background: $boost; }
    MessagePane > .message-pane--label { color: $secondary; text-style: bold; }
    MessagePane > .message-pane--cursor { color: $accent; }
    MessagePane > .message-pane--note { color: $text-muted; }
    MessagePane > .message-pane--warning { color: $warning; }
    MessagePane > .message-pane--error { color: $error; text-style: bold; }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        f"message-pane--{name}" for name in ("label", "cursor", "note", "warning", "error")
    }

    following: reactive[bool] = reactive(True)
    """True while pinned to the bottom (new output scrolls into view)."""

    def __init__(
        self, *, flush_interval: float = FLUSH_INTERVAL, name: str | None = None,
        id: str | None = None, classes: str | None = None,
    ) -> None:  # fmt: skip
        self._more = Static("↓ more below — end or click to follow", id="more-below")
        self._earlier = Static(id="earlier")
        self._earlier.display = False
        super().__init__(self._more, self._earlier, name=name, id=id, classes=classes)
        self.flush_interval = flush_interval
        self._to_mount: list[Widget] = []
        self._held = False  # see hold()

    def add_user(self, text: str) -> UserMessage:
        return self._add(UserMessage(text))

    def start_assistant(self, label: str = "Assistant") -> AssistantMessage:
        """An empty answer in the streaming state: feed it with ``append``."""
        return self._add(AssistantMessage(label, flush_interval=self.flush_interval))

    def add_assistant(
        self, text: str, status: str = "complete", note: str | None = None,
        label: str = "Assistant",
    ) -> AssistantMessage:  # fmt: skip
        """A finished answer (history): one widget, rendered when first shown."""
        message = AssistantMessage(label, flush_interval=self.flush_interval)
        message.load(text, status, note)
        return self._add(message)

    def add_block(self, widget: W) -> W:
        """Add any message-like widget (e.g. a saved turn's thinking) at the end."""
        return self._add(widget)

    def insert_before(self, widget: W, anchor: Widget) -> W:
        """Add ``widget`` just above ``anchor`` (e.g. the thinking above its answer)."""
        if anchor in self._to_mount:
            self._to_mount.insert(self._to_mount.index(anchor), widget)
        elif anchor.parent is self:
            self.mount(widget, before=anchor)
        else:
            self._add(widget)
        return widget

    def add_notice(self, text: str, *, severity: str = "information") -> Widget:
        return self._add(Notice(text, severity=severity))

    def hold(self) -> None:
        """Keep what is added from here on unmounted until :meth:`release`: a question's
        messages wait for its request to be on the wire (see ChatScreen._start)."""
        self._held = True

    @property
    def held(self) -> bool:
        return self._held

    def release(self) -> None:
        """Mount what was added while held (a no-op when not held)."""
        if self._held:
            self._held = False
            if self._to_mount:
                self.call_next(self._mount_batch)

    async def clear_messages(self) -> None:
        self._to_mount.clear()
        self._held = False
        gc.unfreeze()  # let the collector reclaim the old conversation (see _mount_batch)
        await self.remove_children(self._messages())
        gc.collect()
        gc.freeze()  # and keep the long-lived rest (app, SDK) out of later full passes
        self.scroll_to_latest()
        self._fold()

    def _add(self, widget: W) -> W:
        # One ``mount`` for the widgets added in a tick: one each is quadratic (500 turns: 5 s).
        self._to_mount.append(widget)
        if len(self._to_mount) == 1 and not self._held:
            self.call_next(self._mount_batch)
        return widget

    def _mount_batch(self) -> None:
        widgets, self._to_mount = self._to_mount, []
        if widgets:
            self.mount(*widgets)
            self._fold()
            if len(widgets) >= 100:  # a saved conversation, ~100 objects a widget
                self.call_after_refresh(_freeze)

    def _messages(self) -> list[Widget]:
        return [w for w in self.children if w is not self._more and w is not self._earlier]

    def _fold(self, unfold: bool = False) -> None:
        """Lay out only the newest SHOWN messages while following (a layout costs ~50 µs a
        shown widget: 500 turns, ~60 ms a streamed line); older ones fold behind the
        "earlier" bar and unfold SHOWN at a time when the user scrolls up to it."""
        messages = self._messages()
        shown, hidden = [w for w in messages if w.display], [w for w in messages if not w.display]
        if unfold and hidden:
            for widget in hidden[-SHOWN:]:
                widget.display = True
            hidden = hidden[:-SHOWN]
            if shown:  # keep the view where it was
                self.call_after_refresh(self.scroll_to_widget, shown[0], animate=False, top=True)
        elif self.following and len(shown) > SHOWN:
            for widget in shown[:-SHOWN]:
                widget.display = False
            hidden += shown[:-SHOWN]
        self._earlier.update(f"▲ {len(hidden):,} earlier messages: scroll up or click to show")
        self._earlier.display = bool(hidden)

    def on_mount(self, event: events.Mount) -> None:
        self.anchor()

    def on_unmount(self, event: events.Unmount) -> None:
        gc.unfreeze()  # see _freeze

    def on_click(self, event: events.Click) -> None:
        if event.widget is self._more:
            self.scroll_to_latest()
        elif event.widget is self._earlier:
            self._fold(unfold=True)

    def scroll_to_latest(self) -> None:
        """Jump to the bottom and follow new output again."""
        self.following = True
        self.anchor()

    def release_anchor(self) -> None:
        """Textual calls this when the user scrolls: stop following."""
        super().release_anchor()
        self.following = False
        self.call_after_refresh(self._check_bottom)

    def _check_bottom(self) -> None:
        if not self.following and self.scroll_y >= self.max_scroll_y:
            self.scroll_to_latest()  # scrolled, but not away from the bottom

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if not self.following and new_value >= self.max_scroll_y:
            self.following = True  # back at the bottom (Textual re-anchors itself)
        elif new_value <= 0 < old_value and not self.following and self._earlier.display:
            self._fold(unfold=True)

    def watch_following(self, following: bool) -> None:
        self.set_class(not following, "-detached")
        if following:
            self._fold()
