"""Isolation suite (promises P2, P9): only declared traffic flows, cell by cell.

The oracle computes the expected truth table from the blueprint; the target shows what its
kernel or CNI does. One probe round covers the whole matrix (each source probes its row
concurrently); each source pod is then one check.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gauntlet.blueprint import load_blueprint
from gauntlet.blueprint.probes import with_outsider
from gauntlet.isolation import (
    CellResult,
    first_failing,
    inbound_control,
    judge_row,
    probe_round,
    row_matrices,
)
from gauntlet.oracle import TruthTable
from gauntlet.plugin import REFERENCE_PLATFORM, CheckRecorder
from gauntlet.report.scorecard import MatrixCell, Verdict
from gauntlet.targets.base import Target

CONVERGENCE_TIMEOUT_S = 30.0
pytestmark = [pytest.mark.gauntlet_suite("isolation"), pytest.mark.gauntlet_requires("cilium")]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "source_pod" in metafunc.fixturenames:
        platform = metafunc.config.getoption("platform")
        bp = with_outsider(load_blueprint(Path(platform) if platform else REFERENCE_PLATFORM))
        sources = sorted(p.key for p in bp.pods())
        metafunc.parametrize("source_pod", sources, ids=sources)


@pytest.fixture(scope="session")
def isolation_round(
    gauntlet_target: Target, gauntlet_truth_table: TruthTable
) -> dict[str, CellResult] | str:
    """One probe round over the whole matrix, after polling for policy convergence."""
    from gauntlet import progress

    if not gauntlet_target.wait_policy_converged(timeout_s=CONVERGENCE_TIMEOUT_S):
        return f"policies did not converge within {CONVERGENCE_TIMEOUT_S:.0f}s"
    progress.say(f"probing {len(gauntlet_truth_table.expectations)} cells")
    cells = probe_round(gauntlet_target, gauntlet_truth_table)
    progress.say("probe round done")
    return cells


def _attach_target_evidence(
    check: CheckRecorder, target: Target, source_pod: str, cell: CellResult | None
) -> None:
    probe = None if cell is None else cell.expectation.cell
    keys = [source_pod] if probe is None else [probe.src, probe.dst]
    check.attach_target_evidence(
        target,
        cell=None if probe is None else (probe.src, probe.dst, probe.port),
        namespaces=list(dict.fromkeys(k.partition("/")[0] for k in keys)),
    )


def test_isolation_row(
    source_pod: str,
    isolation_round: dict[str, CellResult] | str,
    gauntlet_target: Target,
    gauntlet_truth_table: TruthTable,
    gauntlet_check: CheckRecorder,
) -> None:
    """Every destination of ``source_pod`` is reachable exactly as the blueprint declares."""
    if isinstance(isolation_round, str):
        _attach_target_evidence(gauntlet_check, gauntlet_target, source_pod, None)
        gauntlet_check.conclude(Verdict.INCONCLUSIVE, isolation_round)
        return
    row = {cid: c for cid, c in isolation_round.items() if c.expectation.cell.src == source_pod}
    judgement = judge_row(
        source_pod, list(row.values()), inbound_ok=inbound_control(source_pod, isolation_round)
    )
    gauntlet_check.counts.update(
        cells=len(row),
        expected_allowed=sum(1 for c in row.values() if c.expectation.allowed),
        mismatches=sum(1 for c in row.values() if c.verdict.value in ("leak", "blocked")),
    )
    observed = {"ok": "pass", "leak": "leak", "blocked": "blocked", "unobserved": "inconclusive"}
    gauntlet_check.publish_matrix(
        [
            MatrixCell(
                src=c.expectation.cell.src,
                dst=c.expectation.cell.dst,
                port=c.expectation.cell.port,
                protocol=c.expectation.cell.protocol,
                expected=c.expectation.allowed,
                observed=observed[c.verdict.value],  # type: ignore[arg-type]
            )
            for c in row.values()
        ]
    )
    if judgement.verdict != "pass":
        gauntlet_check.attach(
            "expected / observed / diff",
            row_matrices(gauntlet_truth_table, source_pod, row),
            kind="matrix",
        )
        _attach_target_evidence(
            gauntlet_check, gauntlet_target, source_pod, first_failing(row.values())
        )
    gauntlet_check.conclude(Verdict(judgement.verdict), judgement.message)
