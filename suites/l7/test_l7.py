"""L7 suite (promise P3): HTTP rules are enforced as Cilium's Envoy enforces them, cell by cell.

One check per L7-proxied allowed cell (``<src> -> <dst>:<port>``): requests derived from the
cell's egress and ingress HTTP rules (allowed examples, near misses, hypothesis-generated ones;
see ``l7_requests``) go out in one probe batch, the oracle (``gauntlet.oracle.l7``) says what
each must observe, and ``l7_judge`` compares. A failing cell carries its mismatch table and the
proxy's access-log lines for the cell. One more check, ``coverage``, proves from the blueprint
that every L7-governed cell is a check and every rule is exercised by a request that should
pass. How to read a failure: docs/suites/l7.md.
"""

from __future__ import annotations

import functools
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from l7_judge import RowVerdict, flow_lines, judge_rows, probe_requests, table
from l7_requests import DEFAULT_GENERATED, RequestCase, derive, describe_rule

from gauntlet import progress
from gauntlet.blueprint import load_blueprint
from gauntlet.blueprint.probes import with_outsider
from gauntlet.oracle import Expectation, TruthTable, compute_truth_table
from gauntlet.oracle.l7 import L7Expectation, L7Verdict, expect_l7, normalize_path, rule_matches
from gauntlet.plugin import REFERENCE_PLATFORM, CheckRecorder
from gauntlet.report.scorecard import Verdict
from gauntlet.targets.base import NotSupportedByTarget, Outcome, Target, TargetError

pytestmark = [
    pytest.mark.gauntlet_suite("l7"),
    pytest.mark.gauntlet_requires("cilium", "cilium-l7"),
]

CONVERGENCE_TIMEOUT_S = 30.0
PROBE_TIMEOUT_S = 2.0  # no request on an allowed cell should be dropped: answers take ms
RETRY_TIMEOUT_S = 4.0


def l7_cells(table: TruthTable) -> list[Expectation]:
    """The cells the suite covers: allowed at L3/L4 and traversing an L7 proxy."""
    return [e for e in table.expectations if e.allowed and e.l7_proxied]


@functools.cache
def _collected(platform: str | None) -> tuple[str, ...]:
    bp = with_outsider(load_blueprint(Path(platform) if platform else REFERENCE_PLATFORM))
    return tuple(e.cell.id for e in l7_cells(compute_truth_table(bp)))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "l7_cell" in metafunc.fixturenames:
        cells = _collected(metafunc.config.getoption("platform"))
        metafunc.parametrize("l7_cell", cells, ids=cells)


@pytest.fixture(scope="session")
def l7_converged(gauntlet_target: Target) -> str | None:
    """None once policies are enforced, else why not (every cell is then inconclusive)."""
    if gauntlet_target.wait_policy_converged(timeout_s=CONVERGENCE_TIMEOUT_S):
        return None
    return f"policies did not converge within {CONVERGENCE_TIMEOUT_S:.0f}s"


def _default_host(exp: Expectation) -> str:
    # The client's default Host is the destination's <ip>:<port>, which the suite does not know.
    # It matters only to rules with a ``host`` field, and then every derived request names its
    # host explicitly (l7_requests.derive), so this stand-in never decides an expectation.
    return f"{exp.cell.dst.replace('/', '.')}:{exp.cell.port}"


# The gateway's six cells share their rules: derive once per rule set (hypothesis takes ~0.1 s).
_derive = functools.lru_cache(maxsize=64)(derive)


@dataclass(frozen=True)
class CellPlan:
    """What the suite sends on a cell and what the oracle says each request must observe."""

    cases: tuple[RequestCase, ...]
    expected: tuple[L7Expectation, ...]
    unexercised: tuple[str, ...]  # rules no request expected to pass satisfies, and why


def plan_cell(exp: Expectation, *, generated: int = DEFAULT_GENERATED) -> CellPlan:
    derivation = _derive(exp.l7_egress, exp.l7_ingress, generated=generated)
    host = _default_host(exp)
    expected = tuple(expect_l7(exp, c.request, default_host=host) for c in derivation.cases)
    # A rule is exercised when a request the oracle expects forwarded satisfies it as its
    # proxy sees the request (after Envoy's normalisation).
    seen = [
        (r.method, normalize_path(r.path).path, r.host or host, r.headers)
        for r in (e.request for e in expected if e.verdict is L7Verdict.FORWARDED)
    ]
    missing = [f"{describe_rule(rule)}: {why}" for rule, why in derivation.unexemplified]
    for side, rules in (("egress", exp.l7_egress), ("ingress", exp.l7_ingress)):
        for rule in rules or ():
            if not any(
                rule_matches(rule, method=m, path=p, host=h, headers=hs) for m, p, h, hs in seen
            ):
                missing.append(f"{side} {describe_rule(rule)}: no request expected to pass")
    return CellPlan(derivation.cases, expected, tuple(dict.fromkeys(missing)))


def test_l7_cell(
    l7_cell: str,
    gauntlet_target: Target,
    gauntlet_truth_table: TruthTable,
    l7_converged: str | None,
    gauntlet_check: CheckRecorder,
) -> None:
    """Every request derived from the cell's HTTP rules gets what Cilium's proxy would answer."""
    exp = gauntlet_truth_table.lookup().get(l7_cell)
    if exp is None or not (exp.allowed and exp.l7_proxied):
        gauntlet_check.conclude(Verdict.FAIL, f"suite bug: {l7_cell} is not an L7 cell")
        return
    if l7_converged is not None:
        gauntlet_check.conclude(Verdict.INCONCLUSIVE, l7_converged)
        return
    plan = plan_cell(exp)
    cases, expected = list(plan.cases), list(plan.expected)
    since = time.time()
    try:
        observed = gauntlet_target.probe(probe_requests(exp, cases, timeout_s=PROBE_TIMEOUT_S))
        rows = judge_rows(cases, expected, observed, dst=exp.cell.dst)
        # A timeout or an unreadable answer may be the datapath hiccuping: ask once more, slower.
        again = [
            i
            for i, r in enumerate(rows)
            if r.verdict is RowVerdict.UNJUDGED
            or (r.verdict is RowVerdict.MISMATCH and r.observed.outcome is Outcome.TIMEOUT)
        ]
        if again:
            retried = gauntlet_target.probe(
                probe_requests(exp, [cases[i] for i in again], timeout_s=RETRY_TIMEOUT_S)
            )
            redone = judge_rows(
                [cases[i] for i in again], [expected[i] for i in again], retried, dst=exp.cell.dst
            )
            for i, row in zip(again, redone, strict=True):
                rows[i] = row
    except TargetError as exc:
        gauntlet_check.conclude(Verdict.INCONCLUSIVE, f"the target could not probe: {exc}")
        return
    progress.say(f"l7 {l7_cell}: {len(rows)} requests")

    mismatches = [r for r in rows if r.verdict is RowVerdict.MISMATCH]
    unjudged = [r for r in rows if r.verdict is RowVerdict.UNJUDGED]
    by_verdict = Counter(e.verdict.value for e in expected)
    gauntlet_check.counts.update(
        requests=len(rows),
        mismatches=len(mismatches),
        unjudged=len(unjudged),
        **{f"expected_{v}": n for v, n in sorted(by_verdict.items())},
    )
    summary = ", ".join(f"{n} {v}" for v, n in sorted(by_verdict.items()))
    if not mismatches and not unjudged:
        gauntlet_check.conclude(Verdict.PASS, f"{len(rows)} requests as expected ({summary})")
        return

    bad = mismatches or unjudged
    gauntlet_check.attach("mismatches", table(bad, limit=200))
    gauntlet_check.attach("rules", _rules_text(exp))
    try:
        lines = flow_lines(gauntlet_target.l7_flows(since=since), exp, rows=bad)
        log = "\n".join(lines) if lines else "(no access-log line for this cell: no proxy saw it)"
    except NotSupportedByTarget as exc:
        log = f"the target exposes no L7 access log: {exc}"
    except TargetError as exc:
        log = f"the access log could not be read: {exc}"
    gauntlet_check.attach("access log of the cell", log)
    gauntlet_check.attach_target_evidence(
        gauntlet_target,
        cell=(exp.cell.src, exp.cell.dst, exp.cell.port),
        namespaces=list(dict.fromkeys(k.partition("/")[0] for k in (exp.cell.src, exp.cell.dst))),
    )
    if mismatches:
        head = f"{len(mismatches)} of {len(rows)} requests contradict the blueprint's HTTP rules"
        gauntlet_check.conclude(Verdict.FAIL, f"{head}\n{table(mismatches, limit=12)}")
    else:
        head = f"{len(unjudged)} of {len(rows)} requests could not be judged"
        gauntlet_check.conclude(Verdict.INCONCLUSIVE, f"{head}\n{table(unjudged, limit=12)}")


def _rules_text(exp: Expectation) -> str:
    lines = []
    for side, rules in (("egress", exp.l7_egress), ("ingress", exp.l7_ingress)):
        if rules is None:
            lines.append(f"{side}: unrestricted")
        else:
            lines += [f"{side}: {describe_rule(r)}" for r in rules] or [f"{side}: (none)"]
    return "\n".join(lines)


def test_l7_coverage(
    request: pytest.FixtureRequest,
    gauntlet_truth_table: TruthTable,
    gauntlet_check: CheckRecorder,
) -> None:
    """Every L7-governed cell of the blueprint is collected as a check, and every HTTP rule of
    every cell is exercised by a derived request the oracle expects to pass. Decided from the
    blueprint alone, so it holds under ``-k`` selection and across xdist workers."""
    governed = l7_cells(gauntlet_truth_table)
    if not governed:
        pytest.skip("the blueprint has no L7-proxied allowed cell")
    collected = set(_collected(request.config.getoption("platform")))
    missing = [e.cell.id for e in governed if e.cell.id not in collected]
    # Generated requests are not needed to exemplify a rule: the allowed examples are built to.
    gaps = [f"{e.cell.id}: {g}" for e in governed for g in plan_cell(e, generated=0).unexercised]
    rules = sum(len(e.l7_egress or ()) + len(e.l7_ingress or ()) for e in governed)
    gauntlet_check.counts.update(cells=len(governed), rules=rules, unexercised=len(gaps))
    if missing or gaps:
        lines = [f"not collected: {c}" for c in missing]
        lines += [f"rule not exercised: {g}" for g in gaps]
        gauntlet_check.conclude(
            Verdict.FAIL,
            f"{len(governed)} L7 cells, coverage incomplete (suite or oracle limitation, "
            "see docs/suites/l7.md):\n" + "\n".join(lines),
        )
        return
    gauntlet_check.conclude(
        Verdict.PASS, f"{len(governed)} L7 cells collected; all {rules} HTTP rules exercised"
    )
