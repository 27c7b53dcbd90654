"""Model output must never reach the terminal as live control sequences."""

from __future__ import annotations

import time

import pytest

from chat_tui.core.sanitize import clean_text

DANGEROUS = [chr(c) for c in [*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0)]]


def assert_inert(s: str) -> None:
    bad = [c for c in s if c in DANGEROUS]
    assert not bad, f"live control characters left: {bad!r}"


@pytest.mark.parametrize(
    "attack",
    [
        "\x1b]52;c;ZWNobyBwd25lZA==\x07",  # OSC 52: write the clipboard
        "\x1b]52;c;ZWNobyBwd25lZA==\x1b\\",  # ... terminated by ST
        "\x1b]0;pwned title\x07",  # set the window title
        "\x1b]8;;http://evil.example\x1b\\click\x1b]8;;\x1b\\",  # hyperlink
        "\x1b[2J\x1b[H",  # clear screen, cursor home
        "\x1bc",  # full reset
        "\x1bP+q544e\x1b\\",  # DCS
        "\x9b31m red via 8-bit CSI",
        "\x9d0;title\x9c",  # 8-bit OSC / ST
        "ding\x07",
        "secret\x08\x08\x08\x08\x08\x08public",  # backspace overwrite
        "\x00nul and \x7fdel",
    ],
)
def test_attacks_are_neutralised(attack: str) -> None:
    out = clean_text(attack)
    assert_inert(out)
    assert "\x1b" not in out and "\x9b" not in out and "\x07" not in out


def test_escape_is_shown_not_removed() -> None:
    assert clean_text("\x1b[31mred\x1b[0m") == "␛[31mred␛[0m"
    assert clean_text("a\x07b") == "a␇b"
    assert clean_text("x\x7fy") == "x␡y"
    assert clean_text("\x9b1m") == "\ufffd1m"


def test_newlines_and_tabs_survive_cr_goes() -> None:
    assert clean_text("a\tb\nc") == "a\tb\nc"
    assert clean_text("one\r\ntwo\r\n") == "one\ntwo\n"
    assert clean_text("progress 10%\rprogress 99%") == "progress 10%progress 99%"


@pytest.mark.parametrize(
    "text",
    [
        "[bold]x[/]",
        "[red]not markup here[/red] \\[escaped]",
        "Plain text with emoji 🎉, CJK 世界, RTL שלום and math ∑ x²",
        "A literal backslash-escape in code: print('\\x1b[31m')",
        "",
    ],
)
def test_ordinary_text_passes_through_unchanged(text: str) -> None:
    assert clean_text(text) == text


def test_split_sequences_never_become_live() -> None:
    stream = "ok \x1b]52;c;aGk=\x07 then \x1b[2J and \r\n next \x9b1m done\r"
    whole = clean_text(stream)
    for i in range(len(stream) + 1):
        a, b = stream[:i], stream[i:]
        joined = clean_text(a) + clean_text(b)
        assert_inert(joined)
        assert joined == whole, i
    for size in (1, 2, 3, 7):
        chunks = [stream[i : i + size] for i in range(0, len(stream), size)]
        assert "".join(clean_text(c) for c in chunks) == whole


def test_fast_on_large_clean_and_dirty_text() -> None:
    clean = "The quick brown fox jumps over the lazy dog. 世界\n" * 20_000  # ~1 MB
    dirty = clean.replace("fox", "\x1b[31mfox\x1b[0m")
    started = time.perf_counter()
    assert clean_text(clean) is clean  # nothing to do: no copy
    out = clean_text(dirty)
    assert time.perf_counter() - started < 0.5
    assert "\x1b" not in out
