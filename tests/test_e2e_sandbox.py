"""End-to-end tests on the local sandbox: real namespaces, veths, nftables and probe agents.

They need root (or working unprivileged user namespaces) and ``nft``, ``ip`` and ``nsenter``;
otherwise the module is skipped. Every sandbox gets its own name, so these tests can run beside
other sandboxes on the same machine, and each one is torn down by the test that started it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gauntlet.blueprint import Blueprint, load_blueprint
from gauntlet.blueprint.probes import with_outsider
from gauntlet.isolation import CellVerdict, inbound_control, judge_row, probe_round
from gauntlet.oracle import TruthTable, compute_truth_table
from gauntlet.plugin import REFERENCE_PLATFORM
from gauntlet.targets.base import Outcome, ProbeRequest
from gauntlet.targets.local import sandbox as sandbox_module
from gauntlet.targets.local.sandbox import LocalSandbox

REPO = Path(__file__).resolve().parents[1]
CLI = [
    sys.executable,
    "-c",
    "import sys; from gauntlet.cli import main; sys.exit(main(sys.argv[1:]))",
]
SANDBOX_IFACE = re.compile(r"^(gbr\d+|g\d+i\d+)$")


def _userns_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    try:
        proc = subprocess.run(["unshare", "-Ur", "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return proc.returncode == 0


def _skip_reason() -> str | None:
    missing = [tool for tool in ("nft", "ip", "nsenter") if shutil.which(tool) is None]
    if missing:
        return f"the local sandbox needs {', '.join(missing)}"
    if os.geteuid() != 0 and not _userns_works():
        return "needs root or unprivileged user namespaces"
    return None


_REASON = _skip_reason()
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(_REASON is not None, reason=_REASON or ""),
]


# -- helpers -------------------------------------------------------------------------------


def agent_call(sock_path: str, request: dict[str, Any], *, timeout_s: float = 15.0) -> Any:
    """One request on a pod agent's control socket (newline-delimited JSON)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout_s)
        sock.connect(sock_path)
        sock.sendall(json.dumps(request).encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = sock.recv(65536)
            assert chunk, "agent closed the control socket before answering"
            buf += chunk
    return json.loads(buf)


def vip_probe(
    sandbox: LocalSandbox,
    src: str,
    vip: str,
    *,
    timeout_s: float,
    count: int = 1,
    path: str = "/api/v1/health",
    headers: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    probes = [
        {
            "id": f"vip-{i}",
            "host": vip,
            "port": 80,
            "protocol": "TCP",
            "mode": "http",
            "timeout_s": timeout_s,
            "http": {"method": "GET", "path": path, "headers": headers or {}},
        }
        for i in range(count)
    ]
    resp = agent_call(sandbox.sockets[src], {"op": "probe", "probes": probes})
    assert resp["ok"], resp
    results: list[dict[str, Any]] = resp["results"]
    return results


def sandbox_processes(name: str) -> dict[int, str]:
    """Supervisor and pod-agent processes of sandbox ``name``, from /proc (host pid view)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        is_ours = "gauntlet.targets.local.supervisor" in cmdline or "agent.py serve" in cmdline
        if is_ours and re.search(rf"/{re.escape(name)}(/|\s|$)", cmdline):
            found[int(entry.name)] = cmdline
    return found


def host_links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line}


def run_cli(args: list[str], cwd: Path, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout_s, check=False
    )


# -- one sandbox for the deploy / probe / service / controller tests -----------------------


@pytest.fixture(scope="module")
def blueprint() -> Blueprint:
    return with_outsider(load_blueprint(REFERENCE_PLATFORM))


@pytest.fixture(scope="module")
def table(blueprint: Blueprint) -> TruthTable:
    return compute_truth_table(blueprint)


@pytest.fixture(scope="module")
def sandbox(blueprint: Blueprint) -> Iterator[LocalSandbox]:
    sb = LocalSandbox(sandbox_name=f"e2e-{os.getpid()}")
    try:
        report = sb.deploy(blueprint)
        assert len(report.pods) == len(blueprint.pods())
        assert sb.wait_policy_converged(timeout_s=30)
        yield sb
    finally:
        sb.teardown()
    assert not sb.state_dir.exists()


def test_deploy_reports_ready_pods(sandbox: LocalSandbox, blueprint: Blueprint) -> None:
    pods, revision = sandbox.status()
    assert revision == sandbox.revision >= 1
    assert sorted(p.key for p in pods) == sorted(p.key for p in blueprint.pods())
    assert sandbox.plan is not None
    ips = sandbox.plan.ip_of()
    for pod in pods:
        assert pod.ready, pod
        assert pod.rss_bytes is not None and pod.rss_bytes > 0, pod
        assert pod.start_latency_ms is not None and pod.start_latency_ms > 0, pod
        assert pod.ip == ips[pod.key]
        assert Path(sandbox.sockets[pod.key]).is_socket()


def test_full_truth_table_holds(sandbox: LocalSandbox, table: TruthTable) -> None:
    cells = probe_round(sandbox, table)
    assert len(cells) == len(table.expectations)
    bad = {cid: c.result.outcome.value for cid, c in cells.items() if c.verdict != CellVerdict.OK}
    assert bad == {}
    for source, row in table.by_source().items():
        row_cells = [cells[e.cell.id] for e in row]
        judgement = judge_row(source, row_cells, inbound_ok=inbound_control(source, cells))
        assert judgement.verdict == "pass", judgement.message


def test_service_vip_reaches_a_backend_over_http(sandbox: LocalSandbox) -> None:
    assert sandbox.plan is not None
    svc = next(s for s in sandbox.plan.services if s.key == "team-alpha/api" and s.port == 80)
    backends = {"team-alpha/api-0", "team-alpha/api-1"}
    for result in vip_probe(sandbox, "team-alpha/client-0", svc.vip, timeout_s=2, count=4):
        assert result["outcome"] == "http", result
        assert result["http_status"] == 200, result
        assert result["peer"] in backends, result
    # The one cross-tenant flow also works through the VIP, for what its L7 rules allow
    # (tenants/team-alpha/cross-tenant.yaml: GET items with team-beta's token).
    (cross,) = vip_probe(
        sandbox,
        "team-beta/client-0",
        svc.vip,
        timeout_s=2,
        path="/api/v1/items/7",
        headers={"X-Tenant-Token": "beta-7c41e9"},
    )
    assert cross["outcome"] == "http" and cross["peer"] in backends, cross


def test_service_vip_is_policed_after_translation(sandbox: LocalSandbox) -> None:
    assert sandbox.plan is not None
    svc = next(s for s in sandbox.plan.services if s.key == "team-alpha/api" and s.port == 80)
    (result,) = vip_probe(sandbox, "team-gamma/client-0", svc.vip, timeout_s=1)
    assert result["outcome"] == "timeout", result


def wait_restarted(
    sandbox: LocalSandbox, key: str, *, restarts: int, timeout_s: float = 15
) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        (pod,) = [p for p in sandbox.status()[0] if p.key == key]
        if pod.ready and pod.restarts == restarts:
            assert pod.rss_bytes is not None and pod.rss_bytes > 0, pod
            return
        assert time.monotonic() < deadline, f"{key} not restarted within {timeout_s}s: {pod}"
        time.sleep(0.05)


def probe_one(
    sandbox: LocalSandbox, src: str, dst: str, port: int, *, timeout_s: float = 2
) -> Outcome:
    request = ProbeRequest(
        id=f"{src}->{dst}:{port}", src=src, dst=dst, port=port, timeout_s=timeout_s
    )
    (result,) = sandbox.probe([request])
    return result.outcome


def test_controller_restarts_a_killed_pod(sandbox: LocalSandbox) -> None:
    key = "team-alpha/api-0"
    (before,) = [p for p in sandbox.status()[0] if p.key == key]
    assert before.restarts == 0
    sandbox.kill_pod(key)
    wait_restarted(sandbox, key, restarts=1)
    (after,) = [p for p in sandbox.status()[0] if p.key == key]
    assert after.ip == before.ip
    # The new incarnation is wired up: it reaches DNS (allowed by team-alpha's allow-dns) ...
    assert probe_one(sandbox, key, "kube-system/coredns-0", 53) is Outcome.CONNECTED
    # ... its client reaches it again, and the policy still holds for it.
    assert probe_one(sandbox, "team-alpha/client-0", key, 8080) is Outcome.CONNECTED
    assert probe_one(sandbox, "team-gamma/client-0", key, 8080, timeout_s=1) is Outcome.TIMEOUT
    assert probe_one(sandbox, "team-alpha/client-0", key, 9090, timeout_s=1) is Outcome.TIMEOUT


def test_restarted_pod_is_reachable_before_it_sends_anything(sandbox: LocalSandbox) -> None:
    """Regression: a restarted pod keeps its IP but gets a new MAC.

    The sandbox's root namespace must not keep the old ARP entry for the address, or traffic
    to the pod is blackholed until the pod itself sends something or the entry expires.
    """
    key = "team-alpha/api-1"
    # The root namespace has resolved the pod's address (as after any probe round).
    assert probe_one(sandbox, "team-alpha/client-0", key, 8080) is Outcome.CONNECTED
    (before,) = [p for p in sandbox.status()[0] if p.key == key]
    sandbox.kill_pod(key)
    wait_restarted(sandbox, key, restarts=before.restarts + 1)
    # No outbound traffic from the new incarnation first: nothing refreshes the entry for it.
    assert probe_one(sandbox, "team-alpha/client-0", key, 8080) is Outcome.CONNECTED


# -- a SIGKILLed harness leaves nothing behind ---------------------------------------------

# Unique per run: two runs on one machine must not tear down each other's sandbox.
CRASH_NAME = f"e2e-crash-{os.getpid()}"
CRASH_SCRIPT = textwrap.dedent(
    f"""
    import time
    from gauntlet.blueprint import load_blueprint
    from gauntlet.blueprint.probes import with_outsider
    from gauntlet.plugin import REFERENCE_PLATFORM
    from gauntlet.targets.local.sandbox import LocalSandbox

    sandbox = LocalSandbox(sandbox_name={CRASH_NAME!r})
    sandbox.deploy(with_outsider(load_blueprint(REFERENCE_PLATFORM)))
    print("READY", flush=True)
    time.sleep(600)
    """
)


def test_sigkilled_harness_leaves_nothing_behind(tmp_path: Path, blueprint: Blueprint) -> None:
    links_before = host_links()
    script = tmp_path / "crash_harness.py"
    script.write_text(CRASH_SCRIPT)
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        # The deploy takes about a second; a crash closes stdout, a hang hits the timeout.
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        line = proc.stdout.readline() if ready else ""
        if line.strip() != "READY":
            proc.kill()
            _, err = proc.communicate(timeout=10)
            pytest.fail(f"crash harness not ready: {line!r}\n{err}")
        running = sandbox_processes(CRASH_NAME)
        # Positive control for the /proc scan: the supervisor and every pod agent are there.
        assert sum("supervisor" in c for c in running.values()) >= 1, running
        assert sum("agent.py serve" in c for c in running.values()) == len(blueprint.pods())
        state_dir = sandbox_module.state_root() / CRASH_NAME
        assert (state_dir / "state.json").exists()
        # The sandbox's bridge and veths live in its own network namespace, never the host's.
        assert not {n for n in host_links() - links_before if SANDBOX_IFACE.match(n)}

        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 5
        while (left := sandbox_processes(CRASH_NAME)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert left == {}, f"processes outlived the SIGKILLed harness: {left}"
        new_links = host_links() - links_before
        assert not {n for n in new_links if SANDBOX_IFACE.match(n)}, new_links

        # The state directory stays (it names the dead supervisor) until `down` removes it.
        assert state_dir.exists()
        assert sandbox_module.down(CRASH_NAME) == [CRASH_NAME]
        assert not state_dir.exists()
        assert sandbox_module.down(CRASH_NAME) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in sandbox_processes(CRASH_NAME):  # only what this test started
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        sandbox_module.down(CRASH_NAME)


# -- the command line and the pytest plugin, as users run them -----------------------------


def test_gauntlet_run_local_isolation(tmp_path: Path) -> None:
    report_dir = tmp_path / "report"
    proc = run_cli(
        ["run", "--target", "local", "--suite", "isolation", "--report-dir", str(report_dir)],
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "exit 0 (OK)" in proc.stdout
    scorecard = json.loads((report_dir / "scorecard.json").read_text())
    assert scorecard["schema"] == "gauntlet.scorecard/v2"
    assert scorecard["verdict"] == "pass"
    assert scorecard["exit_code"] == 0
    assert scorecard["target"] == "local"
    isolation = scorecard["suites"]["isolation"]
    assert isolation["failed"] == 0
    assert isolation["inconclusive"] == 0
    assert isolation["passed"] == len(with_outsider(load_blueprint(REFERENCE_PLATFORM)).pods())
    assert {c["id"] for c in scorecard["checks"]} >= {
        "isolation/team-alpha/client-0",
        "isolation/gauntlet-probe/outsider-0",
    }
    root = ET.parse(report_dir / "junit.xml").getroot()
    assert root.tag == "testsuites"


def test_gauntlet_selfcheck_detects_every_fault(tmp_path: Path) -> None:
    report_dir = tmp_path / "selfcheck"
    proc = run_cli(["selfcheck", "--suite", "isolation", "--report-dir", str(report_dir)], tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((report_dir / "selfcheck.json").read_text())
    assert report["schema"] == "gauntlet.selfcheck/v1"
    assert report["baseline_exit_code"] == 0
    assert report["detected"] == report["total"] == 3
    assert {f["id"] for f in report["faults"]} == {
        "default-deny-removed",
        "cross-tenant-allow-all",
        "enforcement-off-pod",
    }
    for fault in report["faults"]:
        assert fault["detected"] is True, fault
        assert fault["run_exit_code"] == 1, fault
        assert fault["failed_checks"], fault


def test_planted_fault_through_plain_pytest(tmp_path: Path) -> None:
    report_dir = tmp_path / "planted"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(REPO / "suites" / "isolation"),
            "--target",
            "local",
            "--gauntlet-plant",
            "default-deny-removed:namespace=team-alpha",
            "--report-dir",
            str(report_dir),
            "-p",
            "no:cacheprovider",
            "-q",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    scorecard = json.loads((report_dir / "scorecard.json").read_text())
    assert scorecard["verdict"] == "fail"
    assert scorecard["exit_code"] == 1
    failed = [c for c in scorecard["checks"] if c["verdict"] == "fail"]
    assert failed
    assert any(c["id"] == "isolation/gauntlet-probe/outsider-0" for c in failed)
    for check in failed:
        assert "LEAK" in check["message"], check["message"]
        assert "team-alpha/" in check["message"]
        (evidence,) = check["evidence"]
        assert evidence["kind"] == "matrix"
        diff = evidence["content"].split("DIFF", 1)[1]
        assert re.search(r"\sL(\s|$)", diff), diff
    assert "gauntlet verdicts:" in proc.stdout


def test_gauntlet_run_local_policy_and_tenancy(tmp_path: Path) -> None:
    """Guardrails (twins, audit, fuzzing) and tenancy pass on the reference platform."""
    report_dir = tmp_path / "report"
    proc = run_cli(
        [
            "run",
            "--target",
            "local",
            "--suite",
            "policy",
            "--suite",
            "tenancy",
            "--report-dir",
            str(report_dir),
        ],
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    scorecard = json.loads((report_dir / "scorecard.json").read_text())
    for suite in ("policy", "tenancy"):
        assert scorecard["suites"][suite]["failed"] == 0
        assert scorecard["suites"][suite]["inconclusive"] == 0
        assert scorecard["suites"][suite]["passed"] > 5
    fuzz = [c for c in scorecard["checks"] if c["counts"].get("examples")]
    assert len(fuzz) == 6 and all(c["counts"]["examples"] >= 500 for c in fuzz)


@pytest.mark.parametrize(
    ("suite", "fault"),
    [
        ("policy", "admission-webhook-down:failurePolicy=Ignore"),
        ("policy", "constraint-dryrun:constraint=g2-pinned-image-tags"),
        ("tenancy", "rbac-wildcard:namespace=team-alpha"),
        ("tenancy", "quota-removed:namespace=team-alpha"),
    ],
)
def test_planted_admission_faults_are_detected(tmp_path: Path, suite: str, fault: str) -> None:
    report_dir = tmp_path / "report"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(REPO / "suites" / suite),
            "--target",
            "local",
            "--report-dir",
            str(report_dir),
            "--gauntlet-plant",
            fault,
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    scorecard = json.loads((report_dir / "scorecard.json").read_text())
    assert scorecard["exit_code"] == 1, proc.stdout[-3000:]
    assert scorecard["suites"][suite]["failed"] > 0
