"""The incremental block splitter and the cheap renderables of ``markdown_blocks`` (no app)."""

from __future__ import annotations

import itertools
import random

import pytest
from rich.console import Console, RenderableType
from rich.style import Style
from textual.strip import Strip

from chat_tui.ui.widgets.markdown_blocks import (
    CODE_CHUNK,
    PARA_LINES,
    TEXT_LIMIT,
    Block,
    BlockLines,
    BlockSplitter,
    block_renderable,
    find_soft_cut,
    render_strips,
)
from chat_tui.ui.widgets.markdown_render import ChatMarkdown, FastCode

DOC = """# Title

First paragraph, line one
and line two.

- alpha
- beta

  more about beta
- gamma

Next paragraph.
## Heading right after
Text under the heading.

```python
def f(x):

    return x  # a blank line above, inside the fence
```
| a | b |
|---|---|
| 1 | 2 |

1. step one
   ```sh
   ls -la
   ```
2. step two

> quoted
> text

~~~
tilde fence
~~~
Last words"""


def split(text: str) -> list[Block]:
    splitter = BlockSplitter()
    return splitter.feed(text) + splitter.close()


def texts(blocks: list[Block]) -> list[str]:
    return [b.text for b in blocks]


def test_paragraphs_split_at_blank_lines() -> None:
    splitter = BlockSplitter()
    assert texts(splitter.feed("one\ncontinued\n\ntwo")) == ["one\ncontinued"]
    assert splitter.tail_text() == "two"
    assert texts(splitter.feed("\n\n\nthree\n")) == ["two"]
    assert texts(splitter.close()) == ["three"]


def test_fenced_code_is_one_block_with_its_blank_lines() -> None:
    blocks = split("intro\n```python\na = 1\n\n\nb = 2\n```\nafter\n")
    assert blocks[1] == Block("code", "a = 1\n\n\nb = 2", "python")
    assert texts(blocks) == ["intro", "a = 1\n\n\nb = 2", "after"]


def test_closing_fence_must_be_as_long_as_the_opening_one() -> None:
    blocks = split("````md\n```\ninside\n```\n````\n")
    assert blocks == [Block("code", "```\ninside\n```", "md")]


def test_unclosed_fence_stays_in_the_tail() -> None:
    splitter = BlockSplitter()
    assert texts(splitter.feed("text\n\n```js\nlet a = 1;\n\nlet b")) == ["text"]
    assert splitter.in_code and splitter.lang == "js"
    assert splitter.open_lines == ["let a = 1;", ""] and splitter.partial == "let b"
    assert splitter.tail_text() == "let a = 1;\n\nlet b"
    assert splitter.close() == [Block("code", "let a = 1;\n\nlet b", "js", closed=False)]


def test_inline_triple_backticks_are_not_a_fence() -> None:
    assert texts(split("use ```code``` here\nmore\n")) == ["use ```code``` here\nmore"]


def test_lists_go_on_across_blank_lines_and_end_at_a_paragraph() -> None:
    blocks = split("- a\n- b\n\n  more b\n\n- c\n\nAfter the list.\n")
    assert texts(blocks) == ["- a\n- b\n\n  more b\n\n- c", "After the list."]


def test_a_list_ends_when_the_line_after_its_blank_line_starts_as_no_list_line_does() -> None:
    """Not at that line's end: a closing paragraph often comes as one long line, and must be
    drawn (and frozen) as a paragraph while it streams, not as part of the list."""
    splitter = BlockSplitter()
    assert texts(splitter.feed("- a\n- b\n\nAfter the li")) == ["- a\n- b"]
    assert not splitter.in_list and splitter.tail_text() == "After the li"
    assert texts(splitter.feed("st.\n\n")) == ["After the list."]
    for going_on in ("  more", "- c", "2", "2.", "*", "10) x"):
        splitter = BlockSplitter()
        assert splitter.feed(f"- a\n\n{going_on}") == []
        assert splitter.in_list, going_on


def test_tables_are_contiguous_lines() -> None:
    table = "| a | b |\n|---|---|\n| 1 | 2 |"
    assert texts(split(f"{table}\n\ntext\n")) == [table, "text"]


def test_headings_are_blocks_of_their_own() -> None:
    blocks = split("para\n# H1\n## H2\ntext\n")
    assert texts(blocks) == ["para", "# H1", "## H2", "text"]


def test_indented_fence_in_a_list_is_split_out_and_dedented() -> None:
    blocks = split("1. one\n   ```sh\n   ls -la\n   ```\n2. two\n")
    assert blocks == [
        Block("text", "1. one"),
        Block("code", "ls -la", "sh"),
        Block("text", "2. two"),
    ]


def test_whole_document() -> None:
    kinds = [(b.kind, b.text.split("\n")[0]) for b in split(DOC)]
    assert kinds == [
        ("text", "# Title"),
        ("text", "First paragraph, line one"),
        ("text", "- alpha"),
        ("text", "Next paragraph."),
        ("text", "## Heading right after"),
        ("text", "Text under the heading."),
        ("code", "def f(x):"),
        ("text", "| a | b |"),
        ("text", "1. step one"),
        ("code", "ls -la"),
        ("text", "2. step two"),
        ("text", "> quoted"),
        ("code", "tilde fence"),
        ("text", "Last words"),
    ]


@pytest.mark.parametrize("seed", range(20))
def test_any_chunking_gives_the_same_blocks(seed: int) -> None:
    rng = random.Random(seed)
    text = DOC * 3
    expected = split(text)
    splitter, got, i = BlockSplitter(), [], 0
    while i < len(text):
        n = rng.choice([1, 1, 2, 3, 7, 40])
        got += splitter.feed(text[i : i + n])
        i += n
    assert got + splitter.close() == expected


def test_one_char_at_a_time_gives_the_same_blocks() -> None:
    splitter = BlockSplitter()
    got = [block for ch in DOC for block in splitter.feed(ch)]
    assert got + splitter.close() == split(DOC)


def test_work_is_linear_in_the_new_text() -> None:
    text = DOC * 50 + "x" * 50_000  # including one very long line fed char by char
    splitter = BlockSplitter()
    for ch in text:
        splitter.feed(ch)
    # Each character is scanned when fed, and once more when its line is joined: never
    # re-scanned per append (quadratic would be ~10^9 here).
    assert splitter.scanned <= 2 * len(text)


def test_soft_cuts() -> None:
    para = "One sentence here. Another `code. span` sentence. And a third one"
    cut = find_soft_cut(para, 0, len(para))
    assert cut is not None and para[:cut] == "One sentence here. Another `code. span` sentence. "
    assert find_soft_cut("no boundary at all", 0, 18) is None
    items = "- a\n- b\n- c\n"
    assert find_soft_cut(items, 0, len(items) - 1) == items.index("- c")
    assert find_soft_cut("| a |\n|---|\n| 1 |\n| 2 |", 0, 20) is None


# -- renderables and lines ----------------------------------------------------------------


def lines_of(renderable: RenderableType, width: int = 40) -> list[Strip]:
    return Renders(width)(renderable)


def test_fast_code_highlights_wraps_and_pads() -> None:
    strips = lines_of(FastCode("def f():\n    return 'abcdefghij' * 100", "python"), width=30)
    assert [s.text for s in strips] == [
        " " * 30,  # top padding
        " def f():" + " " * 21,
        "     return 'abcdefghij' * 10 ",  # wrapped at 28 cells (1 cell of padding each side)
        " 0" + " " * 28,
        " " * 30,  # bottom padding
    ]
    keyword = next(seg for seg in strips[1] if seg.text == "def")
    name = next(seg for seg in strips[1] if seg.text == "f")
    assert keyword.style and name.style and keyword.style.color != name.style.color
    assert keyword.style.bgcolor is not None  # the code background
    chunk = lines_of(FastCode("a\nb", top=False, bottom=False))
    assert [s.text.strip() for s in chunk] == ["a", "b"]


def test_markdown_blocks_have_no_blank_edges_and_no_markup() -> None:
    strips = lines_of(ChatMarkdown("- [bold red]x[/]\n- b"))
    assert [s.text.rstrip() for s in strips] == [" • [bold red]x[/]", " • b"]
    table = lines_of(block_renderable(Block("text", "| a | b |\n|---|---|\n| 1 | 2 |")))
    assert "a" in table[0].text and "─" in table[1].text and "1" in table[2].text


class Renders:
    """A render function for BlockLines at ``width`` that records what it rendered: the
    renderables' type names and their line counts."""

    def __init__(self, width: int) -> None:
        self.console = Console(width=width, color_system="truecolor", force_terminal=True)
        self.names: list[str] = []
        self.sizes: list[int] = []

    def __call__(self, renderable: RenderableType) -> list[Strip]:
        console = self.console
        strips = render_strips(console, console.options, renderable, console.get_style("none"))
        self.names.append(type(renderable).__name__)
        self.sizes.append(len(strips))
        return strips


def test_block_lines_render_final_blocks_once_and_keep_the_live_tail_small() -> None:
    render = Renders(60)
    rendered = render.sizes

    lines = BlockLines(render, dark=True)
    splitter = BlockSplitter()
    code = "```python\n" + "".join(f"x_{i} = {i}\n" for i in range(200))
    for ch_start in range(0, len(code), 9):
        for block in splitter.feed(code[ch_start : ch_start + 9]):
            lines.add(block)
        rendered.clear()
        lines.set_tail(splitter)
        # per update: at most one new frozen chunk, plus the live part (< CODE_CHUNK lines)
        assert sum(rendered) <= 2 * CODE_CHUNK + 4
    assert len(lines.tail) == 200 + 2  # all lines shown, padding above and below
    first = lines.tail[:10]
    lines.set_tail(splitter)
    assert lines.tail[:10] == first and all(
        a is b for a, b in zip(lines.tail[:10], first, strict=True)
    )

    def stream(paragraph: str) -> tuple[BlockSplitter, BlockLines, list[int]]:
        """The most lines rendered at one flush, streaming ``paragraph`` 40 chars at a time."""
        splitter, lines, sizes = BlockSplitter(), BlockLines(render, dark=True), []
        for start in range(0, len(paragraph), 40):
            splitter.feed(paragraph[start : start + 40])
            rendered.clear()
            lines.set_tail(splitter)
            sizes.append(max(rendered))  # the live part (and the lines it froze)
        return splitter, lines, sizes

    _, lines, sizes = stream(" ".join(f"Sentence number {i} is here." for i in range(400)))
    assert max(sizes) <= PARA_LINES + 2 and len(lines.tail) > 100
    # A paragraph whose lines cannot be frozen (no line may start as this one's do) is
    # frozen in pieces at sentence ends: the live part stays around TEXT_LIMIT characters.
    splitter, lines, sizes = stream("Scores: " + " ".join(f"+{i}." for i in range(1500)))
    assert max(sizes) * 60 < 2 * TEXT_LIMIT
    done = splitter.close()
    lines.add(done[0])
    lines.set_tail(None)
    assert lines.blocks == 1 and not lines.tail


def test_a_block_that_ends_as_it_was_drawn_open_is_not_rendered_again() -> None:
    """The answer's last block at its end: its open lines become final as they are."""
    render = Renders(40)
    rendered = render.names

    for text in ("A first paragraph, **bold** in it.", "- one\n- two", "Plain words only"):
        splitter, lines = BlockSplitter(), BlockLines(render, dark=True)
        splitter.feed(text)
        lines.set_tail(splitter)
        drawn = list(lines.tail)
        rendered.clear()
        [block] = splitter.close()
        lines.add(block)
        assert rendered == [] and lines.lines == drawn
        fresh = BlockLines(render, dark=True)
        fresh.add(block)
        assert cells(fresh.lines) == cells(drawn)  # what a render would have drawn
    splitter, lines = BlockSplitter(), BlockLines(render, dark=True)
    splitter.feed("Some text")
    lines.set_tail(splitter)
    splitter.feed(" and more")  # arrived after the tail was drawn: rendered as final
    rendered.clear()
    [block] = splitter.close()
    lines.add(block)
    assert rendered == ["Text"] and "and more" in "".join(s.text for s in lines.lines)


INLINE_WORDS = ("plain", "words", "here,", "and", "`code()`", "**bold**", "*em*", "end.",
                "[a link](https://example.com/x)", "(aside)", "`two words`", "~~gone~~", "42")  # fmt: skip


@pytest.mark.parametrize("seed", range(6))
def test_an_open_paragraph_is_drawn_exactly_while_only_its_last_line_is_live(seed: int) -> None:
    """At every flush the open paragraph shows what rendering all of it would show, cell for
    cell, though only its last line or so is rendered: the lines above are frozen where Rich
    wrapped them. At its end it is not rendered again."""
    from chat_tui.ui.widgets.markdown_render import text_renderable

    rng = random.Random(seed)
    text = "Start " + " ".join(rng.choice(INLINE_WORDS) for _ in range(rng.randint(250, 320)))
    width = rng.choice((30, 57, 100))
    render = Renders(width)
    rendered = render.sizes

    splitter, lines, i, live = BlockSplitter(), BlockLines(render, dark=True), 0, []
    for step in itertools.count():
        n = rng.choice((1, 4, 4, 9, 30))
        splitter.feed(text[i : i + n])
        i += n
        rendered.clear()
        lines.set_tail(splitter)
        live += rendered
        whole = render(text_renderable(splitter.tail_text(), "monokai"))
        assert [s.text for s in lines.tail] == [s.text for s in whole], (i, width)
        if step % 8 == 0 or i >= len(text):  # styles too (slower to compare)
            assert cells(lines.tail) == cells(whole), (i, width)
        if i >= len(text):
            break
    assert max(live) <= PARA_LINES + 2 and len(lines.tail) >= 2 * (PARA_LINES + 2)
    rendered.clear()
    [block] = splitter.close()
    lines.add(block)
    assert rendered == [] and cells(lines.lines) == cells(render(block_renderable(block)))


def test_an_open_paragraph_that_ends_with_text_not_yet_drawn_keeps_its_frozen_lines() -> None:
    """The usual end of an answer: its last paragraph's last words and its end come in one
    flush. Only the lines after the frozen ones are rendered, as a whole render would."""
    render = Renders(40)
    text = " ".join(f"Word{i} `code {i}` and **b{i}**." for i in range(60))
    splitter, lines = BlockSplitter(), BlockLines(render, dark=True)
    for start in range(0, len(text) - 40, 50):
        splitter.feed(text[start : min(start + 50, len(text) - 40)])
        lines.set_tail(splitter)
    assert len(lines.tail) > 20 and max(render.sizes) <= PARA_LINES + 2
    render.sizes.clear()
    [block] = splitter.feed(text[-40:] + "\n\n")
    lines.add(block)
    assert max(render.sizes) <= PARA_LINES + 1
    assert cells(lines.lines) == cells(render(block_renderable(block)))


def test_an_open_table_is_drawn_a_row_at_a_time() -> None:
    render = Renders(40)
    rendered = render.names

    splitter, lines = BlockSplitter(), BlockLines(render, dark=True)
    splitter.feed("| a | b |\n|---|---|\n| 1 | 2 |\n| 3 ")
    lines.set_tail(splitter)
    drawn = "".join(s.text for s in lines.tail)
    assert "1" in drawn and "3" not in drawn and "─" in drawn
    rendered.clear()
    splitter.feed("| 4")
    lines.set_tail(splitter)
    assert rendered == []  # nothing new to draw: not rendered
    splitter.feed(" |\n")
    lines.set_tail(splitter)
    assert rendered == ["ChatMarkdown"] and "3" in "".join(s.text for s in lines.tail)


def test_an_open_code_block_lexes_its_complete_lines_once_and_its_last_alone() -> None:
    """At each flush only the partial line is highlighted; the complete live lines are lexed
    together when one is added. The block is drawn as highlighting all of it would."""
    render = Renders(50)
    rendered = render.sizes

    code = "".join(f"value_{i} = compute('x', limit={i})  # step {i}\n" for i in range(40))
    splitter, lines = BlockSplitter(), BlockLines(render, dark=True)
    splitter.feed("```python\n")
    lines.set_tail(splitter)
    for start in range(0, len(code), 7):
        complete = len(splitter.open_lines)
        splitter.feed(code[start : start + 7])
        rendered.clear()
        lines.set_tail(splitter)
        if len(splitter.open_lines) == complete:  # no new line: the partial one alone
            assert rendered == [2]  # its line and the padding below
        whole = render(FastCode(splitter.tail_text(), "python"))
        assert cells(lines.tail) == cells(whole), start


def test_chat_markdown_sets_what_rich_markdown_sets() -> None:
    """ChatMarkdown shares one parser instead of Rich's per-instance one: same attributes,
    same parse."""
    from rich.markdown import Markdown

    ours, rich = ChatMarkdown(DOC), Markdown(DOC)
    assert vars(ours).keys() == vars(rich).keys()
    assert {k: v for k, v in vars(ours).items() if k != "parsed"} == {
        k: v for k, v in vars(rich).items() if k != "parsed"
    }
    assert ours.parsed == rich.parsed


def test_start_up_does_not_import_the_markdown_renderers() -> None:
    """Rich Markdown, markdown-it and Pygments load after the first frame (the chat screen's
    warm-up), not when the app is imported."""
    import subprocess
    import sys

    code = (
        "import sys; from chat_tui.ui.app import make_app; "
        "print(sorted(m for m in ('rich.markdown', 'markdown_it', 'pygments.lexers', "
        "'chat_tui.ui.widgets.markdown_render') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


NULL = Style()


def cells(strips: list[Strip]) -> list[list[tuple[str, object]]]:
    """Each line as (character, style) cells: what the terminal shows, however segmented
    (no style and the null style draw alike)."""
    return [[(ch, seg.style or NULL) for seg in strip for ch in seg.text] for strip in strips]


PLAIN_WORDS = ("The", "answer", "is", "42,", "(roughly)", "yes!", "why?", "a/b", "100%",
               "x+y=z", "e-mail", "it's", '"quoted"', "user@example.com", "$5", "naïve",
               "日本語", "end.", "a:b;")  # fmt: skip


@pytest.mark.parametrize("seed", range(40))
def test_a_plain_line_renders_as_markdown_does_cell_for_cell(seed: int) -> None:
    """The open block's fast path (Text instead of parsing Markdown) must not change a cell:
    lines of prose, at widths that wrap them, with the app's Markdown theme."""
    from chat_tui.ui.widgets.markdown_render import markdown_theme, plain_paragraph

    rng = random.Random(seed)
    words = [rng.choice(PLAIN_WORDS) for _ in range(rng.randint(1, 40))]
    text = "Word " + rng.choice(("", " ", "  ")).join(words) + rng.choice(("", " ", "   "))
    theme = markdown_theme({"primary": "#ff0000", "secondary": "#00ff00",
                            "accent": "#0000ff", "surface": "#111111"})  # fmt: skip
    fast = plain_paragraph(text)
    assert fast is not None
    for width in (12, 37, 80):
        console = Console(width=width, color_system="truecolor", force_terminal=True)
        base = console.get_style("on #222222")

        def render(r: RenderableType, console: Console = console, base: object = base) -> list:
            return cells(render_strips(console, console.options, r, base, theme))  # type: ignore[arg-type]

        assert render(fast) == render(ChatMarkdown(text))


@pytest.mark.parametrize("text", [
    "- item", "1. first", "# title", "> quote", "    code", "**bold**", "a *b* c", "a_b_c",
    "`code`", "[link](x)", "a <b>", "AT&amp;T", "back\\slash", "a | b", "~~gone~~", "two\nlines",
    "9 lives", " leading", "",
])  # fmt: skip
def test_markdown_syntax_is_never_taken_for_a_plain_line(text: str) -> None:
    from chat_tui.ui.widgets.markdown_render import plain_paragraph

    assert plain_paragraph(text) is None
