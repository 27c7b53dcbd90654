"""6. Scale: a saved conversation of 500 turns (Markdown answers of 100 to 2,000 tokens, about
0.8 MB of text), stored beforehand in a temporary data directory.

* open, in the app (headless): ctrl+l (saved conversations), Enter on it → the last answer
  on screen; and → the app quiet again (CPU under 5 % of a core over 200 ms);
* typing, in the real ``chat-tui`` in a pseudo-terminal (``--continue``: the 500 turns; and a
  fresh start for comparison): ask a question, and from 1 s into the 100 tok/s answer type 40
  keys 120 ms apart. Each key: written to the terminal → the input line showing it arrives
  in the terminal output. The typist is another process, as a person is: a busy event loop
  (a garbage collection, a long layout) delays the echo, not the typing;
* memory: ``chat-tui --continue --doc <2 MB file>``: resident set size once the last answer
  is shown and the process has gone quiet (and its peak); also spawn → last answer shown.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import tempfile
import time
from pathlib import Path

from benchmarks.common import (
    Figure,
    Loopback,
    Options,
    bench_settings,
    dirs_env,
    log,
    markdown_answer,
    percentile,
    plain_document,
    process_env,
    scoped_env,
)
from benchmarks.headless import Harness, poll, quiet, running_app
from benchmarks.terminal import Terminal
from chat_tui.core.storage import Store
from chat_tui.ui.screens.chat import ChatScreen
from chat_tui.ui.screens.conversations import ConversationsScreen
from chat_tui.ui.widgets.message_pane import AssistantMessage, MessagePane

NAME = "scale"
TURNS = 500
MARKER = "END-OF-HISTORY"
INTERVAL = 0.12  # seconds between keys: a fast typist
ANSWER_START = "Streaming-answer-begins"  # the first words of the answer typed over


def typed_text(keys: int) -> str:
    """Keys to type: groups such as ``K7Q`` whose every 3- to 5-character window is unique and
    appears nowhere else on screen, so each key's echo can be found in the output."""
    rng = random.Random(11)
    letters = "BCDFGHJKMPQVXZ"
    while True:
        text = " ".join(
            rng.choice(letters) + rng.choice("23456789") + rng.choice(letters)
            for _ in range(keys // 4 + 1)
        )[:keys]
        grams = [text[i:j] for j in range(3, keys + 1) for i in (max(0, j - 5),)]
        if len(set(grams)) == len(grams):
            return text


def build_history(tmp: Path) -> None:
    """A 500-turn conversation in the data directory, as earlier sessions would leave it."""
    rng = random.Random(5)
    answers = [markdown_answer(rng.choice((100, 200, 300, 400, 600)), seed=i) for i in range(40)]
    answers += [markdown_answer(2000, seed=99)]
    with scoped_env(dirs_env(tmp)):
        store = Store.open(tmp / "data" / "chat-tui.db")
        try:
            conv = store.create_conversation("A long conversation")
            for i in range(TURNS):
                store.add_message(conv, "user", f"Question {i}: how does part {i} work?")
                answer = answers[rng.randrange(len(answers))] if i % 50 else answers[-1]
                if i == TURNS - 1:
                    answer = f"{answer}\n\nThat is all. {MARKER}"
                store.add_message(
                    conv, "assistant", answer, provider="anthropic", model="claude-haiku-4-5"
                )
        finally:
            store.close()


async def open_history(h: Harness) -> tuple[float, float]:
    """ctrl+l, Enter: (Enter → last answer on screen, Enter → the app quiet again)."""
    app = h.app
    h.press("ctrl+l")
    await poll(lambda: isinstance(app.screen, ConversationsScreen), timeout=10)
    await h.probe.frame_when(lambda: isinstance(app.screen, ConversationsScreen))
    await asyncio.sleep(0.2)
    pane = app.chat.query_one(MessagePane)

    def last_shown() -> bool:
        if not isinstance(app.screen, ChatScreen):
            return False
        answers = pane.query(AssistantMessage)
        if len(answers) != TURNS or not answers.last().is_mounted:
            return False
        return MARKER in answers.last().text and pane.scroll_y >= pane.max_scroll_y - 1

    pressed = h.press("enter")
    shown = await h.probe.frame_when(last_shown, timeout=30)
    settled = await quiet()
    return shown - pressed, settled - pressed


def open_in_app(tmp: Path, server: Loopback, runs: int) -> tuple[list[float], list[float]]:
    shown_ms: list[float] = []
    quiet_ms: list[float] = []

    async def main() -> None:
        async with running_app(bench_settings(server, tmp), tmp) as h:
            await h.idle(0.3)
            for _ in range(runs):
                shown, settled = await open_history(h)
                shown_ms.append(shown * 1000)
                quiet_ms.append(settled * 1000)
                await h.new_conversation()

    asyncio.run(main())
    return shown_ms, quiet_ms


def type_while_streaming(tmp: Path, server: Loopback, args: list[str], keys: int) -> list[float]:
    """In a pseudo-terminal: ask, and type ``keys`` keys while the 100 tok/s answer streams
    (long enough to last 4 s beyond the typing). Returns each key's write → echo in ms."""
    tokens = int(100 * (1.0 + keys * INTERVAL + 4.0))
    reply = f"{ANSWER_START}.\n\n{markdown_answer(tokens, seed=77)}"
    server.configure(reply_text=reply, segments=[(tokens, 100.0)])
    text = typed_text(keys)
    with Terminal(args, process_env(tmp, server), cwd=tmp) as term:
        _, offset = term.wait_for(MARKER if "--continue" in args else "Ask anything", timeout=30)
        term.wait_idle()
        term.write("Stream something while I type")
        _, offset = term.wait_for("while I type", start=offset)
        term.write("\r")
        _, offset = term.wait_for(ANSWER_START, start=offset, timeout=20)
        time.sleep(1.0)
        written = term.type_keys(text, INTERVAL)
        term.wait_for(text, start=offset, timeout=20)
        latencies = []
        for k in range(3, keys + 1):
            shown = term.shown_at(text[max(0, k - 5) : k], offset)
            assert shown is not None
            latencies.append((shown - written[k - 1]) * 1000)
        return latencies


def run(opts: Options) -> list[Figure]:
    runs = opts.pick(3, 1)
    keys = opts.pick(40, 20)
    f_open = Figure(NAME, f"open a {TURNS}-turn conversation: Enter → last answer on screen",
                    "ms", target=1000)  # fmt: skip
    f_quiet = Figure(NAME, f"open a {TURNS}-turn conversation: Enter → app quiet again", "ms")
    note = f"{TURNS} turns open, pty"
    f_key = Figure(NAME, "keystroke → echoed while 100 tok/s streams: p95", "ms", target=50,
                   note=note)  # fmt: skip
    f_key50 = Figure(NAME, "keystroke → echoed while 100 tok/s streams: p50", "ms", note=note)
    f_keymax = Figure(NAME, "keystroke → echoed while 100 tok/s streams: max", "ms", note=note)
    f_keynew = Figure(NAME, "keystroke → echoed while 100 tok/s streams: p95", "ms",
                      note="fresh start, pty")  # fmt: skip
    f_spawn = Figure(NAME, f"chat-tui --continue ({TURNS} turns): spawn → last answer shown", "ms")
    f_rss = Figure(NAME, f"RSS, {TURNS} turns + 2 MB document (settled)", "MB", target=250)
    f_hwm = Figure(NAME, f"peak RSS, {TURNS} turns + 2 MB document", "MB")

    with Loopback() as server, tempfile.TemporaryDirectory(prefix="bench-scale-") as d:
        root = Path(d)
        base = root / "base"
        build_history(base)

        def copy(name: str) -> Path:
            target = root / name
            shutil.copytree(base, target)
            return target

        f_open.values, f_quiet.values = open_in_app(copy("app"), server, runs)
        log(f"open: {' '.join(f'{v:.0f}' for v in f_open.values)} ms")
        for r in range(opts.pick(2, 1)):
            lat = type_while_streaming(copy(f"typing{r}"), server, ["--continue"], keys)
            f_key.values.append(percentile(lat, 95))
            f_key50.values.append(percentile(lat, 50))
            f_keymax.values.append(max(lat))
            fresh = root / f"fresh{r}"
            fresh.mkdir()
            lat_new = type_while_streaming(fresh, server, [], keys)
            f_keynew.values.append(percentile(lat_new, 95))
            log(f"typing run {r + 1}: p95 {f_key.values[-1]:.0f} ms with {TURNS} turns open, "
                f"{f_keynew.values[-1]:.0f} ms fresh")  # fmt: skip
        doc = root / "big.txt"
        doc.write_text(plain_document(2 * 1024 * 1024), encoding="utf-8")
        server.configure(reply_text="ok")
        for r in range(opts.pick(2, 1)):
            tmp = copy(f"memory{r}")
            with Terminal(["--continue", "--doc", str(doc)], process_env(tmp, server),
                          cwd=tmp) as term:  # fmt: skip
                shown, _ = term.wait_for(MARKER, timeout=30)
                f_spawn.values.append((shown - term.started) * 1000)
                term.wait_idle()
                rss, peak = term.memory_mb()
                f_rss.values.append(rss)
                f_hwm.values.append(peak)
            log(f"--continue --doc: last answer {f_spawn.values[-1]:.0f} ms, RSS {rss:.0f} MB "
                f"(peak {peak:.0f} MB)")  # fmt: skip
    return [f_open, f_quiet, f_key, f_key50, f_keymax, f_keynew, f_spawn, f_rss, f_hwm]
