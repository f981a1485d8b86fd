"""End-to-end tests of load on the local sandbox: the smoke load suite passes with its SLOs in
the scorecard, load enters through the ingress gateway pod, and the two load faults are seen
(directly in the measurements, and by ``gauntlet selfcheck --suite load``).

Like tests/test_e2e_sandbox.py they need root (or unprivileged user namespaces) and ``nft``,
``ip`` and ``nsenter``; otherwise the module is skipped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gauntlet.blueprint import load_blueprint
from gauntlet.blueprint.probes import with_outsider
from gauntlet.load import load_profile, run_load
from gauntlet.plugin import REFERENCE_PLATFORM
from gauntlet.targets.base import PlantedFault, TargetError
from gauntlet.targets.local.sandbox import LocalSandbox
from test_e2e_sandbox import _skip_reason

CLI = [
    sys.executable,
    "-c",
    "import sys; from gauntlet.cli import main; sys.exit(main(sys.argv[1:]))",
]


_REASON = _skip_reason()
pytestmark = [pytest.mark.e2e, pytest.mark.skipif(_REASON is not None, reason=_REASON or "")]


def _cli(argv: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
        check=False,
    )


def _scorecard(report_dir: Path) -> Any:
    return json.loads((report_dir / "scorecard.json").read_text())


def test_gauntlet_run_load_smoke_passes_with_slos_in_under_a_minute(tmp_path: Path) -> None:
    report_dir = tmp_path / "report"
    started = time.monotonic()
    argv = ["run", "--target", "local", "--suite", "load", "--profile", "smoke"]
    proc = _cli([*argv, "--report-dir", str(report_dir)], tmp_path)
    elapsed_s = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-3000:]
    assert elapsed_s < 60
    scorecard = _scorecard(report_dir)
    assert scorecard["suites"]["load"] == {
        "passed": 2,
        "failed": 0,
        "inconclusive": 0,
        "skipped": 0,
    }
    load = scorecard["load"]
    assert load["profile"] == "smoke" and load["entrypoint"].startswith("http://10.96.")
    assert load["requests"] > 500 and load["errors"] == 0
    assert set(load["status_counts"]) == {"200"}
    assert [p["name"] for p in load["phases"]] == ["ramp", "steady"]
    assert 14 <= load["duration_s"] < 20 and len(load["series"]) >= 14
    slos = {s["name"]: s for s in scorecard["slos"] if s["window"] == "load"}
    assert {"availability", "latency-p95", "latency-p99"} <= set(slos)
    assert all(s["verdict"] == "pass" for s in slos.values())
    assert slos["latency-p95"]["observed"] == pytest.approx(load["latency"]["p95_ms"], rel=1e-3)
    summary = next(c for c in scorecard["checks"] if c["id"] == "load/test_run")["evidence"]
    assert "load from ingress/ingress-gateway-0" in summary[0]["content"]
    assert (report_dir / "report.html").exists()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[LocalSandbox]:
    with LocalSandbox(sandbox_name=f"e2e-load-{os.getpid()}") as sb:
        sb.deploy(with_outsider(load_blueprint(REFERENCE_PLATFORM)))
        assert sb.wait_policy_converged(timeout_s=30)
        yield sb


def test_entrypoint_and_load_source(sandbox: LocalSandbox) -> None:
    url = sandbox.load_entrypoint("team-alpha", "api", port=80)
    assert url.startswith("http://10.96.") and url.endswith(":80")
    prefix = sandbox.load_exec_prefix()
    assert prefix[:2] == ["nsenter", "-t"] and prefix[-1] == "-n"
    pid = int(prefix[2])
    # The gateway pod's agent, in a network namespace of its own.
    assert b"ingress/ingress-gateway-0" in Path(f"/proc/{pid}/cmdline").read_bytes()
    assert os.readlink(f"/proc/{pid}/ns/net") != os.readlink("/proc/self/ns/net")
    with pytest.raises(TargetError, match=r"no Service team-alpha/web .*team-alpha/api"):
        sandbox.load_entrypoint("team-alpha", "web", port=80)
    with pytest.raises(TargetError, match=r"has no TCP port 8080 .*80, 9090"):
        sandbox.load_entrypoint("team-alpha", "api", port=8080)
    with pytest.raises(TargetError, match="not a pod of the sandbox"):
        sandbox.load_exec_prefix(source="team-alpha/nope-0")


PODS = "team-alpha/api-0,team-alpha/api-1"


def _load_with(sandbox: LocalSandbox, fault: str, *, param: str, value: str, reset: Any) -> Any:
    """A 4 s smoke load with ``fault`` planted on both api pods (then reset with ``reset``)."""
    sandbox.plant(PlantedFault(fault, "", (("pods", PODS), (param, value))))
    try:
        url = sandbox.load_entrypoint("team-alpha", "api", port=80)
        prefix = sandbox.load_exec_prefix()
        return run_load(load_profile("smoke"), url, duration_s=4, exec_prefix=prefix).report
    finally:
        for pod in PODS.split(","):
            sandbox.agent_control(pod, reset)


def test_planted_load_faults_show_in_the_measurements(sandbox: LocalSandbox) -> None:
    report = _load_with(
        sandbox,
        "error-responses",
        param="ratio",
        value="0.2",
        reset={"op": "set_error_ratio", "error_ratio": 0},
    )
    # Each pod fails exactly every fifth answer.
    assert report.error_counts == {"HTTP 503": report.status_counts["503"]}
    assert 0.18 < report.errors / report.requests < 0.22, report.status_counts

    report = _load_with(
        sandbox,
        "slow-responses",
        param="latency_ms",
        value="300",
        reset={"op": "set_latency", "latency_ms": 0},
    )
    assert report.errors == 0
    assert report.latency.p50_ms >= 300 and report.latency.max_ms >= 300


def test_selfcheck_load_detects_both_faults(tmp_path: Path) -> None:
    report_dir = tmp_path / "selfcheck"
    # A shorter smoke profile: the faults breach their SLOs within seconds.
    argv = ["selfcheck", "--suite", "load", "--report-dir", str(report_dir)]
    proc = _cli(argv, tmp_path, GAUNTLET_LOAD_DURATION_S="6")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    report = json.loads((report_dir / "selfcheck.json").read_text())
    assert report["baseline_exit_code"] == 0
    faults = {f["id"]: f for f in report["faults"]}
    assert set(faults) == {"slow-responses", "error-responses"}
    assert all(f["detected"] and f["run_exit_code"] == 2 for f in faults.values())
    assert set(faults["slow-responses"]["breached_slos"]) == {"latency-p95", "latency-p99"}
    assert faults["error-responses"]["breached_slos"] == ["availability"]
    assert faults["slow-responses"]["failed_checks"] == []
    # The upgrade gate stops both runs against the clean baseline.
    for fault in faults.values():
        assert fault["gate_exit_code"] == 2, fault["gate_verdict"]
        assert fault["gate_verdict"].startswith("gate: FAIL: regressed:")
    assert "latency-p95" in faults["slow-responses"]["gate_verdict"]
