"""Incremental Markdown for streamed answers: final blocks render once, only the tail is live.

:class:`BlockSplitter` cuts streamed text into top-level blocks, O(new text) per ``feed``
(the ``scanned`` counter shows it). Rules, a pragmatic subset of CommonMark: blocks end at
blank lines; a fenced code block (at any indentation) runs to its closing fence; an ATX
heading is a block of its own; a list goes on across blank lines while the next line is
indented or another item; anything else (paragraphs, tables, quotes) is contiguous lines.

:class:`BlockLines` turns the blocks into lines (``Strip``): a final block is rendered once
and appended; the open block is re-rendered on update, and when it is huge (a long code
block or paragraph) its head is frozen in chunks so the live part stays small.
:class:`FastCode` (pygments tokens straight to segments, several times cheaper than
``rich.syntax.Syntax``) and :class:`ChatMarkdown` are the renderables used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar, Literal

from pygments.lexer import Lexer
from pygments.lexers import TextLexer, get_lexer_by_name
from pygments.util import ClassNotFound
from rich.console import Console, ConsoleOptions, JustifyMethod, RenderableType, RenderResult
from rich.markdown import CodeBlock, Heading, Markdown, MarkdownElement
from rich.segment import Segment
from rich.style import Style
from rich.syntax import Syntax, SyntaxTheme
from rich.text import Text

BlockKind = Literal["text", "code"]

_FENCE = re.compile(r"[ \t]*(`{3,}|~{3,})(.*)")
_HEADING = re.compile(r" {0,3}#{1,6}(?:[ \t]|$)")
_LIST_ITEM = re.compile(r"[ \t]*(?:[-*+]|\d{1,9}[.)])(?:[ \t]|$)")
_TOP_ITEM = re.compile(r" {0,3}(?:[-*+]|\d{1,9}[.)])(?:[ \t]|$)")
_SENTENCE_END = re.compile(r"[.!?;:][\"')\]*_]*[ \t]+|\n")


@dataclass(frozen=True, slots=True)
class Block:
    """One top-level block. ``text`` is Markdown source, or the code itself for ``code``."""

    kind: BlockKind
    text: str
    lang: str = ""
    closed: bool = True  # False for a code block cut off by the end of the stream


def _dedent(line: str, indent: int) -> str:
    """Remove up to ``indent`` leading spaces."""
    if indent and line[:1] == " ":
        n = len(line) - len(line.lstrip(" "))
        return line[min(n, indent) :]
    return line


class BlockSplitter:
    """Feed text as it arrives; get back the blocks that became final.

    ``feed`` returns the newly final blocks; the open block is described by ``in_code``,
    ``lang``, ``open_lines`` and ``partial`` (or :meth:`tail_text`). ``block_id`` changes
    whenever a block starts or ends, so an unchanged ``block_id`` means the same open block.
    """

    def __init__(self) -> None:
        self.open_lines: list[str] = []  # complete lines of the open block (code: the body)
        self._parts: list[str] = []  # pieces of the incomplete last line
        self._fence = ""  # closing fence (e.g. "```") while inside a code block
        self.lang = ""
        self._indent = 0  # indentation removed from the open block's lines
        self._list = False  # the open block is a list
        self._blank = False  # a blank line is pending inside a list
        self.block_id = 0
        self.scanned = 0  # characters examined, for the O(new text) check

    # -- state of the open block ---------------------------------------------------------

    @property
    def in_code(self) -> bool:
        """True while inside a fenced code block."""
        return bool(self._fence)

    @property
    def partial(self) -> str:
        """The incomplete last line (dedented like the block)."""
        text = "".join(self._parts)
        if self._fence or self.open_lines:
            return _dedent(text, self._indent)
        return text.lstrip(" ")

    def tail_text(self) -> str:
        """Source of the open block, incomplete last line included ("" if none)."""
        lines = [*self.open_lines, ""] if self._blank else list(self.open_lines)
        partial = self.partial
        if partial or (self._fence and not lines):
            lines.append(partial)
        return "\n".join(lines)

    # -- input ---------------------------------------------------------------------------

    def feed(self, text: str) -> list[Block]:
        """Add streamed text; return the blocks that became final (in order)."""
        out: list[Block] = []
        self.scanned += len(text)
        start = 0
        while (nl := text.find("\n", start)) >= 0:
            if self._parts:
                line = "".join(self._parts) + text[start:nl]
                self.scanned += len(line) - (nl - start)
                self._parts.clear()
            else:
                line = text[start:nl]
            self._line(line.rstrip("\r"), out)
            start = nl + 1
        if start < len(text):
            self._parts.append(text[start:] if start else text)
        return out

    def close(self) -> list[Block]:
        """End of the stream: the open block (if any) becomes final too."""
        out: list[Block] = []
        if self._parts:
            line = "".join(self._parts)
            self._parts.clear()
            self._line(line, out)
        if self._fence:
            out.append(Block("code", "\n".join(self.open_lines), self.lang, closed=False))
            self._reset()
        else:
            self._emit(out)
        return out

    def _reset(self) -> None:
        self.block_id += 1
        self.open_lines = []
        self._fence = ""
        self.lang = ""
        self._indent = 0
        self._list = False
        self._blank = False

    def _emit(self, out: list[Block]) -> None:
        if self.open_lines:
            out.append(Block("text", "\n".join(self.open_lines)))
        self._reset()

    def _start(self, line: str) -> None:
        self.block_id += 1
        self._indent = len(line) - len(line.lstrip(" "))
        self._list = _LIST_ITEM.match(line) is not None

    def _line(self, line: str, out: list[Block]) -> None:
        if self._fence:
            stripped = line.strip()
            if stripped.startswith(self._fence) and not stripped.strip(self._fence[0]):
                out.append(Block("code", "\n".join(self.open_lines), self.lang))
                self._reset()
            else:
                self.open_lines.append(_dedent(line, self._indent))
            return
        if not line.strip():
            if self._list and self.open_lines:
                self._blank = True
            else:
                self._emit(out)
            return
        if self._blank:  # a list followed by a blank line: does it go on?
            if line[0] in " \t" or _LIST_ITEM.match(line):
                self.open_lines.append("")
                self._blank = False
            else:
                self._emit(out)
        if fence := _FENCE.fullmatch(line):
            marker, info = fence.groups()
            if marker[0] != "`" or "`" not in info:
                self._emit(out)
                self._start(line)
                self._fence = marker
                self.lang = info.strip().split(" ")[0] if info.strip() else ""
                return
        if _HEADING.match(line):
            self._emit(out)
            out.append(Block("text", line.strip()))
            return
        if not self.open_lines:
            self._start(line)
        self.open_lines.append(_dedent(line, self._indent))


def find_soft_cut(text: str, start: int, end: int) -> int | None:
    """A place in ``text[start:end]`` where a long open block can be cut for display.

    Used to keep the re-rendered part of a huge open paragraph or list small while it
    streams: ``text[start:cut]`` is rendered once and frozen. Cuts are at sentence ends in
    paragraphs, before a top-level item in lists, at line starts in quotes; never inside a
    code span, emphasis, link text or fenced code; never in tables. Returns None if none.
    """
    first = text[: text.find("\n")] if "\n" in text else text
    head = first.lstrip()
    if head.startswith("|") or end <= start:
        return None
    if _TOP_ITEM.match(first) or head.startswith(">"):
        is_list = not head.startswith(">")
        pos = end
        while (nl := text.rfind("\n", start, pos)) > start:
            at = nl + 1
            ok = _TOP_ITEM.match(text, at) if is_list else text.startswith(">", at)
            if ok and _fences_balanced(text, start, at):
                return at
            pos = nl
        return None
    for match in reversed(list(_SENTENCE_END.finditer(text, start, end))):
        cut = match.end()
        if _inline_balanced(text[start:cut]):
            return cut
    return None


def _fences_balanced(text: str, start: int, end: int) -> bool:
    return (text.count("```", start, end) + text.count("~~~", start, end)) % 2 == 0


def _inline_balanced(piece: str) -> bool:
    stars = piece.count("**")
    return (
        piece.count("`") % 2 == 0
        and stars % 2 == 0
        and (piece.count("*") - 2 * stars) % 2 == 0
        and piece.count("[") == piece.count("]")
    )


# -- renderables ------------------------------------------------------------------------


def code_theme(dark: bool) -> str:
    """The Pygments style used for code blocks on a dark or light background."""
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
    """Highlighted code on the theme's background, wrapped at the width, 1 cell of side padding.

    ``top`` / ``bottom`` add a padding line, so a long code block can be drawn as several
    chunks that join seamlessly (only the first has ``top``, only the last ``bottom``).
    """

    def __init__(
        self, code: str, lang: str = "", theme: str = "monokai", *, top: bool = True,
        bottom: bool = True,
    ) -> None:  # fmt: skip
        self.code = code.expandtabs(4)
        self.lang = lang
        self.theme = theme
        self.top = top
        self.bottom = bottom

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


class _FastCodeBlock(CodeBlock):
    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield FastCode(str(self.text).rstrip(), self.lexer_name, self.theme)


class _Heading(Heading):
    LEVEL_ALIGN: ClassVar[dict[str, JustifyMethod]] = {**Heading.LEVEL_ALIGN, "h1": "left"}


class ChatMarkdown(Markdown):
    """Rich Markdown with fast code blocks and left-aligned headings."""

    elements: ClassVar[dict[str, type[MarkdownElement]]] = {
        **Markdown.elements,
        "fence": _FastCodeBlock,
        "code_block": _FastCodeBlock,
        "heading_open": _Heading,
    }


def block_renderable(block: Block, dark: bool = True) -> RenderableType:
    """The renderable for one block (Markdown, or highlighted code). Never parses markup."""
    if block.kind == "code":
        return FastCode(block.text, block.lang, code_theme(dark))
    if not block.text.strip():
        return Text("")
    return ChatMarkdown(block.text, code_theme=code_theme(dark))
