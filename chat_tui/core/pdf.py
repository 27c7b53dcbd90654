"""Loading a PDF: its bytes (Anthropic reads them as a ``document`` block, pages as text and
images) and its text, extracted page by page with pypdf and marked ``[page N]`` (what
OpenAI-compatible servers get). pypdf is imported here only, when a PDF is loaded.

Refusals are one line: an encrypted PDF, a damaged one. A PDF without a text layer (scanned
pages) loads, with a warning: Anthropic still reads its pages as images, other providers
cannot read it at all.
"""

from __future__ import annotations

import hashlib
import io
import logging
from pathlib import Path

from chat_tui.core.documents import Document, read_file
from chat_tui.errors import DocumentError

MEDIA_TYPE = "application/pdf"
# The largest PDF read at all; Anthropic takes 32 MB a request inline, more through the
# Files API (500 MB a file), so the request check is separate (core/document_set.py).
PDF_MAX_BYTES = 100 * 1024 * 1024
NO_TEXT_LAYER = (
    "has no text layer (scanned pages?): Anthropic can still read it as images, "
    "other providers cannot read it"
)


def page_marker(n: int) -> str:
    return f"[page {n}]"


def load_pdf(path: Path, shown: str, *, max_bytes: int = PDF_MAX_BYTES) -> Document:
    """Read and check a PDF. Raises DocumentError for an encrypted or damaged one."""
    data = read_file(path, shown, max_bytes)
    text, pages = extract_pdf_text(data, shown)
    digest = hashlib.sha256(data).hexdigest()
    return Document(
        path.resolve(), path.name, text, len(data), digest, "binary", media_type=MEDIA_TYPE,
        data=data, pages=pages,
    )  # fmt: skip


def extract_pdf_text(data: bytes, shown: str) -> tuple[str, int]:
    """The text of each page, marked ``[page N]``, and the page count. The text is "" when
    no page has any (no text layer)."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    # pypdf logs its repairs (e.g. "EOF marker not found") to stderr, which would draw over
    # the TUI; a damaged file is reported by the exception instead.
    logging.getLogger("pypdf").setLevel(logging.CRITICAL)

    if not data.lstrip()[:5].startswith(b"%PDF"):
        raise DocumentError(f"{shown} is not a PDF (no %PDF header); check the file")
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise DocumentError(
                f"{shown} is encrypted; save an unprotected copy (e.g. qpdf --decrypt) and load that"
            )
        chunks: list[str] = []
        found = False
        pages = len(reader.pages)
        for n, page in enumerate(reader.pages, 1):
            body = (page.extract_text() or "").strip()
            found = found or bool(body)
            chunks.append(f"{page_marker(n)}\n{body}")
    except DocumentError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError,
            RecursionError, OSError, AssertionError) as exc:  # fmt: skip
        reason = str(exc).splitlines()[0][:80] if str(exc) else type(exc).__name__
        raise DocumentError(
            f"{shown} is damaged and cannot be read ({reason}); re-export or repair the PDF"
        ) from None
    if pages == 0:
        raise DocumentError(f"{shown} has no pages; check the file")
    text = "\n\n".join(chunks).replace("\r\n", "\n").replace("\r", "\n") if found else ""
    return text, pages
