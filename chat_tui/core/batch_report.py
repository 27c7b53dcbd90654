"""A batch job's results: the JSONL and Markdown files and the cost summary.

Costs are computed from each request's stored usage with today's price table: at the batch
price (50 % of every token class, cache writes and reads included), and for comparison the
same tokens as interactive requests with caching and without. Errored, canceled and expired
requests are not billed (0). A price that is unknown keeps the total unknown (``None``).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chat_tui.core.batch_store import StoredItem, StoredJob
from chat_tui.core.models import lookup_model
from chat_tui.core.pricing import Cost, batch_cost, turn_cost
from chat_tui.providers.batch_base import RESULT_STATUSES

STATUS_ORDER = (*RESULT_STATUSES, "pending")


@dataclass(frozen=True)
class Failure:
    id: str
    status: str
    reason: str | None


@dataclass(frozen=True)
class Summary:
    job_id: int
    provider: str
    model: str
    total: int
    counts: dict[str, int]
    batch_usd: float | None  # the batch requests, at the batch price
    interactive_usd: float | None  # the same tokens as interactive requests, with caching
    uncached_usd: float | None  # ... and without caching
    prewarm_usd: float | None  # the prewarm request (interactive price); 0 without one
    failures: list[Failure]

    @property
    def total_usd(self) -> float | None:
        return _add(self.batch_usd, self.prewarm_usd)

    @property
    def saving_usd(self) -> float | None:
        """Against the same work as interactive requests with caching."""
        return _sub(self.interactive_usd, self.total_usd)

    @property
    def saving_uncached_usd(self) -> float | None:
        """Against the same work as interactive requests without caching."""
        return _sub(self.uncached_usd, self.total_usd)

    def as_dict(self) -> dict[str, Any]:
        return {
            "job": self.job_id,
            "provider": self.provider,
            "model": self.model,
            "total": self.total,
            "counts": self.counts,
            "batch_cost_usd": self.batch_usd,
            "prewarm_cost_usd": self.prewarm_usd,
            "total_cost_usd": self.total_usd,
            "interactive_cost_usd": self.interactive_usd,
            "interactive_uncached_cost_usd": self.uncached_usd,
            "saving_usd": self.saving_usd,
            "saving_vs_uncached_usd": self.saving_uncached_usd,
            "failures": [f.__dict__ for f in self.failures],
        }


def item_costs(
    job: StoredJob, item: StoredItem, overrides: Mapping[str, Mapping[str, Any]] | None
) -> tuple[Cost, Cost]:
    """(batch cost, interactive cost) of one item; zero when it was not billed."""
    if item.status != "succeeded":
        zero = Cost(0.0, 0.0) if item.status != "pending" else Cost(None, None)
        return zero, zero
    if item.usage is None:
        return Cost(None, None), Cost(None, None)
    info = lookup_model(job.provider, job.model, overrides)
    return batch_cost(info, item.usage, job.ttl), turn_cost(info, item.usage, job.ttl)


def summarize(job: StoredJob, overrides: Mapping[str, Mapping[str, Any]] | None = None) -> Summary:
    counts = dict.fromkeys(STATUS_ORDER, 0)
    batch = Cost(0.0, 0.0)
    interactive = Cost(0.0, 0.0)
    failures = []
    for item in job.items:
        counts[item.status] = counts.get(item.status, 0) + 1
        if item.status == "pending":
            continue
        b, i = item_costs(job, item, overrides)
        batch, interactive = batch + b, interactive + i
        if item.status != "succeeded":
            failures.append(Failure(item.custom_id, item.status, item.error))
    prewarm: float | None = 0.0
    if job.prewarm_usage is not None:
        info = lookup_model(job.provider, job.model, overrides)
        prewarm = turn_cost(info, job.prewarm_usage, job.ttl).usd
    return Summary(
        job.id,
        job.provider,
        job.model,
        len(job.items),
        {k: v for k, v in counts.items() if v or k in RESULT_STATUSES},
        batch.usd,
        interactive.usd,
        interactive.uncached_usd,
        prewarm,
        failures,
    )


def result_lines(
    job: StoredJob, overrides: Mapping[str, Mapping[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """One JSON object per question, in input order."""
    lines = []
    for item in job.items:
        cost, _ = item_costs(job, item, overrides)
        u = item.usage
        lines.append(
            {
                "id": item.custom_id,
                "question": item.question,
                "answer": item.answer if item.status == "succeeded" else None,
                "status": item.status,
                "error": item.error,
                "stop_reason": item.stop_reason,
                "usage": None
                if u is None
                else {
                    "input_tokens": u.input_tokens,
                    "cache_write_tokens": u.cache_write_tokens,
                    "cache_read_tokens": u.cache_read_tokens,
                    "output_tokens": u.output_tokens,
                },
                "cost_usd": cost.usd,
            }
        )
    return lines


def markdown(job: StoredJob) -> str:
    docs = ", ".join(job.documents) or "none"
    out = [
        f"# Batch {job.id}: {job.input_name}",
        "",
        f"_{job.provider} / {job.model} · documents: {docs} · {len(job.items)} questions_",
        "",
    ]
    for item in job.items:
        out += [f"## {item.custom_id}: {_one_line(item.question)}", ""]
        if item.status == "succeeded":
            out += [(item.answer or "").rstrip(), ""]
        else:
            reason = f": {item.error}" if item.error else ""
            out += [f"_{item.status}{reason}_", ""]
    return "\n".join(out)


def write_results(
    job: StoredJob, out: Path, overrides: Mapping[str, Mapping[str, Any]] | None = None
) -> Path:
    """Write ``out`` (JSONL) and the Markdown report beside it (same name, ``.md``); each is
    replaced whole (written to a temporary file, then renamed). Returns the report's path."""
    body = "".join(
        json.dumps(line, ensure_ascii=False) + "\n" for line in result_lines(job, overrides)
    )
    report = out.with_suffix(".md") if out.suffix != ".md" else out.with_suffix(".report.md")
    _atomic_write(out, body)
    _atomic_write(report, markdown(job) + "\n")
    return report


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _one_line(text: str, limit: int = 120) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _add(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a + b


def _sub(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b
