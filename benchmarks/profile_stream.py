"""Where a streamed answer's CPU goes, in the real ``chat-tui`` in a pseudo-terminal (not part
of run.py: a tool to look with, not a figure to hold).

    .venv/bin/python benchmarks/profile_stream.py [--rounds 2] [--tps 100] [--seconds 12]

First the CPU of chat-tui and of the floor (benchmarks/floor.py), second by second, while each
streams the same long Markdown answer (benchmarks/common.py's: headings, lists, code, a table,
a long paragraph), interleaved: a block of the answer that costs more than the rest shows as a
rise in one curve and not the other. Then chat-tui once more under benchmarks/traced.py: the
event-loop callbacks that ran in the same window, summed by what they were (the screen's
frames, the answer's flushes, the turn's worker reading the stream), in ms a second.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_floor import (
    CHAT_TUI,
    FLOOR,
    PLACEHOLDER,
    Session,
    Subject,
    marked_reply,
)
from benchmarks.common import Loopback, markdown_answer
from benchmarks.profile_enter import traced


def curve(subject: Subject, server: Loopback, tmp: Path, tps: float, seconds: int) -> list[float]:
    """CPU (% of a core) in each second of the answer, from its first token."""
    s = Session(subject, server, tmp)
    try:
        s.startup()
        s.settle()
        reply, _, last = marked_reply(1, "A short answer to warm up.")
        s.ask(reply, [(20, None)])
        s.shown(last)
        s.settle()
        tokens = int(tps * (seconds + 3))
        reply, first, _ = marked_reply(2, markdown_answer(tokens - 2, seed=47))
        s.ask(reply, [(tokens, tps)])
        s.shown(first)
        shares = []
        c0, t0 = s.term.cpu_seconds(), time.monotonic()
        for _ in range(seconds):
            time.sleep(1.0)
            c1, t1 = s.term.cpu_seconds(), time.monotonic()
            shares.append((c1 - c0) / (t1 - t0) * 100)
            c0, t0 = c1, t1
        return shares
    finally:
        s.term.stop()


def callbacks(server: Loopback, tmp: Path, tps: float, seconds: int) -> None:
    out = tmp / "trace.json"
    term = traced(tmp, server, out, True)
    try:
        _, offset = term.wait_for(PLACEHOLDER, timeout=30)
        term.wait_idle(cpu_share=0.05, window=0.3)
        tokens = int(tps * (seconds + 3))
        reply, first, _ = marked_reply(1, markdown_answer(tokens - 2, seed=47))
        server.configure(reply_text=reply, segments=[(tokens, tps)])
        term.write("Question QZ001")
        _, offset = term.wait_for("QZ001", start=offset)
        term.write("\r")
        term.wait_for(first, start=offset)
        t0, c0 = time.monotonic(), term.cpu_seconds()
        time.sleep(seconds)
        t1, c1 = time.monotonic(), term.cpu_seconds()
    finally:
        term.stop()
    trace = json.loads(out.read_text())
    span = t1 - t0
    print(f"\nchat-tui traced: CPU {(c1 - c0) / span * 100:.0f} % of a core over {span:.0f} s; "
          "event-loop callbacks of 0.2 ms or more, by what ran (ms a second):")  # fmt: skip
    spent: collections.Counter[str] = collections.Counter()
    count: collections.Counter[str] = collections.Counter()
    for at, took, what in trace["callbacks"]:
        if t0 <= at <= t1:
            key = what.split("(")[0][:70]
            spent[key] += took
            count[key] += 1
    for key, took in spent.most_common(12):
        print(f"  {took * 1000 / span:7.1f} ms/s  {count[key]:5}  {key}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--tps", type=float, default=100.0)
    parser.add_argument("--seconds", type=int, default=12)
    args = parser.parse_args()
    with Loopback() as server, tempfile.TemporaryDirectory(prefix="profile-stream-") as d:
        root = Path(d)
        print(f"CPU (% of a core) each second of an answer at {args.tps:.0f} tok/s:")
        for r in range(args.rounds):
            for subject in (FLOOR, CHAT_TUI):
                tmp = root / f"{subject.name}-{r}"
                tmp.mkdir()
                shares = curve(subject, server, tmp, args.tps, args.seconds)
                mean = sum(shares) / len(shares)
                print(
                    f"  {subject.name:9} {' '.join(f'{c:3.0f}' for c in shares)}  mean {mean:.0f}"
                )
        tmp = root / "traced"
        tmp.mkdir()
        callbacks(server, tmp, args.tps, args.seconds)


if __name__ == "__main__":
    main()
