"""Run the chat-tui benchmarks and print one table (median of the runs, with min and max).

    .venv/bin/python benchmarks/run.py               # everything, about 20 minutes
    .venv/bin/python benchmarks/run.py --quick       # a smoke run: fewer, shorter runs (~6 min)
    .venv/bin/python benchmarks/run.py --only floor,floor_busy

Each benchmark starts its own loopback server (tests/loopback.py, in a child process) that
records when it sent each event, and drives the real app: headless through ``App.run_test``
with keys sent as the terminal driver sends them, or the real ``chat-tui`` command in a
pseudo-terminal. ``floor`` and ``floor_busy`` measure chat-tui against the floor app
(benchmarks/floor.py), interleaved, and report ratios, the headline of the results (see
benchmarks/README.md). The table also goes to benchmarks/results/latest.md (Markdown; quick.md for
--quick, partial.md for --only), every run's value to the .json beside it; the exit status is 1
if a benchmark failed to run (a missed target is not a failure: it is in the table).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
import traceback
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import server
from benchmarks.common import (
    Figure,
    Options,
    floor_table,
    machine_line,
    markdown_table,
    text_table,
)

BENCHMARKS = {  # name → module (its run(opts)) or "module:function"
    "floor": "bench_floor",
    "floor_busy": "bench_floor:run_busy",
    "startup": "bench_startup",
    "first_token": "bench_first_token",
    "render": "bench_render",
    "keepup": "bench_keepup",
    "idle": "bench_idle",
    "scale": "bench_scale",
    "economics": "bench_economics",
    "thinking": "bench_thinking",
    "tools": "bench_tools",
    "documents": "bench_documents",
}
RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, shorter runs")
    parser.add_argument("--only", metavar="NAME[,NAME]",
                        help=f"run only these: {', '.join(BENCHMARKS)}")  # fmt: skip
    parser.add_argument("--verbose", action="store_true", help="show the servers' stderr")
    parser.add_argument("--output", type=Path,
                        help="where to write the Markdown table (default: results/latest.md for a "
                             "full run, quick.md or partial.md otherwise)")  # fmt: skip
    args = parser.parse_args(argv)
    names = list(BENCHMARKS)
    if args.only:
        names = [n.strip().replace("-", "_") for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in BENCHMARKS]
        if unknown:
            parser.error(f"unknown benchmark {', '.join(unknown)}; choose from "
                         f"{', '.join(BENCHMARKS)}")  # fmt: skip
    if args.output is None:
        args.output = RESULTS / ("partial.md" if args.only else "quick.md" if args.quick
                                 else "latest.md")  # fmt: skip
    server.VERBOSE = args.verbose
    opts = Options(quick=args.quick, verbose=args.verbose)
    machine = machine_line()
    print(f"machine: {machine}", file=sys.stderr)
    figures: list[Figure] = []
    failed: list[str] = []
    started = time.monotonic()
    for name in names:
        t0 = time.monotonic()
        print(f"[{name}]", file=sys.stderr, flush=True)
        try:
            module_name, _, function = BENCHMARKS[name].partition(":")
            module = importlib.import_module(f"benchmarks.{module_name}")
            figures += getattr(module, function or "run")(opts)
        except Exception:
            traceback.print_exc()
            failed.append(name)
            figures.append(Figure(name, "FAILED (see the traceback above)", ""))
        print(f"  {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)
    elapsed = time.monotonic() - started
    mode = "quick" if args.quick else "full"
    headline = floor_table(figures)
    print()
    print(text_table(figures))
    print(f"\nmachine: {machine}\n{mode} run, {elapsed:.0f} s")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        f"Machine: {machine}. {mode.capitalize()} run, {elapsed:.0f} s.\n\n"
        + (
            f"Against the floor (chat-tui / floor; ✓ target met, ✗ missed):\n\n{headline}\n\n"
            if headline
            else ""
        )
        + f"{markdown_table(figures)}\n",
        encoding="utf-8",
    )
    raw = [{"benchmark": f.bench, "figure": f.name, "note": f.note, "unit": f.unit,
            "values": f.values, "target": f.target, "passed": f.passed} for f in figures]  # fmt: skip
    args.output.with_suffix(".json").write_text(
        json.dumps({"machine": machine, "mode": mode, "seconds": round(elapsed), "figures": raw},
                   indent=1),
        encoding="utf-8",
    )  # fmt: skip
    print(f"written to {args.output} (and every run's value to {args.output.with_suffix('.json')})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
