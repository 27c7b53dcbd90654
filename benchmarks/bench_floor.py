"""0. Against the floor: chat-tui and the floor app (benchmarks/floor.py: Header, Log, Input,
Footer, the OpenAI SDK) measured the same way in the same run, interleaved (floor, chat-tui,
floor, chat-tui, ...), each in a real pseudo-terminal against the same loopback server, so
that machine noise hits both alike. Each figure is reported as chat-tui / floor (the median of
the paired runs' ratios), with the absolute figures beside it.

One session per app and round, in a fresh process with fresh data:

* startup: spawn → the prompt input drawn ("Ask anything", the placeholder both show), and
  → the whole first screen, key bar included ("^q Quit", the footer's last binding in both);
  plus extra start-only launches, interleaved the same way;
* one question to warm up (the floor imports the OpenAI SDK on its first question; chat-tui
  has imported its SDK in the background by then), not measured;
* Enter: questions answered after a 100 ms simulated model delay, 20 tokens at 100 tok/s,
  each answer's first and last token a marker unique on screen. Enter written to the terminal
  → the request at the server; and the first-token overhead: (Enter → first token drawn) −
  (request at the server → first token sent), everything the client adds;
* render: a 3,000-token Markdown answer at 1,000 tok/s: the server's last byte → the last
  token drawn; and the process's CPU time from Enter to then;
* 100 tok/s: CPU over a window while a long answer streams, then keys typed into the input
  while it still streams, each key's write → its echo (as benchmarks/bench_scale.py);
* idle: CPU over a window once the answer is done.

The busy variant (``floor_busy``) is the same run while another Textual app (benchmarks/busy.py)
streams a long Markdown answer in a second pseudo-terminal, started before the first session
and stopped after the last: a user's machine has other programs drawing too.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from benchmarks.bench_scale import typed_text
from benchmarks.common import (
    ROOT,
    Figure,
    Loopback,
    Options,
    ServerLog,
    log,
    markdown_answer,
    percentile,
    process_env,
)
from benchmarks.terminal import Terminal

NAME = "vs floor"
PLACEHOLDER = "Ask anything"
KEY_BAR = "^q Quit"
FIRST_BYTE_S = 0.1
KEY_INTERVAL = 0.12
CHAT_PATHS = ("/v1/messages", "/v1/chat/completions")
BUSY_RATE = 300.0  # tokens a second the busy neighbour streams


@dataclass(frozen=True)
class Subject:
    name: str  # "floor" or "chat-tui"
    program: list[str] | None  # None: the chat-tui command


FLOOR = Subject("floor", [sys.executable, str(ROOT / "benchmarks" / "floor.py")])
CHAT_TUI = Subject("chat-tui", None)


def subject_env(tmp: Path, server: Loopback) -> dict[str, str]:
    env = process_env(tmp, server)
    env.update(OPENAI_BASE_URL=server.base_url + "/v1", OPENAI_API_KEY="sk-floor-not-a-real-key")
    return env


def marked_reply(n: int, body: str) -> tuple[str, str, str]:
    """``body`` between two 4-character markers unique to turn ``n``, each one whole token of
    the server's 4-character tokens: (reply, first marker, last marker)."""
    first, last = f"F{n:02d}W", f"E{n:02d}W"
    middle = " " + body.strip()
    middle += " " * (-(len(middle) + 2) % 4) + "\n\n"
    return first + middle + last, first, last


class Session:
    """One app in a pseudo-terminal, asked questions as a user asks them."""

    def __init__(self, subject: Subject, server: Loopback, tmp: Path) -> None:
        self.subject = subject
        self.server = server
        self.term = Terminal([], subject_env(tmp, server), tmp, program=subject.program)
        self.offset = 0
        self.turn = 0

    def startup(self) -> tuple[float, float]:
        """(spawn → input drawn, spawn → whole first screen) in seconds."""
        term = self.term.start()
        shown, self.offset = term.wait_for(PLACEHOLDER, timeout=30)
        keys, _ = term.wait_for(KEY_BAR, timeout=30)
        return shown - term.started, max(shown, keys) - term.started

    def ask(
        self, reply: str, segments: list[tuple[int, float | None]], delay: float = 0.0
    ) -> float:
        """Type a question and press Enter; returns when Enter was written."""
        self.turn += 1
        self.server.configure(reply_text=reply, segments=segments, first_byte_delay=delay)
        self.server.clear()
        question = f"Question {self.turn} QZ{self.turn:03d}"
        self.term.write(question)
        _, self.offset = self.term.wait_for(f"QZ{self.turn:03d}", start=self.offset)
        return self.term.write("\r")

    def shown(self, marker: str, timeout: float = 30.0) -> float:
        at, self.offset = self.term.wait_for(marker, start=self.offset, timeout=timeout)
        return at

    def settle(self) -> None:
        self.term.wait_idle(cpu_share=0.05, window=0.3, timeout=30)


def request_at(logged: ServerLog) -> float:
    found = [r.at for r in logged.requests if r.path in CHAT_PATHS]
    if not found:
        raise RuntimeError("the question did not reach the server")
    return found[-1]


def one_session(subject: Subject, server: Loopback, tmp: Path, opts: Options) -> dict[str, float]:
    out: dict[str, float] = {}
    s = Session(subject, server, tmp)
    try:
        out["input"], out["screen"] = s.startup()
        s.settle()
        reply, _, last = marked_reply(0, "warming up")
        s.ask(reply, [(20, None)])
        s.shown(last)
        s.settle()
        # Enter → request, first-token overhead
        to_server, overhead = [], []
        for _ in range(opts.pick(8, 4)):
            reply, first, last = marked_reply(s.turn + 1, markdown_answer(18, seed=s.turn))
            pressed = s.ask(reply, [(20, 100.0)], FIRST_BYTE_S)
            first_shown = s.shown(first)
            s.shown(last)
            logged = server.log()
            received = request_at(logged)
            first_sent = logged.texts()[0].at
            to_server.append((received - pressed) * 1000)
            overhead.append(((first_shown - pressed) - (first_sent - received)) * 1000)
            s.settle()
        out["to_server"] = statistics.median(to_server)
        out["overhead"] = statistics.median(overhead)
        # 3,000 tokens at 1,000 tok/s
        reply, _, last = marked_reply(s.turn + 1, markdown_answer(2998, seed=31))
        cpu0 = s.term.cpu_seconds()
        s.ask(reply, [(3000, 1000.0)])
        last_shown = s.shown(last)
        out["render_cpu"] = s.term.cpu_seconds() - cpu0
        out["render_lag"] = (last_shown - server.log().sent[-1].at) * 1000
        s.settle()
        # 100 tok/s: CPU, then typing while it streams
        window, keys = opts.secs(6, 3), opts.pick(30, 15)
        tokens = int(100 * (1.0 + window + keys * KEY_INTERVAL + 2.0))
        reply, first, last = marked_reply(s.turn + 1, markdown_answer(tokens - 2, seed=47))
        s.ask(reply, [(tokens, 100.0)])
        s.shown(first)
        time.sleep(1.0)
        t0, c0 = time.monotonic(), s.term.cpu_seconds()
        time.sleep(window)
        out["cpu100"] = (s.term.cpu_seconds() - c0) / (time.monotonic() - t0) * 100
        text = typed_text(keys)
        start = len(s.term.text)
        written = s.term.type_keys(text, KEY_INTERVAL)
        s.term.wait_for(text, start=start, timeout=20)
        echo = []
        for k in range(3, keys + 1):
            at = s.term.shown_at(text[max(0, k - 5) : k], start)
            assert at is not None
            echo.append((at - written[k - 1]) * 1000)
        out["echo_p50"], out["echo_p95"] = percentile(echo, 50), percentile(echo, 95)
        s.shown(last)
        s.settle()
        # idle
        time.sleep(1.0)
        idle = opts.secs(8, 4)
        t0, c0 = time.monotonic(), s.term.cpu_seconds()
        time.sleep(idle)
        out["idle"] = (s.term.cpu_seconds() - c0) / (time.monotonic() - t0) * 100
    finally:
        s.term.stop()
    return out


def start_only(subject: Subject, server: Loopback, tmp: Path) -> tuple[float, float]:
    s = Session(subject, server, tmp)
    try:
        return s.startup()
    finally:
        s.term.stop()


@contextmanager
def busy_neighbour(tmp: Path, on: bool) -> Iterator[None]:
    """Another Textual app streaming Markdown in its own pseudo-terminal, while ``on``."""
    if not on:
        yield
        return
    env = process_env(tmp, None)
    env["PYTHONPATH"] = str(ROOT)
    program = [sys.executable, "-m", "benchmarks.busy", "--rate", str(BUSY_RATE)]
    term = Terminal([], env, ROOT, program=program, keep_text=False).start()
    try:
        time.sleep(2.0)  # started and drawing
        c0, t0 = term.cpu_seconds(), time.monotonic()
        yield
        share = (term.cpu_seconds() - c0) / (time.monotonic() - t0) * 100
        log(f"the busy neighbour used {share:.0f} % of a core")
    finally:
        term.stop()


FIGURES = [
    ("input", "spawn → prompt input drawn", "ms", {"ratio_target": 1.2}),
    ("screen", "spawn → whole first screen, key bar included", "ms", {"ratio_target": 1.2}),
    ("to_server", "Enter → request at the server (median of the turns)", "ms",
     {"plus_target": 10.0}),
    ("overhead", "first-token overhead, screen − server (median of the turns)", "ms",
     {"ratio_target": 1.2}),
    ("render_lag", "3,000 tok @ 1,000/s: server's last byte → last token on screen", "ms",
     {"ratio_target": 1.0}),
    ("render_cpu", "3,000 tok @ 1,000/s: CPU, Enter → last token on screen", "s", {}),
    ("cpu100", "CPU at 100 tok/s (% of a core)", "%", {"ratio_target": 1.0}),
    ("echo_p50", "keystroke → echoed while 100 tok/s streams: p50", "ms", {}),
    ("echo_p95", "keystroke → echoed while 100 tok/s streams: p95", "ms", {}),
    ("idle", "idle CPU after an answer (% of a core)", "%", {}),
]  # fmt: skip


def measure(opts: Options, busy: bool) -> list[Figure]:
    bench = f"{NAME}, busy" if busy else NAME
    figures = {key: Figure(bench, name, unit, **targets) for key, name, unit, targets in FIGURES}  # type: ignore[arg-type]
    rounds = opts.pick(4, 2)
    with Loopback() as server, tempfile.TemporaryDirectory(prefix="bench-floor-") as d:
        root = Path(d)
        # Bytecode caches and first-run work for both, not measured.
        for subject in (FLOOR, CHAT_TUI):
            warm = root / f"warm-{subject.name}"
            warm.mkdir()
            start_only(subject, server, warm)
        with busy_neighbour(root, busy):
            for r in range(rounds):
                results: dict[str, dict[str, float]] = {}
                for subject in (FLOOR, CHAT_TUI):
                    tmp = root / f"{r}-{subject.name}"
                    tmp.mkdir()
                    results[subject.name] = one_session(subject, server, tmp, opts)
                for extra in range(opts.pick(2, 1)):
                    for subject in (FLOOR, CHAT_TUI):
                        tmp = root / f"{r}-{extra}-start-{subject.name}"
                        tmp.mkdir()
                        shown, screen = start_only(subject, server, tmp)
                        for key, value in (("input", shown), ("screen", screen)):
                            f = figures[key]
                            target = f.floor if subject is FLOOR else f.values
                            target.append(value * 1000)
                for key, f in figures.items():
                    scale = 1000.0 if key in ("input", "screen") else 1.0
                    f.floor.append(results["floor"][key] * scale)
                    f.values.append(results["chat-tui"][key] * scale)
                c, fl = results["chat-tui"], results["floor"]
                log(f"round {r + 1}{' (busy)' if busy else ''}: Enter → server "
                    f"{c['to_server']:.0f} vs {fl['to_server']:.0f} ms, screen "
                    f"{c['screen'] * 1000:.0f} vs {fl['screen'] * 1000:.0f} ms, first-token "
                    f"overhead {c['overhead']:.0f} vs {fl['overhead']:.0f} ms")  # fmt: skip
    return list(figures.values())


def run(opts: Options) -> list[Figure]:
    return measure(opts, busy=False)


def run_busy(opts: Options) -> list[Figure]:
    return measure(opts, busy=True)
