"""The document set in the TUI, with Pilot: ctrl+o adds (a PDF, a folder), the document screen
lists the set and delete removes the highlighted one; the panel lists name, pages or files,
tokens and the total; --doc given twice loads both; a snapshot of the screen."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from textual.widgets import Input, OptionList

from chat_tui.ui.app import ChatApp
from chat_tui.ui.screens.chat import ChatScreen
from chat_tui.ui.screens.document import DocumentScreen
from chat_tui.ui.widgets.chat_input import ChatInput
from chat_tui.ui.widgets.message_pane import Notice
from tests.loopback import LoopbackServer
from tests.pdf_helpers import write_pdf
from tests.test_app import SIZE, build, send, settle


def _panel_text(app: ChatApp) -> str:
    return app.chat.panel.section_text("document") or ""


async def _add(pilot: Any, path: Path) -> None:
    app: ChatApp = pilot.app
    await pilot.press("ctrl+o")
    await pilot.pause()
    assert isinstance(app.screen, DocumentScreen)
    app.screen.query_one(Input).value = str(path)
    await pilot.press("enter")
    await settle(pilot)


async def test_ctrl_o_adds_documents_and_the_screen_removes_one(
    loopback: LoopbackServer, tmp_path: Path
) -> None:
    pdf = write_pdf(tmp_path / "manual.pdf", ["Turn the widget left.", "Then right."])
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "a.md").write_text("Alpha notes. " * 40, encoding="utf-8")
    (notes / "b.md").write_text("Beta notes. " * 40, encoding="utf-8")
    (notes / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    app = build(loopback, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _add(pilot, pdf)
        await _add(pilot, notes)
        assert isinstance(app.screen, ChatScreen)
        assert [i.document.name for i in app.session.documents] == ["manual.pdf", "a.md", "b.md"]
        notices = [str(n.render()) for n in app.chat.query(Notice)]
        assert any("notes/: took 2 files, skipped 1: 1 binary" in n for n in notices)
        panel = _panel_text(app).splitlines()
        assert panel[0] == "manual.pdf"
        assert panel[1].split() == ["2", "p", f"{app.session.documents[0].tokens:,}", "tok"]
        assert panel[2] == "notes/"
        assert panel[3].split()[:2] == ["2", "files"]
        assert panel[4].split() == ["total", f"{app.session.docs.total:,}", "tok"]

        await pilot.press("ctrl+o")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DocumentScreen)
        listing = screen.query_one("#doc-list", OptionList)
        rows = [str(listing.get_option_at_index(i).prompt) for i in range(3)]
        assert rows[0].startswith("manual.pdf · 2 pages · ")
        assert rows[1].startswith("a.md · ") and rows[2].startswith("b.md · ")
        listing.focus()
        listing.highlighted = 1
        await pilot.press("delete")
        await pilot.pause()
        assert [i.document.name for i in app.session.documents] == ["manual.pdf", "b.md"]
        assert listing.option_count == 3  # two documents and the total (after a rule)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, ChatScreen)
        await send(pilot, "What turns left?")
        body = loopback.requests[-1].body
        assert body is not None
        titles = [b.get("title") for b in body["messages"][0]["content"]]
        assert titles == ["manual.pdf", "b.md", None]
        assert "a.md" not in _panel_text(app)


async def test_doc_given_twice_loads_both(loopback: LoopbackServer, tmp_path: Path) -> None:
    one = tmp_path / "one.md"
    one.write_text("First. " * 30, encoding="utf-8")
    two = tmp_path / "two.md"
    two.write_text("Second. " * 30, encoding="utf-8")
    app = build(loopback, tmp_path, doc=[str(one), str(two)])
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert [i.document.name for i in app.session.documents] == ["one.md", "two.md"]


async def test_a_question_asked_before_doc_is_read_waits_for_it(
    loopback: LoopbackServer, tmp_path: Path, monkeypatch: Any
) -> None:
    """``--doc`` is read after the first frame: a question typed at once is stored, then
    asked with the document once it is read (not without it)."""
    from chat_tui.core.session_documents import DocumentShelf

    doc = tmp_path / "guide.md"
    doc.write_text("The secret word is PAPAYA. " * 40, encoding="utf-8")
    gate = threading.Event()
    read = DocumentShelf.read

    def slow_read(self: DocumentShelf, path: str | Path) -> Any:
        gate.wait(10)  # a long PDF's extraction, in its thread
        return read(self, path)

    monkeypatch.setattr(DocumentShelf, "read", slow_read)
    app = build(loopback, tmp_path, doc=str(doc))
    async with app.run_test(size=SIZE) as pilot:
        field = app.chat.query_one(ChatInput)
        field.load_text("What is the secret word?")
        await pilot.press("enter")
        for _ in range(100):  # until the question is stored
            last = app.session.conversation.last
            if last is not None and last.user_id is not None:
                break
            await pilot.pause()
        assert last is not None and last.status == "pending"  # stored, and waiting:
        assert not [r for r in loopback.requests if r.path == "/v1/messages"]
        gate.set()
        await settle(pilot)
        [request] = [r for r in loopback.requests if r.path == "/v1/messages"]
        assert request.body is not None
        assert "PAPAYA" in json.dumps(request.body["system"])
        assert app.session.conversation.last is not None
        assert app.session.conversation.last.status == "complete"


def test_document_screen_snapshot(snap_compare: Any, tmp_path: Path, monkeypatch: Any) -> None:
    pdf = write_pdf(tmp_path / "manual.pdf", ["Turn the widget left.", "Then right."])
    guide = tmp_path / "guide.md"
    guide.write_text("A guide. " * 200, encoding="utf-8")
    (tmp_path / "library").mkdir()
    (tmp_path / "library" / "readme.md").write_text("x", encoding="utf-8")
    monkeypatch.chdir(tmp_path / "library")  # the file tree starts here: the same every run

    async def run(pilot: Any) -> None:
        app: ChatApp = pilot.app
        for _ in range(500):  # until the loopback has counted both documents
            if app.session.documents and all(i.counted for i in app.session.documents):
                break
            await pilot.pause(0.01)
        await settle(pilot)
        await pilot.press("ctrl+o")
        await pilot.pause()
        app.screen.query_one(Input).cursor_blink = False
        await pilot.pause(0.2)  # the file tree lists its folder in a thread

    with LoopbackServer(port=47817) as server:  # a fixed port: the host shows in the panel
        app = build(server, tmp_path, doc=[str(pdf), str(guide)])
        assert snap_compare(app, terminal_size=SIZE, run_before=run)
