"""The renderers behind :mod:`markdown_blocks`: Rich Markdown with the app theme's colours and
:class:`FastCode`, far cheaper than ``Syntax``. Kept apart because importing Rich Markdown,
markdown-it and Pygments takes tens of milliseconds: :mod:`markdown_blocks` imports this module
on first use, and the chat screen loads it off the event loop after the first frame.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import ClassVar

from markdown_it import MarkdownIt
from pygments.lexer import Lexer
from pygments.lexers import TextLexer, get_lexer_by_name
from pygments.util import ClassNotFound
from rich.console import Console, ConsoleOptions, JustifyMethod, RenderableType, RenderResult
from rich.markdown import Heading, Markdown, MarkdownElement
from rich.segment import Segment
from rich.style import Style
from rich.syntax import Syntax, SyntaxTheme
from rich.text import Text
from rich.theme import Theme
from textual.color import Color, ColorParseError
from textual.strip import Strip

from chat_tui.ui.widgets.markdown_blocks import Block

_THEME_COLORS = ("primary", "secondary", "accent", "surface")


def code_theme(dark: bool) -> str:  # the Pygments style for a dark / light background
    return "monokai" if dark else "default"


@lru_cache(maxsize=64)
def _lexer(lang: str) -> Lexer:
    try:
        return get_lexer_by_name(lang or "text", stripnl=False, ensurenl=False)
    except ClassNotFound:
        return TextLexer(stripnl=False, ensurenl=False)


@lru_cache(maxsize=8)
def _theme(name: str) -> SyntaxTheme:
    return Syntax.get_theme(name)


class FastCode:
    """Highlighted code on the theme's background, wrapped, with 1 cell of side padding;
    ``top`` / ``bottom`` add a padding line (chunks of one long block join seamlessly)."""

    def __init__(
        self, code: str, lang: str = "", theme: str = "monokai", *, top: bool = True,
        bottom: bool = True,
    ) -> None:  # fmt: skip
        self.code, self.lang, self.theme = code.expandtabs(4), lang, theme
        self.top, self.bottom = top, bottom

    def _lines(self, theme: SyntaxTheme, bg: Style) -> list[list[Segment]]:
        styles: dict[object, Style] = {}
        lines: list[list[Segment]] = [[]]
        for ttype, value in _lexer(self.lang).get_tokens(self.code):
            style = styles.get(ttype)
            if style is None:
                style = styles[ttype] = bg + theme.get_style_for_token(ttype)
            first, *rest = value.split("\n")
            if first:
                lines[-1].append(Segment(first, style))
            for piece in rest:
                lines.append([Segment(piece, style)] if piece else [])
        return lines

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = max(3, options.max_width)
        theme = _theme(self.theme)
        bg = theme.get_background_style()
        inner = width - 2
        pad, new_line = Segment(" ", bg), Segment.line()
        blank = Segment(" " * width, bg)
        if self.top:
            yield from (blank, new_line)
        for line in self._lines(theme, bg) if self.code else []:
            length = Segment.get_line_length(line)
            if length <= inner:
                rows = [line]
            else:
                rows = list(Segment.divide(line, [*range(inner, length, inner), length]))
            for row in rows:
                yield pad
                yield from row
                yield Segment(" " * (inner - Segment.get_line_length(row) + 1), bg)
                yield new_line
        if self.bottom:
            yield from (blank, new_line)


class _Heading(Heading):
    LEVEL_ALIGN: ClassVar[dict[str, JustifyMethod]] = {**Heading.LEVEL_ALIGN, "h1": "left"}


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    return MarkdownIt().enable("strikethrough").enable("table")  # as Rich's Markdown does


class ChatMarkdown(Markdown):
    """Rich Markdown with left-aligned headings (fences are split out as FastCode blocks),
    parsed by one shared parser: Rich builds a new one for each instance (~0.5 ms, more than
    parsing a paragraph), and a streamed answer's open block is parsed at every flush.
    tests/test_markdown_blocks.py checks that it sets what Rich's ``__init__`` sets."""

    elements: ClassVar[dict[str, type[MarkdownElement]]] = {
        **Markdown.elements,
        "heading_open": _Heading,
    }

    def __init__(self, markup: str, code_theme: str = "monokai") -> None:
        self.markup = markup
        self.parsed = _parser().parse(markup)
        self.code_theme = code_theme
        self.justify: JustifyMethod | None = None
        self.style: str | Style = "none"
        self.hyperlinks = True
        self.inline_code_lexer: str | None = None
        self.inline_code_theme = code_theme


# One line of prose that Markdown draws exactly as written: it starts with a letter (not a list
# marker, heading, quote, indent or number) and holds nothing that is syntax (emphasis, code,
# links, HTML, entities, escapes, tables, strikethrough). tests/test_markdown_blocks.py checks
# that it renders cell for cell as Markdown does.
_PLAIN_LINE = re.compile(r"[^\W\d_][\w ,.;:!?'\"()/%+=@$-]*")


def plain_paragraph(text: str) -> Text | None:
    """``text`` as Rich Text when it is a paragraph Markdown would draw as it is, else None.
    A streamed answer's open block is re-rendered at every flush: parsing it as Markdown took
    ~0.7 ms, drawing it as Text ~0.1 ms (most answers begin with such a line)."""
    if "\n" in text or not _PLAIN_LINE.fullmatch(text) or "_" in text:
        return None
    return Text(text.rstrip(" "), style="markdown.paragraph", justify="left")


def text_renderable(text: str, theme: str) -> RenderableType:
    """A text block: plain Text when Markdown would draw it as it is, else Markdown."""
    return plain_paragraph(text) or ChatMarkdown(text, code_theme=theme)


def block_renderable(block: Block, dark: bool = True) -> RenderableType:
    """The renderable for one block (Markdown, or highlighted code). Never parses markup."""
    if block.kind == "code":
        return FastCode(block.text, block.lang, code_theme(dark))
    return text_renderable(block.text, code_theme(dark))


def markdown_theme(variables: Mapping[str, str]) -> Theme:
    """Rich Markdown's styles in the app theme's colours (Rich's own are fixed ANSI ones)."""
    try:
        p, s, a, bg = (Color.parse(variables[name]).rich_color for name in _THEME_COLORS)
    except (KeyError, ColorParseError):
        return Theme()
    return Theme({
        "markdown.h1": Style(color=p, bold=True, underline=True),
        "markdown.h2": Style(color=p, bold=True), "markdown.h3": Style(color=s, bold=True),
        "markdown.h4": Style(color=s, italic=True), "markdown.code": Style(color=a, bgcolor=bg),
        "markdown.block_quote": Style(color=s), "markdown.item.number": Style(color=p),
        "markdown.item.bullet": Style(color=a, bold=True), "markdown.list": Style(color=p),
        "markdown.link": Style(color=p, underline=True), "markdown.link_url": Style(color=s),
        "markdown.table.border": Style(color=s), "markdown.table.header": Style(color=p, bold=True),
    })  # fmt: skip


def render_strips(
    console: Console, options: ConsoleOptions, renderable: RenderableType, style: Style,
    theme: Theme | None = None,
) -> list[Strip]:  # fmt: skip
    """Render to lines; Markdown's blank first / last lines are dropped (we add the gaps)."""
    with console.use_theme(theme or Theme()):
        lines = console.render_lines(renderable, options, style=style, pad=False)
    if isinstance(renderable, Markdown):
        bg = style.bgcolor

        def blank(line: list[Segment]) -> bool:
            return all(not s.text.strip() and (s.style or style).bgcolor == bg for s in line)

        end, start = len(lines), 0
        while end and blank(lines[end - 1]):
            end -= 1
        while start < end and blank(lines[start]):
            start += 1
        lines = lines[start:end]
    return [Strip(line) for line in lines]
