"""A usage report as a Rich table (the CLI prints it, the TUI's usage screen shows it) or CSV.

Rich only, no Textual: the same renderable serves both front ends.
"""

from __future__ import annotations

import csv
import io

from rich import box
from rich.console import Group as RichGroup
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from chat_tui.core.pricing import format_usd
from chat_tui.core.usage import Group, Report, bar, since_label, sparkline

CSV_FIELDS = (
    "group", "kind", "requests", "input_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens",
    "cache_write_unsplit_tokens", "cache_read_tokens", "output_tokens", "hit_rate",
    "ttft_warm_ms_median", "ttft_cold_ms_median", "cost_usd", "uncached_cost_usd", "saving_usd",
    "unpriced_requests",
)  # fmt: skip
_BY_TITLE = {"day": "day", "model": "model", "provider": "provider", "conversation": "conversation"}


def _n(x: int) -> str:
    return f"{x:,}"


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x:.1%}"


def _ms(x: float | None) -> str:
    return "—" if x is None else f"{x * 1000:,.0f} ms"


def _usd(group: Group, value: float) -> str:
    return format_usd(value if group.priced else None)


def usage_table(report: Report, *, title: str | None = None) -> Table:
    """One row per (group, kind), a total row; with days, bars of daily cost and hit rate."""
    by_day = report.by == "day"
    unsplit = report.total.cache_write_unsplit_tokens > 0
    unpriced = report.total.unpriced > 0
    kinds = any(g.kind != "chat" for g in report.groups)  # a kind column only when needed
    basis = "stored costs" if report.as_billed else "today's prices"
    table = Table(
        title=title or f"Usage, {since_label(report.since)}, by {_BY_TITLE[report.by]} ({basis})",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
        expand=False,
    )
    table.add_column(report.by, no_wrap=True, max_width=32)
    if kinds:
        table.add_column("kind", no_wrap=True)
    # Two-line headers keep the columns as narrow as their figures.
    for name in ("requests", "input", "write\n5m", "write\n1h"):
        table.add_column(name, justify="right", no_wrap=True)
    if unsplit:
        table.add_column("write\nno TTL", justify="right", no_wrap=True)
    for name in ("read", "output", "hit\nrate", "TTFT\nwarm", "TTFT\ncold", "cost",
                 "uncached", "saving"):  # fmt: skip
        table.add_column(name, justify="right", no_wrap=True)
    if unpriced:
        table.add_column("no\nprice", justify="right", no_wrap=True, style="yellow")
    days = report.days() if by_day else []
    top_cost = max((d.cost_usd for d in days), default=0.0)
    if by_day:
        table.add_column("daily\ncost", no_wrap=True, style="cyan")
        table.add_column("daily\nhit rate", no_wrap=True, style="green")
    day_totals = {d.key: d for d in days}
    previous: str | None = None
    for group in report.groups:
        first_of_day = group.key != previous
        previous = group.key
        extra: list[RenderableType] = []
        if by_day:
            day = day_totals[group.key]
            extra = (
                [bar(day.cost_usd, top_cost, 6), bar(day.hit_rate, 1.0, 6)]
                if first_of_day
                else ["", ""]
            )
        table.add_row(*_cells(group, kinds, unsplit, unpriced, label=group.key), *extra)
    table.add_section()
    extra = []
    if by_day:
        extra = [
            sparkline([d.cost_usd if d.priced else None for d in days]),
            sparkline([d.hit_rate for d in days]),
        ]
    table.add_row(
        *_cells(report.total, kinds, unsplit, unpriced, label="total"), *extra, style="bold"
    )
    return table


def _cells(
    group: Group, kinds: bool, unsplit: bool, unpriced: bool, *, label: str
) -> list[RenderableType]:
    cells: list[RenderableType] = [Text(label)]
    if kinds:
        cells.append(group.kind)
    cells += [
        _n(group.requests),
        _n(group.input_tokens),
        _n(group.cache_write_5m_tokens),
        _n(group.cache_write_1h_tokens),
    ]
    if unsplit:
        cells.append(_n(group.cache_write_unsplit_tokens))
    cells += [
        _n(group.cache_read_tokens),
        _n(group.output_tokens),
        _pct(group.hit_rate),
        _ms(group.ttft_warm_s),
        _ms(group.ttft_cold_s),
        _usd(group, group.cost_usd),
        _usd(group, group.uncached_cost_usd),
        _usd(group, group.saving_usd),
    ]
    if unpriced:
        cells.append(_n(group.unpriced) if group.unpriced else "")
    return cells


def usage_renderable(report: Report, *, title: str | None = None) -> RenderableType:
    """The table, with the unpriced note under it when some requests have no price."""
    if not report.groups:
        return Text(f"No requests recorded in {since_label(report.since)}.")
    note = report.unpriced_note()
    table = usage_table(report, title=title)
    return table if note is None else RichGroup(table, Text(note, style="yellow"))


def usage_csv(report: Report) -> str:
    """One line per group and a final ``total`` line, in ``CSV_FIELDS`` order."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for group in [*report.groups, report.total]:
        row = group.as_dict()
        writer.writerow({k: "" if row[k] is None else row[k] for k in CSV_FIELDS})
    return out.getvalue()
