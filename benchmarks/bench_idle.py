"""5. Idle: CPU use of the real ``chat-tui`` process (in a pseudo-terminal) doing nothing but
showing a warm prompt cache whose TTL countdown ticks every second.

The cache is made warm as a user would: start with ``--doc`` (a document over the model's
cache minimum), type a question, press Enter, wait for the answer. Then nothing is typed for
60 s (``--quick``: 10 s), read as windows of 10 s (5 s), each one a run. CPU time is
utime + stime of the process from /proc (all threads). The countdown is checked to be
ticking: the number of distinct ``warm mm:ss`` values drawn is reported.
"""

from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path

from benchmarks.common import Figure, Loopback, Options, log, plain_document, process_env
from benchmarks.terminal import Terminal

NAME = "idle"
ANSWER = "The document describes the cache. IDLE-ANSWER-DONE"
COUNTDOWN = re.compile(r"warm (\d\d:\d\d)")


def run(opts: Options) -> list[Figure]:
    total = opts.secs(60, 10)
    step = opts.secs(10, 5)
    cpu = Figure(NAME, "CPU, warm cache countdown ticking (% of a core)", "%", target=1.0,
                 note=f"{step:.0f} s windows")  # fmt: skip
    ticks = Figure(NAME, "countdown values drawn per window", "", note="1 a second expected")
    with Loopback() as server, tempfile.TemporaryDirectory(prefix="bench-idle-") as d:
        tmp = Path(d)
        doc = tmp / "reference.md"
        doc.write_text(plain_document(32_000), encoding="utf-8")  # ~8,000 tokens
        server.configure(reply_text=ANSWER)
        with Terminal(["--doc", str(doc)], process_env(tmp, server), cwd=tmp) as term:
            _, offset = term.wait_for("Ask anything")
            term.write("What does the document describe?")
            term.wait_for("describe?", start=offset)
            term.write("\r")
            _, offset = term.wait_for("IDLE-ANSWER-DONE", start=offset, timeout=30)
            _, offset = term.wait_for("warm 0", start=offset, timeout=10)
            time.sleep(2.0)  # let the end of the turn settle (panel, storage)
            start = time.monotonic()
            for _ in range(round(total / step)):
                t0, c0, o0 = time.monotonic(), term.cpu_seconds(), len(term.text)
                time.sleep(max(0.0, t0 + step - time.monotonic()))
                t1, c1 = time.monotonic(), term.cpu_seconds()
                cpu.values.append((c1 - c0) / (t1 - t0) * 100)
                ticks.values.append(len(set(COUNTDOWN.findall(term.text[o0:]))))
            log(f"{time.monotonic() - start:.0f} s idle: CPU "
                f"{' '.join(f'{v:.2f}' for v in cpu.values)} %, countdown values "
                f"{' '.join(f'{v:.0f}' for v in ticks.values)}")  # fmt: skip
    return [cpu, ticks]
