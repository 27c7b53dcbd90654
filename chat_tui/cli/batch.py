"""``chat-tui batch``: many questions about the same documents, at half price, on the
providers' batch engines.

    chat-tui batch QUESTIONS [--doc FILE ...] [--provider anthropic|openai] [--model M]
                   [--ttl 5m|1h] [--out results.jsonl] [--no-wait] [--json] [--no-prewarm]
                   [--poll SECONDS] [--only-failed ID]
    chat-tui batch status [ID]      list batches, or show one
    chat-tui batch results ID       fetch the results of an ended batch (idempotent)
    chat-tui batch cancel ID

Progress goes to stderr (a Rich progress bar on a terminal), the summary to stdout (one JSON
object with ``--json``). Ctrl-C while waiting detaches: the batch keeps running at the
provider, and ``batch status`` / ``batch results`` pick it up later, from any terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chat_tui.cli.common import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, err, open_store

if TYPE_CHECKING:
    from chat_tui.config import Settings
    from chat_tui.core.batch import BatchEngine
    from chat_tui.core.batch_store import StoredJob
    from chat_tui.providers.base import ProviderSettings

ACTIONS = ("status", "results", "cancel")
FAILED = ("errored", "expired", "canceled")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "batch",
        help="ask many questions at half price on the providers' batch APIs",
        description="Send every question of QUESTIONS (a question a line, or JSONL with id and "
        "question) as a batch; or: batch status [ID], batch results ID, batch cancel ID.",
    )
    p.add_argument("target", metavar="QUESTIONS|status|results|cancel",
                   help="the questions file, or what to do with a batch")  # fmt: skip
    p.add_argument("id", nargs="?", metavar="ID", help="a batch number or provider batch id")
    p.add_argument("--doc", action="append", metavar="FILE",
                   help="reference document shared by every question (repeatable)")  # fmt: skip
    p.add_argument("--provider", choices=["anthropic", "openai"], help="batch provider")
    p.add_argument("--model", help="model name (default: the provider's configured model)")
    p.add_argument("--base-url", help="base URL of the provider")
    p.add_argument("--ttl", choices=["5m", "1h"],
                   help="cache lifetime of the shared prefix (default 1h, as the providers "
                   "recommend for batches)")  # fmt: skip
    p.add_argument("--max-tokens", type=int, help="answer length limit per question")
    p.add_argument("--data-dir", metavar="DIR", help="where batches are stored")
    p.add_argument("--out", metavar="FILE",
                   help="results as JSONL (default batch-ID.jsonl); a Markdown report beside it")  # fmt: skip
    p.add_argument("--no-wait", action="store_true", help="submit, print the id, and exit")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.add_argument("--no-prewarm", action="store_true",
                   help="do not write the shared prefix to the cache first")  # fmt: skip
    p.add_argument("--poll", type=float, metavar="SECONDS",
                   help="fixed seconds between status checks (default 2 s backing off to 60 s)")  # fmt: skip
    p.add_argument("--only-failed", metavar="ID",
                   help="resend only the questions that failed in batch ID")  # fmt: skip
    p.add_argument("--wait", action="store_true",
                   help="with results: wait for a running batch to end, then fetch")  # fmt: skip


@dataclass
class _Run:
    """What the command knows so far, for the Ctrl-C message."""

    job_id: int | None = None

    def submitted(self, job_id: int, batch: object) -> None:
        self.job_id = job_id


def run(args: argparse.Namespace, settings: Settings) -> int:
    state = _Run()
    try:
        return asyncio.run(_main(args, settings, state))
    except KeyboardInterrupt:
        if state.job_id is None:
            err("\nchat-tui batch: interrupted before anything was submitted")
            return EXIT_INTERRUPTED
        err(
            f"\nchat-tui batch: detached; batch {state.job_id} keeps running at the provider:"
            f" `chat-tui batch status {state.job_id}` shows it,"
            f" `chat-tui batch results {state.job_id}` fetches the answers"
        )
        return EXIT_INTERRUPTED


async def _main(args: argparse.Namespace, settings: Settings, state: _Run) -> int:
    from chat_tui.core.batch import BatchEngine

    if args.poll is not None and args.poll <= 0:
        err("chat-tui batch: --poll must be a positive number of seconds")
        return EXIT_USAGE
    if args.target not in ACTIONS and args.id is not None:
        err(
            f"chat-tui batch: unexpected argument {args.id!r}; to resend failures use --only-failed ID"
        )
        return EXIT_USAGE
    store = open_store(settings)
    engine = BatchEngine(store, model_overrides=settings.model_overrides)
    try:
        if args.target == "status":
            return await _status(args, settings, engine)
        if args.target in ("results", "cancel"):
            if args.id is None:
                err(
                    f"chat-tui batch {args.target}: which batch? pass its ID (chat-tui batch status lists them)"
                )
                return EXIT_USAGE
            job = _job(engine, args.id)
            provider = _provider_for(settings, job)
            if args.target == "cancel":
                return await _cancel(engine, job, provider)
            state.job_id = job.id
            if args.wait and not job.ended:
                return await _wait_and_collect(args, engine, job.id, provider, settings)
            return await _results(args, engine, job.id, provider, settings)
        return await _submit(args, settings, engine, state)
    finally:
        await engine.aclose()
        store.close()


def _job(engine: BatchEngine, ref: str) -> StoredJob:
    from chat_tui.core.batch import BatchError

    job_id = engine.batches.find_job(ref)
    if job_id is None:
        raise BatchError(f"no batch {ref!r} here; chat-tui batch status lists the batches")
    return engine.batches.job(job_id)


def _provider_for(settings: Settings, job: StoredJob) -> ProviderSettings:
    """The provider a stored job was sent to, as configured now (its key, its base URL)."""
    from chat_tui.core.batch import BatchError

    if job.provider == "anthropic":
        return settings.provider_settings("anthropic", job.model)
    if job.provider == "openai":
        return settings.provider_settings("openai", job.model)
    raise BatchError(f"batch {job.id} names an unknown provider {job.provider!r}")


# -- submit --------------------------------------------------------------------------------


async def _submit(
    args: argparse.Namespace, settings: Settings, engine: BatchEngine, state: _Run
) -> int:
    from chat_tui.cli.batch_view import prewarm_line, working
    from chat_tui.core.batch import BatchError, BatchSpec
    from chat_tui.core.batch_input import read_questions
    from chat_tui.core.document_set import load_path

    docs = tuple(
        doc
        for path in args.doc or ()
        for doc in load_path(
            path, max_bytes=settings.document_max_bytes, max_files=settings.document_max_files
        ).documents
    )
    questions = read_questions(args.target)
    if args.out and Path(args.out).expanduser().resolve() == questions.path.resolve():
        raise BatchError(f"--out {args.out} is the questions file; write the results elsewhere")
    items = list(questions.items)
    retry_of = None
    if args.only_failed:
        previous = _job(engine, args.only_failed)
        retry_of = previous.id
        failed = {i.custom_id for i in previous.items if i.status in FAILED}
        if not failed:
            err(f"chat-tui batch: batch {previous.id} has no failed requests; nothing to resend")
            return EXIT_OK
        items = [q for q in items if q.id in failed]
        given = [d.name for d in docs]
        if given != previous.documents:
            sent = ", ".join(previous.documents) or "no documents"
            raise BatchError(
                f"batch {previous.id} was sent with {sent}: pass the same --doc files"
                " so the answers share its context"
            )
        missing = failed - {q.id for q in items}
        if missing:
            raise BatchError(
                f"{questions.path} lacks {len(missing)} of the failed ids ({sorted(missing)[0]}…);"
                f" pass the questions file batch {previous.id} was made from"
            )
    kind = args.provider or settings.default_provider()
    if kind not in ("anthropic", "openai"):
        raise BatchError("Ollama has no batch API: pass --provider anthropic or openai")
    provider = settings.provider_settings(kind, args.model)
    spec = BatchSpec(
        questions=items,
        provider=provider,
        ttl=args.ttl or "1h",
        max_tokens=settings.max_tokens,
        system_prompt=settings.system_prompt,
        input_name=questions.path.name,
        input_sha256=questions.sha256,
        documents=docs,
        retry_of=retry_of,
        out_path=str(Path(args.out).expanduser().resolve()) if args.out else None,
    )
    prewarm = None
    if not args.no_prewarm:
        with working(sys.stderr, "prewarming the cache with the shared prefix…"):
            prewarm = await engine.prewarm(spec)
        if prewarm.error:
            raise BatchError(f"the prewarm request failed: {prewarm.error}")
        err(prewarm_line(prewarm, spec.ttl))
    with working(sys.stderr, f"submitting {len(items):,} questions…"):
        job_id = await engine.submit(spec, prewarm, on_submitted=state.submitted)
    job = engine.batches.job(job_id)
    ids = ", ".join(b.id for b in job.batches)
    parts = f"{len(job.batches)} batches" if len(job.batches) > 1 else "1 batch"
    err(
        f"batch {job_id}: submitted {len(items):,} questions as {parts} ({ids})"
        f" to {provider.kind}/{provider.model}"
    )
    if args.no_wait:
        if args.json:
            print(json.dumps({"job": job_id, "batches": [b.id for b in job.batches]}))
        err(
            f"`chat-tui batch status {job_id}` shows its progress;"
            f" `chat-tui batch results {job_id}` fetches the answers once it has ended"
        )
        return EXIT_OK
    return await _wait_and_collect(args, engine, job_id, provider, settings)


async def _wait_and_collect(
    args: argparse.Namespace,
    engine: BatchEngine,
    job_id: int,
    provider: ProviderSettings,
    settings: Settings,
) -> int:
    from chat_tui.cli.batch_view import ProgressView

    every = (
        "every 2 s at first, backing off to 60 s" if args.poll is None else f"every {args.poll:g} s"
    )
    err(f"checking {every}; Ctrl-C detaches (the batch keeps running)")
    with ProgressView(sys.stderr) as view:
        await engine.wait(job_id, provider, poll=args.poll, on_progress=view)
    return await _results(args, engine, job_id, provider, settings)


# -- results, status, cancel -----------------------------------------------------------------


async def _results(
    args: argparse.Namespace,
    engine: BatchEngine,
    job_id: int,
    provider: ProviderSettings,
    settings: Settings,
) -> int:
    from chat_tui.cli.batch_view import summary_text
    from chat_tui.core.batch import BatchError
    from chat_tui.core.batch_report import summarize, write_results

    job = engine.batches.job(job_id)
    await engine.refresh(job, provider)
    job = await engine.fetch_results(job_id, provider)
    pending = sum(1 for i in job.items if i.status == "pending")
    out = Path(args.out or job.out_path or f"batch-{job_id}.jsonl").expanduser()
    if pending == len(job.items):
        err(
            f"chat-tui batch: batch {job_id} is still running (no results yet):"
            f" run `chat-tui batch results {job_id}` again later"
        )
        return EXIT_FAILED
    try:
        report = write_results(job, out, settings.model_overrides)
    except OSError as exc:
        raise BatchError(
            f"cannot write the results to {out}: {exc.strerror or exc}; they are stored:"
            f" chat-tui batch results {job_id} --out FILE writes them elsewhere"
        ) from None
    summary = summarize(job, settings.model_overrides)
    if args.json:
        print(json.dumps({**summary.as_dict(), "out": str(out), "report": str(report)}))
    else:
        resend = f"chat-tui batch {job.input_name} --only-failed {job_id}"
        print(summary_text(summary, resend=resend))
        print(f"results: {out} · report: {report}")
    if pending:
        err(
            f"chat-tui batch: {pending:,} questions of batch {job_id} are still running:"
            f" run `chat-tui batch results {job_id}` again later for the rest"
        )
        return EXIT_FAILED
    return EXIT_OK if not summary.failures else EXIT_FAILED


async def _status(args: argparse.Namespace, settings: Settings, engine: BatchEngine) -> int:
    from chat_tui.cli.batch_view import job_detail, job_list

    if args.id is None:
        jobs = engine.batches.list_jobs()
        if args.json:
            print(json.dumps([_job_json(j) for j in jobs]))
        else:
            print(job_list(jobs))
        return EXIT_OK
    from chat_tui.core.batch import BatchError

    job = _job(engine, args.id)
    provider = _provider_for(settings, job)
    try:
        await engine.refresh(job, provider)
    except BatchError as exc:  # show what is stored, and why it may be stale
        err(f"warning: {exc}; showing the last known state")
    job = engine.batches.job(job.id)
    if args.json:
        counts: dict[str, int] = {}
        for item in job.items:
            counts[item.status] = counts.get(item.status, 0) + 1
        batches = [
            {"id": b.id, "status": b.status, "ended": b.ended, "done": b.done_count,
             "total": b.request_count, "results_stored": b.results_fetched}
            for b in job.batches
        ]  # fmt: skip
        print(json.dumps({"job": job.id, "provider": job.provider, "model": job.model,
                          "ended": job.ended, "counts": counts, "batches": batches}))  # fmt: skip
    else:
        print(job_detail(job))
        if any(i.status != "pending" for i in job.items):
            from chat_tui.cli.batch_view import cost_line
            from chat_tui.core.batch_report import summarize

            print(cost_line(summarize(job, settings.model_overrides)))
    return EXIT_OK


def _job_json(j: Any) -> dict[str, Any]:
    return {
        "job": j.id, "created_at": j.created_at, "provider": j.provider, "model": j.model,
        "input": j.input_name, "ended": j.ended, "counts": j.counts, "batches": j.batch_ids,
    }  # fmt: skip


async def _cancel(engine: BatchEngine, job: StoredJob, provider: ProviderSettings) -> int:
    if job.ended:
        err(f"batch {job.id} has already ended; nothing to cancel")
        return EXIT_OK
    states = await engine.cancel(job.id, provider)
    ids = ", ".join(f"{s.id} ({s.status})" for s in states)
    err(
        f"batch {job.id}: cancel requested for {ids}; requests already done keep their"
        f" results: `chat-tui batch results {job.id}` once it has ended"
    )
    return EXIT_OK
