"""Chaos end to end on the local sandbox: the suite, the faults selfcheck plants, the safeguard,
and Ctrl-C at any point leaving nothing behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gauntlet.blueprint import load_blueprint
from gauntlet.blueprint.probes import with_outsider
from gauntlet.chaos.experiment import SCENARIOS
from gauntlet.chaos.runner import ChaosOptions, run_chaos
from gauntlet.plugin import REFERENCE_PLATFORM
from gauntlet.report.scorecard import Verdict
from gauntlet.targets.base import PlantedFault
from gauntlet.targets.local.sandbox import LocalSandbox, state_root

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
BP = with_outsider(load_blueprint(REFERENCE_PLATFORM))
QUICK = ChaosOptions(warmup_s=2.0, tail_s=0.5, recovery_timeout_s=6)


@pytest.fixture
def sandbox(request: pytest.FixtureRequest) -> Iterator[LocalSandbox]:
    sb = LocalSandbox(sandbox_name=f"chaos-e2e-{os.getpid()}")
    sb.deploy(BP)
    assert sb.wait_policy_converged(timeout_s=30)
    yield sb
    sb.teardown()


def test_chaos_suite_smoke_passes_with_recovery_and_window_slos(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "gauntlet",
            "run",
            "--target",
            "local",
            "--suite",
            "chaos",
            "--profile",
            "smoke",
            "--report-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    card = json.loads((tmp_path / "scorecard.json").read_text())
    assert card["suites"]["chaos"]["passed"] >= 3
    assert {c["title"] for c in card["chaos"]} and all(
        c["verdict"] == "pass" for c in card["chaos"]
    )
    for report in card["chaos"]:
        assert report["recovery_time_s"] is not None
        assert report["recovery_resolution_s"] <= 0.1
        assert report["isolation_rounds"] > 0 and report["series"]
    windows = {s["window"] for s in card["slos"] if s["window"].startswith("chaos:")}
    assert {"chaos:pod-kill", "chaos:network-partition", "chaos:policy-engine-restart"} <= windows
    assert any(s["name"] == "pod-kill/recovery-time" for s in card["slos"])
    junit = (tmp_path / "junit.xml").read_text()
    assert "pod-kill/recovery-time" in junit
    assert "chaos" in (tmp_path / "report.html").read_text()


@pytest.mark.parametrize(
    ("fault", "experiment", "expect"),
    [
        ("controller-no-restart", "pod-kill", "did not recover"),
        ("engine-restart-fail-open", "policy-engine-restart", "isolation leak"),
        ("rollback-keeps-partition", "network-partition", "did not recover"),
    ],
)
def test_selfcheck_chaos_faults_are_caught(
    sandbox: LocalSandbox, fault: str, experiment: str, expect: str
) -> None:
    sandbox.plant(PlantedFault(id=fault, description=""))
    report = run_chaos(sandbox, SCENARIOS / f"{experiment}.yaml", blueprint=BP, options=QUICK)
    assert report.verdict is Verdict.FAIL, report.message
    assert expect in report.message
    assert sandbox.active_faults() == [] or fault == "rollback-keeps-partition"


def test_the_same_experiments_pass_without_the_fault(sandbox: LocalSandbox) -> None:
    for experiment in ("pod-kill", "policy-engine-restart"):
        report = run_chaos(sandbox, SCENARIOS / f"{experiment}.yaml", blueprint=BP, options=QUICK)
        assert report.verdict is Verdict.PASS, report.message
        assert not report.leaks


def test_safeguard_lifts_a_fault_that_burns_the_budget(sandbox: LocalSandbox) -> None:
    opts = ChaosOptions(warmup_s=3.0, tail_s=0.5, recovery_timeout_s=6, max_burn_rate=10)
    report = run_chaos(sandbox, SCENARIOS / "error-responses.yaml", blueprint=BP, options=opts)
    assert report.aborted_by_safeguard
    assert report.verdict is Verdict.FAIL
    assert report.fault_start_s is not None and report.fault_end_s is not None
    # The experiment holds the fault 20 s; the safeguard lifts it within a few seconds.
    assert report.fault_end_s - report.fault_start_s < 8
    assert sandbox.active_faults() == []


def _leftovers(name: str) -> list[str]:
    found = []
    if (state_root() / name).exists():
        found.append(f"state dir {state_root() / name}")
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    for line in ps.splitlines():
        if name in line or ("gauntlet.load.child" in line and str(os.getpid()) in line):
            found.append(line.strip())
    return found


@pytest.mark.parametrize("delay_s", [0.5, 2.5, 4.0, 6.5])
def test_sigint_at_any_point_leaves_no_fault_and_no_sandbox(tmp_path: Path, delay_s: float) -> None:
    """Ctrl-C during warm-up (0.5 s), the hypothesis (2.5 s), the held partition (4 s) and the
    recovery (6.5 s): the faults are reverted before the sandbox goes, and nothing remains."""
    name = f"chaos-sigint-{os.getpid()}-{int(delay_s * 10)}"
    out = tmp_path / "out.json"
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "tests" / "chaos_sigint_driver.py"),
            str(SCENARIOS / "network-partition.yaml"),
            name,
            str(out),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "deployed"
        time.sleep(delay_s)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    result = json.loads(out.read_text())
    assert result["active_faults"] == [], result
    deadline = time.monotonic() + 10
    while _leftovers(name) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _leftovers(name) == []


def test_plain_chaos_run_against_a_sandbox_left_up(tmp_path: Path) -> None:
    """The experiments are Chaos Toolkit files: `chaos run` runs them against `gauntlet up`."""
    import shutil

    if shutil.which("chaos") is None:
        pytest.skip("the chaos CLI is not installed")
    name = f"chaos-cli-{os.getpid()}"
    up = subprocess.run(
        [sys.executable, "-m", "gauntlet", "up", "--name", name],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert up.returncode == 0, up.stderr
    try:
        journal = tmp_path / "journal.json"
        proc = subprocess.run(
            [
                "chaos",
                "--no-log-file",
                "run",
                "--journal-path",
                str(journal),
                str(SCENARIOS / "network-partition.yaml"),
            ],
            capture_output=True,
            text=True,
            timeout=180,
            cwd=tmp_path,
            env={**os.environ, "GAUNTLET_SANDBOX": name},
        )
        data = json.loads(journal.read_text())
        assert data["status"] == "completed", proc.stderr[-3000:]
        assert data["steady_states"]["before"]["steady_state_met"] is True
        assert data["steady_states"]["after"]["steady_state_met"] is True
        assert [r["status"] for r in data["run"]] == ["succeeded", "succeeded"]
    finally:
        subprocess.run([sys.executable, "-m", "gauntlet", "down", "--name", name], cwd=ROOT)
