"""The metrics side panel: provider, document, last turn, cache countdown, cost, latency.

The panel is thin: it draws plain :class:`PanelData` it is given (after each turn, provider
switch or document load, never per token) and polls one callable for the cache state once a
tick. Its lines are built in :mod:`~chat_tui.ui.widgets.panel_sections`; here one widget,
:class:`PanelBody`, draws them all as one :class:`~textual.content.Content` at its width
(the prompt bar and the latency sparkline fill it), inside a scrolling container. One widget
rather than one per heading and line group: each widget costs a message pump, CSS matching
and layout, which made the panel the most expensive part of the first frame.

The chat screen's first frame has the panel empty: its lines need the session and the core
(metrics, pricing), built just after that frame, and :mod:`panel_sections` is imported then.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, cast

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.css.styles import RulesMap
from textual.geometry import Region, Size
from textual.strip import Strip
from textual.visual import Visual
from textual.widget import Widget

if TYPE_CHECKING:
    from chat_tui.core.metrics import CacheState
    from chat_tui.ui.widgets.panel_sections import PanelData, Part

__all__ = ["MetricsPanel", "PanelBody"]


class _Drawn:
    """The panel at one width: its lines, and how many rows each takes (a long one wraps)."""

    def __init__(self, width: int, rows: list[tuple[Content, int]]) -> None:
        self.width = width
        self.lines = [line for line, _ in rows]
        self.heights = [height for _, height in rows]

    @cached_property
    def content(self) -> Content:
        return Content("\n").join(self.lines)


class PanelBody(Widget):
    """Every line of the panel, drawn as one Content at the widget's width. Its height is
    its number of rows, so the panel scrolls when the terminal is short. The rows are kept
    between frames: a change of a line that keeps its row (the countdown, once a second)
    redraws that row alone."""

    DEFAULT_CSS = "PanelBody { width: 1fr; height: auto; }"

    def __init__(self, parts: dict[str, Part]) -> None:
        super().__init__()
        self._parts = parts
        self._drawn: _Drawn | None = None
        # Each piece's lines and rows, by identity, at one width: a tick changes one part.
        self._pieces: tuple[int, dict[int, tuple[Content, list[tuple[Content, int]]]]] = (0, {})
        self._strips: tuple[object, list[Strip]] | None = None  # (drawn for what, the rows)

    def content_at(self, width: int) -> Content:
        return self._drawn_at(width).content

    def part(self, name: str) -> Content | None:
        """One part at the current width; None when it is hidden."""
        part = self._parts.get(name)
        return part if part is None or isinstance(part, Content) else part(self.size.width)

    def set_parts(self, parts: dict[str, Part]) -> None:
        """Show ``parts``: a layout only when the number of rows changes, and a repaint of
        only the rows that changed when every line keeps its rows."""
        width = self.size.width
        old = self._drawn_at(width) if width > 0 else None
        self._parts = parts
        self._drawn = None
        if old is None:
            self._strips = None
            self.refresh(layout=True)
            return
        new = self._drawn_at(width)
        rows = _changed_rows(old, new)
        strips = self._strips
        if rows is None or strips is None or strips[0] != self._strips_key(width):
            self._strips = None
            self.refresh(layout=sum(new.heights) != sum(old.heights))
            return
        for row, line in rows:
            [strips[1][row]] = Visual.to_strips(self, line, width, 1, self.visual_style)
        if rows:
            self.refresh(*(Region(0, row, width, 1) for row, _ in rows))

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return sum(self._drawn_at(width).heights) if width > 0 else 0

    def render(self) -> Content:
        return self.content_at(self.size.width)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        key = self._strips_key(width)
        if self._strips is None or self._strips[0] != key:
            content = self.content_at(width)
            self._strips = (key, Visual.to_strips(self, content, width, None, self.visual_style))
        strips = self._strips[1]
        return strips[y] if y < len(strips) else Strip.blank(width, self.visual_style.rich_style)

    def _strips_key(self, width: int) -> object:
        """What the kept rows depend on besides the lines: a theme resolves their colours."""
        return (width, self.visual_style, self.app.theme, self.text_selection)

    def _drawn_at(self, width: int) -> _Drawn:
        """The panel built at ``width`` (the charts fill it)."""
        if self._drawn is None or self._drawn.width != width:
            if not self._parts:  # not filled yet: nothing to draw, nothing to import
                self._drawn = _Drawn(width, [])
                return self._drawn
            from chat_tui.ui.widgets.panel_sections import panel_lines

            known = self._pieces[1] if self._pieces[0] == width else {}
            pieces: dict[int, tuple[Content, list[tuple[Content, int]]]] = {}
            # Each line wraps on its own, as drawn: wrap only those longer than the width (the
            # styles are the rules Content reads, as Widget passes them).
            rules = cast(RulesMap, self.styles)

            def rows_of(piece: Content) -> list[tuple[Content, int]]:
                entry = known.get(id(piece))
                if entry is None or entry[0] is not piece:
                    entry = (piece, [(line, 1 if line.cell_length <= width or width <= 0
                                      else line.get_height(rules, width))
                                     for line in piece.split("\n")])  # fmt: skip
                pieces[id(piece)] = entry  # kept with the piece: its id is not reused meanwhile
                return entry[1]

            self._drawn = _Drawn(width, panel_lines(self._parts, width, rows_of))
            self._pieces = (width, pieces)
        return self._drawn


def _changed_rows(old: _Drawn, new: _Drawn) -> list[tuple[int, Content]] | None:
    """The (row, line) of each line that changed, when every line keeps its rows and each
    changed line takes one; else None."""
    if old.heights != new.heights:
        return None
    changed, row = [], 0
    for before, after, height in zip(old.lines, new.lines, new.heights, strict=True):
        if before is not after and (
            before.plain != after.plain or list(before.spans) != list(after.spans)
        ):
            if height != 1:
                return None
            changed.append((row, after))
        row += height
    return changed


class MetricsPanel(VerticalScroll, can_focus=False):
    """The toggleable side panel. ``cache_state`` is polled once per ``tick`` seconds to
    drive the countdown (``tick <= 0``: no timer; call :meth:`refresh_countdown` yourself).
    Without ``cache_state`` and ``data`` it is empty until :meth:`watch_cache` /
    :meth:`update_data` fill it."""

    DEFAULT_CSS = """
    MetricsPanel {
        width: 38; height: 1fr; padding: 0 1; scrollbar-size-vertical: 1;
        background: $surface; border-left: vkey $panel-lighten-1;
    }
    """

    def __init__(
        self,
        cache_state: Callable[[], CacheState] | None = None,
        *,
        tick: float = 1.0,
        data: PanelData | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._cache_state = cache_state
        self._tick = tick
        self._data = data
        self._parts: dict[str, Part] = {}
        if cache_state is not None or data is not None:
            from chat_tui.ui.widgets.panel_sections import panel_parts

            self._parts = panel_parts(data)
        self._cache: dict[str, Content] = {}  # the cache lines: polled once mounted
        self.body = PanelBody(self._parts)

    @property
    def data(self) -> PanelData | None:
        return self._data

    def compose(self) -> ComposeResult:
        yield self.body

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _: self._show_cache())
        self._show_cache()
        if self._tick > 0:
            self.set_interval(self._tick, self.refresh_countdown)

    def watch_cache(self, cache_state: Callable[[], CacheState]) -> None:
        """Poll ``cache_state`` from now on (for a panel made without it). Its lines are drawn
        with the next :meth:`update_data` (or tick): alone, they would be a panel half drawn."""
        self._cache_state = cache_state

    def update_data(self, data: PanelData) -> None:
        """Show ``data`` (once per turn, switch or document load) and the cache state now."""
        from chat_tui.ui.widgets.panel_sections import panel_parts

        self._data = data
        self._parts = panel_parts(data)
        self._show_cache()

    def refresh_countdown(self) -> None:
        """One tick: poll the cache state; redraw only if the status lines changed (then a
        repaint: within a status the line keeps its length)."""
        self._show_cache(only_if_changed=True)

    def _show_cache(self, *, only_if_changed: bool = False) -> None:
        if self._cache_state is None:  # not filled yet
            return
        from chat_tui.ui.widgets.panel_sections import cache_parts

        # $text-muted's value, not the variable (see panel_sections' docstring)
        muted = self.app.theme_variables.get("text-muted") or "$text-muted"
        cache = cache_parts(self._data, self._cache_state, muted)
        if only_if_changed and _looks(cache) == _looks(self._cache):
            return
        self._cache = cache
        self.body.set_parts({**self._parts, **cache})

    # -- what is shown, for tests and tools that read the panel ----------------------------

    def section_text(self, name: str) -> str | None:
        """The plain text of one part (a name in ``panel_sections.SECTIONS``, such as
        ``"cache-state"`` or ``"cost"``); None when it is hidden."""
        part = self.body.part(name)
        return None if part is None else part.plain

    def lines(self, *, wrap: bool = False) -> list[str]:
        """Every line of the panel (headings and the blank lines between sections
        included); ``wrap``: as drawn at its current width, a long line wrapped."""
        width = self.body.size.width
        content = self.body.content_at(width)
        if not wrap or width <= 0:
            return content.plain.split("\n")
        return [line.plain for line in content.wrap(width)]


def _looks(parts: dict[str, Content]) -> list[tuple[str, str, tuple[object, ...]]]:
    """What ``parts`` draw: text and styles (Content compares by its text alone)."""
    return [(name, c.plain, tuple(c.spans)) for name, c in parts.items()]
