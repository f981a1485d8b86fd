"""Probe batches on a cluster: one exec per source row, results in request order, failures as
ERROR (never a pass), answers named by blueprint keys."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from gauntlet.agent import AGENT_PATH
from gauntlet.targets.base import HttpRequest, Outcome, ProbeMode, ProbeRequest, TargetError
from gauntlet.targets.kubernetes.client import ExecResult
from gauntlet.targets.kubernetes.probes import AGENT_CONCURRENCY, exec_timeout_s, run_probes
from gauntlet.targets.kubernetes.workloads import AGENT_ARGV, PodRef
from kube_workload_fakes import FakeKube

PODS = {
    "team-a/client-0": PodRef("team-a", "client-5d8f-x1", "10.244.1.5", "w1", True),
    "team-a/api-0": PodRef("team-a", "api-7c9b-aa", "10.244.1.6", "w1", True),
    "team-b/client-0": PodRef("team-b", "client-66f-q2", "10.244.2.7", "w2", True),
}


def _ok(stdin: bytes | None, **fields: object) -> ExecResult:
    batch = json.loads(stdin or b"{}")
    results = [
        {"id": p["id"], "outcome": "connected", "latency_ms": 1.5, **fields}
        for p in batch["probes"]
    ]
    return ExecResult(json.dumps({"ok": True, "results": results}).encode(), b"", 0)


def test_one_exec_per_source_row_results_in_request_order() -> None:
    kube = FakeKube()
    kube.exec_handler = lambda ns, pod, argv, stdin: _ok(stdin)
    reqs = [
        ProbeRequest("r1", "team-a/client-0", "team-a/api-0", 8080),
        ProbeRequest("r2", "team-b/client-0", "team-a/api-0", 8080, timeout_s=2.0),
        ProbeRequest(
            "r3",
            "team-a/client-0",
            "team-b/client-0",
            8080,
            mode=ProbeMode.HTTP,
            http=HttpRequest("GET", "/api/v1/health", (("X-Tenant-Token", "t"),)),
        ),
    ]
    results = run_probes(kube, reqs, pods=PODS)
    assert [r.id for r in results] == ["r1", "r2", "r3"]
    assert all(r.outcome is Outcome.CONNECTED for r in results)
    execs = sorted((c.args[0], c.args[1]) for c in kube.calls if c.verb == "exec")
    assert execs == [("team-a", "client-5d8f-x1"), ("team-b", "client-66f-q2")]
    row_a = next(c for c in kube.calls if c.verb == "exec" and c.args[0] == "team-a")
    assert row_a.args[2] == [*AGENT_ARGV, "probe"]
    batch = json.loads(row_a.kwargs["stdin"])
    assert batch["concurrency"] == AGENT_CONCURRENCY
    assert batch["probes"] == [
        {
            "id": "r1",
            "host": "10.244.1.6",
            "port": 8080,
            "protocol": "TCP",
            "mode": "tcp",
            "timeout_s": 1.0,
        },
        {
            "id": "r3",
            "host": "10.244.2.7",
            "port": 8080,
            "protocol": "TCP",
            "mode": "http",
            "timeout_s": 1.0,
            "http": {"method": "GET", "path": "/api/v1/health", "headers": {"X-Tenant-Token": "t"}},
        },
    ]


def test_exec_failure_makes_that_row_error_only() -> None:
    kube = FakeKube()

    def handler(ns: str, pod: str, argv: Sequence[str], stdin: bytes | None) -> ExecResult:
        if ns == "team-b":
            raise TargetError("pods/exec forbidden")
        return _ok(stdin)

    kube.exec_handler = handler
    reqs = [
        ProbeRequest("a", "team-a/client-0", "team-a/api-0", 8080),
        ProbeRequest("b", "team-b/client-0", "team-a/api-0", 8080),
    ]
    a, b = run_probes(kube, reqs, pods=PODS)
    assert a.outcome is Outcome.CONNECTED
    assert b.outcome is Outcome.ERROR and b.outcome.reached is None
    assert b.error_class == "ExecFailed(TargetError)"
    assert "team-b/client-66f-q2" in (b.body or "") and "forbidden" in (b.body or "")


@pytest.mark.parametrize(
    ("result", "error_class"),
    [
        (ExecResult(b"", b"python3: not found", 127), "AgentFailed(exit=127)"),
        (ExecResult(b'{"ok":false,"error":"bad batch"}', b"", 2), "AgentFailed(exit=2)"),
        (ExecResult(b"garbage", b"", 0), "AgentFailed(exit=0)"),
        (ExecResult(b'{"ok":true,"results":[]}', b"", 0), "AgentProtocolError"),
        (ExecResult(b"", b"", None), "AgentFailed(exit=None)"),
    ],
)
def test_agent_failures_are_errors_never_passes(result: ExecResult, error_class: str) -> None:
    kube = FakeKube()
    kube.exec_handler = lambda ns, pod, argv, stdin: result
    (r,) = run_probes(kube, [ProbeRequest("x", "team-a/client-0", "team-a/api-0", 80)], pods=PODS)
    assert r.outcome is Outcome.ERROR
    assert r.error_class == error_class


def test_missing_pods_are_errors_and_skip_the_exec() -> None:
    kube = FakeKube()
    kube.exec_handler = lambda ns, pod, argv, stdin: _ok(stdin)
    reqs = [
        ProbeRequest("gone-src", "team-c/client-0", "team-a/api-0", 8080),
        ProbeRequest("gone-dst", "team-a/client-0", "team-c/api-0", 8080),
        ProbeRequest("fine", "team-a/client-0", "team-a/api-0", 8080),
    ]
    src, dst, fine = run_probes(kube, reqs, pods=PODS)
    assert (src.outcome, src.error_class) == (Outcome.ERROR, "SourcePodNotFound")
    assert (dst.outcome, dst.error_class) == (Outcome.ERROR, "DestinationPodNotFound")
    assert fine.outcome is Outcome.CONNECTED
    (only,) = [c for c in kube.calls if c.verb == "exec"]
    assert [p["id"] for p in json.loads(only.kwargs["stdin"])["probes"]] == ["fine"]


def test_unknown_outcome_or_reordered_results_are_protocol_errors() -> None:
    kube = FakeKube()
    kube.exec_handler = lambda ns, pod, argv, stdin: ExecResult(
        json.dumps(
            {
                "ok": True,
                "results": [
                    {"id": "b", "outcome": "connected"},
                    {"id": "a", "outcome": "teleported"},
                ],
            }
        ).encode(),
        b"",
        0,
    )
    reqs = [
        ProbeRequest("a", "team-a/client-0", "team-a/api-0", 1),
        ProbeRequest("b", "team-a/client-0", "team-a/api-0", 2),
    ]
    assert [r.error_class for r in run_probes(kube, reqs, pods=PODS)] == [
        "AgentProtocolError",
        "AgentProtocolError",
    ]


def test_sources_run_concurrently() -> None:
    kube = FakeKube()
    active = []
    lock = threading.Lock()
    peak = [0]

    def handler(ns: str, pod: str, argv: Sequence[str], stdin: bytes | None) -> ExecResult:
        with lock:
            active.append(pod)
            peak[0] = max(peak[0], len(active))
        time.sleep(0.2)
        with lock:
            active.remove(pod)
        return _ok(stdin)

    kube.exec_handler = handler
    pods = {f"ns/p-{i}": PodRef("ns", f"p-{i}-x", f"10.0.0.{i}", "n", True) for i in range(6)}
    reqs = [ProbeRequest(f"r{i}", f"ns/p-{i}", "ns/p-0", 80) for i in range(6)]
    started = time.monotonic()
    assert all(r.outcome is Outcome.CONNECTED for r in run_probes(kube, reqs, pods=pods))
    assert time.monotonic() - started < 0.8
    assert peak[0] == 6


def test_exec_timeout_covers_waves_of_the_longest_probe() -> None:
    items = [{"timeout_s": 1.0}] * AGENT_CONCURRENCY + [{"timeout_s": 3.0}]
    assert exec_timeout_s(items) == pytest.approx(2 * 3.0 + 30.0)


# -- the real agent behind the fake exec ------------------------------------------------------


@pytest.fixture
def serving_agent(tmp_path: Path) -> Iterator[int]:
    """``agent.py serve`` on a free port of 127.0.0.1, named as a cluster pod names itself."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ready = tmp_path / "ready"
    proc = subprocess.Popen(
        [
            sys.executable,
            str(AGENT_PATH),
            "serve",
            "--name",
            "team-a/api-7c9b-aa",
            "--tcp",
            str(port),
            "--ready-file",
            str(ready),
        ]
    )
    try:
        deadline = time.monotonic() + 10
        while not ready.exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        yield port
    finally:
        proc.terminate()
        proc.wait(5)


def test_real_agent_batch_answers_with_blueprint_keys(serving_agent: int) -> None:
    kube = FakeKube()

    def handler(ns: str, pod: str, argv: Sequence[str], stdin: bytes | None) -> ExecResult:
        # As the kubelet would: run the argv's agent command on the stdin (python3 -> ours).
        assert list(argv[:5]) == list(AGENT_ARGV)
        done = subprocess.run(
            [sys.executable, "-I", "-S", "-B", str(AGENT_PATH), *argv[5:]],
            input=stdin,
            capture_output=True,
            timeout=30,
            check=False,
        )
        return ExecResult(done.stdout, done.stderr, done.returncode)

    kube.exec_handler = handler
    pods = {
        "team-a/client-0": PodRef("team-a", "client-5d8f-x1", "127.0.0.1", "w1", True),
        "team-a/api-0": PodRef("team-a", "api-7c9b-aa", "127.0.0.1", "w1", True),
    }
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    reqs = [
        ProbeRequest(
            "http",
            "team-a/client-0",
            "team-a/api-0",
            serving_agent,
            mode=ProbeMode.HTTP,
            http=HttpRequest("GET", "/api/v1/health"),
        ),
        ProbeRequest("closed", "team-a/client-0", "team-a/api-0", closed),
    ]
    http, refused = run_probes(kube, reqs, pods=pods)
    assert (http.outcome, http.http_status, http.peer) == (Outcome.HTTP, 200, "team-a/api-0")
    assert refused.outcome is Outcome.REFUSED
