"""The thinking block in the pane, through Pilot: it appears above its answer with a live
header, folds to one line when the answer starts unless pinned, unfolds with a key or a click,
is sanitised, and comes back folded with a saved conversation. Plus a snapshot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.app import App, ComposeResult

from chat_tui.core.prefs import Prefs
from chat_tui.ui.app import ChatApp, make_app
from chat_tui.ui.widgets.chat_input import ChatInput
from chat_tui.ui.widgets.message_pane import AssistantMessage, MessagePane
from chat_tui.ui.widgets.thinking_block import ThinkingBlock, TurnView
from tests.helpers import FakeClock, loopback_settings
from tests.loopback import SSE
from tests.loopback_thinking import ThinkingLoopback, anthropic_thinking_sse

APPS = Path(__file__).parent / "snapshot_apps"


class PaneApp(App[None]):
    def compose(self) -> ComposeResult:
        yield MessagePane(flush_interval=0.01)


async def test_live_header_then_folds_when_the_answer_starts() -> None:
    clock = FakeClock(0.0)
    app = PaneApp()
    async with app.run_test(size=(80, 30)) as pilot:
        pane = app.query_one(MessagePane)
        view = TurnView(pane, pane.start_assistant(), clock=clock)
        await pilot.pause()
        view.thinking("Weighing **options**: one, two, three.\n\n")
        await pilot.pause()
        block = view.block
        assert block is not None and block.live and not block.folded
        assert pane.children.index(block) == pane.children.index(view.answer) - 1  # above it
        clock.advance(4.2)
        assert block.header_text() == "▼ thinking… 4.2 s"
        assert block.render_line(0).text.startswith("▼ thinking… 4.2 s")
        view.thinking("Pick two.")
        await pilot.pause()
        assert block.size.height > 2  # open while thinking: header + the text
        view.text("Two.")
        await pilot.pause()
        assert block.folded and not block.live and block.size.height == 1
        clock.advance(10)  # the clock stopped when the answer began
        assert block.header_text() == "▶ thought for 4.2 s · 7 words"
        assert view.answer.text == "Two."
        view.answer.finish("complete")
        view.end()


async def test_pinned_block_stays_open_and_the_key_and_click_fold_it() -> None:
    app = PaneApp()
    async with app.run_test(size=(80, 30)) as pilot:
        pane = app.query_one(MessagePane)
        view = TurnView(pane, pane.start_assistant(), pinned=True)
        view.thinking("Line one.\n\nLine two.")
        view.text("Answer.")
        await pilot.pause()
        block = view.block
        assert block is not None and not block.folded and block.size.height > 1
        block.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert block.folded and not block.pinned and block.size.height == 1
        await pilot.press("space")
        await pilot.pause()
        assert not block.folded and block.pinned
        await pilot.click(block, offset=(2, 0))
        await pilot.pause()
        assert block.folded


async def test_thinking_text_is_sanitised() -> None:
    app = PaneApp()
    async with app.run_test(size=(80, 20)) as pilot:
        pane = app.query_one(MessagePane)
        view = TurnView(pane, pane.start_assistant(), pinned=True)
        view.thinking("[red]x[/red] \x1b[31mred\x1b[0m \x07evil")
        await pilot.pause()
        assert view.block is not None
        assert "\x1b" not in view.block.text and "\x07" not in view.block.text
        assert "[red]x[/red]" in view.block.text  # shown literally, never markup


def _build(server: ThinkingLoopback, tmp_path: Path, **settings: Any) -> ChatApp:
    values = loopback_settings(server, data_dir=tmp_path / "data", thinking="on", **settings)
    return make_app(values, prefs=Prefs(path=tmp_path / "state.json"), clock=FakeClock())


async def _send(pilot: Any, text: str) -> None:
    app: ChatApp = pilot.app
    field = app.chat.query_one(ChatInput)
    field.focus()
    field.load_text(text)
    await pilot.press("enter")
    await app.workers.wait_for_complete()
    await pilot.pause()


async def test_the_app_streams_thinking_above_the_answer_and_folds_it(tmp_path: Path) -> None:
    with ThinkingLoopback() as server:
        app = _build(server, tmp_path)
        async with app.run_test(size=(120, 40)) as pilot:
            await _send(pilot, "hi")
            blocks = list(app.chat.query(ThinkingBlock))
            answers = [
                a for a in app.chat.query(AssistantMessage) if not isinstance(a, ThinkingBlock)
            ]
            assert len(blocks) == 1 and len(answers) == 1
            assert blocks[0].folded and blocks[0].text.startswith("Let me think.")
            assert answers[0].text == "Hello."
            panel = app.chat.panel.data
            assert panel is not None and panel.last is not None
            assert panel.last.thinking_tokens is not None and panel.last.thinking_estimated
            # retry replaces the answer and its thinking
            await pilot.press("ctrl+r")
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert len(list(app.chat.query(ThinkingBlock))) == 1
            conv_id = app.session.conversation.id
        # a saved conversation shows its thinking folded above the answer
        again = _build(server, tmp_path, thinking_open=True)
        async with again.run_test(size=(120, 40)) as pilot:
            assert conv_id is not None
            await again.chat.open_conversation(conv_id)
            await pilot.pause()
            shown = list(again.chat.query(ThinkingBlock))
            assert len(shown) == 1 and not shown[0].folded  # the config pins it open
            assert shown[0].header_text().startswith("▼ thought for ")  # time from the db
            assert shown[0].text.startswith("Let me think.")


async def test_a_cut_turn_shows_the_dim_note(tmp_path: Path) -> None:
    with ThinkingLoopback() as server:
        server.enqueue(SSE(anthropic_thinking_sse(["long ", "thought"], [],
                                                  stop_reason="max_tokens")))  # fmt: skip
        app = _build(server, tmp_path)
        async with app.run_test(size=(120, 40)) as pilot:
            await _send(pilot, "hard")
            answer = [a for a in app.chat.query(AssistantMessage)
                      if not isinstance(a, ThinkingBlock)][-1]  # fmt: skip
            assert answer.note == (
                "cut while still thinking, at the 4,096-token limit: ctrl+r retries with more "
                "(max_tokens)"
            )
            block = app.chat.query_one(ThinkingBlock)
            assert not block.folded and not block.live  # no answer came: the thinking stays open
            conv_id = app.session.conversation.id
        again = _build(server, tmp_path)
        async with again.run_test(size=(120, 40)) as pilot:
            assert conv_id is not None
            await again.chat.open_conversation(conv_id)
            await pilot.pause()
            saved = [a for a in again.chat.query(AssistantMessage)
                     if not isinstance(a, ThinkingBlock)][-1]  # fmt: skip
            assert saved.note == (
                "cut while still thinking, at the token limit: ctrl+r retries with more "
                "(max_tokens)"
            )


def test_thinking_pane_snapshot(snap_compare: Any) -> None:
    assert snap_compare(APPS / "thinking_app.py", terminal_size=(100, 34))


def test_panel_rows_for_a_thinking_turn_only() -> None:
    from chat_tui.core.metrics import TurnMetrics
    from chat_tui.core.pricing import Cost
    from chat_tui.providers.events import Usage
    from chat_tui.ui.widgets.panel_sections import thinking_rows

    plain = TurnMetrics("anthropic", "m", 0.4, 1.0, 50.0, Usage(), Cost(0.0, 0.0))
    assert thinking_rows(plain) == []
    thought = TurnMetrics("anthropic", "m", 0.4, 6.0, 50.0, Usage(), Cost(0.0, 0.0),
                          first_text_s=4.6, thinking_s=4.2, thinking_tokens=312,
                          thinking_estimated=True, stop_reason="max_tokens")  # fmt: skip
    rows = [str(row.plain) for row in thinking_rows(thought)]
    assert any("first text" in r and "4,600 ms" in r for r in rows)
    assert any("thinking" in r and "4.20 s · ~312 tok" in r for r in rows)
    assert any("stopped by" in r and "max_tokens" in r for r in rows)


def test_show_thinking_is_dim_on_a_terminal() -> None:
    import io

    from chat_tui.cli.thinking_out import ThinkingWriter

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty, pipe = Tty(), io.StringIO()
    for stream in (tty, pipe):
        writer = ThinkingWriter(stream)
        writer.write("hmm")
        writer.end()
    assert tty.getvalue() == "\x1b[2mhmm\x1b[0m\n" and pipe.getvalue() == "hmm\n"


async def test_the_block_is_reachable_by_keyboard(tmp_path: Path) -> None:
    """shift+tab from the prompt reaches the latest thinking block; enter unfolds it."""
    with ThinkingLoopback() as server:
        app = _build(server, tmp_path)
        async with app.run_test(size=(120, 40)) as pilot:
            await _send(pilot, "hi")
            block = app.chat.query_one(ThinkingBlock)
            assert block.folded
            for _ in range(4):
                if app.focused is block:
                    break
                await pilot.press("shift+tab")
            assert app.focused is block
            assert "enter to unfold" in block.header_text()
            await pilot.press("enter")
            await pilot.pause()
            assert not block.folded and block.size.height > 1
