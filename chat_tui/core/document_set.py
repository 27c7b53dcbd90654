"""A document set: what ``--doc`` (repeatable) and ctrl+o load. A path is a text file, a PDF
or a folder; a folder gives its text files and PDFs sorted by path, with the same refusals
as a single file, a cap on the file count and its ``.gitignore`` honoured (an ignored folder
is not read and counts as one skipped entry; VCS, virtualenv and node_modules folders are
never read), and one line saying what was taken and what was skipped, and why.

Also here: the provider limits checked before a request (Anthropic: 32 MB a request inline,
100 or 600 PDF pages), and the local token estimate of a document (``~``: a PDF's text plus
an allowance per page for the page images Anthropic also reads).
"""

from __future__ import annotations

import fnmatch
import os
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

from chat_tui.core.documents import Document, estimate_tokens, load_document, shown_path
from chat_tui.core.models import ModelInfo
from chat_tui.errors import DocumentError

DEFAULT_MAX_FILES = 200
REQUEST_MAX_BYTES = 32 * 1024 * 1024  # Anthropic, a whole request (base64 counts 4/3)
PAGES_STANDARD = 100
PAGES_LONG_CONTEXT = 600  # on models with a 1M-token context window
PAGE_IMAGE_TOKENS = 1_000  # per PDF page, the image Anthropic reads beside the text
_ALWAYS_SKIPPED = {".git", ".hg", ".svn", "__pycache__", "node_modules", ".venv", ".tox"}


@dataclass(frozen=True)
class Loaded:
    """What one path gave: its documents, and for a folder the one-line summary."""

    documents: tuple[Document, ...]
    summary: str = ""


def load_path(path: str | Path, *, max_bytes: int, max_files: int = DEFAULT_MAX_FILES) -> Loaded:
    """Load a file or a folder. Raises DocumentError (one line) when nothing can be used."""
    p = Path(path).expanduser()
    if p.is_dir():
        return load_folder(p, max_bytes=max_bytes, max_files=max_files)
    return Loaded((load_document(p, max_bytes=max_bytes),))


def load_folder(folder: Path, *, max_bytes: int, max_files: int = DEFAULT_MAX_FILES) -> Loaded:
    shown = shown_path(folder)
    ignore = _Gitignore(folder)
    paths: list[Path] = []
    skipped: Counter[str] = Counter()
    for root, dirs, files in os.walk(folder):
        here = Path(root)
        kept = []
        for d in sorted(dirs):
            if d in _ALWAYS_SKIPPED:
                continue
            if ignore.ignored(here / d, True):  # an ignored folder counts once, unread
                skipped["in .gitignore"] += 1
            else:
                kept.append(d)
        dirs[:] = kept
        paths += [here / f for f in files if f != ".gitignore"]
    paths.sort(key=lambda q: q.relative_to(folder).as_posix())
    taken: list[Document] = []
    for p in paths:
        if ignore.ignored(p, False):
            skipped["in .gitignore"] += 1
        elif len(taken) >= max_files:
            skipped[f"over the {max_files}-file cap"] += 1
        else:
            try:
                doc = load_document(p, max_bytes=max_bytes)
            except DocumentError as exc:
                skipped[_reason(str(exc))] += 1
                continue
            rel = p.relative_to(folder).as_posix()
            taken.append(replace(doc, name=rel, source=folder.name))
    if not taken:
        why = f" (skipped {_counts(skipped)})" if skipped else ""
        raise DocumentError(
            f"{shown} has no text files or PDFs to load{why}; choose another folder"
        )
    summary = f"{folder.name}/: took {len(taken)} file{'s' * (len(taken) != 1)}"
    total = sum(skipped.values())
    summary += f", skipped {total}: {_counts(skipped)}" if total else ", skipped 0"
    return Loaded(tuple(taken), summary)


def _reason(error: str) -> str:
    for key, reason in (("binary", "binary"), ("over the", "too large"), ("empty", "empty"),
                        ("whitespace", "empty"), ("not UTF-8", "not UTF-8"),
                        ("encrypted", "encrypted PDF"), ("damaged", "damaged PDF"),
                        ("permission", "unreadable")):  # fmt: skip
        if key in error:
            return reason
    return "unreadable"


def _counts(skipped: Counter[str]) -> str:
    return ", ".join(
        f"{n} {why}" for why, n in sorted(skipped.items(), key=lambda kv: (-kv[1], kv[0]))
    )


class _Gitignore:
    """The folder's top-level ``.gitignore``: glob patterns, ``dir/`` patterns, anchored
    ``/pattern``s, ``**``, and ``!`` negation, as git reads them (last match wins)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.rules: list[tuple[str, bool, bool, bool]] = []  # pattern, negate, dir_only, anchored
        try:
            lines = (folder / ".gitignore").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return
        for raw in lines.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            line = line.removeprefix("!")
            dir_only = line.endswith("/")
            line = line.rstrip("/")
            anchored = "/" in line
            self.rules.append((line.lstrip("/"), negate, dir_only, anchored))

    def ignored(self, path: Path, is_dir: bool) -> bool:
        rel = path.relative_to(self.folder).as_posix()
        parts = rel.split("/")
        result = False
        for pattern, negate, dir_only, anchored in self.rules:
            if self._match(pattern, rel, parts, is_dir, dir_only, anchored):
                result = not negate
        return result

    @staticmethod
    def _match(pattern: str, rel: str, parts: list[str], is_dir: bool, dir_only: bool,
               anchored: bool) -> bool:  # fmt: skip
        if anchored:
            if fnmatch.fnmatchcase(rel, pattern) or fnmatch.fnmatchcase(
                rel, pattern.replace("**/", "")
            ):
                return is_dir or not dir_only
            # a file under an ignored anchored directory
            return any(fnmatch.fnmatchcase("/".join(parts[:i]), pattern)
                       for i in range(1, len(parts)))  # fmt: skip
        for i, name in enumerate(parts):
            last = i == len(parts) - 1
            if fnmatch.fnmatchcase(name, pattern) and (not last or is_dir or not dir_only):
                return True
        return False


# -- limits and estimates ----------------------------------------------------------------------


def max_pages(info: ModelInfo | None) -> int:
    window = info.context_window if info is not None else None
    return PAGES_LONG_CONTEXT if window is not None and window >= 1_000_000 else PAGES_STANDARD


def check_anthropic_limits(
    documents: list[Document],
    info: ModelInfo | None,
    *,
    uploaded: set[str] | frozenset[str] = frozenset(),
) -> None:
    """Refuse, before sending, a set Anthropic would reject: more PDF pages than the model
    takes, or more than 32 MB in one request (documents sent inline, base64). ``uploaded``:
    the sha256s of documents referenced by a Files API id instead (they add no bytes)."""
    pages = sum(d.pages or 0 for d in documents if d.data is not None)
    limit = max_pages(info)
    name = info.name if info is not None else "this model"
    if pages > limit:
        raise DocumentError(
            f"the PDFs have {pages:,} pages, over {name}'s {limit}-page limit a request; "
            "remove a document (ctrl+o) or split the PDF"
        )
    inline = sum(
        (len(d.data) * 4 + 2) // 3 if d.data is not None else len(d.text.encode())
        for d in documents if d.sha256 not in uploaded
    )  # fmt: skip
    if inline > REQUEST_MAX_BYTES:
        raise DocumentError(
            f"the documents come to {inline / 1024 / 1024:.1f} MB inline, over Anthropic's 32 MB "
            "a request; upload them instead (--upload) or remove one"
        )


def estimate_document_tokens(doc: Document, provider: str) -> int:
    """The local estimate: the text, plus for a PDF sent to Anthropic an allowance per page."""
    tokens = estimate_tokens(doc.text)
    if doc.data is not None and provider == "anthropic":
        tokens += PAGE_IMAGE_TOKENS * (doc.pages or 0)
    return tokens


def document_notes(doc: Document, provider: str) -> list[str]:
    """One-line notes about one document for this provider (e.g. a PDF without text)."""
    if doc.data is not None and not doc.text:
        from chat_tui.core.pdf import NO_TEXT_LAYER

        where = "" if provider == "anthropic" else f" (the {provider} provider gets nothing)"
        return [f"{doc.name} {NO_TEXT_LAYER}{where}"]
    if not doc.encoding.startswith("utf") and doc.data is None:
        return [f"{doc.name} decoded as {doc.encoding}, not UTF-8"]
    return []
