"""Request building: system first, the document as its own cached block, breakpoints that move
with the conversation, and a history that is always valid whatever happened before."""

from __future__ import annotations

from pathlib import Path

from chat_tui.core.conversation import Conversation
from chat_tui.core.documents import Document
from chat_tui.providers.events import Message, TextPart


def _doc(text: str = "The spec. " * 50) -> Document:
    return Document(path=Path("/tmp/spec.md"), name="spec.md", text=text, size_bytes=len(text),
                    sha256="ab" * 32, encoding="utf-8")  # fmt: skip


def _answered(conv: Conversation, question: str, answer: str, status: str = "complete") -> None:
    ex = conv.ask(question)
    ex.parts = [TextPart(answer)]
    ex.status = status  # type: ignore[assignment]


def test_no_document_single_uncached_system_block() -> None:
    conv = Conversation(system_prompt="Be brief.")
    conv.ask("hi")
    req = conv.build_request("m")
    assert [b.text for b in req.system] == ["Be brief."]
    assert not req.system[0].cache
    assert req.messages == (Message.of("user", "hi", cache=True),)


def test_document_is_its_own_cached_block_after_the_instruction() -> None:
    conv = Conversation(system_prompt="Be brief.", documents=[_doc()])
    conv.ask("what is it?")
    req = conv.build_request("m", ttl="1h")
    assert len(req.system) == 2
    assert req.system[0].text == "Be brief." and not req.system[0].cache
    assert req.system[1].cache
    assert req.system[1].text.startswith('<document name="spec.md">\nThe spec.')
    assert req.cache_ttl == "1h"


def test_breakpoints_move_with_the_conversation() -> None:
    conv = Conversation(system_prompt="s", documents=[_doc()])
    _answered(conv, "q1", "a1")
    _answered(conv, "q2", "a2")
    conv.ask("q3")
    msgs = conv.build_request("m").messages
    assert [(m.role, m.text, m.cache) for m in msgs] == [
        ("user", "q1", False),
        ("assistant", "a1", False),
        ("user", "q2", True),  # written by the last turn: this turn reads it
        ("assistant", "a2", False),
        ("user", "q3", True),  # written now for the next turn
    ]
    req = conv.build_request("m")
    breakpoints = sum(b.cache for b in req.system) + sum(m.cache for m in req.messages)
    assert breakpoints == 3  # never more than Anthropic's four


def test_history_stays_valid_after_failures() -> None:
    conv = Conversation(system_prompt="s")
    _answered(conv, "q1", "", status="failed")  # failed before any text: left out
    _answered(conv, "q2", "partial", status="interrupted")
    _answered(conv, "q3", "half", status="stopped")
    conv.ask("q4")
    msgs = conv.build_request("m").messages
    roles = [m.role for m in msgs]
    assert roles == ["user", "assistant", "user", "assistant", "user"]
    assert all(m.text.strip() for m in msgs)
    assert msgs[0].text == "q2"
    assert msgs[1].text.startswith("partial") and "cut off" in msgs[1].text
    assert "stopped by the user" in msgs[3].text


def test_openai_gets_a_prompt_cache_key_from_the_prefix() -> None:
    conv = Conversation(system_prompt="s", documents=[_doc()])
    conv.ask("q")
    key = conv.build_request("m", provider="openai").cache_key
    assert key == f"chat-tui-{conv.prefix_hash()}"
    assert conv.build_request("m", provider="anthropic").cache_key is None
    other = Conversation(system_prompt="s", documents=[_doc("Another document. " * 40)])
    assert other.prefix_hash() != conv.prefix_hash()


def test_title_from_first_question() -> None:
    conv = Conversation(system_prompt="s")
    conv.ask("  How does   prompt caching work with a very long document that keeps going on?")
    assert conv.title.startswith("How does prompt caching work")
    assert len(conv.title) <= 60 and conv.title.endswith("…")


def test_markdown_export_is_inert() -> None:
    conv = Conversation(system_prompt="s")
    _answered(conv, "q", "evil \x1b]52;c;SGVsbG8=\x07 [bold]x[/bold]", status="stopped")
    md = conv.to_markdown()
    assert "\x1b" not in md and "\x07" not in md
    assert "[bold]x[/bold]" in md
    assert "_(stopped)_" in md
