"""Isolation rounds: probe the truth table on a target and judge each source row.

Verdicts are three-valued. A cell expected *denied* and observed dropped proves isolation only
if the source's datapath demonstrably worked in the same round (the positive control): it
reached an allowed destination, or an allowed peer completed a handshake *to* it (the SYN-ACK
leaves through the same veth, bridge and routes; this covers sources such as CoreDNS that may
reach no pod at all). Otherwise the drop may be the source's own breakage, and the row is
*inconclusive*, never *pass*. Cells expected allowed but dropped are probed once more with a
longer timeout before they count as failures; a reached denied cell is a leak at once (a
handshake cannot be faked).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from gauntlet.oracle import Expectation, TruthTable
from gauntlet.oracle.render import ALLOWED, DENIED, grid, symbols_from
from gauntlet.targets.base import ProbeMode, ProbeRequest, ProbeResult, Target


class CellVerdict(StrEnum):
    OK = "ok"
    LEAK = "leak"
    BLOCKED = "blocked"
    UNOBSERVED = "unobserved"


@dataclass(frozen=True)
class CellResult:
    expectation: Expectation
    result: ProbeResult
    verdict: CellVerdict


@dataclass(frozen=True)
class RowJudgement:
    source: str
    cells: tuple[CellResult, ...]
    positive_control: bool
    verdict: str  # "pass" | "fail" | "inconclusive"
    message: str


def requests_for(expectations: Sequence[Expectation], *, timeout_s: float) -> list[ProbeRequest]:
    return [
        ProbeRequest(
            id=e.cell.id,
            src=e.cell.src,
            dst=e.cell.dst,
            port=e.cell.port,
            protocol=e.cell.protocol,
            mode=ProbeMode.UDP if e.cell.protocol == "UDP" else ProbeMode.TCP,
            timeout_s=timeout_s,
        )
        for e in expectations
    ]


def _classify(exp: Expectation, res: ProbeResult) -> CellVerdict:
    reached = res.outcome.reached
    if reached is None:
        return CellVerdict.UNOBSERVED
    if reached == exp.allowed:
        return CellVerdict.OK
    return CellVerdict.LEAK if reached else CellVerdict.BLOCKED


def probe_round(
    target: Target, table: TruthTable, *, timeout_s: float = 1.0, retry_timeout_s: float = 2.0
) -> dict[str, CellResult]:
    """Probe every cell once (all sources concurrently), re-probing blocked allowed cells."""
    exps = table.expectations
    results = target.probe(requests_for(exps, timeout_s=timeout_s))
    out = {e.cell.id: CellResult(e, r, _classify(e, r)) for e, r in zip(exps, results, strict=True)}
    retry = [
        c.expectation
        for c in out.values()
        if c.verdict is not CellVerdict.OK and c.verdict is not CellVerdict.LEAK
    ]
    if retry:
        again = target.probe(requests_for(retry, timeout_s=retry_timeout_s))
        for e, r in zip(retry, again, strict=True):
            out[e.cell.id] = CellResult(e, r, _classify(e, r))
    return out


def inbound_control(source: str, all_cells: dict[str, CellResult]) -> bool:
    """Did an allowed peer reach ``source`` in this round?"""
    return any(
        c.expectation.cell.dst == source and c.expectation.allowed and c.verdict is CellVerdict.OK
        for c in all_cells.values()
    )


def judge_row(
    source: str, cells: Sequence[CellResult], *, inbound_ok: bool = False
) -> RowJudgement:
    outbound_ok = any(c.expectation.allowed and c.verdict is CellVerdict.OK for c in cells)
    control = outbound_ok or inbound_ok
    leaks = [c for c in cells if c.verdict is CellVerdict.LEAK]
    blocked = [c for c in cells if c.verdict is CellVerdict.BLOCKED]
    unobserved = [c for c in cells if c.verdict is CellVerdict.UNOBSERVED]
    denied_ok = [c for c in cells if c.verdict is CellVerdict.OK and not c.expectation.allowed]
    lines = []
    for c in leaks:
        lines.append(
            f"LEAK     {c.expectation.cell.id}: expected denied "
            f"({c.expectation.reason}), observed {c.result.outcome.value}"
        )
    for c in blocked:
        lines.append(
            f"BLOCKED  {c.expectation.cell.id}: expected allowed "
            f"({c.expectation.reason}), observed {c.result.outcome.value}"
        )
    for c in unobserved:
        lines.append(f"UNOBSERVED {c.expectation.cell.id}: {c.result.error_class}")
    if leaks or blocked:
        verdict = "fail"
        head = f"{len(leaks)} leak(s), {len(blocked)} blocked allowed cell(s)"
    elif unobserved:
        verdict = "inconclusive"
        head = f"{len(unobserved)} cell(s) could not be observed"
    elif denied_ok and not control:
        verdict = "inconclusive"
        head = (
            f"{len(denied_ok)} denied cell(s) dropped, but no allowed destination of "
            f"{source} answered in the same round (no positive control)"
        )
    else:
        verdict = "pass"
        head = f"{len(cells)} cell(s) as expected"
    return RowJudgement(source, tuple(cells), control, verdict, "\n".join([head, *lines]))


def first_failing(cells: Iterable[CellResult]) -> CellResult | None:
    """The cell a failing row's target evidence is gathered for: its first leak or blocked
    cell, else its first unobserved one (a row without a positive control has neither)."""
    cells = list(cells)
    wrong = [c for c in cells if c.verdict in (CellVerdict.LEAK, CellVerdict.BLOCKED)]
    return next(iter(wrong or [c for c in cells if c.verdict is CellVerdict.UNOBSERVED]), None)


def observed_symbol(c: CellResult) -> str:
    reached = c.result.outcome.reached
    return "?" if reached is None else (ALLOWED if reached else DENIED)


def diff_symbol(c: CellResult) -> str:
    return {
        CellVerdict.OK: ".",
        CellVerdict.LEAK: "L",
        CellVerdict.BLOCKED: "B",
        CellVerdict.UNOBSERVED: "?",
    }[c.verdict]


def row_matrices(table: TruthTable, source: str, cells: dict[str, CellResult]) -> str:
    """Expected / observed / diff grids for one source row."""
    sub = TruthTable(
        endpoints=[ep for ep in table.endpoints if ep.key == source],
        expectations=[e for e in table.expectations if e.cell.src == source],
    )
    expected = {e.cell.id: ALLOWED if e.allowed else DENIED for e in sub.expectations}
    observed = {cid: observed_symbol(c) for cid, c in cells.items()}
    diff = {cid: diff_symbol(c) for cid, c in cells.items()}
    return "\n\n".join(
        grid(sub, symbols_from(marks), title=title)
        for title, marks in (("EXPECTED", expected), ("OBSERVED", observed), ("DIFF", diff))
    )
