"""The incremental block splitter and the cheap renderables of ``markdown_blocks`` (no app)."""

from __future__ import annotations

import random

import pytest
from rich.console import Console, RenderableType
from textual.strip import Strip

from chat_tui.ui.widgets.markdown_blocks import (
    CODE_CHUNK,
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
    console = Console(width=width, color_system="truecolor", force_terminal=True)
    return render_strips(console, console.options, renderable, console.get_style("none"))


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


def test_block_lines_render_final_blocks_once_and_keep_the_live_tail_small() -> None:
    console = Console(width=60, color_system="truecolor", force_terminal=True)
    rendered: list[int] = []

    def render(r: RenderableType) -> list[Strip]:
        strips = render_strips(console, console.options, r, console.get_style("none"))
        rendered.append(len(strips))
        return strips

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

    paragraph = " ".join(f"Sentence number {i} is here." for i in range(400))
    splitter = BlockSplitter()
    lines = BlockLines(render, dark=True)
    sizes = []
    for start in range(0, len(paragraph), 40):
        splitter.feed(paragraph[start : start + 40])
        rendered.clear()
        lines.set_tail(splitter)
        sizes.append(rendered[-1])  # the live part
    assert max(sizes) * 60 < 2 * TEXT_LIMIT  # the live part stays around TEXT_LIMIT chars
    done = splitter.close()
    lines.add(done[0])
    lines.set_tail(None)
    assert lines.blocks == 1 and not lines.tail


def test_a_block_that_ends_as_it_was_drawn_open_is_not_rendered_again() -> None:
    """The answer's last block at its end: its open lines become final as they are."""
    console = Console(width=40, color_system="truecolor", force_terminal=True)
    rendered: list[str] = []

    def render(r: RenderableType) -> list[Strip]:
        rendered.append(type(r).__name__)
        return render_strips(console, console.options, r, console.get_style("none"))

    for text in ("A first paragraph, **bold** in it.", "- one\n- two", "Plain words only"):
        splitter, lines = BlockSplitter(), BlockLines(render, dark=True)
        splitter.feed(text)
        lines.set_tail(splitter)
        drawn, rendered[:] = list(lines.tail), []
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


def cells(strips: list[Strip]) -> list[list[tuple[str, object]]]:
    """Each line as (character, style) cells: what the terminal shows, however segmented."""
    return [[(ch, seg.style) for seg in strip for ch in seg.text] for strip in strips]


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
