"""What ``chat-tui batch`` prints: the progress while waiting (a Rich progress bar on a
terminal, a line per change otherwise), the summary, the list of jobs. No network here."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, TextIO

from chat_tui.core.pricing import format_usd

if TYPE_CHECKING:
    from chat_tui.core.batch import Prewarm, Progress
    from chat_tui.core.batch_report import Summary
    from chat_tui.core.batch_store import JobSummary, StoredJob


def _n(x: int | None) -> str:
    return "—" if x is None else f"{x:,}"


def _duration(seconds: float) -> str:
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def progress_line(p: Progress) -> str:
    remaining = p.total - p.done
    parts = [f"batch {p.job_id}: {p.done:,}/{p.total:,} done"]
    if p.succeeded is not None:
        parts.append(f"succeeded {_n(p.succeeded)} · errored {_n(p.errored)}")
    parts.append(f"remaining {remaining:,}")
    parts.append(f"elapsed {_duration(p.elapsed_s)}")
    if p.ended:
        parts.append("ended")
    elif p.next_poll_s is not None:
        parts.append(f"next check in {_duration(p.next_poll_s)}")
    if p.retrying:
        parts.append(f"network error, retrying: {p.retrying}")
    return " · ".join(parts)


class ProgressView:
    """A Rich progress bar on a terminal; a plain line per change elsewhere (logs, pipes).
    Use as a context manager; call it with each :class:`Progress`."""

    def __init__(self, stream: TextIO, *, tty: bool | None = None) -> None:
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self._bar: Any = None
        self._task: Any = None
        self._last: str | None = None

    def __enter__(self) -> ProgressView:
        if self.tty:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[counts]}"),
                TimeElapsedColumn(),
                console=Console(file=self.stream, force_terminal=True),
                transient=False,
            )
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def __call__(self, p: Progress) -> None:
        if self._bar is None:
            line = progress_line(p)
            key = f"{p.done} {p.succeeded} {p.errored} {p.ended} {p.retrying}"
            if key != self._last:
                self._last = key
                self.stream.write(line + "\n")
                self.stream.flush()
            return
        counts = f"remaining {p.total - p.done:,}"
        if p.succeeded is not None:
            counts = f"succeeded {p.succeeded:,} · errored {_n(p.errored)} · " + counts
        if p.retrying:
            counts += " · network error, retrying"
        elif not p.ended and p.next_poll_s is not None:
            counts += f" · next check in {_duration(p.next_poll_s)}"
        if self._task is None:
            self._task = self._bar.add_task(f"batch {p.job_id}", total=p.total, counts=counts)
        self._bar.update(self._task, completed=p.done, total=p.total, counts=counts)


@contextlib.contextmanager
def working(stream: TextIO, message: str, *, tty: bool | None = None) -> Iterator[None]:
    """A Rich spinner with ``message`` on a terminal while a step runs; nothing elsewhere."""
    if not (stream.isatty() if tty is None else tty):
        yield
        return
    from rich.console import Console

    with Console(file=stream, force_terminal=True).status(message):
        yield


def prewarm_line(pw: Prewarm, ttl: str) -> str:
    if pw.skipped:
        return f"prewarm: skipped ({pw.skipped})"
    u = pw.usage
    if u is None:
        return "prewarm: not sent"
    window = "1-hour" if ttl == "1h" else "5-minute"
    return (
        f"prewarm: wrote {_n(u.cache_write_tokens)} tokens to the {window} cache,"
        f" read {_n(u.cache_read_tokens)}, cost {format_usd(pw.cost.usd)}"
    )


def summary_text(s: Summary, *, resend: str | None = None, limit: int = 20) -> str:
    counts = " · ".join(f"{k} {v:,}" for k, v in s.counts.items())
    lines = [
        f"batch {s.job_id} · {s.provider}/{s.model} · {s.total:,} questions",
        f"  {counts}",
        f"  cost {format_usd(s.batch_usd)} at the batch price (50 % of every token class)"
        + (
            f" + prewarm {format_usd(s.prewarm_usd)} = {format_usd(s.total_usd)}"
            if s.prewarm_usd
            else ""
        ),
        f"  as interactive requests: {format_usd(s.interactive_usd)} with caching,"
        f" {format_usd(s.uncached_usd)} without",
        f"  saving: {format_usd(s.saving_usd)} against interactive with caching,"
        f" {format_usd(s.saving_uncached_usd)} against without",
    ]
    for f in s.failures[:limit]:
        lines.append(f"  {f.status:<8} {f.id}: {f.reason or 'no reason given'}")
    if len(s.failures) > limit:
        lines.append(f"  … and {len(s.failures) - limit:,} more (see the results file)")
    if s.failures and resend:
        lines.append(f"  resend the failed ones: {resend}")
    return "\n".join(lines)


def cost_line(s: Summary) -> str:
    return (
        f"  cost so far {format_usd(s.total_usd)} (batch {format_usd(s.batch_usd)},"
        f" prewarm {format_usd(s.prewarm_usd)}); as interactive requests"
        f" {format_usd(s.interactive_usd)} with caching, {format_usd(s.uncached_usd)} without"
    )


def job_list(jobs: list[JobSummary]) -> str:
    if not jobs:
        return "no batches yet: chat-tui batch QUESTIONS --doc FILE sends one"
    rows = [("ID", "CREATED", "MODEL", "INPUT", "STATE", "RESULTS", "PROVIDER IDS")]
    for j in jobs:
        done = " ".join(f"{k} {v}" for k, v in sorted(j.counts.items()) if v)
        rows.append(
            (
                str(j.id),
                datetime.fromtimestamp(j.created_at).strftime("%Y-%m-%d %H:%M"),
                f"{j.provider}/{j.model}",
                j.input_name,
                "ended" if j.ended else "running",
                done,
                ", ".join(j.batch_ids),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1]
        for r in rows
    )


def job_detail(job: StoredJob) -> str:
    created = datetime.fromtimestamp(job.created_at).strftime("%Y-%m-%d %H:%M")
    age = _duration(time.time() - job.created_at)
    lines = [
        f"batch {job.id} · {job.provider}/{job.model} · {job.input_name} ·"
        f" {len(job.items):,} questions · created {created} ({age} ago)",
        f"  documents: {', '.join(job.documents) or 'none'} · cache TTL {job.ttl}",
    ]
    for b in job.batches:
        fetched = " · results stored" if b.results_fetched else ""
        lines.append(f"  {b.id}: {b.status} · {b.done_count:,}/{b.request_count:,} done{fetched}")
    counts: dict[str, int] = {}
    for item in job.items:
        counts[item.status] = counts.get(item.status, 0) + 1
    lines.append("  " + " · ".join(f"{k} {v:,}" for k, v in counts.items()))
    if job.ended and not job.fetched:
        lines.append(f"  ended: fetch the answers with chat-tui batch results {job.id}")
    elif not job.ended:
        lines.append(f"  running: chat-tui batch results {job.id} once it has ended")
    return "\n".join(lines)
