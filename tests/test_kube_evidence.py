"""Evidence for a failed check on a cluster: Hubble flows of the cell, Gatekeeper audit, events,
logs; every piece best effort, with the reason when it cannot be had."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gauntlet.blueprint import load_blueprint
from gauntlet.plugin import REFERENCE_PLATFORM, CheckRecorder
from gauntlet.targets.base import TargetError
from gauntlet.targets.kubernetes import evidence
from gauntlet.targets.kubernetes.client import ApiResponse, ExecResult
from gauntlet.targets.kubernetes.driver import KubernetesTarget
from gauntlet.targets.kubernetes.evidence import collect_evidence, summarize_flow
from gauntlet.targets.kubernetes.workloads import PodRef
from kube_workload_fakes import FakeKube, pod

PODS = {
    "team-b/client-0": PodRef("team-b", "client-5d-x", "10.244.2.7", "w2", True),
    "team-a/api-0": PodRef("team-a", "api-7c-aa", "10.244.1.6", "w1", True),
}
FLOW = {
    "flow": {
        "time": "2024-05-01T10:00:00.1Z",
        "verdict": "DROPPED",
        "drop_reason_desc": "POLICY_DENIED",
        "IP": {"source": "10.244.2.7", "destination": "10.244.1.6"},
        "l4": {"TCP": {"source_port": 40000, "destination_port": 9090}},
        "source": {"namespace": "team-b", "pod_name": "client-5d-x"},
        "destination": {"namespace": "team-a", "pod_name": "api-7c-aa"},
        "traffic_direction": "INGRESS",
    }
}


def cilium(name: str, node: str) -> dict[str, Any]:
    agent = pod(
        "kube-system", name, labels={"k8s-app": "cilium"}, node=node, owner_kind="DaemonSet"
    )
    agent["status"]["phase"] = "Running"
    return agent


@pytest.fixture(autouse=True)
def no_gatekeeper(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(client: object) -> list[dict[str, Any]]:
        raise TargetError("the cluster serves no constraints.gatekeeper.sh API")

    monkeypatch.setattr(evidence.inventory, "constraints", missing)


def hubble(kube: FakeKube) -> None:
    kube.exec_handler = lambda ns, name, argv, stdin: ExecResult(
        (json.dumps(FLOW) + "\n").encode(), b"", 0
    )


def test_local_hubble_of_both_nodes_without_relay() -> None:
    kube = FakeKube([cilium("cilium-w1", "w1"), cilium("cilium-w2", "w2")])
    hubble(kube)
    blocks = dict(
        collect_evidence(
            kube, namespaces=[], cell=("team-b/client-0", "team-a/api-0", 9090), pods=PODS
        )
    )
    execs = [(c.args[1], c.args[2], c.kwargs["container"]) for c in kube.calls if c.verb == "exec"]
    query = [
        "--from-pod",
        "team-b/client-5d-x",
        "--to-pod",
        "team-a/api-7c-aa",
        "--to-port",
        "9090",
        "-o",
        "jsonpb",
        "--last",
        "50",
    ]
    assert execs == [
        ("cilium-w2", ["hubble", "observe", *query], "cilium-agent"),
        ("cilium-w1", ["hubble", "observe", *query], "cilium-agent"),
    ]
    text = blocks["Hubble flows"]
    assert "local Hubble of node w2 (cilium-w2)" in text
    assert (
        "DROPPED team-b/client-5d-x -> team-a/api-7c-aa TCP/9090 INGRESS drop: POLICY_DENIED"
        in text
    )


def test_relay_is_asked_once_when_present() -> None:
    relay = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "hubble-relay", "namespace": "kube-system"},
        "spec": {"ports": [{"port": 80}]},
    }
    kube = FakeKube([cilium("cilium-w1", "w1"), cilium("cilium-w2", "w2"), relay])
    hubble(kube)
    collect_evidence(kube, namespaces=[], cell=("team-b/client-0", "team-a/api-0", 8080), pods=PODS)
    (only,) = [c for c in kube.calls if c.verb == "exec"]
    assert only.args[1] == "cilium-w2"
    assert only.args[2][:4] == ["hubble", "observe", "--server", "hubble-relay.kube-system.svc:80"]


def test_missing_pieces_say_why() -> None:
    kube = FakeKube()
    blocks = dict(
        collect_evidence(
            kube, namespaces=["team-a"], cell=("team-b/client-0", "team-a/api-0", 1), pods=PODS
        )
    )
    assert blocks["Hubble flows"].startswith("unavailable: no running Cilium agent pod")
    assert blocks["Gatekeeper audit"] == (
        "unavailable: the cluster serves no constraints.gatekeeper.sh API"
    )
    assert blocks["Events in team-a"] == "no events"


def test_failed_hubble_exec_is_reported_not_raised() -> None:
    kube = FakeKube([cilium("cilium-w1", "w1")])
    kube.exec_handler = lambda ns, name, argv, stdin: ExecResult(b"", b"hubble: not found", 127)
    cell = ("team-a/api-0", "team-a/api-0", 80)
    (title, text), *_ = collect_evidence(kube, namespaces=[], cell=cell, pods=PODS)
    assert title == "Hubble flows"
    assert "hubble observe failed (127): hubble: not found" in text


def test_gatekeeper_violations_of_the_namespaces(monkeypatch: pytest.MonkeyPatch) -> None:
    items = [
        {
            "kind": "K8sGauntletReadOnlyRootFs",
            "metadata": {"name": "g7"},
            "spec": {"enforcementAction": "dryrun"},
            "status": {
                "auditTimestamp": "2024-05-01T10:00:00Z",
                "totalViolations": 2,
                "violations": [
                    {
                        "kind": "Deployment",
                        "namespace": "team-gamma",
                        "name": "client",
                        "message": "root fs writable",
                    },
                    {"kind": "Deployment", "namespace": "other", "name": "x", "message": "m"},
                ],
            },
        },
        {"kind": "K8sGauntletNoPrivileged", "metadata": {"name": "g1"}, "spec": {}, "status": {}},
    ]
    monkeypatch.setattr(evidence.inventory, "constraints", lambda client: items)
    blocks = dict(collect_evidence(FakeKube(), namespaces=["team-gamma"], cell=None))
    assert blocks["Gatekeeper audit"] == "\n".join(
        [
            "K8sGauntletReadOnlyRootFs/g7 (dryrun): 2 violations, audit 2024-05-01T10:00:00Z",
            "  [g7] Deployment team-gamma/client: root fs writable",
            "K8sGauntletNoPrivileged/g1 (deny): 0 violations, audit never audited",
        ]
    )
    assert "Hubble flows" not in blocks  # no cell: no flows, no logs


def test_events_newest_last_and_pod_logs() -> None:
    events = [
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"e{i}", "namespace": "team-a"},
            "lastTimestamp": f"2024-05-01T10:00:0{i}Z",
            "type": "Warning",
            "reason": "BackOff",
            "involvedObject": {"kind": "Pod", "name": "api-7c-aa"},
            "message": f"m{i}",
            "count": i,
        }
        for (i) in (3, 1, 2)
    ]
    kube = FakeKube(events)
    kube.responses[("GET", "/api/v1/namespaces/team-a/pods/api-7c-aa/log")] = ApiResponse(
        200, {"message": "agent: cannot listen: [Errno 98]\n"}, ()
    )
    kube.responses[("GET", "/api/v1/namespaces/team-b/pods/client-5d-x/log")] = ApiResponse(
        404, {"message": "pods not found"}, ()
    )
    blocks = dict(
        collect_evidence(
            kube, namespaces=["team-a"], cell=("team-b/client-0", "team-a/api-0", 80), pods=PODS
        )
    )
    assert blocks["Events in team-a"].splitlines() == [
        "2024-05-01T10:00:01Z Warning BackOff Pod/api-7c-aa: m1",
        "2024-05-01T10:00:02Z Warning BackOff Pod/api-7c-aa: m2 (x2)",
        "2024-05-01T10:00:03Z Warning BackOff Pod/api-7c-aa: m3 (x3)",
    ]
    assert blocks["Logs of team-a/api-0 (team-a/api-7c-aa)"] == "agent: cannot listen: [Errno 98]"
    assert (
        blocks["Logs of team-b/client-0 (team-b/client-5d-x)"] == "unavailable: 404 pods not found"
    )
    log_call = next(c for c in kube.calls if c.verb == "request" and c.args[1].endswith("/log"))
    assert log_call.kwargs["query"] == {"tailLines": "50"}


@pytest.mark.parametrize(
    ("line", "summary"),
    [
        ("", ""),
        ("not json", "not json"),
        (
            json.dumps(
                {
                    "flow": {
                        "verdict": "FORWARDED",
                        "IP": {"source": "1.1.1.1", "destination": "2.2.2.2"},
                        "l7": {"http": {"method": "GET", "url": "http://x/admin", "code": 403}},
                    }
                }
            ),
            "FORWARDED 1.1.1.1 -> 2.2.2.2 http GET http://x/admin 403",
        ),
    ],
)
def test_flow_summaries(line: str, summary: str) -> None:
    assert summarize_flow(line) == summary


# -- KubernetesTarget.evidence and the suites' hook -------------------------------------------


def test_driver_evidence_names_the_live_pods_of_the_cell() -> None:
    api = {"app": "api"}
    kube = FakeKube(
        [
            cilium("cilium-w1", "w1"),
            cilium("cilium-w2", "w2"),
            pod("team-alpha", "api-7c-aa", labels=api, ip="10.244.1.6", node="w1"),
            pod("team-beta", "api-5d-x", labels=api, ip="10.244.2.7", node="w2"),
        ]
    )
    hubble(kube)
    target = KubernetesTarget(kube, allowed_for_disruption=False)
    target.blueprint = load_blueprint(REFERENCE_PLATFORM)
    blocks = target.evidence(
        cell=("team-beta/api-0", "team-alpha/api-0", 8080), namespaces=["team-beta", "team-alpha"]
    )
    titles = [title for title, _ in blocks]
    assert titles == [
        "Hubble flows",
        "Gatekeeper audit",
        "Events in team-beta",
        "Events in team-alpha",
        "Logs of team-beta/api-0 (team-beta/api-5d-x)",
        "Logs of team-alpha/api-0 (team-alpha/api-7c-aa)",
    ]
    observe = next(c.args[2] for c in kube.calls if c.verb == "exec")
    assert observe[observe.index("--from-pod") + 1] == "team-beta/api-5d-x"
    assert observe[observe.index("--to-pod") + 1] == "team-alpha/api-7c-aa"
    assert observe[observe.index("--to-port") + 1] == "8080"


def test_driver_evidence_before_deploy_says_why_and_still_collects() -> None:
    target = KubernetesTarget(FakeKube(), allowed_for_disruption=False)
    blocks = dict(target.evidence(cell=("team-a/x-0", "team-b/y-0", 80), namespaces=["team-a"]))
    assert blocks["Pods of the cell"] == "unavailable: deploy the blueprint first"
    assert blocks["Events in team-a"] == "no events"
    assert "Hubble flows" in blocks and "Logs of team-a/x-0 (team-a/x-0)" in blocks
    # Without a cell: the audit and the namespaces' events only, no pod lookup at all.
    assert [t for t, _ in target.evidence(cell=None, namespaces=["team-a"])] == [
        "Gatekeeper audit",
        "Events in team-a",
    ]


class _Evidently:
    def __init__(self, answer: Exception | list[tuple[str, str]]) -> None:
        self.answer = answer
        self.asked: list[dict[str, Any]] = []

    def evidence(self, **kwargs: Any) -> list[tuple[str, str]]:
        self.asked.append(kwargs)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def test_check_attaches_target_evidence_best_effort() -> None:
    check = CheckRecorder(suite="isolation", id="isolation/x", title="x")
    target = _Evidently([("Hubble flows", "DROPPED ..."), ("Events in team-a", "no events")])
    check.attach_target_evidence(target, cell=("a/p-0", "b/q-0", 80), namespaces=("a", "b"))
    assert target.asked == [{"cell": ("a/p-0", "b/q-0", 80), "namespaces": ["a", "b"]}]
    assert [(e.title, e.content) for e in check.evidence] == target.answer
    # Whatever the target raises (a bug included) is attached, never raised into the verdict.
    broken = CheckRecorder(suite="l7", id="l7/x", title="x")
    broken.attach_target_evidence(_Evidently(KeyError("pods")), cell=None, namespaces=["a"])
    [(title, text)] = [(e.title, e.content) for e in broken.evidence]
    assert (title, text) == ("target evidence", "unavailable: KeyError: 'pods'")
    # A target without the method (the local sandbox) keeps its own evidence only.
    plain = CheckRecorder(suite="isolation", id="isolation/y", title="y")
    plain.attach_target_evidence(object(), cell=None, namespaces=["a"])
    assert plain.evidence == []
