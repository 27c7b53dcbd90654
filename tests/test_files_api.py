"""Anthropic Files API uploads, through the real SDK against a loopback ``/v1/files``: upload
once, reuse across sessions (by sha256), re-upload when expired or gone, never fail a turn
over an upload, and ``chat-tui files`` listing and deleting (remotely and locally)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chat_tui.cli import EXIT_OK, main
from chat_tui.core.document_store import list_uploads
from chat_tui.core.session import ChatSession
from chat_tui.core.storage import Store
from tests.helpers import FakeClock, loopback_settings
from tests.loopback import LoopbackServer, Status
from tests.loopback_files import LoopbackFiles
from tests.pdf_helpers import write_pdf

KEY = "sk-ant-test-SECRET-KEY"


def _sink(_: str) -> None:
    pass


class Wall:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def files(loopback: LoopbackServer) -> LoopbackFiles:
    handler = LoopbackFiles(ttl_s=None)
    loopback.routes.append(handler.route)
    return handler


def _session(server: LoopbackServer, store: Store, wall: Wall, **changes: Any) -> ChatSession:
    settings = loopback_settings(server, **{"document_upload_bytes": 200, **changes})
    return ChatSession(settings, store=store, clock=FakeClock(), wall=wall)


def _first_content(server: LoopbackServer) -> list[dict[str, Any]]:
    posts = [r for r in server.requests if r.path == "/v1/messages"]
    body = posts[-1].body
    assert body is not None
    return body["messages"][0]["content"]  # type: ignore[no-any-return]


def _message_betas(server: LoopbackServer) -> list[str]:
    return [
        r.headers.get("anthropic-beta", "") for r in server.requests if r.path == "/v1/messages"
    ]


async def test_upload_once_then_reuse_then_reupload_when_expired_or_gone(
    loopback: LoopbackServer, files: LoopbackFiles, tmp_path: Path
) -> None:
    pdf = write_pdf(tmp_path / "spec.pdf", ["The spec, page one."] * 3)
    wall = Wall()
    files.clock = wall
    files.ttl_s = 3600
    with Store.open(tmp_path / "chat.db") as store:
        one = _session(loopback, store, wall)
        one.add_documents(pdf)
        assert (await one.ask("What is it?", _sink)).status == "complete"
        assert files.uploads == 1 and set(files.beta_headers) == {"files-api-2025-04-14"}
        assert _first_content(loopback)[0] == {
            "type": "document", "title": "spec.pdf",
            "source": {"type": "file", "file_id": "file_0001"}, "cache_control": {
                "type": "ephemeral", "ttl": "5m"},
        }  # fmt: skip
        assert _message_betas(loopback) == ["files-api-2025-04-14"]
        assert one.docs.notices == ["uploaded spec.pdf to the Files API (file_0001)"]
        await one.ask("More?", _sink)
        assert files.uploads == 1  # same session: the id is reused without asking again
        await one.aclose()
        [stored] = list_uploads(store)
        assert (stored.file_id, stored.filename) == ("file_0001", "spec.pdf")
        assert stored.expires_at == pytest.approx(wall.now + 3600)

        # another session (an `ask` run): the stored id, checked once on the server
        two = _session(loopback, store, wall)
        two.add_documents(pdf)
        await two.ask("Again?", _sink)
        assert files.uploads == 1
        assert _first_content(loopback)[0]["source"] == {"type": "file", "file_id": "file_0001"}
        await two.aclose()

        # expired: uploaded again, without a failed turn
        wall.now += 4000
        three = _session(loopback, store, wall)
        three.add_documents(pdf)
        assert (await three.ask("Later?", _sink)).status == "complete"
        assert files.uploads == 2
        assert _first_content(loopback)[0]["source"]["file_id"] == "file_0002"
        await three.aclose()

        # deleted on the server behind our back: the lookup says so, uploaded again
        files.forget("file_0002")
        four = _session(loopback, store, wall)
        four.add_documents(pdf)
        assert (await four.ask("Still?", _sink)).status == "complete"
        assert files.uploads == 3
        assert [u.file_id for u in list_uploads(store)] == ["file_0003"]
        await four.aclose()


async def test_a_failed_upload_sends_the_document_inline_and_says_so(
    loopback: LoopbackServer, files: LoopbackFiles, tmp_path: Path
) -> None:
    pdf = write_pdf(tmp_path / "spec.pdf", ["Page."])
    with Store.open(tmp_path / "chat.db") as store:
        session = _session(loopback, store, Wall())
        session.add_documents(pdf)
        loopback.enqueue(Status(500))  # the upload
        assert (await session.ask("What is it?", _sink)).status == "complete"
        assert _first_content(loopback)[0]["source"]["type"] == "base64"
        [notice] = session.docs.notices
        assert notice.startswith("Files API upload of spec.pdf failed at ")
        assert notice.endswith("; spec.pdf goes inline this turn") and KEY not in notice
        assert list_uploads(store) == []
        await session.aclose()


async def test_upload_flag_sends_even_small_text_documents_by_id_and_openai_gets_text(
    loopback: LoopbackServer, files: LoopbackFiles, tmp_path: Path
) -> None:
    loopback.reply_text = "Noted."  # not an echo of the request, which names the file id
    doc = tmp_path / "notes.md"
    doc.write_text("Short notes.", encoding="utf-8")
    with Store.open(tmp_path / "chat.db") as store:
        session = _session(loopback, store, Wall(), document_upload_bytes=10**9)
        session.add_documents(doc, upload=True)
        await session.ask("Hi", _sink)
        assert _first_content(loopback)[0]["source"] == {"type": "file", "file_id": "file_0001"}
        assert files.files["file_0001"].data == b"Short notes."
        session.use_provider("openai")
        await session.ask("Hi again", _sink)
        [post] = [r.body for r in loopback.requests if r.path.endswith("/chat/completions")]
        assert post is not None and "Short notes." in post["messages"][0]["content"]
        assert "file_0001" not in str(post)
        await session.aclose()


def test_files_command_lists_and_deletes_uploads_remotely_and_locally(
    loopback: LoopbackServer,
    files: LoopbackFiles,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", loopback.base_url)
    config = tmp_path / "config.toml"
    config.write_text("[documents]\nupload_bytes = 100\n", encoding="utf-8")
    monkeypatch.setenv("CHAT_TUI_CONFIG", str(config))
    a = write_pdf(tmp_path / "a.pdf", ["Alpha."])
    b = write_pdf(tmp_path / "b.pdf", ["Beta."])
    assert main(["ask", "q", "--doc", str(a), "--doc", str(b)]) == EXIT_OK
    assert files.uploads == 2
    capsys.readouterr()

    assert main(["files"]) == EXIT_OK
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("file_0001  a.pdf  ") and "no expiry" in out[0]
    assert out[1].startswith("file_0002  b.pdf  ")
    assert out[2].startswith("2 upload(s) at 127.0.0.1:")

    assert main(["ask", "again", "--doc", str(a)]) == EXIT_OK  # reused, not uploaded
    assert files.uploads == 2
    capsys.readouterr()

    assert main(["files", "--delete", "file_0001"]) == EXIT_OK
    assert capsys.readouterr().out == "deleted file_0001 (a.pdf)\n"
    files.forget("file_0002")  # already gone on the server: still forgotten here
    assert main(["files", "--delete"]) == EXIT_OK
    assert capsys.readouterr().out == "deleted file_0002 (b.pdf) (already gone)\n"
    assert files.files == {}
    assert main(["files"]) == EXIT_OK
    assert capsys.readouterr().out.startswith("no uploads at 127.0.0.1:")


def test_ask_json_lists_the_documents(
    loopback: LoopbackServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    import json

    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", loopback.base_url)
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "one.md").write_text("One. " * 50, encoding="utf-8")
    (folder / "two.bin").write_bytes(bytes(range(256)))
    pdf = write_pdf(tmp_path / "m.pdf", ["Manual page.", "Second page."])
    code = main(["ask", "q", "--doc", str(pdf), "--doc", str(folder), "--json", "--no-save"])
    assert code == EXIT_OK
    err = capsys.readouterr().err.splitlines()
    assert "chat-tui: notes/: took 1 file, skipped 1: 1 binary" in err
    payload = json.loads(err[-1])
    docs = payload["documents"]
    assert [(d["name"], d["kind"], d["pages"]) for d in docs] == [
        ("m.pdf", "pdf", 2), ("one.md", "text", None),
    ]  # fmt: skip
    assert all(d["tokens"] > 0 and d["tokens_estimated"] is False for d in docs)  # counted


async def test_a_file_deleted_mid_session_is_uploaded_again_and_the_turn_still_answers(
    loopback: LoopbackServer, files: LoopbackFiles, tmp_path: Path
) -> None:
    pdf = write_pdf(tmp_path / "spec.pdf", ["Page."])
    with Store.open(tmp_path / "chat.db") as store:
        session = _session(loopback, store, Wall())
        session.add_documents(pdf)
        await session.ask("One?", _sink)
        files.forget("file_0001")  # deleted elsewhere (e.g. chat-tui files --delete)
        loopback.enqueue(
            Status(404, {"type": "error", "error": {
                "type": "not_found_error", "message": "File not found: file_0001"}})
        )  # fmt: skip
        result = await session.ask("Two?", _sink)
        assert result.status == "complete"
        assert files.uploads == 2
        assert _first_content(loopback)[0]["source"] == {"type": "file", "file_id": "file_0002"}
        assert [e.status for e in session.conversation.exchanges] == ["complete", "complete"]
        await session.aclose()
