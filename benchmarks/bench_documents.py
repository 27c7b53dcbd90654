"""Documents: a 100-page PDF loaded.

* in process: ``load_document`` of the PDF (read, pypdf text extraction page by page, pages
  marked), the first load with pypdf's import and then warm loads;
* the real ``chat-tui --doc manual.pdf`` in a pseudo-terminal: spawn → first frame of the chat
  screen, and spawn → the document's ``count_tokens`` request at the loopback server (the PDF
  read, extracted and sent as a base64 ``document`` block: the earliest a question could go).

The PDF is made here with pypdf (tests/pdf_helpers.py): 100 pages of generated prose,
about 2,500 characters a page.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.bench_startup import TITLE, _launch
from benchmarks.common import Figure, Loopback, Options, log, plain_document

NAME = "documents"
PAGES = 100


def make_manual(path: Path) -> Path:
    from tests.pdf_helpers import write_pdf

    pages = [plain_document(2500, seed=i).replace("\n", " ") for i in range(PAGES)]
    return write_pdf(path, pages)


def _cold_load_ms(pdf: Path) -> float:
    """A fresh interpreter: the first PDF a session loads pays for pypdf's import."""
    code = (
        "import time; t = time.perf_counter()\n"
        "from chat_tui.core.documents import load_document\n"
        f"d = load_document({str(pdf)!r}); assert d.pages == {PAGES}\n"
        "print((time.perf_counter() - t) * 1000)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def _warm_load_ms(pdf: Path) -> float:
    from chat_tui.core.documents import load_document

    t = time.perf_counter()
    doc = load_document(pdf)
    assert doc.pages == PAGES
    return (time.perf_counter() - t) * 1000


def _start(tmp: Path, server: Loopback, pdf: Path) -> tuple[float, float]:
    server.clear()
    with _launch(tmp, server, ["--doc", str(pdf)]) as term:
        frame, _ = term.wait_for(TITLE)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            counted = [r for r in server.log().requests if r.path.endswith("/count_tokens")]
            if counted:
                return frame - term.started, counted[0].at - term.started
            time.sleep(0.02)
    raise TimeoutError("no count_tokens request within 30 s")


def run(opts: Options) -> list[Figure]:
    f_cold = Figure(NAME, f"{PAGES}-page PDF: first load (pypdf import + extraction)", "ms")
    f_warm = Figure(NAME, f"{PAGES}-page PDF: load again (read + extraction)", "ms")
    f_frame = Figure(NAME, f"spawn → first frame, --doc {PAGES}-page PDF", "ms",
                     note="compare startup's first frame: the PDF is read after it")  # fmt: skip
    f_count = Figure(NAME, f"spawn → count_tokens request with the {PAGES}-page PDF", "ms")
    with Loopback() as server, tempfile.TemporaryDirectory(prefix="bench-documents-") as d:
        tmp = Path(d)
        pdf = make_manual(tmp / "manual.pdf")
        log(f"{pdf.name}: {pdf.stat().st_size / 1024:.0f} KB, {PAGES} pages")
        for _ in range(opts.pick(5, 2)):
            f_cold.values.append(_cold_load_ms(pdf))
            f_warm.values.append(_warm_load_ms(pdf))
        _start(tmp, server, pdf)  # warm-up: bytecode cache, database file
        for i in range(opts.pick(5, 2)):
            frame, counted = _start(tmp, server, pdf)
            f_frame.values.append(frame * 1000)
            f_count.values.append(counted * 1000)
            log(f"run {i + 1}: first frame {frame * 1000:.0f} ms, count_tokens "
                f"{counted * 1000:.0f} ms")  # fmt: skip
    return [f_cold, f_warm, f_frame, f_count]
