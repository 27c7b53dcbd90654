"""Loading documents: PDFs made here with pypdf (valid, encrypted, no text layer, truncated),
folders as document sets (binaries, sizes, a file cap, .gitignore), and Anthropic's limits."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from chat_tui.core.document_set import (
    PAGE_IMAGE_TOKENS,
    check_anthropic_limits,
    document_notes,
    estimate_document_tokens,
    load_folder,
    load_path,
)
from chat_tui.core.documents import estimate_tokens, load_document
from chat_tui.core.models import lookup_model
from chat_tui.errors import DocumentError
from tests.pdf_helpers import make_pdf, write_pdf

MB = 1024 * 1024


def test_a_pdf_loads_with_its_bytes_pages_and_text_marked_by_page(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "manual.pdf", ["Install the widget first.", "Then the gadget."])
    doc = load_document(path)
    assert doc.media_type == "application/pdf" and doc.kind == "pdf"
    assert doc.pages == 2 and doc.data == path.read_bytes()
    assert doc.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert doc.text == "[page 1]\nInstall the widget first.\n\n[page 2]\nThen the gadget."
    assert document_notes(doc, "anthropic") == [] and document_notes(doc, "openai") == []


def test_an_encrypted_pdf_is_refused_in_one_line(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "locked.pdf", ["secret"], password="pw")
    with pytest.raises(DocumentError) as info:
        load_document(path)
    line = str(info.value)
    assert "locked.pdf is encrypted" in line and "qpdf --decrypt" in line and "\n" not in line


def test_a_truncated_pdf_is_refused_as_damaged(tmp_path: Path) -> None:
    data = make_pdf(["Some text on a page."] * 3)
    (tmp_path / "cut.pdf").write_bytes(data[: len(data) // 2])
    with pytest.raises(DocumentError) as info:
        load_document(tmp_path / "cut.pdf")
    assert "cut.pdf is damaged" in str(info.value) and "\n" not in str(info.value)


def test_a_file_named_pdf_that_is_not_one_is_refused(tmp_path: Path) -> None:
    (tmp_path / "fake.pdf").write_text("just text", encoding="utf-8")
    with pytest.raises(DocumentError, match=r"fake\.pdf is not a PDF"):
        load_document(tmp_path / "fake.pdf")


def test_a_pdf_without_a_text_layer_loads_with_a_reason(tmp_path: Path) -> None:
    doc = load_document(write_pdf(tmp_path / "scan.pdf", ["", ""]))
    assert doc.text == "" and doc.pages == 2
    [anthropic] = document_notes(doc, "anthropic")
    assert "scan.pdf has no text layer" in anthropic and "Anthropic can still read it" in anthropic
    [openai] = document_notes(doc, "openai")
    assert "other providers cannot" in openai and "openai provider gets nothing" in openai


def test_pdf_estimates_add_a_page_allowance_only_where_pages_are_read_as_images(
    tmp_path: Path,
) -> None:
    doc = load_document(write_pdf(tmp_path / "m.pdf", ["word " * 100] * 3))
    text = estimate_tokens(doc.text)
    assert estimate_document_tokens(doc, "openai") == text
    assert estimate_document_tokens(doc, "anthropic") == text + 3 * PAGE_IMAGE_TOKENS


def _tree(root: Path, files: dict[str, bytes | str]) -> Path:
    for name, body in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(body, str):
            p.write_text(body, encoding="utf-8")
        else:
            p.write_bytes(body)
    return root


def test_a_folder_gives_its_text_files_sorted_and_says_what_it_skipped(tmp_path: Path) -> None:
    root = _tree(tmp_path / "notes", {
        "b.md": "Bee notes.", "a.txt": "Ay notes.", "sub/c.md": "Sea notes.",
        "logo.png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)),
        "empty.txt": "", "build/out.txt": "generated", "secret.env": "KEY=1", "keep.env": "ok",
        "guide.pdf": make_pdf(["Guide page."]),
        ".gitignore": "# generated\nbuild/\n*.env\n!keep.env\n",
    })  # fmt: skip
    loaded = load_path(root, max_bytes=MB)
    assert [d.name for d in loaded.documents] == [
        "a.txt",
        "b.md",
        "guide.pdf",
        "keep.env",
        "sub/c.md",
    ]
    assert {d.source for d in loaded.documents} == {"notes"}
    assert loaded.documents[2].kind == "pdf"
    assert loaded.summary == ("notes/: took 5 files, skipped 4: 2 in .gitignore, 1 binary, 1 empty")


def test_a_folder_caps_the_file_count_and_refuses_oversized_files(tmp_path: Path) -> None:
    root = _tree(tmp_path / "many", {f"f{i:02}.txt": f"file {i}" for i in range(5)})
    (root / "a-huge.txt").write_text("x" * 2000, encoding="utf-8")
    loaded = load_folder(root, max_bytes=1000, max_files=3)
    assert [d.name for d in loaded.documents] == ["f00.txt", "f01.txt", "f02.txt"]
    assert loaded.summary == "many/: took 3 files, skipped 3: 2 over the 3-file cap, 1 too large"


def test_a_folder_with_nothing_usable_is_one_line(tmp_path: Path) -> None:
    root = _tree(tmp_path / "bin", {"a.bin": bytes(range(256))})
    with pytest.raises(DocumentError) as info:
        load_path(root, max_bytes=MB)
    assert str(info.value).endswith("has no text files or PDFs to load (skipped 1 binary); "
                                    "choose another folder")  # fmt: skip


def test_anthropic_limits_are_checked_before_sending(tmp_path: Path) -> None:
    small = load_document(write_pdf(tmp_path / "small.pdf", ["p"] * 60))
    other = load_document(write_pdf(tmp_path / "other.pdf", ["p"] * 50))
    haiku = lookup_model("anthropic", "claude-haiku-4-5")
    check_anthropic_limits([small], haiku)  # 60 pages: fine
    with pytest.raises(DocumentError) as info:
        check_anthropic_limits([small, other], haiku)
    assert "110 pages, over claude-haiku-4-5's 100-page limit" in str(info.value)
    big = load_document(write_pdf(tmp_path / "big.pdf", ["x"]))
    from dataclasses import replace

    huge = replace(big, data=b"%PDF" + bytes(25 * MB))  # 25 MB is over 32 MB as base64
    with pytest.raises(DocumentError, match="over Anthropic's 32 MB a request; upload them"):
        check_anthropic_limits([huge], haiku)
    check_anthropic_limits([huge], haiku, uploaded={huge.sha256})  # by file id: no bytes


def test_m008_gives_a_conversation_stored_with_one_document_that_document_as_its_set(
    tmp_path: Path,
) -> None:
    import sqlite3

    from chat_tui.core.document_store import load_documents, save_documents
    from chat_tui.core.migrations import MIGRATIONS, migrate
    from chat_tui.core.storage import Store, StoredDocument

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    before = [m for m in MIGRATIONS if m.__name__ < "m008"]
    migrate(conn, before)
    conn.execute("INSERT INTO conversations (id, title, created_at, updated_at)"
                 " VALUES (1, 'Old', 1.0, 1.0)")  # fmt: skip
    conn.execute(
        "INSERT INTO documents (sha256, name, path, text, size_bytes, encoding, loaded_at)"
        " VALUES (?, 'spec.md', '/gone/spec.md', 'The spec.', 9, 'utf-8', 1.0)",
        ("cd" * 32,),
    )
    conn.execute("UPDATE conversations SET document_sha256 = ? WHERE id = 1", ("cd" * 32,))
    conn.close()
    with Store.open(path) as store:
        [doc] = load_documents(store, 1)
        assert (doc.name, doc.text, doc.kind, doc.data) == ("spec.md", "The spec.", "text", None)
        pdf = load_document(write_pdf(tmp_path / "m.pdf", ["Page one."]))
        save_documents(store, 1, [doc, pdf])
        again = load_documents(store, 1)
        assert [d.name for d in again] == ["spec.md", "m.pdf"]
        assert again[1].data == pdf.data and again[1].pages == 1
        assert store.load_conversation(1).document == StoredDocument(
            pdf.sha256, "m.pdf", str(pdf.path), pdf.text, pdf.size_bytes, "binary"
        )  # the last document, for older readers
        save_documents(store, 1, [pdf])  # spec.md is no longer used anywhere: collected
        assert [d.name for d in load_documents(store, 1)] == ["m.pdf"]
        with store._guard() as db:
            assert db.execute("SELECT COUNT(*) FROM documents").fetchone() == (1,)


def test_deleting_a_conversation_deletes_its_document_set(tmp_path: Path) -> None:
    from chat_tui.core.document_store import load_documents, save_documents
    from chat_tui.core.storage import Store

    pdf = load_document(write_pdf(tmp_path / "m.pdf", ["Page one."]))
    with Store.open(tmp_path / "chat.db") as store:
        keep, gone = store.create_conversation("keep"), store.create_conversation("gone")
        save_documents(store, keep, [pdf])
        save_documents(store, gone, [pdf])
        store.delete_conversation(keep)
        assert [d.data for d in load_documents(store, gone)] == [pdf.data]  # still used
        store.delete_conversation(gone)
        with store._guard() as db:
            assert db.execute("SELECT COUNT(*) FROM documents").fetchone() == (0,)
            assert db.execute("SELECT COUNT(*) FROM conversation_documents").fetchone() == (0,)
