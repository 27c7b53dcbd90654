"""Shared by every benchmark: options, figures and their statistics, the results table, the
machine line, generated answers and documents, isolated environments and app settings."""

from __future__ import annotations

import contextlib
import datetime
import math
import os
import platform
import random
import statistics
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.server import Loopback, Prefill, ServerLog  # noqa: E402
from chat_tui.config import Settings  # noqa: E402

__all__ = [
    "ROOT",
    "SIZE",
    "Figure",
    "Loopback",
    "Options",
    "Prefill",
    "ServerLog",
    "bench_settings",
    "dirs_env",
    "markdown_answer",
    "percentile",
    "plain_document",
    "process_env",
    "scoped_env",
]

SIZE = (140, 45)  # terminal columns, rows
# Bytecode cache of the chat-tui processes the benchmarks start. Kept across runs, outside the
# repository: a real install has its .pyc files, even where PYTHONDONTWRITEBYTECODE is set here.
PYCACHE = Path(tempfile.gettempdir()) / "chat-tui-bench-pycache"
CHAT_TUI = Path(sys.executable).parent / "chat-tui"
API_KEY = "sk-ant-benchmark-not-a-real-key"

# Variables that would point the app or the SDKs at real accounts, servers or files.
SCRUBBED_ENV = (
    "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL",
    "ANTHROPIC_CUSTOM_HEADERS", "ANTHROPIC_PROFILE", "ANTHROPIC_CONFIG_DIR", "OPENAI_API_KEY",
    "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID", "OLLAMA_HOST", "CHAT_TUI_CONFIG",
    "CHAT_TUI_PROVIDER", "CHAT_TUI_CACHE_TTL", "CHAT_TUI_DATA_DIR", "CHAT_TUI_CONFIG_DIR",
    "CHAT_TUI_STATE_DIR", "TEXTUAL", "TEXTUAL_DEBUG",
)  # fmt: skip


@dataclass(frozen=True)
class Options:
    quick: bool = False
    verbose: bool = False

    def pick(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    def secs(self, full: float, quick: float) -> float:
        return quick if self.quick else full


def log(line: str) -> None:
    print(f"  {line}", file=sys.stderr, flush=True)


# -- figures -------------------------------------------------------------------------------


@dataclass
class Figure:
    """One row of the results: a value per run, summarised as median / min / max. A target is
    an upper bound the median must meet.

    A figure measured against the floor (benchmarks/floor.py, run interleaved with chat-tui)
    also has the floor's value per run, ``floor``; its target is then a ratio to the floor
    (``ratio_target``: chat-tui / floor) or a margin over it (``plus_target``, in the figure's
    unit). The ratio is the median of the runs' ratios, each chat-tui run paired with the floor
    run beside it, so noise that hit both alike cancels out."""

    bench: str
    name: str
    unit: str  # "ms", "s", "%", "MB", "x" (a ratio), "" (a count)
    values: list[float] = field(default_factory=list)
    target: float | None = None
    note: str = ""
    floor: list[float] = field(default_factory=list)
    ratio_target: float | None = None
    plus_target: float | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else math.nan

    @property
    def floor_median(self) -> float:
        return statistics.median(self.floor) if self.floor else math.nan

    def _pairs(self) -> list[tuple[float, float]]:
        return list(zip(self.values, self.floor, strict=False))

    @property
    def ratio(self) -> float:
        """chat-tui / floor: the median of the paired runs' ratios."""
        pairs = [(v, f) for v, f in self._pairs() if f > 0]
        return statistics.median(v / f for v, f in pairs) if pairs else math.nan

    @property
    def margin(self) -> float:
        """chat-tui − floor: the median of the paired runs' differences."""
        pairs = self._pairs()
        return statistics.median(v - f for v, f in pairs) if pairs else math.nan

    @property
    def passed(self) -> bool | None:
        if not self.values:
            return None
        if self.ratio_target is not None:
            return self.ratio <= self.ratio_target if self.floor else None
        if self.plus_target is not None:
            return self.margin <= self.plus_target if self.floor else None
        if self.target is None:
            return None
        return self.median <= self.target

    def fmt(self, value: float | None) -> str:
        if value is None or not math.isfinite(value):
            return "—"
        if self.unit == "ms":
            return f"{value:,.0f} ms" if abs(value) >= 10 else f"{value:.1f} ms"
        if self.unit == "s":
            return f"{value:.2f} s"
        if self.unit == "%":
            return f"{value:.1f} %" if abs(value) < 10 else f"{value:.0f} %"
        if self.unit == "MB":
            return f"{value:,.0f} MB"
        if self.unit == "x":
            return f"{value:.3f}" if value < 1 else f"{value:.2f}"
        return f"{value:,.0f}"

    def target_text(self) -> str:
        if self.ratio_target is not None:
            return f"≤ {self.ratio_target:.2f}x floor"
        if self.plus_target is not None:
            return f"≤ floor + {self.fmt(self.plus_target)}"
        return "" if self.target is None else "≤ " + self.fmt(self.target)

    def ratio_text(self) -> str:
        if not self.floor:
            return ""
        if self.plus_target is not None:
            return f"{self.margin:+.1f} {self.unit}".replace("+", "+ ").replace("-", "− ")
        return f"{self.ratio:.2f}x" if math.isfinite(self.ratio) else "—"

    def row(self) -> list[str]:
        values = self.values
        status = {None: "", True: "pass", False: "MISS"}[self.passed]
        name = f"{self.name} ({self.note})" if self.note else self.name
        return [
            self.bench, name, str(len(values)), self.fmt(self.median),
            self.fmt(min(values) if values else None), self.fmt(max(values) if values else None),
            self.fmt(self.floor_median) if self.floor else "", self.ratio_text(),
            self.target_text(), status,
        ]  # fmt: skip


HEADERS = ["benchmark", "figure", "runs", "median", "min", "max", "floor", "vs floor", "target",
           "result"]  # fmt: skip
RIGHT = {2, 3, 4, 5, 6, 7}


def percentile(values: Sequence[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def text_table(figures: Sequence[Figure]) -> str:
    rows = [HEADERS] + [f.row() for f in figures]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADERS))]
    right = RIGHT
    lines = []
    for n, row in enumerate(rows):
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in
                 enumerate(zip(row, widths, strict=True))]  # fmt: skip
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(figures: Sequence[Figure]) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "|".join(
        "---:" if i in RIGHT else "---" for i in range(len(HEADERS))) + "|"]  # fmt: skip
    for f in figures:
        cells = [c.replace("|", "\\|") for c in f.row()]
        cells[-1] = f"**{cells[-1]}**" if cells[-1] == "MISS" else cells[-1]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def floor_table(figures: Sequence[Figure]) -> str:
    """The headline: each figure measured against the floor, as chat-tui / floor (or chat-tui
    − floor), quiet and busy side by side, with the absolute medians beside them."""
    rows: dict[str, dict[str, Figure]] = {}
    for f in figures:
        if f.floor:
            variant = "busy" if f.bench.endswith("busy") else "quiet"
            rows.setdefault(f.name, {})[variant] = f
    if not rows:
        return ""
    lines = ["| figure | vs floor, quiet | vs floor, busy | target | chat-tui / floor, quiet "
             "| chat-tui / floor, busy |", "|---|---:|---:|---|---:|---:|"]  # fmt: skip

    def cell(f: Figure | None) -> str:
        if f is None:
            return "—"
        mark = {None: "", True: " ✓", False: " **✗**"}[f.passed]
        return f.ratio_text() + mark

    def absolute(f: Figure | None) -> str:
        return "—" if f is None else f"{f.fmt(f.median)} / {f.fmt(f.floor_median)}"

    for name, by in rows.items():
        any_f = by.get("quiet") or by["busy"]
        lines.append(f"| {name} | {cell(by.get('quiet'))} | {cell(by.get('busy'))} | "
                     f"{any_f.target_text()} | {absolute(by.get('quiet'))} | "
                     f"{absolute(by.get('busy'))} |")  # fmt: skip
    return "\n".join(lines)


def machine_line() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kb = int(Path("/proc/meminfo").read_text().split("\n")[0].split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GB RAM"
    import subprocess
    from importlib.metadata import version

    git = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                         capture_output=True, text=True, check=False).stdout.strip()  # fmt: skip

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{platform.system()} {platform.release()} {platform.machine()}, {cpu}, "
        f"{cores} cores (nproc){mem}; Python {platform.python_version()}, "
        f"Textual {version('textual')}, Rich {version('rich')}, anthropic {version('anthropic')}, "
        f"chat-tui {version('chat-tui')} ({git or 'no git'}); "
        f"{datetime.datetime.now():%Y-%m-%d %H:%M}"
    )


# -- generated content ---------------------------------------------------------------------

_TEXT = (
    "the model returns a stream of tokens and each one must reach the screen quickly while "
    "the interface stays responsive cache latency throughput budget prompt context window "
    "function argument result value error retry request response buffer render layout"
)
WORDS = _TEXT.split()


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(8, 20))]
    if rng.random() < 0.3:
        words[rng.randrange(len(words))] = f"`{rng.choice(WORDS)}()`"
    if rng.random() < 0.2:
        words[rng.randrange(len(words))] = f"**{rng.choice(WORDS)}**"
    return " ".join(words).capitalize() + "."


def _paragraph(rng: random.Random, chars: int) -> str:
    out: list[str] = []
    size = 0
    while size < chars:
        out.append(_sentence(rng))
        size += len(out[-1]) + 1
    return " ".join(out)


def _code(rng: random.Random, lines: int) -> str:
    body = [
        f"{'    ' * rng.randint(0, 2)}value_{i} = compute({rng.choice(WORDS)!r}, limit={i})"
        f"  # step {i}"
        for i in range(lines)
    ]
    return (
        f"```{rng.choice(['python', 'python', 'javascript', 'bash'])}\n" + "\n".join(body) + "\n```"
    )


def _table(rng: random.Random, rows: int) -> str:
    head = "| Name | Value | Notes |\n|------|------:|-------|"
    body = [f"| {rng.choice(WORDS)} | {rng.randint(1, 999)} | {_sentence(rng)} |"
            for _ in range(rows)]  # fmt: skip
    return "\n".join([head, *body])


def markdown_answer(tokens: int, seed: int = 7) -> str:
    """Exactly ``tokens`` x 4 characters of Markdown (the loopback server sends 4-character
    tokens): headings, paragraphs, bullet and numbered lists, tables, several fenced code
    blocks, one very long paragraph (~12 % of the answer) and one very long code block
    (~15 %)."""
    rng = random.Random(seed)
    target = tokens * 4
    parts: list[str] = []
    size = 0
    section = 0
    while True:
        section += 1
        new = [f"## Section {section}: {_sentence(rng)[:40].rstrip('.')}",
               _paragraph(rng, rng.randint(200, 500)),
               "\n".join(f"- {_sentence(rng)}" for _ in range(rng.randint(3, 6)))]  # fmt: skip
        if section == 2:
            new.append(_paragraph(rng, max(1500, target * 12 // 100)))
        if section == 3:
            new.append(_code(rng, max(40, target * 15 // 100 // 62)))
        new.append(_code(rng, rng.randint(6, 20)))
        if section % 2:
            new.append(_table(rng, rng.randint(4, 10)))
        new.append("\n".join(f"{i}. {_sentence(rng)}" for i in range(1, rng.randint(3, 6))))
        grown = size + sum(len(p) + 2 for p in new)
        if grown > target - 80 and parts:
            break
        parts += new
        size = grown
    text = "\n\n".join(parts) + "\n\n"
    tail = _paragraph(rng, target)[: max(0, target - len(text) - 1)].rstrip() + "."
    text = (text + tail)[:target]
    return text + "." * (target - len(text))


def plain_document(chars: int, seed: int = 3) -> str:
    """A reference document of ``chars`` characters: headed sections of prose."""
    rng = random.Random(seed)
    parts: list[str] = []
    size = 0
    n = 0
    while size < chars:
        n += 1
        parts.append(f"Section {n}\n\n{_paragraph(rng, 900)}\n")
        size += len(parts[-1]) + 1
    return "\n".join(parts)[:chars]


# -- environments and settings -------------------------------------------------------------


def dirs_env(tmp: Path) -> dict[str, str]:
    """Config, data and state directories under ``tmp`` (not created: a fresh install)."""
    return {f"CHAT_TUI_{name.upper()}_DIR": str(tmp / name) for name in ("config", "data", "state")}


def process_env(tmp: Path, server: Loopback | None) -> dict[str, str]:
    """The environment of a chat-tui process: isolated directories, the loopback server as the
    Anthropic endpoint, a real terminal type, a bytecode cache (``PYCACHE``)."""
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(dirs_env(tmp), TERM="xterm-256color", COLORTERM="truecolor", LANG="C.UTF-8",
               PYTHONPATH="", PYTHONPYCACHEPREFIX=str(PYCACHE))  # fmt: skip
    if server is not None:
        env.update(ANTHROPIC_API_KEY=API_KEY, ANTHROPIC_BASE_URL=server.base_url)
    return env


@contextlib.contextmanager
def scoped_env(updates: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the duration (for an app run in this process)."""
    saved = {k: os.environ.get(k) for k in (*updates, *SCRUBBED_ENV)}
    for k in SCRUBBED_ENV:
        os.environ.pop(k, None)
    os.environ.update(updates)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def bench_settings(server: Loopback, tmp: Path, **changes: object) -> Settings:
    """Anthropic (claude-haiku-4-5) through the loopback server; answers up to 40,000 tokens."""
    base = {
        "anthropic_api_key": API_KEY,
        "anthropic_base_url": server.base_url,
        "max_retries": 0,
        "read_timeout": 30.0,
        "max_tokens": 40_000,
        "data_dir": tmp / "data",
    }
    return Settings(**{**base, **changes})  # type: ignore[arg-type]
