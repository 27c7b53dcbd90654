"""Reading a batch's questions: a text file with one question a line, or JSONL with
``{"id": ..., "question": ..., "max_tokens": ...}`` a line (``max_tokens`` optional; other
keys, such as an evaluation's expected answer, are ignored).

Everything is checked before anything is sent, and every problem names its line: an empty
line, a line that is not a JSON object, a missing or empty question, an id the providers would
reject (``^[a-zA-Z0-9_-]{1,64}$``), a duplicate id, a bad ``max_tokens``. In a text file the
id of a question is ``q`` and its line number (``q1``, ``q2``...).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from chat_tui.errors import ChatTuiError

CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


class BatchInputError(ChatTuiError):
    """A questions file that cannot be used; the message names the file, line and fix."""


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    line: int
    max_tokens: int | None = None


@dataclass(frozen=True)
class Questions:
    path: Path
    items: tuple[Question, ...]
    sha256: str  # of the file's bytes: identifies the input a batch was made from
    jsonl: bool


def read_questions(path: str | Path) -> Questions:
    """Parse and check a questions file. Raises :class:`BatchInputError` (one line)."""
    p = Path(path).expanduser()
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise BatchInputError(f"{p}: no such file; pass a questions file") from None
    except IsADirectoryError:
        raise BatchInputError(f"{p} is a directory; pass a questions file") from None
    except OSError as exc:
        raise BatchInputError(f"{p}: cannot read it ({exc.strerror}); check the path") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise BatchInputError(f"{p}:{line}: not UTF-8 text; save the file as UTF-8") from None
    lines = text.replace("\r\n", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line
    if not lines:
        raise BatchInputError(f"{p}: no questions; put one question a line")
    first = next((line for line in lines if line.strip()), "")
    jsonl = p.suffix.lower() in (".jsonl", ".ndjson") or first.lstrip().startswith("{")
    items = _jsonl(p, lines) if jsonl else _text(p, lines)
    return Questions(p, tuple(items), hashlib.sha256(data).hexdigest(), jsonl)


def _empty(p: Path, number: int) -> BatchInputError:
    return BatchInputError(f"{p}:{number}: empty line; remove it (one question a line)")


def _text(p: Path, lines: list[str]) -> list[Question]:
    items = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            raise _empty(p, number)
        items.append(Question(f"q{number}", line.strip(), number))
    return items


def _jsonl(p: Path, lines: list[str]) -> list[Question]:
    items: list[Question] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines, 1):
        where = f"{p}:{number}"
        if not line.strip():
            raise _empty(p, number)
        try:
            obj = json.loads(line)
        except ValueError:
            raise BatchInputError(
                f'{where}: not valid JSON; write {{"id": "...", "question": "..."}} a line'
            ) from None
        if not isinstance(obj, dict):
            raise BatchInputError(
                f'{where}: not a JSON object; write {{"id": ..., "question": ...}}'
            )
        raw_id = obj.get("id")
        if isinstance(raw_id, bool) or not isinstance(raw_id, str | int):
            raise BatchInputError(f'{where}: no "id"; give every line a unique id')
        qid = str(raw_id)
        if not CUSTOM_ID.match(qid):
            raise BatchInputError(
                f"{where}: id {qid[:70]!r} is not allowed; use 1-64 letters, digits, _ or -"
            )
        if qid in seen:
            raise BatchInputError(
                f"{where}: duplicate id {qid!r} (first on line {seen[qid]}); make ids unique"
            )
        seen[qid] = number
        question = obj.get("question")
        if not isinstance(question, str) or not question.strip():
            raise BatchInputError(f'{where}: "question" is missing or empty; add the question')
        max_tokens = obj.get("max_tokens")
        if max_tokens is not None and (
            isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1
        ):
            raise BatchInputError(f'{where}: "max_tokens" must be a whole number of at least 1')
        items.append(Question(qid, question.strip(), number, max_tokens))
    return items
