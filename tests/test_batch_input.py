"""Reading a batch's questions file: every problem is caught up front and names its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from chat_tui.core.batch_input import BatchInputError, read_questions


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return p


def test_a_text_file_is_one_question_a_line_with_line_number_ids(tmp_path: Path) -> None:
    qs = read_questions(write(tmp_path, "q.txt", "What is SSE?\r\n  Why cache?  \nHow?"))
    assert [(q.id, q.text, q.line) for q in qs.items] == [
        ("q1", "What is SSE?", 1),
        ("q2", "Why cache?", 2),
        ("q3", "How?", 3),
    ]
    assert not qs.jsonl
    assert len(qs.sha256) == 64


def test_jsonl_keeps_ids_and_max_tokens_and_ignores_other_keys(tmp_path: Path) -> None:
    text = (
        '{"id": "intro", "question": "What is it?", "expected": "a thing"}\n'
        '{"id": 7, "question": "Short?", "max_tokens": 50}\n'
    )
    qs = read_questions(write(tmp_path, "eval.jsonl", text))
    assert qs.jsonl
    assert [(q.id, q.text, q.max_tokens) for q in qs.items] == [
        ("intro", "What is it?", None),
        ("7", "Short?", 50),
    ]


def test_a_file_starting_with_an_object_is_jsonl_whatever_its_name(tmp_path: Path) -> None:
    qs = read_questions(write(tmp_path, "q.txt", '{"id": "a", "question": "Q?"}\n'))
    assert qs.jsonl and qs.items[0].id == "a"


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("q.txt", "one\n\nthree\n", "q.txt:2: empty line; remove it"),
        ("q.txt", "one\n   \n", "q.txt:2: empty line"),
        ("q.txt", "", "q.txt: no questions"),
        ("q.jsonl", '{"id": "a", "question": "x"}\n\n', "q.jsonl:2: empty line"),
        (
            "q.jsonl",
            '{"id": "a", "question": "x"}\n{"id": "b", "question": "y"}\n{"id": "a", "question": "z"}',
            "q.jsonl:3: duplicate id 'a' (first on line 1); make ids unique",
        ),
        ("q.jsonl", '{"id": "a b", "question": "x"}', "q.jsonl:1: id 'a b' is not allowed"),
        ("q.jsonl", '{"id": "' + "x" * 65 + '", "question": "x"}', "is not allowed; use 1-64"),
        ("q.jsonl", '{"question": "x"}', 'q.jsonl:1: no "id"'),
        ("q.jsonl", '{"id": true, "question": "x"}', 'q.jsonl:1: no "id"'),
        ("q.jsonl", '{"id": "a"}', 'q.jsonl:1: "question" is missing or empty'),
        ("q.jsonl", '{"id": "a", "question": "  "}', '"question" is missing or empty'),
        ("q.jsonl", '{"id": "a", "question": "x"}\n{oops', "q.jsonl:2: not valid JSON"),
        ("q.jsonl", "[1, 2]", "q.jsonl:1: not a JSON object"),
        ("q.jsonl", '{"id": "a", "question": "x", "max_tokens": 0}', '"max_tokens" must be'),
        ("q.jsonl", '{"id": "a", "question": "x", "max_tokens": "9"}', '"max_tokens" must be'),
    ],
)
def test_bad_files_are_rejected_with_the_line_and_the_fix(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    with pytest.raises(BatchInputError) as caught:
        read_questions(write(tmp_path, name, text))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_unreadable_inputs_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(BatchInputError, match="no such file; pass a questions file"):
        read_questions(tmp_path / "missing.txt")
    with pytest.raises(BatchInputError, match="is a directory"):
        read_questions(tmp_path)
    with pytest.raises(BatchInputError, match=r"bad.txt:2: not UTF-8 text; save the file as UTF-8"):
        read_questions(write(tmp_path, "bad.txt", b"fine\n\xff\xfe broken\n"))
