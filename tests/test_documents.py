"""Loading reference documents: encodings, refusals with one-line messages, estimates, warnings."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from chat_tui.core.documents import document_warnings, estimate_tokens, load_document
from chat_tui.core.models import lookup_model
from chat_tui.errors import DocumentError


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def refusal(path: str | Path, **kwargs: int) -> str:
    with pytest.raises(DocumentError) as info:
        load_document(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message and message.strip() == message
    return message


def test_plain_utf8(tmp_path: Path) -> None:
    p = write(tmp_path / "guide.md", "# Guide\r\nUse “quotes”.\r\n".encode())
    doc = load_document(str(p))
    assert doc.text == "# Guide\nUse “quotes”.\n"
    assert doc.encoding == "utf-8"
    assert (doc.name, doc.path) == ("guide.md", p.resolve())
    assert doc.size_bytes == len(p.read_bytes())
    assert doc.sha256 == hashlib.sha256(doc.text.encode()).hexdigest()


def test_line_endings_normalised_and_hash_follows_the_text(tmp_path: Path) -> None:
    crlf = load_document(write(tmp_path / "a.txt", b"one\r\ntwo\rthree\n"))
    lf = load_document(write(tmp_path / "b.txt", b"one\ntwo\nthree\n"))
    assert crlf.text == lf.text == "one\ntwo\nthree\n"
    assert crlf.sha256 == lf.sha256
    assert crlf.size_bytes != lf.size_bytes


def test_utf8_bom_is_stripped(tmp_path: Path) -> None:
    doc = load_document(write(tmp_path / "bom.txt", b"\xef\xbb\xbfhello"))
    assert (doc.text, doc.encoding) == ("hello", "utf-8-sig")


@pytest.mark.parametrize(
    ("codec", "expected"),
    [
        ("utf-16-le", "utf-16"),
        ("utf-16-be", "utf-16"),
        ("utf-32-le", "utf-32"),
        ("utf-32-be", "utf-32"),
    ],
)
def test_utf16_and_utf32_with_bom(tmp_path: Path, codec: str, expected: str) -> None:
    text = "héllo 世界\r\nline two\n"
    p = write(tmp_path / "wide.txt", ("\ufeff" + text).encode(codec))
    doc = load_document(p)
    assert doc.text == "héllo 世界\nline two\n"
    assert doc.encoding == expected


def test_utf16_without_bom_is_binary(tmp_path: Path) -> None:
    p = write(tmp_path / "nobom.txt", "hello world".encode("utf-16-le"))
    assert "binary" in refusal(p)


def test_broken_utf16_with_bom(tmp_path: Path) -> None:
    p = write(tmp_path / "odd.txt", b"\xff\xfeh\x00i")  # odd byte count
    message = refusal(p)
    assert "UTF-16" in message and "iconv" in message


def test_cp1252_fallback(tmp_path: Path) -> None:
    text = "Café au lait – “smart quotes” cost €5.\n"
    doc = load_document(write(tmp_path / "win.txt", text.encode("cp1252")))
    assert (doc.text, doc.encoding) == (text, "cp1252")


def test_other_legacy_encodings_are_refused_not_garbled(tmp_path: Path) -> None:
    p = write(tmp_path / "ru.txt", "Привет, мир! Это проверка кодировки.".encode("cp1251"))
    message = refusal(p)
    assert "not UTF-8" in message and "iconv -t UTF-8" in message
    # bytes that cp1252 leaves undefined
    assert "not UTF-8" in refusal(write(tmp_path / "x.txt", b"abc \x81\x8d def"))


def test_binary_files_are_refused(tmp_path: Path) -> None:
    png = write(tmp_path / "logo.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(50))
    assert "binary" in refusal(png)
    no_nul = write(tmp_path / "blob.bin", bytes(range(1, 32)) * 20 + b"some text")
    assert "binary" in refusal(no_nul)
    controls_behind_bom = write(
        tmp_path / "w.txt", ("\ufeff" + "\x01\x02\x03" * 50).encode("utf-16-le")
    )
    assert "binary" in refusal(controls_behind_bom)


def test_ansi_coloured_log_is_text(tmp_path: Path) -> None:
    line = "\x1b[31mERROR\x1b[0m disk full\n"
    doc = load_document(write(tmp_path / "log.txt", (line * 100).encode()))
    assert doc.text == line * 100


def test_empty_and_whitespace_only(tmp_path: Path) -> None:
    assert "is empty" in refusal(write(tmp_path / "empty.txt", b""))
    assert "only whitespace" in refusal(write(tmp_path / "blank.txt", b" \r\n\t\n"))
    assert "only whitespace" in refusal(write(tmp_path / "bom-only.txt", b"\xef\xbb\xbf"))


def test_directory(tmp_path: Path) -> None:
    message = refusal(tmp_path)
    assert str(tmp_path) in message and "is a directory" in message


def test_missing(tmp_path: Path) -> None:
    message = refusal(tmp_path / "nope.md")
    assert "nope.md" in message and "no such file" in message
    file = write(tmp_path / "file.txt", b"x")
    assert "no such file" in refusal(file / "child.txt")


def test_too_big(tmp_path: Path) -> None:
    p = write(tmp_path / "big.txt", b"a" * 200_000)
    message = refusal(p, max_bytes=150_000)
    assert "0.2 MB" in message and "0.1 MB" in message
    assert "documents.max_bytes" in message and "150,000 bytes" in message
    assert load_document(p, max_bytes=200_000).size_bytes == 200_000  # the cap itself is fine
    assert "documents.max_bytes" in refusal(write(tmp_path / "s.txt", b"12345678901"), max_bytes=10)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read a chmod 000 file")
def test_unreadable_by_permissions(tmp_path: Path) -> None:
    p = write(tmp_path / "secret.txt", b"hidden")
    p.chmod(0)
    try:
        assert "permission denied" in refusal(p)
    finally:
        p.chmod(0o600)


def test_unreadable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = write(tmp_path / "secret.txt", b"hidden")

    def denied(self: Path, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", denied)
    message = refusal(p)
    assert "secret.txt" in message and "permission denied" in message and "chmod" in message


def test_fifo_is_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert "not a regular file" in refusal(fifo)  # and it did not block


def test_spaces_and_unicode_in_path(tmp_path: Path) -> None:
    p = write(tmp_path / "my docs" / "résumé 文档.md", "contenu français".encode())
    doc = load_document(str(p))
    assert (doc.name, doc.text) == ("résumé 文档.md", "contenu français")
    message = refusal(tmp_path / "my docs" / "absent file.md")
    assert '"' in message and "absent file.md" in message


def test_control_characters_in_a_name_keep_the_message_on_one_line(tmp_path: Path) -> None:
    p = write(tmp_path / "evil\nname\x1b[2J.txt", b"")
    message = refusal(p)
    assert "\x1b" not in message and "is empty" in message


def test_home_expansion(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    write(tmp_path / "notes" / "n.txt", b"remember")
    doc = load_document("~/notes/n.txt")
    assert doc.text == "remember"
    assert doc.path == (tmp_path / "notes" / "n.txt").resolve()


def test_estimate_tokens() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcd" * 100) == 100
    assert estimate_tokens("abcde") == 2  # rounded up
    assert estimate_tokens("世界" * 100) == 200  # CJK: a token per character
    assert estimate_tokens("こんにちは") == 5
    assert estimate_tokens("é" * 10) == 5  # other non-ASCII: two characters a token
    assert estimate_tokens("abcd" * 10 + "世界") == 12


def test_estimate_and_load_are_fast_for_2mb(tmp_path: Path) -> None:
    text = ("The quick brown fox jumps over the lazy dog. 敏捷的棕色狐狸. Café.\n" * 30_000)[
        : 2 * 1024 * 1024
    ]
    p = write(tmp_path / "big.md", text.encode())
    started = time.perf_counter()
    doc = load_document(p)
    tokens = estimate_tokens(doc.text)
    assert time.perf_counter() - started < 0.5
    assert len(text) / 4 < tokens < len(text) / 2


HAIKU = lookup_model("anthropic", "claude-haiku-4-5-20251001")


def test_warning_below_cache_minimum() -> None:
    assert document_warnings(1000, HAIKU, provider="anthropic") == [
        "1,000 tokens is below claude-haiku-4-5's 4,096-token cache minimum: "
        "requests work but nothing will be cached"
    ]
    assert document_warnings(4096, HAIKU, provider="anthropic") == []
    sonnet = lookup_model("anthropic", "claude-sonnet-4-5")
    assert document_warnings(2000, sonnet, provider="anthropic") == []


def test_warning_above_context_window() -> None:
    (warning,) = document_warnings(250_000, HAIKU, provider="anthropic")
    assert "250,000 tokens" in warning and "200,000-token context window" in warning


def test_no_warnings_for_an_unknown_model() -> None:
    assert document_warnings(10, None, provider="openai") == []


def test_ollama_long_document() -> None:
    local = lookup_model("ollama", "llama3.2")
    assert document_warnings(1000, local, provider="ollama") == []
    (warning,) = document_warnings(10_000, local, provider="ollama")
    assert "OLLAMA_CONTEXT_LENGTH=16384" in warning and "silently" in warning
    assert "cache minimum" not in warning
    # When the user told us the server's window, use it instead of guessing.
    sized = lookup_model("ollama", "llama3.2", {"llama3.2": {"context_window": 32768}})
    assert document_warnings(10_000, sized, provider="ollama") == []
    (warning,) = document_warnings(40_000, sized, provider="ollama")
    assert "32,768-token" in warning and "OLLAMA_CONTEXT_LENGTH=65536" in warning
