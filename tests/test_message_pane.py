"""The message pane in a tiny host app: streaming, freezing, safety, following, states."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rich.console import RenderableType
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.strip import Strip
from textual.widgets import Static

import chat_tui.ui.widgets.markdown_blocks as markdown_blocks
import chat_tui.ui.widgets.message_pane as message_pane
from chat_tui.ui.widgets.message_pane import AssistantMessage, MessagePane, Notice, UserMessage

NASTY = "[bold red]x[/] \x1b]52;c;SGVsbG8=\x07 \x1b[2J \x1b]0;title\x07 [link=http://e.vil]y[/link]"


class PaneApp(App[None]):
    def compose(self) -> ComposeResult:
        yield MessagePane(flush_interval=0.01)

    @property
    def pane(self) -> MessagePane:
        return self.query_one(MessagePane)


def lines(message: AssistantMessage | UserMessage) -> list[Strip]:
    return [message.render_line(y) for y in range(message.size.height)]


def shown(message: AssistantMessage) -> str:
    return "\n".join(strip.text.rstrip() for strip in lines(message))


def watch_refreshes(message: AssistantMessage) -> list[tuple[tuple[Any, ...], bool]]:
    """From now on, each ``message.refresh`` call's regions and layout flag."""
    calls: list[tuple[tuple[Any, ...], bool]] = []
    refresh = message.refresh

    def watched(*regions: Any, layout: bool = False, **kw: Any) -> Any:
        calls.append((regions, layout))
        return refresh(*regions, layout=layout, **kw)

    message.refresh = watched  # type: ignore[method-assign]
    return calls


async def streaming(pilot: Pilot[None]) -> AssistantMessage:
    message = pilot.app.query_one(MessagePane).start_assistant()
    await pilot.pause()
    return message


async def test_streamed_text_shows_after_a_flush_as_markdown() -> None:
    async with PaneApp().run_test(size=(100, 40)) as pilot:
        message = await streaming(pilot)
        message.append("Hello ")
        await pilot.pause()
        assert "Hello" in shown(message)  # after a quiet spell a token is drawn at once
        for token in ["**wor", "ld**", " and `co", "de`"]:
            message.append(token)
        assert "world" not in shown(message)  # within the interval: buffered, not per token
        message.flush()
        await pilot.pause()
        assert "Hello world and code▍" not in shown(message)
        assert "Hello world and code" in shown(message) and "**" not in shown(message)
        assert shown(message).splitlines()[-1] == "▍"  # the streaming cursor
        message.append(" more")
        await pilot.pause(0.1)  # the timer flushes on its own
        assert "and code more" in shown(message)
        assert message.text == "Hello **world** and `code` more"
        message.finish()
        await pilot.pause()
        assert message.status == "complete" and "▍" not in shown(message)


async def test_finished_blocks_are_rendered_once_and_widgets_do_not_grow(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    renders: list[RenderableType] = []
    real = markdown_blocks.render_strips

    def counting(*args: Any) -> list[Strip]:
        renders.append(args[2])
        return real(*args)

    monkeypatch.setattr(markdown_blocks, "render_strips", counting)
    async with PaneApp().run_test(size=(100, 40)) as pilot:
        pane = pilot.app.query_one(MessagePane)
        message = await streaming(pilot)
        widgets = len(pane.children)
        message.append("First paragraph.\n\nSecond paragraph")
        message.flush()
        await pilot.pause()
        assert message._lines is not None and message._lines.blocks == 1
        first_block = message._lines.lines[:]
        per_flush = []
        for i in range(60):
            renders.clear()
            message.append(f" word{i}" + ("\n\nNew paragraph" if i % 10 == 9 else ""))
            message.flush()  # renders synchronously (the widget has its width)
            per_flush.append(len(renders))
        await pilot.pause()
        # each flush renders the open block (+ the block that just became final): the cost
        # does not grow with the number of blocks above it
        assert max(per_flush) <= 3 and message._lines.blocks == 7
        assert all(
            a is b
            for a, b in zip(message._lines.lines[: len(first_block)], first_block, strict=True)
        )
        assert len(pane.children) == widgets  # still one widget per message
        assert not message.children


async def test_code_block_is_highlighted_and_table_rendered() -> None:
    async with PaneApp().run_test(size=(100, 40)) as pilot:
        message = await streaming(pilot)
        message.append("```python\ndef answer():\n    return 42\n```\n\n| a | b |\n|---|---|\n")
        message.append("| 1 | 2 |\n")
        message.finish()
        await pilot.pause()
        strips = lines(message)
        code = next(s for s in strips if "def answer" in s.text)
        styles = {seg.text: seg.style for seg in code if seg.text.strip()}
        assert styles["def"] and styles["answer"] and styles["def"].color != styles["answer"].color
        assert styles["def"].bgcolor is not None
        text = shown(message)
        assert "|---|" not in text and "─" in text
        row = next(line for line in text.splitlines() if "1" in line and "2" in line)
        assert "|" not in row


async def test_model_output_is_never_interpreted() -> None:
    async with PaneApp().run_test(size=(100, 40)) as pilot:
        pane = pilot.app.query_one(MessagePane)
        user = pane.add_user(f"user says {NASTY}")
        notice = pane.add_notice(f"notice {NASTY}", severity="warning")
        message = await streaming(pilot)
        for ch in NASTY:  # escapes split across deltas too
            message.append(ch)
        message.flush()
        await pilot.pause()
        for text in (shown(message), user.render().plain, str(notice.render())):  # type: ignore[union-attr]
            assert "[bold red]x[/]" in text and "[link=http://e.vil]y[/link]" in text
            assert "\x1b" not in text and "\x07" not in text
            assert "␛]52;c;SGVsbG8=␇" in text
        for strip in lines(message):
            for seg in strip:
                assert "\x1b" not in seg.text and "\x07" not in seg.text
                if "x" in seg.text:
                    assert not (seg.style and seg.style.bold)  # "[bold red]" was not applied
        assert "\x1b" not in message.text and "[bold red]x[/]" in message.text
        assert isinstance(notice, Notice)


async def test_follows_the_bottom_until_the_user_scrolls_up() -> None:
    async with PaneApp().run_test(size=(100, 40)) as pilot:
        pane = pilot.app.query_one(MessagePane)
        more = pane.query_one("#more-below")
        message = await streaming(pilot)

        async def grow(n: int) -> None:
            message.append("".join(f"Line {i} of the answer.\n\n" for i in range(n)))
            message.flush()
            await pilot.pause()

        await grow(30)
        assert pane.following and pane.max_scroll_y > 0
        assert pane.scroll_y == pane.max_scroll_y and not more.display
        pane.scroll_to(y=0, animate=False)  # the user scrolls up
        await pilot.pause()
        assert not pane.following
        await grow(5)
        assert pane.scroll_y == 0 and more.display  # stays put, says there is more
        await pilot.click("#more-below")
        await pilot.pause()
        assert pane.following and not more.display
        await grow(3)
        assert pane.scroll_y == pane.max_scroll_y

        pane.scroll_to(y=0, animate=False)
        await pilot.pause()
        pane.focus()
        await pilot.press("end")
        await grow(2)
        assert pane.following and pane.scroll_y == pane.max_scroll_y


async def test_finish_states_show_their_line_and_keep_the_partial_answer() -> None:
    async with PaneApp().run_test(size=(100, 40)) as pilot:
        pane = pilot.app.query_one(MessagePane)
        cases: list[tuple[Callable[[AssistantMessage], None], str]] = [
            (
                lambda m: m.finish("stopped", note="stopped after 3 tokens"),
                "■ stopped after 3 tokens",
            ),
            (lambda m: m.finish("interrupted"), "⚠ interrupted — 3 tokens received"),
            (lambda m: m.finish("failed", error="HTTP 529: overloaded"), "✖ HTTP 529: overloaded"),
        ]
        for finish, line in cases:
            message = pane.start_assistant()
            await pilot.pause()
            for token in ["Partial ", "answer ", "kept"]:
                message.append(token)
            finish(message)
            await pilot.pause()
            text = shown(message).splitlines()
            assert text[0] == "Assistant" and text[1] == "Partial answer kept"
            assert text[-1] == line and "▍" not in shown(message)
            message.append("ignored after finish")
            assert message.text == "Partial answer kept"
        failed = pane.query(AssistantMessage).last()
        assert failed.status == "failed" and failed.error == "HTTP 529: overloaded"


async def test_history_is_one_widget_per_message_rendered_when_shown() -> None:
    async with PaneApp().run_test(size=(100, 40)) as pilot:
        pane = pilot.app.query_one(MessagePane)
        answer = "## Answer\n\nSome text.\n\n```python\nprint('hi')\n```\n\n- a\n- b\n"
        for i in range(500):
            pane.add_user(f"question {i}")
            pane.add_assistant(answer, status="interrupted" if i == 499 else "complete")
        await pilot.pause()
        answers = list(pane.query(AssistantMessage))
        assert len(answers) == 500 and len(pane.query(UserMessage)) == 500
        assert all(not a.children for a in answers)  # one widget per message
        rendered = [a for a in answers if a._lines is not None]
        assert 0 < len(rendered) < 20  # only those on screen
        assert answers[-1] in rendered and "⚠ interrupted" in shown(answers[-1])
        # only the newest messages are laid out; the rest fold behind a bar at the top
        shown_widgets = [w for w in pane._messages() if w.display]
        earlier = pane.query_one("#earlier", Static)
        assert len(shown_widgets) == message_pane.SHOWN and earlier.display
        assert "920 earlier messages" in str(earlier.render())
        pane.scroll_home(animate=False)  # the user goes up: the next ones unfold
        await pilot.pause()
        await pilot.pause()
        assert "840 earlier messages" in str(earlier.render()) and not pane.following
        assert pane.scroll_y > 0  # kept in place, with the unfolded messages above
        pane.scroll_to(y=0, animate=False)
        await pilot.pause()
        assert "760 earlier messages" in str(earlier.render())
        pane.scroll_to_latest()  # following again: folded again
        await pilot.pause()
        assert len([w for w in pane._messages() if w.display]) == message_pane.SHOWN
        await pane.clear_messages()
        await pilot.pause()
        assert not pane._messages() and not earlier.display


async def test_clicking_the_earlier_bar_unfolds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(message_pane, "SHOWN", 6)
    async with PaneApp().run_test(size=(100, 40)) as pilot:
        pane = pilot.app.query_one(MessagePane)
        for i in range(10):
            pane.add_notice(f"notice {i}")
        await pilot.pause()
        assert [w.display for w in pane._messages()] == [False] * 4 + [True] * 6
        await pilot.click("#earlier")
        await pilot.pause()
        assert all(w.display for w in pane._messages())
        assert not pane.query_one("#earlier").display


async def test_resize_and_theme_change_re_render() -> None:
    app = PaneApp()
    async with app.run_test(size=(100, 40)) as pilot:
        pane = app.query_one(MessagePane)
        message = pane.add_assistant("word " * 150)
        await pilot.pause()
        wide = message.size.height
        await pilot.resize_terminal(60, 40)
        await pilot.pause()
        await pilot.pause()
        assert message.size.height > wide and "word" in shown(message)
        before = lines(message)[1]
        app.theme = "textual-light"
        await pilot.pause()
        await pilot.pause()
        assert lines(message)[1].text == before.text and lines(message)[1] != before


async def test_the_first_token_fills_a_reserved_line_without_a_layout() -> None:
    async with PaneApp().run_test(size=(100, 40)) as pilot:
        message = await streaming(pilot)
        assert shown(message).splitlines() == ["Assistant", "", "▍"]  # waiting: a blank line
        height = message.size.height
        refreshes = watch_refreshes(message)
        message.append("First")
        await pilot.pause()
        assert shown(message).splitlines() == ["Assistant", "First", "▍"]
        assert message.size.height == height and refreshes
        assert not any(layout for _, layout in refreshes)
        message.finish("failed", error="it broke")  # no reserved line once finished
        await pilot.pause()
        assert "" not in shown(message).splitlines()[:2]


async def test_a_flush_repaints_only_the_open_blocks_changed_lines() -> None:
    """The lines an open code block froze, and its complete lines, are not repainted when
    only its last line grew: the repaint starts at that line."""
    async with PaneApp().run_test(size=(100, 40)) as pilot:
        message = await streaming(pilot)
        message.append("Intro.\n\n```python\n" + "".join(f"x_{i} = {i}\n" for i in range(20)))
        message.append("y = ")
        message.flush()
        await pilot.pause()
        refreshes = watch_refreshes(message)
        message.append("compute()")
        message.flush()
        await pilot.pause()
        drawn = shown(message).splitlines()
        row = next(y for y, line in enumerate(drawn) if "y = compute()" in line)
        assert [(r.y, r.height) for regions, _ in refreshes for r in regions] == [
            (row, len(drawn) - row)
        ]


async def test_a_layout_repaints_only_the_lines_that_changed() -> None:
    """Each streamed line grows the answer (a layout): the lines above it are not drawn
    again, and what is on screen is what a whole repaint draws."""
    async with PaneApp().run_test(size=(60, 30)) as pilot:
        message = await streaming(pilot)
        drawn: list[int] = []
        render_line = message.render_line

        def counted(y: int) -> Strip:
            drawn.append(y)
            return render_line(y)

        message.render_line = counted  # type: ignore[method-assign]
        per_frame = []
        for i in range(60):  # about a line each: a layout each
            message.append(f"Sentence {i} of a paragraph that goes on and on. ")
            if i % 10 == 9:
                message.append("\n\n")
            message.flush()
            drawn.clear()
            await pilot.pause()
            per_frame.append(len(drawn))
        assert message.size.height > 2 * 30  # far taller than the screen
        assert max(per_frame[20:]) <= 6, str(per_frame)
        before = pilot.app.export_screenshot()
        message.refresh()  # a whole repaint
        await pilot.pause()
        assert pilot.app.export_screenshot() == before
        message.finish()
        await pilot.pause()
        before = pilot.app.export_screenshot()
        message.refresh()
        await pilot.pause()
        assert pilot.app.export_screenshot() == before and "▍" not in shown(message)
