"""Incremental Markdown for streamed answers: final blocks render once, only the tail is live.

:class:`BlockSplitter` cuts streamed text into top-level blocks in O(new text): blocks end at
blank lines; a fence (at any indentation) runs to its closing fence; an ATX heading is a
block; a list goes on across blank lines while the next line is indented or another item.
:class:`BlockLines` renders final blocks once, re-renders the open one and freezes the head
of a huge one. The renderers themselves (Rich Markdown, :class:`FastCode`, the theme) live in
:mod:`markdown_render`, imported on first use: this module is cheap to import at start-up.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import accumulate
from typing import TYPE_CHECKING, Literal

from textual.strip import Strip

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderableType
    from rich.style import Style
    from rich.theme import Theme

CODE_CHUNK = 16  # lines of an open code block frozen at a time
TEXT_LIMIT = 1200  # an open paragraph / list longer than this is frozen in pieces...
TEXT_KEEP = 300  # ...leaving about this much live
PARA_LINES = 3  # an open paragraph drawn in more lines freezes all but its last
BLANK = Strip([])

_FENCE = re.compile(r"[ \t]*(`{3,}|~{3,})(.*)")
_HEADING = re.compile(r" {0,3}#{1,6}(?:[ \t]|$)")
_LIST_ITEM = re.compile(r"[ \t]*(?:[-*+]|\d{1,9}[.)])(?:[ \t]|$)")
_TOP_ITEM = re.compile(r" {0,3}(?:[-*+]|\d{1,9}[.)])(?:[ \t]|$)")
_SENTENCE_END = re.compile(r"[.!?;:][\"')\]*_]*[ \t]+|\n")
_WORD = re.compile(r"\S+")
# Where a frozen paragraph's live part may start: a word no reader takes for a block's start
_LINE_START = re.compile(
    r"[^\W\d_]|[(\"'](?=\w)|`(?!``)|\*\*?(?=\w)|~~(?=\w)|\d+(?![\d.)])|\[[^\]\n]*\]\("
)
_MAYBE_ITEM = re.compile(r"[ \t]|[-*+]$|\d{1,9}[.)]?$")  # a line's start that may go on a list


@dataclass(frozen=True, slots=True)
class Block:
    """One top-level block. ``text`` is Markdown source, or the code itself for ``code``."""

    kind: Literal["text", "code"]
    text: str
    lang: str = ""
    closed: bool = True  # False for a code block cut off by the end of the stream


def _dedent(line: str, indent: int) -> str:
    if indent and line[:1] == " ":
        n = len(line) - len(line.lstrip(" "))
        return line[min(n, indent) :]
    return line


class BlockSplitter:
    """``feed`` text as it arrives; it returns the blocks that became final.

    The open block is ``in_code``, ``lang``, ``open_lines`` + ``partial`` (or ``tail_text()``);
    ``block_id`` changes whenever a block starts or ends.
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

    @property
    def in_code(self) -> bool:
        return bool(self._fence)

    @property
    def in_list(self) -> bool:
        return self._list and not self._fence

    @property
    def partial(self) -> str:  # the incomplete last line, dedented like the block
        text = "".join(self._parts)
        self._parts[:] = [text] if text else []  # keep the next join short
        if self._fence or self.open_lines:
            return _dedent(text, self._indent)
        return text.lstrip(" ")

    def tail_text(self) -> str:
        """Source of the open block, incomplete last line included."""
        lines = [*self.open_lines, ""] if self._blank else list(self.open_lines)
        partial = self.partial
        if partial or (self._fence and not lines):
            lines.append(partial)
        return "\n".join(lines)

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
            if self._blank:
                self._end_list(out)
        return out

    def _end_list(self, out: list[Block]) -> None:
        # A blank line in a list, then the start of a line that is neither indented nor an
        # item: the list ended. Say so now, not at the line's end: a closing paragraph often
        # comes as one long line, and would otherwise be drawn (and re-rendered) as the list's.
        head = self._parts[0] if len(self._parts[0]) >= 12 else "".join(self._parts)[:12]
        if not (_MAYBE_ITEM.match(head) or _LIST_ITEM.match(head)):
            self._emit(out)

    def close(self) -> list[Block]:
        """End of the stream: the open block (if any) becomes final too."""
        out: list[Block] = []
        if self._parts:
            self._line("".join(self._parts), out)
            self._parts.clear()
        if self._fence:
            out.append(Block("code", "\n".join(self.open_lines), self.lang, closed=False))
            self._reset()
        else:
            self._emit(out)
        return out

    def _reset(self) -> None:
        self.block_id += 1
        self.open_lines, self._fence, self.lang = [], "", ""
        self._indent, self._list, self._blank = 0, False, False

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
    """Where in ``text[start:end]`` a huge open block can be cut, to freeze its head.

    At a sentence end in a paragraph, before a top-level item in a list; never inside a code
    span, emphasis, link text or fence; never in a table or a quote.
    """
    first = text[: text.find("\n")] if "\n" in text else text
    head = first.lstrip()
    if head.startswith(("|", ">")) or end <= start:
        return None
    if _TOP_ITEM.match(first):
        pos = end
        while (nl := text.rfind("\n", start, pos)) > start:
            at, ok = nl + 1, _TOP_ITEM.match(text, nl + 1)
            fences = text.count("```", start, at) + text.count("~~~", start, at)
            if ok and fences % 2 == 0:
                return at
            pos = nl
        return None
    for match in reversed(list(_SENTENCE_END.finditer(text, start, end))):
        cut = match.end()
        if _inline_balanced(text[start:cut]):
            return cut
    return None


def _inline_balanced(piece: str) -> bool:
    """No code span, emphasis, strikethrough or link open across the end of ``piece``."""
    stars, count = piece.count("**"), piece.count
    odd = count("`") % 2 or stars % 2 or (count("*") - 2 * stars) % 2 or count("~~") % 2
    link = piece.rfind("](")
    return not odd and count("[") == count("]") and (link < 0 or ")" in piece[link:])


def estimate_height(blocks: list[Block], width: int) -> int:
    """About how many lines ``blocks`` take at ``width``, without rendering them."""
    wrap = max(1, width - 2)
    rows = sum(-(-len(row) // wrap) or 1 for b in blocks for row in b.text.split("\n"))
    return rows + sum(2 for b in blocks if b.kind == "code") + len(blocks)


# -- renderers, imported on first use -----------------------------------------------------


def block_renderable(block: Block, dark: bool = True) -> RenderableType:
    """The renderable for one block (Markdown, or highlighted code). Never parses markup."""
    from chat_tui.ui.widgets import markdown_render

    return markdown_render.block_renderable(block, dark)


def markdown_theme(variables: Mapping[str, str]) -> Theme:
    """Rich Markdown's styles in the app theme's colours (Rich's own are fixed ANSI ones)."""
    from chat_tui.ui.widgets import markdown_render

    return markdown_render.markdown_theme(variables)


def render_strips(
    console: Console, options: ConsoleOptions, renderable: RenderableType, style: Style,
    theme: Theme | None = None,
) -> list[Strip]:  # fmt: skip
    """Render to lines; Markdown's blank first / last lines are dropped (we add the gaps)."""
    from chat_tui.ui.widgets import markdown_render

    return markdown_render.render_strips(console, options, renderable, style, theme)


def _same_cells(a: list[Strip], b: list[Strip]) -> bool:
    """Do two renders draw the same cells (however their segments are split)?"""
    return len(a) == len(b) and all(
        x == y or (x.text == y.text and _runs(x) == _runs(y)) for x, y in zip(a, b, strict=True)
    )


def _runs(strip: Strip) -> list[tuple[int, Style]]:
    """A line's (length, style) runs; no style and the null style draw alike."""
    from rich.style import Style

    null, runs = Style(), list[tuple[int, Style]]()
    for segment in strip:
        style = segment.style or null
        if runs and runs[-1][1] == style:
            runs[-1] = (runs[-1][0] + len(segment.text), style)
        elif segment.text:
            runs.append((len(segment.text), style))
    return runs


class BlockLines:
    """The lines of a streamed document for one width and theme (``render`` renders at it):
    ``add`` appends a final block, rendered once; ``set_tail`` re-renders the open block.

    Only the open block's last lines are live: a code block freezes CODE_CHUNK lines at a
    time, a paragraph every line but its last (see :meth:`_freeze_wrapped`), a list before
    its newest item; a table is drawn a row at a time. A text block that ends as it was last
    drawn open (the answer's last block, at its end) keeps those lines instead of being
    rendered again."""

    def __init__(self, render: Callable[[RenderableType], list[Strip]], dark: bool) -> None:
        self.render, self.dark = render, dark
        self.lines: list[Strip] = []  # the final blocks
        self.blocks = 0
        self.tail: list[Strip] = []  # the open block
        self._key, self._frozen = (-1, False), list[Strip]()
        self._done = 0  # code lines / text characters of the open block already frozen
        self._cut = False  # a piece of the open text was frozen at a sentence or an item
        self._retry = 0  # no paragraph freeze is tried before the text is this long
        self._live: str | None = None  # the source the live lines were rendered from
        self._whole, self._complete = (-1, -1), list[Strip]()  # an open code block's live
        # complete lines: (frozen, complete) line counts when rendered, and their lines
        self._drawn: str | None = None  # the text the tail is, when drawn exactly
        self._head: str | None = None  # the text the frozen lines are, when drawn exactly

    def add(self, block: Block) -> None:
        if self.lines:
            self.lines.append(BLANK)
        head = self._head
        if block.kind == "text" and block.text == self._drawn:
            self.lines += self.tail
        elif (
            block.kind == "text" and head and "\n" not in block.text and block.text.startswith(head)
        ):
            # The open paragraph, ended with text that came after it was drawn: its frozen
            # lines stay, the rest is rendered (the same lines a whole render would give)
            rest = Block("text", block.text[len(head) :])
            self.lines += self._frozen + self.render(block_renderable(rest, self.dark))
        else:
            self.lines += self.render(block_renderable(block, self.dark))
        self._drawn = self._head = None
        self.blocks += 1

    def set_tail(self, splitter: BlockSplitter | None) -> None:
        if splitter is None:
            self.tail, self._drawn, self._head = [], None, None
            return
        from chat_tui.ui.widgets.markdown_render import FastCode, code_theme

        if (key := (splitter.block_id, splitter.in_code)) != self._key:
            self._key, self._frozen, self._done = key, [], 0
            self._cut, self._retry, self._live, self._whole = False, 0, None, (-1, -1)
        theme = code_theme(self.dark)
        if splitter.in_code:
            self._drawn = self._head = None
            lines, lang, partial = splitter.open_lines, splitter.lang, splitter.partial
            while len(lines) - self._done >= CODE_CHUNK:
                chunk = "\n".join(lines[self._done : self._done + CODE_CHUNK])
                top = not self._done
                self._frozen += self.render(FastCode(chunk, lang, theme, top=top, bottom=False))
                self._done += CODE_CHUNK
            # The live lines: the complete ones lexed together when one is added, the
            # partial one alone at each flush (its colours may be off inside a multi-line
            # string until it is complete: Pygments cannot resume a lexer's state).
            if (whole := (self._done, len(lines))) != self._whole:
                rest = lines[self._done :]
                code = "\n".join(rest) or (" " if rest else "")  # one blank line is a line
                self._whole, self._live = whole, None
                self._complete = self.render(FastCode(code, lang, theme, top=not self._done,
                                                      bottom=False))  # fmt: skip
            if partial != self._live:
                self._live = partial
                last = self.render(FastCode(partial, lang, theme, top=False))
                self.tail = self._frozen + self._complete + last
            return
        text = splitter.tail_text()
        if text.lstrip(" ")[:1] == "|":  # a table: its complete rows (a partial one would
            text = "\n".join(splitter.open_lines)  # be drawn as a row of its own)
        paragraph = not splitter.in_list and text[:1] not in "|>#<"  # not a table, quote...
        self._text_tail(text, theme, paragraph)

    def _text_tail(self, text: str, theme: str, paragraph: bool) -> None:
        from chat_tui.ui.widgets.markdown_render import ChatMarkdown, text_renderable

        while len(text) - self._done > TEXT_LIMIT:
            cut = find_soft_cut(text, self._done, len(text) - TEXT_KEEP)
            if cut is None:
                break
            self._frozen += self.render(ChatMarkdown(text[self._done : cut], code_theme=theme))
            self._done, self._cut, self._live = cut, True, None
        live = text[self._done :]
        if live == self._live:
            return
        if not live.strip():
            self.tail, self._live, self._drawn, self._head = list(self._frozen), live, None, None
            return
        lines = self.render(text_renderable(live, theme))
        if paragraph and len(lines) > PARA_LINES and len(text) >= self._retry:
            lines = self._freeze_wrapped(text, lines, theme)
        self.tail, self._live = self._frozen + lines, text[self._done :]
        # Drawn exactly: whole, or frozen only at line ends of a one-line paragraph (where a
        # line could not begin another block, as "---" or "- " would)
        exact = not self._done or (not self._cut and "\n" not in text)
        self._drawn = text if exact else None
        self._head = text[: self._done] if exact and self._done else None

    def _freeze_wrapped(self, text: str, lines: list[Strip], theme: str) -> list[Strip]:
        """An open paragraph drawn in ``lines``: freeze the lines above the last that can
        be cut, so that only a line or so is rendered at each flush. Returns the live lines.

        A cut is the source position where a line starts, found by counting words. It is
        taken if the text before it and the line's first word are balanced (no code span,
        emphasis or link open across it or in it: closed, the word would be drawn narrower
        and could move up), the line could not be read as another block's start, and the
        text before it is drawn as exactly those lines (Rich wraps greedily: the rest is
        then drawn as the lines below)."""
        from chat_tui.ui.widgets.markdown_render import text_renderable

        live = text[self._done :]
        words = list(_WORD.finditer(live))
        drawn = list(accumulate(len(strip.text.split()) for strip in lines))
        for keep in range(len(lines) - 1, 0, -1):
            if drawn[keep - 1] >= len(words):
                continue
            word = words[drawn[keep - 1]]
            cut, first = word.start(), word.group()
            if (
                cut
                and word.end() < len(live)  # a whole word ("1" may become "1. ")
                and _LINE_START.match(first)
                and _inline_balanced(first)
                and _inline_balanced(live[:cut])
            ):
                head = self.render(text_renderable(live[:cut], theme))
                if not _same_cells(head, lines[:keep]):
                    break  # drawn otherwise (a folded word, a link...): try again later
                self._frozen += head
                self._done += cut
                return lines[keep:]
        else:
            return lines  # no line can be cut yet: try again at the next flush
        self._retry = len(text) + TEXT_KEEP
        return lines
