"""Inline ``<think>`` splitting at every possible chunk boundary, and the stop-reason notes."""

from __future__ import annotations

import itertools

import pytest

from chat_tui.core.thinking import more_tokens, stop_note
from chat_tui.providers.think_tags import ThinkTagSplitter

CASES = [
    ("<think>plan</think>answer", "plan", "answer"),
    ("<think>\nplan\n</think>\n\n  The answer", "\nplan\n", "The answer"),
    ("\n<think>a <b> c</think>\n\nx < y </think> z", "a <b> c", "\nx < y  z"),
    ("no tags at all, just < and > and </thin", "", "no tags at all, just < and > and </thin"),
    ("<think>cut while thinking <", "cut while thinking <", ""),
    ("<thinkx>not a tag</think>", "", "<thinkx>not a tag"),
]


def run(chunks: list[str]) -> tuple[str, str]:
    splitter = ThinkTagSplitter()
    pieces = [p for c in chunks for p in splitter.feed(c)] + splitter.close()
    thinking = "".join(t for k, t in pieces if k == "thinking")
    text = "".join(t for k, t in pieces if k == "text")
    return thinking, text


@pytest.mark.parametrize(("content", "thinking", "text"), CASES)
def test_every_two_and_three_way_split_gives_the_same_result(
    content: str, thinking: str, text: str
) -> None:
    assert run([content]) == (thinking, text)
    n = len(content)
    for i in range(n + 1):
        assert run([content[:i], content[i:]]) == (thinking, text), i
    for i, j in itertools.combinations(range(n + 1), 2):
        assert run([content[:i], content[i:j], content[j:]]) == (thinking, text), (i, j)
    assert run(list(content)) == (thinking, text)  # one character a chunk


def test_only_a_possible_tag_is_held_back() -> None:
    splitter = ThinkTagSplitter()
    assert splitter.feed("Hello <th") == [("text", "Hello ")]
    assert splitter.feed("ere") == [("text", "<there")]
    assert splitter.feed("plain") == [("text", "plain")]  # nothing held: no delay


@pytest.mark.parametrize(
    ("reason", "answered", "thought", "note"),
    [
        ("end_turn", True, True, None),
        ("tool_use", False, False, None),
        ("max_tokens", True, False, "cut at the 80-token limit: ctrl+r retries with more (max_tokens)"),
        ("max_tokens", False, True,
         "cut while still thinking, at the 80-token limit: ctrl+r retries with more (max_tokens)"),
        ("refusal", False, False, "the model declined to answer (refusal)"),
        ("model_context_window_exceeded", True, False,
         "cut: the conversation filled the model's context window"),
    ],
)  # fmt: skip
def test_stop_notes(reason: str, answered: bool, thought: bool, note: str | None) -> None:
    hint = "ctrl+r retries with more"
    assert stop_note(reason, 80, answered=answered, thought=thought, retry_hint=hint) == note


def test_more_tokens_doubles_up_to_a_ceiling() -> None:
    assert [more_tokens(n) for n in (80, 4096, 40000, 64000, 100000)] == [
        160, 8192, 64000, 64000, 100000
    ]  # fmt: skip
