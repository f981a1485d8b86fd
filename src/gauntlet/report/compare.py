"""``gauntlet compare RUN...``: scorecards side by side (kind vs EKS vs local, or nightly history).

Design notes:

- A RUN is a report directory (its ``scorecard.json``) or a scorecard file; v1 files are read too.
- One ``Comparison`` (rows x runs of cells, each cell with its verdict for colour) is built from
  the scorecards and rendered twice: a rich table for the terminal and an HTML page sharing
  ``report.html``'s look. Neither renderer computes anything.
- Columns are grouped by distribution (in the order each first appears), runs of one distribution
  keep the order given, so ``gauntlet compare reports/nightly-*`` reads as a history.
- Rows are the union over all runs: an SLO or suite missing from a run shows as "-", never as a
  zero.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path

from gauntlet.exitcodes import ExitCode
from gauntlet.report import fmt
from gauntlet.report.html import CSS, VERDICT_COLOR
from gauntlet.report.scorecard import (
    Scorecard,
    ScorecardError,
    SloResult,
    Verdict,
    atomic_write_text,
    load_scorecard,
)

MISSING = "-"


class RunNotFound(Exception):
    """A RUN argument names neither a scorecard file nor a directory holding one."""

    def __init__(self, path: Path) -> None:
        super().__init__(
            f"{path}: no scorecard here; give a report directory (with scorecard.json) or a "
            "scorecard.json file"
        )
        self.path = path


def load_run(path: str | os.PathLike[str]) -> Scorecard:
    """The scorecard of a RUN: ``path/scorecard.json`` for a directory, else the file itself.

    Raises ``RunNotFound``, ``ScorecardError`` (not a valid scorecard) or ``OSError``."""
    p = Path(path)
    file = p / "scorecard.json" if p.is_dir() else p
    if not file.is_file():
        raise RunNotFound(p)
    return load_scorecard(file)


@dataclass(frozen=True)
class Cell:
    text: str
    verdict: Verdict | None = None
    """Colours the cell (pass green, fail red...); ``None`` for plain numbers."""


@dataclass(frozen=True)
class Row:
    section: str
    label: str
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class Comparison:
    runs: tuple[Scorecard, ...]
    """In column order (grouped by distribution)."""
    rows: tuple[Row, ...]

    def headers(self) -> list[str]:
        return [
            f"{sc.distribution.name}\n{sc.run_id}\n{sc.started_at:%Y-%m-%d %H:%M} {sc.profile}"
            for sc in self.runs
        ]


def _order(scorecards: Sequence[Scorecard]) -> list[Scorecard]:
    first_seen: dict[str, int] = {}
    for i, sc in enumerate(scorecards):
        first_seen.setdefault(sc.distribution.name, i)
    return sorted(scorecards, key=lambda sc: first_seen[sc.distribution.name])


def _exit_name(code: int) -> str:
    try:
        return ExitCode(code).name
    except ValueError:
        return str(code)


def _suite_verdict(failed: int, inconclusive: int, passed: int) -> Verdict:
    if failed:
        return Verdict.FAIL
    if inconclusive:
        return Verdict.INCONCLUSIVE
    return Verdict.PASS if passed else Verdict.SKIP


def _slo_cell(slo: SloResult | None) -> Cell:
    if slo is None:
        return Cell(MISSING)
    budget = (
        "" if slo.error_budget_consumed is None else f" ({fmt.budget(slo.error_budget_consumed)})"
    )
    return Cell(f"{fmt.observed(slo)}{budget}", slo.verdict)


def _slo_label(slo: SloResult) -> str:
    window = "" if slo.window == "run" else f" [{slo.window}]"
    return f"{slo.name}{window} {fmt.objective(slo)}"


def compare(scorecards: Sequence[Scorecard]) -> Comparison:
    """Rows for every figure worth putting side by side, one cell per run."""
    runs = _order(scorecards)
    rows: list[Row] = []

    def add(section: str, label: str, cells: Sequence[Cell]) -> None:
        rows.append(Row(section, label, tuple(cells)))

    add("run", "verdict", [Cell(str(sc.verdict), sc.verdict) for sc in runs])
    add("run", "score", [Cell(f"{sc.score:.1f}", sc.verdict) for sc in runs])
    add("run", "exit code", [Cell(f"{sc.exit_code} {_exit_name(sc.exit_code)}") for sc in runs])
    add(
        "run",
        "duration",
        [Cell(f"{(sc.finished_at - sc.started_at).total_seconds():.0f} s") for sc in runs],
    )
    add("run", "target", [Cell(sc.target) for sc in runs])

    suites = list(dict.fromkeys(name for sc in runs for name in sc.suites))
    for name in suites:
        cells = []
        for sc in runs:
            s = sc.suites.get(name)
            if s is None:
                cells.append(Cell(MISSING))
                continue
            cells.append(
                Cell(
                    f"{s.passed}/{s.failed}/{s.inconclusive}/{s.skipped}",
                    _suite_verdict(s.failed, s.inconclusive, s.passed),
                )
            )
        add("suites (pass/fail/inconclusive/skip)", name, cells)

    keys: dict[tuple[str, str], SloResult] = {}
    for sc in runs:
        for slo in sc.slos:
            keys.setdefault((slo.name, slo.window), slo)
    for key, first in keys.items():
        by_run = [{(s.name, s.window): s for s in sc.slos}.get(key) for sc in runs]
        add("SLOs: observed (error budget used)", _slo_label(first), [_slo_cell(s) for s in by_run])

    if any(sc.load is not None for sc in runs):
        figures: list[tuple[str, str]] = [
            ("profile", "profile"),
            ("requests", "requests"),
            ("rate", "rps"),
            ("errors", "errors"),
            ("p50", "p50_ms"),
            ("p95", "p95_ms"),
            ("p99", "p99_ms"),
            ("p99.9", "p999_ms"),
            ("max", "max_ms"),
        ]
        for label, name in figures:
            cells = []
            for sc in runs:
                load = sc.load
                if load is None:
                    cells.append(Cell(MISSING))
                elif name == "profile":
                    cells.append(Cell(load.profile))
                elif name == "requests":
                    cells.append(Cell(f"{load.requests:,}"))
                elif name == "rps":
                    cells.append(Cell(f"{load.rps:,.0f}/s"))
                elif name == "errors":
                    ratio = load.errors / load.requests if load.requests else 0.0
                    cells.append(Cell(f"{load.errors:,} ({100 * ratio:.2f} %)"))
                else:
                    cells.append(Cell(fmt.ms(getattr(load.latency, name))))
            add("load", label, cells)
    return Comparison(tuple(runs), tuple(rows))


# --- renderers ----------------------------------------------------------------------------------

_RICH_STYLE = {
    Verdict.PASS: "green",
    Verdict.FAIL: "bold red",
    Verdict.INCONCLUSIVE: "yellow",
    Verdict.SKIP: "dim",
}


def print_table(comparison: Comparison, *, width: int | None = None) -> None:
    """The comparison as a rich table on stdout (colours only on a terminal).

    Piped output is not squeezed into 80 columns: a table is only as wide as its content, and
    a wrapped SLO name in a CI log helps nobody."""
    import sys

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(show_lines=False, header_style="bold")
    table.add_column("", no_wrap=True)
    for header in comparison.headers():
        table.add_column(header, justify="right")
    section = None
    for row in comparison.rows:
        if row.section != section:
            section = row.section
            table.add_section()
            table.add_row(Text(section, style="bold cyan"), *([""] * len(comparison.runs)))
        table.add_row(
            Text(f"  {row.label}"),
            *(
                Text(c.text, style=_RICH_STYLE.get(c.verdict, "") if c.verdict else "")
                for c in row.cells
            ),
        )
    if width is None and not sys.stdout.isatty():
        width = 400
    Console(width=width).print(table)


def render_compare_html(comparison: Comparison) -> str:
    """The comparison as one self-contained HTML page (same look as ``report.html``)."""

    def e(text: str) -> str:
        return escape(text, quote=True)

    head = "".join(
        f"<th class=num>{e(h).replace(chr(10), '<br>')}</th>" for h in comparison.headers()
    )
    body: list[str] = []
    section = None
    span = len(comparison.runs) + 1
    for row in comparison.rows:
        if row.section != section:
            section = row.section
            body.append(f'<tr><th colspan="{span}" style="padding-top:14px">{e(section)}</th></tr>')
        cells = "".join(
            f'<td class=num style="color:{VERDICT_COLOR[c.verdict]};font-weight:600">'
            f"{e(c.text)}</td>"
            if c.verdict is not None and c.verdict is not Verdict.SKIP
            else f"<td class=num>{e(c.text)}</td>"
            for c in row.cells
        )
        body.append(f"<tr><td>{e(row.label)}</td>{cells}</tr>")
    title = "Gauntlet compare: " + ", ".join(sc.run_id for sc in comparison.runs)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{e(title)}</title><style>{CSS}</style></head>\n<body><main><section>"
        f"<h1>Gauntlet runs side by side</h1><p class=muted>{len(comparison.runs)} runs, grouped "
        "by distribution; '-' means the run has no such figure.</p><div class=scroll><table>"
        f"<tr><th></th>{head}</tr>{''.join(body)}</table></div></section></main></body></html>\n"
    )


def write_compare_html(comparison: Comparison, path: str | os.PathLike[str]) -> None:
    atomic_write_text(Path(path), render_compare_html(comparison))


__all__ = [
    "Cell",
    "Comparison",
    "Row",
    "RunNotFound",
    "ScorecardError",
    "compare",
    "load_run",
    "print_table",
    "render_compare_html",
    "write_compare_html",
]
