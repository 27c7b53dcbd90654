"""Document sets on the wire, through the real SDKs against the loopback server: the exact
Anthropic request (each document its own block, PDFs as base64, stable order, the breakpoint on
the last document, at most four breakpoints), the OpenAI request (text extracted, pages
marked), the cache doctor naming the document that changed, and a resume with a changed file."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from chat_tui.core.session import ChatSession
from chat_tui.core.storage import Store
from chat_tui.errors import DocumentError
from tests.helpers import FakeClock, loopback_settings
from tests.loopback import LoopbackServer
from tests.pdf_helpers import write_pdf

EPHEMERAL = {"type": "ephemeral", "ttl": "5m"}


def _sink(_: str) -> None:
    pass


def _docs(tmp_path: Path) -> tuple[Path, Path, Path]:
    a = tmp_path / "a-notes.md"
    a.write_text("Notes about widgets. " * 1000, encoding="utf-8")
    b = write_pdf(tmp_path / "b-manual.pdf", ["Widgets turn left.", "Gadgets turn right."])
    c = tmp_path / "c-faq.txt"
    c.write_text("Frequently asked. " * 1000, encoding="utf-8")
    return a, b, c


def _posts(server: LoopbackServer) -> list[dict[str, Any]]:
    return [r.body for r in server.requests if r.path == "/v1/messages" and r.body is not None]


def _marks(body: dict[str, Any]) -> int:
    blocks = [*body.get("tools", []), *body.get("system", [])]
    blocks += [b for m in body["messages"] for b in m["content"] if isinstance(b, dict)]
    return sum(1 for b in blocks if "cache_control" in b)


async def test_anthropic_gets_each_document_as_a_block_in_order_with_the_breakpoint_on_the_last(
    loopback: LoopbackServer, tmp_path: Path
) -> None:
    a, b, c = _docs(tmp_path)
    session = ChatSession(loopback_settings(loopback), clock=FakeClock())
    for path in (a, b, c):
        session.add_documents(path)
    assert [d.name for d in session.conversation.documents] == [
        "a-notes.md", "b-manual.pdf", "c-faq.txt",
    ]  # fmt: skip
    assert (await session.ask("What turns left?", _sink)).status == "complete"
    body = _posts(loopback)[-1]
    assert body["system"] == [{"type": "text", "text": session.settings.system_prompt}]
    first = body["messages"][0]["content"]
    assert first == [
        {"type": "document", "title": "a-notes.md",
         "source": {"type": "text", "media_type": "text/plain", "data": a.read_text()}},
        {"type": "document", "title": "b-manual.pdf",
         "source": {"type": "base64", "media_type": "application/pdf",
                    "data": base64.b64encode(b.read_bytes()).decode()}},
        {"type": "document", "title": "c-faq.txt", "cache_control": EPHEMERAL,
         "source": {"type": "text", "media_type": "text/plain", "data": c.read_text()}},
        {"type": "text", "text": "What turns left?", "cache_control": EPHEMERAL},
    ]  # fmt: skip
    for question in ("Second?", "Third?", "Fourth?"):
        await session.ask(question, _sink)
    later = _posts(loopback)[-1]
    assert later["messages"][0]["content"][:3] == [
        {k: v for k, v in blk.items()} for blk in first[:3]
    ]  # the same documents, same order, every turn: one cached prefix
    assert _marks(later) == 3  # the documents' one and the history's two; tools make four
    await session.aclose()


async def test_text_documents_alone_stay_in_the_system_prompt_one_block_each(
    loopback: LoopbackServer, tmp_path: Path
) -> None:
    a, _, c = _docs(tmp_path)
    session = ChatSession(loopback_settings(loopback), clock=FakeClock())
    session.add_documents(a)
    session.add_documents(c)
    await session.ask("Hi", _sink)
    system = _posts(loopback)[-1]["system"]
    assert [s["text"][:30] for s in system[1:]] == [
        '<document name="a-notes.md">\nN', '<document name="c-faq.txt">\nFr',
    ]  # fmt: skip
    assert ["cache_control" in s for s in system] == [False, False, True]
    await session.aclose()


async def test_openai_gets_the_text_extracted_with_the_pages_marked(
    loopback: LoopbackServer, tmp_path: Path
) -> None:
    _, b, c = _docs(tmp_path)
    session = ChatSession(loopback_settings(loopback), clock=FakeClock())
    session.use_provider("openai")
    session.add_documents(b)
    session.add_documents(c)
    await session.ask("What turns right?", _sink)
    [post] = [r.body for r in loopback.requests if r.path.endswith("/chat/completions")]
    assert post is not None
    system = post["messages"][0]
    assert system["role"] == "system"
    assert (
        '<document name="b-manual.pdf">\n[page 1]\nWidgets turn left.\n\n[page 2]\n'
        "Gadgets turn right.\n</document>\n\n" + '<document name="c-faq.txt">\nFrequently'
    ) in system["content"]
    assert "base64" not in str(post) and "JVBER" not in str(post)  # no PDF bytes
    await session.aclose()


async def test_the_cache_doctor_names_the_document_that_changed(
    loopback: LoopbackServer, tmp_path: Path
) -> None:
    a, b, c = _docs(tmp_path)
    session = ChatSession(loopback_settings(loopback), clock=FakeClock())
    for path in (a, b, c):
        session.add_documents(path)
    await session.ask("one", _sink)
    write_pdf(b, ["Widgets turn left.", "Gadgets now turn around."])
    session.add_documents(b)  # reloaded: same name, same place in the order
    assert [d.name for d in session.conversation.documents][1] == "b-manual.pdf"
    result = await session.ask("two", _sink)
    d = result.metrics.diagnosis
    assert d is not None and d.reason == "document_changed"
    assert "document b-manual.pdf changed" in d.line()
    session.remove_document(0)
    result = await session.ask("three", _sink)
    d = result.metrics.diagnosis
    assert d is not None and d.reason == "document_changed" and "a-notes.md removed" in d.line()
    await session.aclose()


async def test_too_many_pages_is_refused_before_anything_is_sent(
    loopback: LoopbackServer, tmp_path: Path
) -> None:
    session = ChatSession(loopback_settings(loopback), clock=FakeClock())
    session.add_documents(write_pdf(tmp_path / "long.pdf", ["p"] * 101))
    with pytest.raises(DocumentError, match="101 pages, over"):
        await session.ask("Summarise", _sink)
    assert _posts(loopback) == []
    session.use_provider("openai")  # text only: no page limit
    assert (await session.ask("Summarise", _sink)).status == "complete"
    await session.aclose()


async def test_a_resumed_conversation_gets_its_documents_back_and_says_which_changed(
    loopback: LoopbackServer, tmp_path: Path
) -> None:
    a, b, c = _docs(tmp_path)
    with Store.open(tmp_path / "data" / "chat.db") as store:
        first = ChatSession(loopback_settings(loopback), store=store, clock=FakeClock())
        for path in (a, b, c):
            first.add_documents(path)
        await first.ask("one", _sink)
        conv_id = first.conversation.id
        sent = _posts(loopback)[-1]["messages"][0]["content"][:3]
        await first.aclose()
        a.write_text("Rewritten notes.", encoding="utf-8")
        c.unlink()
        later = ChatSession(loopback_settings(loopback), store=store, clock=FakeClock())
        assert conv_id is not None
        notices = later.resume(conv_id)
        assert notices == [
            "a-notes.md has changed on disk since; using the stored copy (ctrl+o reloads it)",
            "c-faq.txt: the file is gone or unreadable; using the copy stored with this "
            "conversation",
        ]
        docs = later.conversation.documents
        assert [d.name for d in docs] == ["a-notes.md", "b-manual.pdf", "c-faq.txt"]
        assert docs[1].data == b.read_bytes() and docs[1].pages == 2
        await later.ask("two", _sink)
        resent = _posts(loopback)[-1]["messages"][0]["content"][:3]
        assert resent == sent  # the stored copies, byte for byte
        await later.aclose()
