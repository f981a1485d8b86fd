"""End-to-end tests of the L7 suite on the local sandbox: the reference blueprint passes, and
each planted L7 fault fails it with a readable table and the proxy's access-log lines.

Like tests/test_e2e_sandbox.py they need root (or unprivileged user namespaces) and ``nft``,
``ip`` and ``nsenter``; otherwise the module is skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gauntlet.blueprint import load_blueprint
from gauntlet.blueprint.probes import with_outsider
from gauntlet.oracle import compute_truth_table
from gauntlet.plugin import REFERENCE_PLATFORM

REPO = Path(__file__).resolve().parents[1]
CLI = [
    sys.executable,
    "-c",
    "import sys; from gauntlet.cli import main; sys.exit(main(sys.argv[1:]))",
]
GATEWAY_CELL = "ingress/ingress-gateway-0->team-alpha/api-0:8080/TCP"
CROSS_CELL = "team-beta/client-0->team-alpha/api-0:8080/TCP"


def _skip_reason() -> str | None:
    missing = [tool for tool in ("nft", "ip", "nsenter") if shutil.which(tool) is None]
    if missing:
        return f"the local sandbox needs {', '.join(missing)}"
    if os.geteuid() != 0:
        try:
            proc = subprocess.run(["unshare", "-Ur", "true"], capture_output=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return "needs root or unprivileged user namespaces"
        if proc.returncode != 0:
            return "needs root or unprivileged user namespaces"
    return None


_REASON = _skip_reason()
pytestmark = [pytest.mark.e2e, pytest.mark.skipif(_REASON is not None, reason=_REASON or "")]


def _l7_cell_ids() -> set[str]:
    table = compute_truth_table(with_outsider(load_blueprint(REFERENCE_PLATFORM)))
    return {f"l7/{e.cell.id}" for e in table.expectations if e.allowed and e.l7_proxied}


def _run(argv: list[str], cwd: Path, *, timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, timeout=timeout_s, check=False
    )


def _scorecard(report_dir: Path) -> Any:
    return json.loads((report_dir / "scorecard.json").read_text())


def test_gauntlet_run_local_l7_passes_on_the_reference_blueprint(tmp_path: Path) -> None:
    report_dir = tmp_path / "report"
    argv = [*CLI, "run", "--target", "local", "--suite", "l7", "--report-dir", str(report_dir)]
    proc = _run(argv, tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    scorecard = _scorecard(report_dir)
    l7 = scorecard["suites"]["l7"]
    cells = _l7_cell_ids()
    assert len(cells) == 14  # 6 gateway, 6 own-client, 2 cross-tenant (docs/blueprint.md)
    assert (l7["passed"], l7["failed"], l7["inconclusive"]) == (len(cells) + 1, 0, 0)
    checks = {c["id"]: c for c in scorecard["checks"]}
    assert cells <= set(checks)
    # Every kind of proxy answer was exercised, not only forwards.
    gateway = checks[f"l7/{GATEWAY_CELL}"]["counts"]
    assert gateway["expected_denied"] > 10 and gateway["expected_forwarded"] >= 2
    assert gateway["expected_redirected"] >= 1
    cross = checks[f"l7/{CROSS_CELL}"]["counts"]
    assert cross["expected_forwarded"] >= 1 and cross["expected_denied"] > 10
    coverage = checks["l7/test_l7_coverage"]
    assert coverage["verdict"] == "pass" and coverage["counts"]["unexercised"] == 0


@pytest.mark.parametrize(
    ("fault", "request_line"),
    [
        ("l7-proxy-bypassed", "GET /admin"),
        ("l7-path-unanchored", "GET /api/v1/health?x=1"),
        ("l7-method-dropped", "POST /api/v1/health"),
    ],
)
def test_planted_l7_fault_fails_with_table_and_access_log(
    tmp_path: Path, fault: str, request_line: str
) -> None:
    # Plain pytest, as the README runs suites; only the gateway's cells to team-alpha.
    report_dir = tmp_path / "report"
    suite = str(REPO / "suites" / "l7")
    argv = [
        sys.executable,
        "-m",
        "pytest",
        suite,
        "--target",
        "local",
        "-q",
        "-p",
        "no:cacheprovider",
    ]
    argv += [
        "--report-dir",
        str(report_dir),
        "--gauntlet-plant",
        fault,
        "-k",
        "gateway and team-alpha",
    ]
    proc = _run(argv, tmp_path)
    scorecard = _scorecard(report_dir)
    assert scorecard["exit_code"] == 1, proc.stdout[-4000:]
    failed = {c["id"]: c for c in scorecard["checks"] if c["verdict"] == "fail"}
    check = failed[f"l7/{GATEWAY_CELL}"]
    assert "contradict the blueprint's HTTP rules" in check["message"]
    assert request_line in check["message"] and "denied 403" in check["message"]
    evidence = {e["title"]: e["content"] for e in check["evidence"]}
    assert set(evidence) == {"mismatches", "rules", "access log of the cell"}
    assert "ingress: GET /api/v1/health" in evidence["rules"]
    log = evidence["access log of the cell"]
    if fault == "l7-proxy-bypassed":
        assert "no proxy saw it" in log
    else:
        assert f"{request_line} forwarded" in log, log
    assert "contradict the blueprint's HTTP rules" in proc.stdout


def test_gauntlet_selfcheck_l7_detects_every_fault(tmp_path: Path) -> None:
    report_dir = tmp_path / "selfcheck"
    argv = [*CLI, "selfcheck", "--suite", "l7", "--report-dir", str(report_dir)]
    proc = _run(argv, tmp_path, timeout_s=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    report = json.loads((report_dir / "selfcheck.json").read_text())
    assert report["baseline_exit_code"] == 0
    assert report["detected"] == report["total"] == 3
    by_id = {f["id"]: f for f in report["faults"]}
    assert set(by_id) == {"l7-proxy-bypassed", "l7-path-unanchored", "l7-method-dropped"}
    # Bypassing the proxy also skips Envoy's normalisation: every L7 cell notices.
    assert set(by_id["l7-proxy-bypassed"]["failed_checks"]) == _l7_cell_ids()
    assert f"l7/{GATEWAY_CELL}" in by_id["l7-path-unanchored"]["failed_checks"]
    assert f"l7/{CROSS_CELL}" in by_id["l7-method-dropped"]["failed_checks"]
