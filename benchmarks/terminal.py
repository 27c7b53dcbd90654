"""chat-tui as a user runs it: the real ``chat-tui`` command in a pseudo-terminal (140x45,
TERM=xterm-256color), its output read and timestamped as it arrives, keys written to it.

The output is also kept as plain text (escape sequences removed), so a benchmark can wait for
what a user would see: ``wait_for("Ask anything")`` returns when those characters arrived.
CPU time and memory come from ``/proc/<pid>``.
"""

from __future__ import annotations

import codecs
import contextlib
import fcntl
import os
import pty
import re
import select
import signal
import struct
import termios
import threading
import time
from pathlib import Path

from benchmarks.common import CHAT_TUI, SIZE

# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \), DCS/APC/PM/SOS strings, two-byte ESC x.
_ESCAPE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[PX^_][^\x1b]*\x1b\\"
    r"|\x1b[ -/]*[0-~]"
)
_INCOMPLETE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*|\][^\x07\x1b]*|[PX^_][^\x1b]*|[ -/]*)?$")
CLK_TCK = os.sysconf("SC_CLK_TCK")


class Terminal:
    """One chat-tui process in a pseudo-terminal (or another program: ``program``, the argv
    before ``args``; ``keep_text=False`` drops the output as it is read, for a program that
    draws for minutes and is not looked at)."""

    def __init__(
        self, args: list[str], env: dict[str, str], cwd: Path, *,
        program: list[str] | None = None, keep_text: bool = True,
    ) -> None:  # fmt: skip
        self.args = args
        self.program = program or [str(CHAT_TUI)]
        self.keep_text = keep_text
        self.env = env
        self.cwd = cwd
        self.pid = 0
        self.started = 0.0  # time.monotonic() just before the fork
        self.first_output: float | None = None
        self.text = ""  # everything shown, without escape sequences
        self._marks: list[tuple[int, float]] = []  # (len(text) after a read, time of the read)
        self._raw = ""
        self._fd = -1
        self._cond = threading.Condition()
        self._reader: threading.Thread | None = None
        self._closed = False

    # -- lifecycle

    def start(self) -> Terminal:
        if self.pid:
            raise RuntimeError("this terminal's program is already running")
        argv = [*self.program, *self.args]
        cols, rows = SIZE
        self.started = time.monotonic()
        pid, fd = pty.fork()
        if pid == 0:  # the child: size the terminal, then become chat-tui
            try:
                fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
                os.chdir(self.cwd)
                os.execve(argv[0], argv, self.env)
            finally:
                os._exit(127)
        self.pid, self._fd = pid, fd
        self._reader = threading.Thread(target=self._read, name="pty-reader", daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        while True:
            try:
                ready, _, _ = select.select([self._fd], [], [], 0.5)
                if not ready:
                    if self._closed:
                        break
                    continue
                data = os.read(self._fd, 65536)
            except OSError:
                break
            if not data:
                break
            now = time.monotonic()
            if not self.keep_text:
                continue
            with self._cond:
                if self.first_output is None:
                    self.first_output = now
                raw = self._raw + decoder.decode(data)
                tail = _INCOMPLETE.search(raw)
                keep = raw[tail.start() :] if tail else ""
                done = raw[: tail.start()] if tail else raw
                self._raw = keep
                self.text += _ESCAPE.sub("", done)
                self._marks.append((len(self.text), now))
                self._cond.notify_all()
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def write(self, data: bytes | str) -> float:
        """Type ``data``; returns the time it was written."""
        raw = data.encode() if isinstance(data, str) else data
        now = time.monotonic()
        os.write(self._fd, raw)
        return now

    def alive(self) -> bool:
        try:
            pid, _ = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            return False
        return pid == 0

    def stop(self, timeout: float = 5.0) -> None:
        """Quit as a user does (ctrl+q); if it does not exit, terminate it."""
        if not self.pid:
            return
        with contextlib.suppress(OSError):
            self.write(b"\x11")
        deadline = time.monotonic() + timeout
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if not self.alive():
                break
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)
            time.sleep(0.5)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)
        self._closed = True
        if self._reader is not None:
            self._reader.join(2)
        with contextlib.suppress(OSError):
            os.close(self._fd)
        self.pid = 0

    def __enter__(self) -> Terminal:
        # ``with Terminal(...).start() as term`` must not start a second process (it did:
        # bench_startup ran two chat-tui processes a launch, the first never stopped).
        return self if self.pid else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what the user sees

    def wait_for(self, needle: str, timeout: float = 20.0, start: int = 0) -> tuple[float, int]:
        """Wait until ``needle`` has been shown (at or after text offset ``start``). Returns the
        time the read that completed it arrived and the offset just past it."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                at = self.text.find(needle, start)
                if at >= 0:
                    end = at + len(needle)
                    for length, when in self._marks:
                        if length >= end:
                            return when, end
                if self._closed:
                    raise RuntimeError(f"chat-tui exited before showing {needle!r}")
                left = deadline - time.monotonic()
                if left <= 0:
                    tail = self.text[-300:]
                    raise TimeoutError(f"{needle!r} not shown within {timeout} s; last: {tail!r}")
                self._cond.wait(left)

    def shown_at(self, needle: str, start: int = 0) -> float | None:
        """When ``needle`` was first shown at or after offset ``start``; None if not yet."""
        with self._cond:
            at = self.text.find(needle, start)
            if at < 0:
                return None
            end = at + len(needle)
            return next(when for length, when in self._marks if length >= end)

    def type_keys(self, keys: str, interval: float) -> list[float]:
        """Type ``keys`` one every ``interval`` seconds (from this thread, on an absolute
        schedule); returns the time each was written."""
        start = time.monotonic()
        written = []
        for i, key in enumerate(keys):
            time.sleep(max(0.0, start + i * interval - time.monotonic()))
            written.append(self.write(key))
        return written

    def quiet_for(self, seconds: float, timeout: float = 30.0) -> None:
        """Wait until nothing has been written for ``seconds``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._cond:
                last = self._marks[-1][1] if self._marks else self.started
            if time.monotonic() - last >= seconds:
                return
            time.sleep(seconds / 4)

    # -- /proc

    def cpu_seconds(self) -> float:
        """User + system CPU time of the process (all its threads)."""
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def memory_mb(self) -> tuple[float, float]:
        """(resident set size, its peak) in MB."""
        values: dict[str, float] = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024
        return values["VmRSS"], values["VmHWM"]

    def wait_idle(
        self, cpu_share: float = 0.03, window: float = 0.5, timeout: float = 30.0
    ) -> float:
        """Wait until the process uses less than ``cpu_share`` of a core over ``window``;
        returns the time that quiet window started."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            t0, c0 = time.monotonic(), self.cpu_seconds()
            time.sleep(window)
            if (self.cpu_seconds() - c0) / (time.monotonic() - t0) < cpu_share:
                return t0
        raise TimeoutError("chat-tui did not settle")
