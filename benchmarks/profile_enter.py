"""What runs between Enter and the request leaving, in the real ``chat-tui`` in a
pseudo-terminal (not part of run.py: a tool to look with, not a figure to hold).

    .venv/bin/python benchmarks/profile_enter.py [--busy] [--turns 6] [--no-warm-up]

The app runs under benchmarks/traced.py. For each question: the event-loop callbacks that ran
from Enter written to the terminal until the request's first byte was written to its socket
(offset from Enter, duration, what), and when the server received it. Then a cProfile of those
windows (from just before each Enter until the server had the request), by cumulative time.
``--busy``: with the busy neighbour (benchmarks/busy.py) drawing in another terminal.
``--startup N``: instead, N launches each with and without the SDK warm-up, interleaved:
spawn → input drawn and → key bar drawn (does the warm-up thread delay the first frames?).
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_floor import KEY_BAR, PLACEHOLDER, busy_neighbour, marked_reply
from benchmarks.common import ROOT, Loopback, markdown_answer, process_env
from benchmarks.terminal import Terminal


def traced(tmp: Path, server: Loopback, out: Path, warm_up: bool) -> Terminal:
    env = process_env(tmp, server)
    env["PYTHONPATH"] = str(ROOT)
    own = [str(out)] + ([] if warm_up else ["--no-warm-up"])
    program = [sys.executable, "-m", "benchmarks.traced", *own, "--"]
    return Terminal([], env, tmp, program=program).start()


def enter_windows(server: Loopback, tmp: Path, turns: int, warm_up: bool) -> None:
    out = tmp / "trace.json"
    term = traced(tmp, server, out, warm_up)
    enters: list[tuple[float, float, float, float]] = []
    try:
        _, offset = term.wait_for(PLACEHOLDER, timeout=30)
        term.wait_idle(cpu_share=0.05, window=0.3)
        for n in range(1, turns + 1):
            reply, first, last = marked_reply(n, markdown_answer(18, seed=n))
            server.configure(reply_text=reply, segments=[(20, 100.0)], first_byte_delay=0.1)
            server.clear()
            term.write(f"Question {n} QZ{n:03d}")
            _, offset = term.wait_for(f"QZ{n:03d}", start=offset)
            time.sleep(0.3)
            os.kill(term.pid, signal.SIGUSR1)
            pressed = term.write("\r")
            received = None
            while received is None and time.monotonic() - pressed < 10:
                found = [r.at for r in server.log().requests if r.path == "/v1/messages"]
                received = found[0] if found else None
            assert received is not None
            shown, offset = term.wait_for(first, start=offset)
            os.kill(term.pid, signal.SIGUSR2)
            sent = [t.at for t in server.log().texts()]
            enters.append((pressed, received, sent[0], shown))
            _, offset = term.wait_for(last, start=offset)
            term.wait_idle(cpu_share=0.05, window=0.3)
    finally:
        term.stop()
    trace = json.loads(out.read_text())

    def ms(t: float) -> str:
        return f"+{(t - pressed) * 1000:6.1f} ms"

    for n, (pressed, received, first_sent, shown) in enumerate(enters, 1):
        sent = next((at for at, size in trace["writes"] if at >= pressed and size > 100), None)
        print(
            f"\nquestion {n}: request written {ms(sent or pressed)}, at the server "
            f"{ms(received)}; first token sent {ms(first_sent)}, drawn {ms(shown)}"
        )
        marks = [(sent or received, "REQUEST WRITTEN"), (first_sent, "FIRST TOKEN SENT")]
        timeline = sorted([*(tuple(c) for c in trace["callbacks"]),
                           *((at, spent, f"    message {what}") for at, spent, what in
                             trace["messages"] if spent >= 0.0005)])  # fmt: skip
        for at, spent, what in timeline:
            while marks and marks[0][0] <= at:
                print(f"  {ms(marks[0][0])}  ----- {marks.pop(0)[1]}")
            if pressed - 0.001 <= at <= shown:
                print(f"  {ms(at)}  {spent * 1000:5.1f} ms  {what}")
    print("\nprofile of the Enter → first token drawn windows (cumulative):")
    stats = pstats.Stats(str(out.with_suffix(".prof"))).sort_stats("cumulative")
    stats.print_stats(30)
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative")
    print("\nthe same, chat-tui's own functions and the SQLite and file calls:")
    stats.print_stats("chat_tui|sqlite|posix|io.open|json", 40)


def startup(server: Loopback, root: Path, runs: int) -> None:
    times: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    for r in range(runs):
        for warm_up in (True, False):
            tmp = root / f"start-{r}-{warm_up}"
            tmp.mkdir()
            term = traced(tmp, server, tmp / "trace.json", warm_up)
            try:
                shown, _ = term.wait_for(PLACEHOLDER, timeout=30)
                keys, _ = term.wait_for(KEY_BAR, timeout=30)
                times[warm_up].append((shown - term.started, keys - term.started))
            finally:
                term.stop()
    for warm_up, values in times.items():
        label = "with the warm-up   " if warm_up else "without the warm-up"
        inputs = [v[0] * 1000 for v in values]
        keys = [v[1] * 1000 for v in values]
        print(
            f"{label}: input drawn median {statistics.median(inputs):.0f} ms, key bar median "
            f"{statistics.median(keys):.0f} ms; key bar − input "
            f"{statistics.median(k - i for i, k in zip(inputs, keys, strict=True)):.0f} ms "
            f"(runs: {', '.join(f'{k:.0f}' for k in keys)})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--busy", action="store_true")
    parser.add_argument("--turns", type=int, default=6)
    parser.add_argument("--no-warm-up", action="store_true")
    parser.add_argument("--startup", type=int, default=0, metavar="N")
    args = parser.parse_args()
    with Loopback() as server, tempfile.TemporaryDirectory(prefix="profile-enter-") as d:
        root = Path(d)
        with busy_neighbour(root, args.busy):
            if args.startup:
                startup(server, root, args.startup)
            else:
                enter_windows(server, root, args.turns, not args.no_warm_up)


if __name__ == "__main__":
    main()
