"""The metrics side panel: provider, document, last turn, cache countdown, cost, latency.

The panel is thin: it draws plain :class:`PanelData` it is given (after each turn, provider
switch or document load, never per token) and polls one callable for the cache state once a
tick. Its lines are built in :mod:`~chat_tui.ui.widgets.panel_sections`; here one widget,
:class:`PanelBody`, draws them all as one :class:`~textual.content.Content` at its width
(the prompt bar and the latency sparkline fill it), inside a scrolling container. One widget
rather than one per heading and line group: each widget costs a message pump, CSS matching
and layout, which made the panel the most expensive part of the first frame.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from rich.cells import cell_len
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.css.styles import RulesMap
from textual.geometry import Size
from textual.widget import Widget

from chat_tui.core.metrics import CacheState
from chat_tui.ui.widgets.panel_sections import (
    PanelData,
    PanelDocument,
    Part,
    cache_parts,
    panel_content,
    panel_parts,
)

__all__ = ["MetricsPanel", "PanelBody", "PanelData", "PanelDocument"]


class PanelBody(Widget):
    """Every line of the panel, drawn as one Content at the widget's width. Its height is
    its number of lines, so the panel scrolls when the terminal is short."""

    DEFAULT_CSS = "PanelBody { width: 1fr; height: auto; }"

    def __init__(self, parts: dict[str, Part]) -> None:
        super().__init__()
        self._parts = parts
        self._built: tuple[int, Content] | None = None  # (width, the panel at that width)
        self._height_at: tuple[int, int] | None = None  # (width, lines drawn at that width)

    def content_at(self, width: int) -> Content:
        if self._built is None or self._built[0] != width:
            self._built = (width, panel_content(self._parts, width))
        return self._built[1]

    def part(self, name: str) -> Content | None:
        """One part at the current width; None when it is hidden."""
        part = self._parts.get(name)
        return part if part is None or isinstance(part, Content) else part(self.size.width)

    def set_parts(self, parts: dict[str, Part]) -> None:
        """Show ``parts``: a repaint, and a layout only when the number of lines changes."""
        width = self.size.width
        before = self._height(width)
        self._parts = parts
        self._built = self._height_at = None
        self.refresh(layout=self._height(width) != before)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return self._height(width)

    def _height(self, width: int) -> int:
        """Lines at ``width``, long ones wrapped; built at that width (the charts fill it)."""
        if width <= 0:
            return 0
        if self._height_at is None or self._height_at[0] != width:
            # Each line wraps on its own: wrap only those longer than the width, as drawn (the
            # styles are the rules Content reads, as Widget passes them).
            rules = cast(RulesMap, self.styles)
            height = sum(1 if cell_len(line) <= width else Content(line).get_height(rules, width)
                         for line in self.content_at(width).plain.split("\n"))  # fmt: skip
            self._height_at = (width, height)
        return self._height_at[1]

    def render(self) -> Content:
        return self.content_at(self.size.width)


class MetricsPanel(VerticalScroll, can_focus=False):
    """The toggleable side panel. ``cache_state`` is polled once per ``tick`` seconds to
    drive the countdown (``tick <= 0``: no timer; call :meth:`refresh_countdown` yourself)."""

    DEFAULT_CSS = """
    MetricsPanel {
        width: 38; height: 1fr; padding: 0 1; scrollbar-size-vertical: 1;
        background: $surface; border-left: vkey $panel-lighten-1;
    }
    """

    def __init__(
        self,
        cache_state: Callable[[], CacheState],
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

    def update_data(self, data: PanelData) -> None:
        """Show ``data`` (once per turn, switch or document load) and the cache state now."""
        self._data = data
        self._parts = panel_parts(data)
        self._show_cache()

    def refresh_countdown(self) -> None:
        """One tick: poll the cache state; redraw only if the status lines changed (then a
        repaint: within a status the line keeps its length)."""
        self._show_cache(only_if_changed=True)

    def _show_cache(self, *, only_if_changed: bool = False) -> None:
        # $text-muted's value, not the variable (see panel_sections' docstring)
        muted = self.app.theme_variables.get("text-muted") or "$text-muted"
        cache = cache_parts(self._data, self._cache_state, muted)
        if only_if_changed and _drawn(cache) == _drawn(self._cache):
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


def _drawn(parts: dict[str, Content]) -> list[tuple[str, str, tuple[object, ...]]]:
    """What ``parts`` draw: text and styles (Content compares by its text alone)."""
    return [(name, c.plain, tuple(c.spans)) for name, c in parts.items()]
