"""Load entrypoints on a cluster: ingress URL, kind port mapping, kubectl port-forward."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from gauntlet.targets.base import TargetError
from gauntlet.targets.kubernetes import load
from gauntlet.targets.kubernetes.load import close_port_forwards, load_entrypoint
from kube_workload_fakes import FakeKube

REPO = Path(__file__).resolve().parents[1]


def service(
    name: str, ns: str, *, type_: str = "ClusterIP", node_port: int | None = None
) -> dict[str, Any]:
    port: dict[str, Any] = {"name": "http", "port": 80, "targetPort": 8080}
    if node_port:
        port["nodePort"] = node_port
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"type": type_, "ports": [port]},
    }


class FakeKubectl:
    """Stands in for subprocess.Popen: records argv, runs a small script instead of kubectl."""

    def __init__(self, script: str) -> None:
        self.script = script
        self.argv: list[list[str]] = []

    def __call__(self, argv: list[str], **kwargs: Any) -> subprocess.Popen[str]:
        self.argv.append(argv)
        return subprocess.Popen([sys.executable, "-c", self.script], **kwargs)


FORWARDING = (
    "import sys, time\n"
    "print('Forwarding from 127.0.0.1:43117 -> 8080', flush=True)\n"
    "print('Forwarding from [::1]:43117 -> 8080', flush=True)\n"
    "for i in range(20000):\n"
    "    print('Handling connection for 43117')\n"  # more than a pipe buffer holds
    "sys.stdout.flush()\n"
    "print('still alive', file=open('{marker}', 'w'))\n"
    "time.sleep(60)\n"
)


@pytest.fixture(autouse=True)
def _cleanup() -> Any:
    yield
    close_port_forwards()


def test_ingress_url_wins() -> None:
    kube = FakeKube()
    url = load_entrypoint(kube, "team-a", "api", port=80, ingress_url="https://api.example/")
    assert url == "https://api.example"
    assert kube.calls == []


def test_kind_port_mapping_of_the_entrypoint_node_port() -> None:
    kube = FakeKube(
        [service("ingress-gateway", "ingress", type_="NodePort", node_port=30080)],
        context="kind-gauntlet",
    )
    kubectl = FakeKubectl("raise SystemExit(1)")
    url = load_entrypoint(
        kube, "ingress", "ingress-gateway", port=80, ingress_url=None, popen=kubectl
    )
    assert url == "http://127.0.0.1:30080"
    assert kubectl.argv == []


def test_unmapped_node_port_falls_back_to_port_forward(tmp_path: Path) -> None:
    kube = FakeKube(
        [service("api", "team-a", type_="NodePort", node_port=31000)], context="kind-gauntlet"
    )
    marker = tmp_path / "alive"
    kubectl = FakeKubectl(FORWARDING.replace("{marker}", str(marker)))
    url = load_entrypoint(
        kube,
        "team-a",
        "api",
        port=80,
        ingress_url=None,
        kind_config=REPO / "kind-configs" / "cilium-3node.yaml",
        popen=kubectl,
    )
    assert url == "http://127.0.0.1:43117"
    assert kubectl.argv == [
        [
            "kubectl",
            "--context",
            "kind-gauntlet",
            "-n",
            "team-a",
            "port-forward",
            "--address",
            "127.0.0.1",
            "svc/api",
            ":80",
        ]
    ]
    # kubectl's per-connection lines are drained: it never blocks on a full pipe.
    deadline = time.monotonic() + 10
    while not marker.exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    (proc,) = load.active_port_forwards()
    assert proc.poll() is None
    close_port_forwards()
    assert proc.poll() is not None
    assert load.active_port_forwards() == ()


def test_port_forward_failure_quotes_kubectl() -> None:
    kube = FakeKube([service("api", "team-a")])
    kubectl = FakeKubectl(
        "import sys; print('error: services \"api\" not found', file=sys.stderr); sys.exit(1)"
    )
    with pytest.raises(TargetError, match='services "api" not found'):
        load_entrypoint(kube, "team-a", "api", port=80, ingress_url=None, popen=kubectl)
    assert kubectl.argv[0][:3] == ["kubectl", "-n", "team-a"]  # no context: kubectl's current


def test_missing_service_or_port() -> None:
    with pytest.raises(TargetError, match="no Service team-a/api"):
        load_entrypoint(FakeKube(), "team-a", "api", port=80, ingress_url=None)
    with pytest.raises(TargetError, match="has no port 8080"):
        load_entrypoint(
            FakeKube([service("api", "team-a")]), "team-a", "api", port=8080, ingress_url=None
        )
