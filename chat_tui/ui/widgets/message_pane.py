"""The conversation: user turns, streamed Markdown answers and one-line notices.

Streaming cost is the design driver. An :class:`AssistantMessage` is *one* line-API widget,
whatever the length of the answer:

* ``append`` only buffers; a one-shot timer flushes every ``flush_interval`` (40 ms), so the
  per-token cost is a list append;
* a flush feeds the coalesced text to a :class:`BlockSplitter`: blocks that became final are
  rendered once into strips (lines) that are never touched again; only the open block (the
  tail) is re-rendered, and a huge open code block or paragraph is itself frozen in chunks,
  so the per-flush cost does not grow with the answer;
* the widget's height changes only when a line is added; otherwise the flush repaints just
  the changed lines. Following the bottom is Textual's scroll *anchor*, applied by the
  compositor during layout: no scroll calls per token or per flush.

A finished answer stays the same single widget (no live tree of block widgets). History
answers render lazily: an estimated height until they are first shown, and the pane renders
the rest from the bottom up in small idle batches.

All model text goes through :func:`clean_text` and is rendered as Markdown or plain Text,
never as console markup.
"""

from __future__ import annotations

from time import perf_counter
from typing import ClassVar, Literal

from rich.cells import cell_len
from rich.console import RenderableType
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
from chat_tui.ui.widgets.markdown_blocks import (
    Block,
    BlockSplitter,
    ChatMarkdown,
    FastCode,
    block_renderable,
    code_theme,
    find_soft_cut,
)

Status = Literal["complete", "stopped", "interrupted", "failed"]

FLUSH_INTERVAL = 0.04  # seconds between renders of a streaming answer
CODE_CHUNK = 16  # lines of an open code block frozen at a time
TEXT_LIMIT = 1200  # an open paragraph / list longer than this is frozen in pieces...
TEXT_KEEP = 300  # ...leaving about this much live
CURSOR = "▍"
_EMPTY = Strip([])
_NULL = Style()
_FALLBACK_STYLES = {"label": Style(bold=True), "error": Style(bold=True, color="red")}


class _Tail:
    """Render cache of the open block: pieces frozen once, plus the live rest."""

    def __init__(self, key: tuple[int, bool]) -> None:
        self.key = key
        self.frozen: list[Strip] = []
        self.done = 0  # code lines (code) or characters (text) already frozen


class AssistantMessage(Widget):
    """One answer: streamed with :meth:`append`, closed with :meth:`finish`."""

    DEFAULT_CSS = """
    AssistantMessage {
        width: 1fr;
        height: auto;
        padding: 0 1;
        margin: 0 0 1 0;
        border-left: thick $primary 40%;
    }
    """

    def __init__(
        self, label: str = "Assistant", *, flush_interval: float = FLUSH_INTERVAL,
        name: str | None = None, id: str | None = None, classes: str | None = None,
    ) -> None:  # fmt: skip
        super().__init__(name=name, id=id, classes=classes)
        self.label = clean_text(label)
        self.status: str = "streaming"
        self.flush_interval = flush_interval
        self.token_count = 0  # non-empty deltas appended
        self.flush_count = 0
        self.block_renders = 0  # final blocks rendered (each exactly once per width / theme)
        self._note: str | None = None
        self._error: str | None = None
        self._splitter = BlockSplitter()
        self._pending: list[str] = []
        self._chunks: list[str] = []
        self._timer: Timer | None = None
        self._blocks: list[Block] = []
        self._renderables: list[RenderableType | None] = []
        self._lazy = False
        # Render cache, valid for (_width, _base, _dark).
        self._width = 0
        self._base = Style()
        self._dark = True
        self._style_dirty = True
        self._label_strip = _EMPTY
        self._body: list[Strip] = []
        self._done = 0  # blocks rendered into _body
        self._tail_cache: _Tail | None = None
        self._tail: list[Strip] = []
        self._tail_dirty = False
        self._footer: list[Strip] = []
        self._footer_dirty = True
        self._cursor_y = -1
        self._cursor_strip = _EMPTY
        self._height = 0
        self._invalidated = False
        self._estimate: tuple[int, int] = (0, 0)

    # -- public API ----------------------------------------------------------------------

    @property
    def text(self) -> str:
        """Everything appended so far, sanitized."""
        return "".join(self._chunks) + clean_text("".join(self._pending))

    @property
    def error(self) -> str | None:
        """The one-line error shown under a failed or interrupted answer."""
        return self._error

    @property
    def note(self) -> str | None:
        return self._note

    def append(self, text: str) -> None:
        """Add a streamed delta. Cheap: it is buffered and rendered on the next flush."""
        if not text or self.status != "streaming":
            return
        self._pending.append(text)
        self.token_count += 1
        if self._timer is None and self.is_mounted:
            self._timer = self.set_timer(self.flush_interval, self.flush, name="flush")

    def flush(self) -> None:
        """Render what was appended since the last flush (normally done by the timer)."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if not self._pending:
            return
        text = clean_text("".join(self._pending))
        self._pending.clear()
        self._chunks.append(text)
        self._add_blocks(self._splitter.feed(text))
        self._tail_dirty = True
        self._changed()

    def finish(
        self, status: Status = "complete", note: str | None = None, error: str | None = None
    ) -> None:
        """Flush, freeze into the final form and show the status / error line."""
        if self.status != "streaming":
            return
        self.flush()
        self._add_blocks(self._splitter.close())
        self._splitter = BlockSplitter()
        self._tail_cache, self._tail, self._tail_dirty = None, [], False
        self._set_status(status, note, error)
        self._changed()

    def load(self, text: str, status: str = "complete", note: str | None = None) -> None:
        """Show a saved answer (before mounting): rendered lazily, once."""
        text = clean_text(text)
        self._chunks = [text]
        splitter = BlockSplitter()
        self._add_blocks(splitter.feed(text) + splitter.close())
        self._set_status(status, note, note if status == "failed" else None)
        self._lazy = True

    # -- state ---------------------------------------------------------------------------

    def _set_status(self, status: str, note: str | None, error: str | None) -> None:
        self.status = status
        self._note = clean_text(note) if note else None
        self._error = clean_text(error) if error else None
        self._footer_dirty = True

    def _add_blocks(self, blocks: list[Block]) -> None:
        if blocks:
            self._blocks.extend(blocks)
            self._renderables.extend([None] * len(blocks))
            self._tail_cache = None

    def _footer_lines(self) -> list[tuple[str, str]]:
        status, note, error = self.status, self._note, self._error
        lines: list[tuple[str, str]] = []
        if status == "stopped":
            lines.append(("■ " + (note or "stopped"), "warning"))
        elif status == "interrupted":
            default = f"interrupted — {self.token_count:,} tokens received"
            lines.append(("⚠ " + (note or default), "warning"))
        elif status == "failed":
            if note and note != error:
                lines.append((note, "note"))
        elif status not in ("streaming", "complete"):
            lines.append(("⚠ " + (note or f"{status}: the answer may be incomplete"), "warning"))
        elif note:
            lines.append((note, "note"))
        if status == "failed" or error:
            lines.append(("✖ " + (error or "failed"), "error"))
        return lines

    # -- rendering -----------------------------------------------------------------------

    def _strips(self, renderable: RenderableType, width: int) -> list[Strip]:
        app = self.app
        options = app.console_options.update_width(width).update(highlight=False)
        lines = app.console.render_lines(renderable, options, style=self._base, pad=False)
        if isinstance(renderable, ChatMarkdown):  # drop Markdown's blank edges: we add gaps
            bg = self._base.bgcolor

            def blank(line: list[Segment]) -> bool:
                return all(not s.text.strip() and (s.style or _NULL).bgcolor == bg for s in line)

            while lines and blank(lines[-1]):
                lines.pop()
            start = 0
            while start < len(lines) and blank(lines[start]):
                start += 1
            lines = lines[start:]
        return [Strip(line) for line in lines]

    def _component(self, name: str) -> Style:
        # The styles live on the pane: component classes cost a styled DOM node each, per
        # instance, which is most of the cost of mounting hundreds of saved answers.
        pane = self.parent
        if isinstance(pane, MessagePane):
            return self._base + pane.get_component_rich_style(f"message-pane--{name}", partial=True)
        return self._base + _FALLBACK_STYLES.get(name, _NULL)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._style_dirty = True

    def _invalidate(self) -> None:
        self._invalidated = True
        self._body, self._done = [], 0
        self._tail_cache, self._tail_dirty = None, True
        self._footer_dirty = True

    def _ensure(self, width: int) -> None:
        """Bring the line cache up to date for ``width``; cheap when nothing changed."""
        if width <= 0:
            return
        if self._style_dirty:
            self._style_dirty = False
            base, dark = self.rich_style, self.app.current_theme.dark
            if (base, dark) != (self._base, self._dark):
                self._base, self._dark = base, dark
                self._invalidate()
            self._label_strip = Strip([Segment(self.label, self._component("label"))])
            self._footer_dirty = True
        if width != self._width:
            self._width = width
            self._invalidate()
        changed = False
        while self._done < len(self._blocks):
            renderable = self._renderables[self._done]
            if renderable is None:
                renderable = block_renderable(self._blocks[self._done], self._dark)
                self._renderables[self._done] = renderable
            if self._body:
                self._body.append(_EMPTY)
            self._body.extend(self._strips(renderable, width))
            self.block_renders += 1
            self._done += 1
            changed = True
        if self._tail_dirty:
            self._tail = self._render_tail(width) if self.status == "streaming" else []
            self._tail_dirty = False
            changed = True
        if self._footer_dirty:
            self._footer = [
                strip
                for text, style in self._footer_lines()
                for strip in self._strips(Text(text, self._component(style)), width)
            ]
            self._footer_dirty = False
            changed = True
        if changed:
            self._place_cursor(width)

    def _render_tail(self, width: int) -> list[Strip]:
        splitter = self._splitter
        key = (splitter.block_id, splitter.in_code)
        cache = self._tail_cache
        if cache is None or cache.key != key:
            cache = self._tail_cache = _Tail(key)
        if splitter.in_code:
            lines, theme, lang = splitter.open_lines, code_theme(self._dark), splitter.lang
            while len(lines) - cache.done >= CODE_CHUNK:
                chunk = "\n".join(lines[cache.done : cache.done + CODE_CHUNK])
                top = cache.done == 0
                cache.frozen += self._strips(
                    FastCode(chunk, lang, theme, top=top, bottom=False), width
                )
                cache.done += CODE_CHUNK
            rest = lines[cache.done :]
            if partial := splitter.partial:
                rest = [*rest, partial]
            live = FastCode("\n".join(rest), lang, theme, top=cache.done == 0)
            return cache.frozen + self._strips(live, width)
        text = splitter.tail_text()
        while len(text) - cache.done > TEXT_LIMIT:
            cut = find_soft_cut(text, cache.done, len(text) - TEXT_KEEP)
            if cut is None or cut <= cache.done:
                break
            piece = ChatMarkdown(text[cache.done : cut], code_theme=code_theme(self._dark))
            cache.frozen += self._strips(piece, width)
            cache.done = cut
        remainder = text[cache.done :]
        if not remainder.strip():
            return list(cache.frozen)
        markdown = ChatMarkdown(remainder, code_theme=code_theme(self._dark))
        return cache.frozen + self._strips(markdown, width)

    def _place_cursor(self, width: int) -> None:
        body, tail = self._body, self._tail
        gap = 1 if body and tail else 0
        self._height = 1 + len(body) + gap + len(tail) + len(self._footer)
        self._cursor_y = -1
        if self.status != "streaming":
            return
        last = tail[-1] if tail else body[-1] if body else None
        if last is None:  # nothing yet: the cursor alone on the first content line
            self._height += 1
            self._cursor_y = 1
            self._cursor_strip = Strip([Segment(CURSOR, self._component("cursor"))])
            return
        text = last.text.rstrip()
        if cell_len(text) < width - 1:
            self._cursor_y = 1 + len(body) + gap + len(tail) - 1 if tail else len(body)
            cursor = Strip([Segment(CURSOR, self._component("cursor"))])
            self._cursor_strip = Strip.join([last.crop(0, cell_len(text)), cursor])

    def _changed(self) -> None:
        """Repaint after a flush / finish: a layout only if the height changed."""
        self.flush_count += 1
        if not self.is_mounted or self._width <= 0 or self._lazy:
            self.refresh(layout=True)
            return
        old_height, old_cursor, first = self._height, self._cursor_y, 1 + len(self._body)
        self._invalidated = False
        self._ensure(self._width)
        if self._height != old_height or self._invalidated:
            self.refresh(layout=True)
            return
        for y in (old_cursor, self._cursor_y):
            if 0 <= y < first:
                first = y
        if first < self._height:
            self.refresh(Region(0, first, self._width, self._height - first))

    # -- Textual hooks -------------------------------------------------------------------

    def _on_mount(self, event: events.Mount) -> None:
        if self._pending and self._timer is None:
            self._timer = self.set_timer(self.flush_interval, self.flush, name="flush")

    def get_content_width(self, container: Size, viewport: Size) -> int:
        return container.width

    def _size_updated(
        self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True
    ) -> bool:
        # A new size comes *from* a layout: do not let the virtual size ask for another one.
        return super()._size_updated(size, virtual_size, container_size, layout=False)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        if self._lazy:
            return self._estimated_height(width)
        self._ensure(width)
        return self._height

    def _estimated_height(self, width: int) -> int:
        if self._estimate[0] != width:
            width_ = max(1, width - 2)
            height = len(self._footer_lines()) + len(self._blocks)
            for block in self._blocks:
                lines = block.text.split("\n")
                height += sum(max(1, -(-len(line) // width_)) for line in lines)
                height += 2 if block.kind == "code" else 0
            self._estimate = (width, height)
        return self._estimate[1]

    def prerender(self) -> None:
        """Render a lazily loaded answer now (the pane does this in idle batches)."""
        if self._lazy and self.is_mounted and self.size.width > 0:
            estimate = self._estimated_height(self.size.width)
            self._lazy = False
            self._ensure(self.size.width)
            if self._height != estimate:
                self.refresh(layout=True)

    def render_line(self, y: int) -> Strip:
        if self._lazy:
            self.prerender()
        self._ensure(self.size.width)
        if y == self._cursor_y:
            return self._cursor_strip
        if y == 0:
            return self._label_strip
        y -= 1
        body = self._body
        if y < len(body):
            return body[y]
        y -= len(body) + (1 if body and self._tail else 0)
        if 0 <= y < len(self._tail):
            return self._tail[y]
        y -= len(self._tail)
        if 0 <= y < len(self._footer):
            return self._footer[y]
        return _EMPTY


class UserMessage(Static):
    """A user turn: plain text (never markup) under a "You" label."""

    DEFAULT_CSS = """
    UserMessage {
        width: 1fr;
        height: auto;
        padding: 0 1;
        margin: 0 0 1 0;
        background: $boost;
        border-left: thick $accent;
    }
    """

    def __init__(self, text: str, *, label: str = "You") -> None:
        self.text = clean_text(text)
        super().__init__(Content.assemble((clean_text(label), "bold $accent"), "\n", self.text))


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


class MoreBelow(Static):
    """The "more below" bar shown while the user has scrolled away from the bottom."""

    DEFAULT_CSS = """
    MoreBelow {
        dock: bottom;
        width: 1fr;
        height: 1;
        display: none;
        content-align: center middle;
        background: $accent 30%;
        color: $text;
        text-style: bold;
    }
    MoreBelow:hover { background: $accent 50%; }
    """

    def on_click(self, event: events.Click) -> None:
        event.stop()
        if isinstance(self.parent, MessagePane):
            self.parent.scroll_to_latest()


class MessagePane(VerticalScroll):
    """The scrolling conversation. Follows the bottom unless the user scrolls up."""

    DEFAULT_CSS = """
    MessagePane { scrollbar-gutter: stable; padding: 1 1 0 1; }
    MessagePane.-detached > MoreBelow { display: block; }
    MessagePane > .message-pane--label { color: $primary; text-style: bold; }
    MessagePane > .message-pane--cursor { color: $accent; }
    MessagePane > .message-pane--note { color: $text-muted; }
    MessagePane > .message-pane--warning { color: $warning; }
    MessagePane > .message-pane--error { color: $error; text-style: bold; }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "message-pane--label",
        "message-pane--cursor",
        "message-pane--note",
        "message-pane--warning",
        "message-pane--error",
    }

    following: reactive[bool] = reactive(True)
    """True while pinned to the bottom (new output scrolls into view)."""

    def __init__(
        self, *, flush_interval: float = FLUSH_INTERVAL, name: str | None = None,
        id: str | None = None, classes: str | None = None,
    ) -> None:  # fmt: skip
        self._more = MoreBelow("↓ more below — end or click to follow")
        super().__init__(self._more, name=name, id=id, classes=classes)
        self.flush_interval = flush_interval
        self._lazy: list[AssistantMessage] = []
        self._to_mount: list[Widget] = []
        self._draining = False

    # -- adding content ------------------------------------------------------------------

    def _add(self, widget: Widget) -> None:
        """Mount soon, in one batch with the other widgets added meanwhile (a conversation
        of 500 turns is 1,000 widgets; one ``mount`` each would be quadratic)."""
        self._to_mount.append(widget)
        if len(self._to_mount) == 1:
            self.call_next(self._mount_batch)

    def _mount_batch(self) -> None:
        widgets, self._to_mount = self._to_mount, []
        if widgets:
            self.mount(*widgets)

    def add_user(self, text: str) -> UserMessage:
        message = UserMessage(text)
        self._add(message)
        return message

    def start_assistant(self, label: str = "Assistant") -> AssistantMessage:
        """Mount an empty answer in the streaming state; feed it with ``append``."""
        message = AssistantMessage(label, flush_interval=self.flush_interval)
        self._add(message)
        return message

    def add_assistant(
        self, text: str, status: str = "complete", note: str | None = None,
        label: str = "Assistant",
    ) -> AssistantMessage:  # fmt: skip
        """A finished answer (history): one widget, rendered lazily."""
        message = AssistantMessage(label, flush_interval=self.flush_interval)
        message.load(text, status, note)
        self._add(message)
        self._lazy.append(message)
        if not self._draining:
            self._draining = True
            self.call_after_refresh(self._drain_lazy)
        return message

    def add_notice(self, text: str, *, severity: str = "information") -> Widget:
        notice = Notice(text, severity=severity)
        self._add(notice)
        return notice

    async def clear_messages(self) -> None:
        self._lazy.clear()
        self._to_mount.clear()
        await self.remove_children([child for child in self.children if child is not self._more])
        self.scroll_to_latest()

    def _drain_lazy(self) -> None:
        """Render lazily loaded answers, newest first, ~20 ms at a time."""
        deadline = perf_counter() + 0.02
        while self._lazy and perf_counter() < deadline:
            message = self._lazy.pop()
            if message.is_attached:
                message.prerender()
        if self._lazy:
            self.set_timer(0.03, self._drain_lazy)
        else:
            self._draining = False

    def _size_updated(
        self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True
    ) -> bool:
        # Our virtual height changes with every streamed line, and Textual answers that with
        # a second full layout (``virtual_size`` is a layout reactive) that nothing here needs:
        # the scrollbar gutter is stable and a scrollbar showing up still asks for its own.
        return super()._size_updated(size, virtual_size, container_size, layout=False)

    # -- following the bottom ------------------------------------------------------------

    def _on_mount(self, event: events.Mount) -> None:
        self.anchor()

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
            self.scroll_to_latest()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if not self.following and new_value >= self.max_scroll_y:
            self.following = True  # back at the bottom (Textual re-anchors itself)

    def watch_following(self, following: bool) -> None:
        self.set_class(not following, "-detached")
