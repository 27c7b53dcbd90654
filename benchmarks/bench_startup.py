"""1. Startup: the real ``chat-tui`` process in a pseudo-terminal, from spawn to

* first frame: the chat screen's input has been drawn (its placeholder: the first frame has
  the header, the pane, the input and the key bar; and the process's own CPU time by then,
  which machine load does not inflate);
* footer: the key bindings are drawn (the complete first screen);
* ready to type: keys typed the moment the first frame appeared are echoed in the input
  (that is, the event loop is free: not blocked by the core's import and the session's
  build just after the first frame, nor by the SDK import, off the event loop);
* session built: the header's title and the panel, which come with the session, just after
  the first frame;
* SDK ready (separate runs, with a small ``--doc``): the document's ``count_tokens``
  request reaches the loopback server, which needs the provider SDK imported and its client
  built: the earliest a question could go out.

One unmeasured launch first (Python's bytecode cache, SDK included, and the database file) so
the runs measure a warm start, as every start but the first after installation is. The
bytecode cache lives outside the repository (``PYTHONPYCACHEPREFIX``, see common.PYCACHE):
``PYTHONDONTWRITEBYTECODE`` in a developer's environment would otherwise make every start
compile chat_tui from source, which a real install never does.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from benchmarks.common import Figure, Loopback, Options, log, process_env
from benchmarks.terminal import Terminal

NAME = "startup"
TITLE = "chat-tui — New conversation"  # the header, once the chat screen is drawn
FOOTER = "^t Provider"  # the ctrl+t binding in the footer
PLACEHOLDER = "Ask anything"
TYPED = "xyzzy"


def _launch(tmp: Path, server: Loopback, args: list[str]) -> Terminal:
    return Terminal(args, process_env(tmp, server), cwd=tmp).start()


def _one_start(tmp: Path, server: Loopback) -> dict[str, float]:
    with _launch(tmp, server, []) as term:
        frame, _ = term.wait_for(PLACEHOLDER)
        cpu = term.cpu_seconds()
        term.write(TYPED)
        typed, _ = term.wait_for(TYPED)
        footer, _ = term.wait_for(FOOTER)
        session, _ = term.wait_for(TITLE)
        t0 = term.started
        return {"frame": frame - t0, "footer": footer - t0, "session": session - t0,
                "typed": typed - t0, "cpu": cpu}  # fmt: skip


def _sdk_start(tmp: Path, server: Loopback, doc: Path) -> float:
    server.clear()
    with _launch(tmp, server, ["--doc", str(doc)]) as term:
        term.wait_for(PLACEHOLDER)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            counted = [r for r in server.log().requests if r.path.endswith("/count_tokens")]
            if counted:
                return counted[0].at - term.started
            time.sleep(0.02)
    raise TimeoutError("no count_tokens request within 20 s")


def run(opts: Options) -> list[Figure]:
    runs = opts.pick(7, 3)
    f_frame = Figure(NAME, "spawn → first frame of the chat screen", "ms", target=500)
    f_cpu = Figure(NAME, "  process CPU time used by the first frame", "ms")
    f_footer = Figure(NAME, "spawn → footer bindings drawn", "ms")
    f_ready = Figure(NAME, "spawn → ready to type (keys typed at first frame echoed)", "ms")
    f_session = Figure(NAME, "spawn → session built (panel and title drawn)", "ms")
    f_sdk = Figure(NAME, "spawn → SDK imported, client's first request (--doc)", "ms")
    with Loopback() as server, tempfile.TemporaryDirectory(prefix="bench-startup-") as d:
        tmp = Path(d)
        doc = tmp / "notes.md"
        doc.write_text("# Notes\n\nA short reference document.\n", encoding="utf-8")
        _sdk_start(tmp, server, doc)  # warm-up: bytecode cache (SDK included), database file
        for i in range(runs):
            t = _one_start(tmp, server)
            f_frame.values.append(t["frame"] * 1000)
            f_cpu.values.append(t["cpu"] * 1000)
            f_footer.values.append(t["footer"] * 1000)
            f_ready.values.append(t["typed"] * 1000)
            f_session.values.append(t["session"] * 1000)
            log(f"run {i + 1}: first frame {t['frame'] * 1000:.0f} ms, ready "
                f"{t['typed'] * 1000:.0f} ms")  # fmt: skip
        for _ in range(opts.pick(3, 1)):
            f_sdk.values.append(_sdk_start(tmp, server, doc) * 1000)
    return [f_frame, f_cpu, f_footer, f_ready, f_session, f_sdk]
