"""Chaos faults on Kubernetes: the exact requests and docker commands, and that revert puts back
what inject changed."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

from gauntlet.chaos.catalog import CATALOG
from gauntlet.targets.base import NotSupportedByTarget, PlantedFault, TargetError
from gauntlet.targets.kubernetes.client import ApiResponse, ExecResult
from gauntlet.targets.kubernetes.faults import (
    FaultContext,
    inject_fault,
    revert_fault,
)
from gauntlet.targets.kubernetes.workloads import AGENT_ARGV, CONTROL_SOCKET, PodRef
from kube_workload_fakes import FakeKube, pod


class Docker:
    def __init__(self, fail_on: str | None = None) -> None:
        self.commands: list[list[str]] = []
        self.fail_on = fail_on

    def __call__(self, args: Sequence[str]) -> str:
        self.commands.append(list(args))
        if self.fail_on is not None and self.fail_on in args:
            raise TargetError(f"docker {' '.join(args)} failed")
        return ""


PODS = {
    "team-a/api-0": PodRef("team-a", "api-7c9b-aa", "10.244.1.6", "gauntlet-worker", True),
    "team-a/api-1": PodRef("team-a", "api-7c9b-bb", "10.244.2.6", "gauntlet-worker2", True),
}


def ctx(*, kind: str | None = None, docker: Docker | None = None) -> FaultContext:
    return FaultContext(
        run_id="r1", kind_cluster=kind, docker=docker or Docker(), pods=PODS, namespace="gp"
    )


def fault(fault_id: str, **params: str) -> PlantedFault:
    return PlantedFault(fault_id, CATALOG[fault_id].description, tuple(params.items()))


def deployment(
    ns: str, name: str, *, replicas: int = 1, image: str = "r.example/a:1"
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"namespace": ns, "name": name, "resourceVersion": "7", "uid": "u"},
        "spec": {
            "replicas": replicas,
            "template": {"spec": {"containers": [{"name": "app", "image": image}]}},
        },
        "status": {"readyReplicas": replicas},
    }


def node(name: str, *, ip: str, unschedulable: bool = False) -> dict[str, Any]:
    spec = {"unschedulable": True} if unschedulable else {}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name},
        "spec": spec,
        "status": {"addresses": [{"type": "InternalIP", "address": ip}]},
    }


def test_pod_kill_deletes_resolved_pods_with_grace_zero() -> None:
    kube = FakeKube([pod("team-a", "api-7c9b-aa"), pod("team-a", "raw-pod")])
    c = ctx()
    handle = inject_fault(kube, fault("pod-kill", pods="team-a/api-0,team-a/raw-pod"), ctx=c)
    deletes = [x for x in kube.calls if x.verb == "request"]
    assert [x.args for x in deletes] == [
        ("DELETE", "/api/v1/namespaces/team-a/pods/api-7c9b-aa"),
        ("DELETE", "/api/v1/namespaces/team-a/pods/raw-pod"),
    ]
    assert deletes[0].kwargs["body"] == {
        "apiVersion": "v1",
        "kind": "DeleteOptions",
        "gracePeriodSeconds": 0,
        "propagationPolicy": "Background",
    }
    assert not kube.store
    assert list(c.records) == [handle]
    revert_fault(kube, handle, ctx=c)  # nothing to undo: the controller recreates them
    assert not c.records
    revert_fault(kube, handle, ctx=c)  # idempotent


def test_node_failure_on_kind_stops_and_starts_the_node_container() -> None:
    docker = Docker()
    c = ctx(kind="gauntlet", docker=docker)
    handle = inject_fault(FakeKube(), fault("node-failure", node="gauntlet-worker"), ctx=c)
    assert docker.commands == [["stop", "gauntlet-worker"]]
    revert_fault(FakeKube(), handle, ctx=c)
    assert docker.commands[-1] == ["start", "gauntlet-worker"]


def test_node_failure_refuses_containers_outside_the_kind_cluster() -> None:
    docker = Docker()
    with pytest.raises(TargetError, match="not a node of kind cluster"):
        inject_fault(
            FakeKube(),
            fault("node-failure", node="postgres"),
            ctx=ctx(kind="gauntlet", docker=docker),
        )
    assert docker.commands == []


def test_node_failure_elsewhere_cordons_deletes_pods_and_uncordons() -> None:
    kube = FakeKube([node("n1", ip="10.0.0.1")])
    items = [
        pod("team-a", "api-x", node="n1"),
        pod("kube-system", "cilium-abc", node="n1", owner_kind="DaemonSet"),
        {
            **pod("kube-system", "etcd-n1", node="n1", owner_kind="Node"),
            "metadata": {
                "namespace": "kube-system",
                "name": "etcd-n1",
                "annotations": {"kubernetes.io/config.mirror": "x"},
            },
        },
    ]
    kube.responses[("GET", "/api/v1/pods")] = ApiResponse(200, {"items": items}, ())
    c = ctx()
    handle = inject_fault(kube, fault("node-failure", node="n1"), ctx=c)
    patch = next(x for x in kube.calls if x.verb == "patch")
    assert patch.args == ("v1", "Node", "n1")
    assert patch.kwargs["patch"] == {"spec": {"unschedulable": True}}
    listing = next(x for x in kube.calls if x.verb == "request" and x.args[0] == "GET")
    assert listing.kwargs["query"] == {"fieldSelector": "spec.nodeName=n1"}
    deleted = [x.args[1] for x in kube.calls if x.verb == "request" and x.args[0] == "DELETE"]
    assert deleted == ["/api/v1/namespaces/team-a/pods/api-x"]
    assert kube.obj("v1", "Node", "n1")["spec"]["unschedulable"] is True
    revert_fault(kube, handle, ctx=c)
    assert "unschedulable" not in kube.obj("v1", "Node", "n1")["spec"]


def test_node_failure_keeps_a_node_cordoned_before_the_fault() -> None:
    kube = FakeKube([node("n1", ip="10.0.0.1", unschedulable=True)])
    kube.responses[("GET", "/api/v1/pods")] = ApiResponse(200, {"items": []}, ())
    c = ctx()
    revert_fault(kube, inject_fault(kube, fault("node-failure", node="n1"), ctx=c), ctx=c)
    assert "patch" not in kube.verbs()
    assert kube.obj("v1", "Node", "n1")["spec"]["unschedulable"] is True


def test_network_partition_of_namespaces_applies_and_deletes_a_ccnp() -> None:
    kube = FakeKube()
    c = ctx()
    handle = inject_fault(kube, fault("network-partition", a="team-a", b="team-b,team-c"), ctx=c)
    (applied,) = [x.args[0] for x in kube.calls if x.verb == "apply"]
    assert applied["kind"] == "CiliumClusterwideNetworkPolicy"
    assert applied["metadata"]["labels"]["gauntlet.io/run"] == "r1"
    side_a, side_b = applied["specs"]
    ns_in = [{"key": "k8s:io.kubernetes.pod.namespace", "operator": "In", "values": ["team-a"]}]
    other = [
        {"key": "k8s:io.kubernetes.pod.namespace", "operator": "In", "values": ["team-b", "team-c"]}
    ]
    assert side_a["endpointSelector"] == {"matchExpressions": ns_in}
    assert side_a["ingressDeny"] == [{"fromEndpoints": [{"matchExpressions": other}]}]
    assert side_a["egressDeny"] == [{"toEndpoints": [{"matchExpressions": other}]}]
    assert side_a["enableDefaultDeny"] == {"ingress": False, "egress": False}
    assert side_b["endpointSelector"] == {"matchExpressions": other}
    assert len(kube.store) == 1
    revert_fault(kube, handle, ctx=c)
    assert not kube.store
    name = applied["metadata"]["name"]
    assert kube.calls[-1].args == (
        "DELETE",
        f"/apis/cilium.io/v2/ciliumclusterwidenetworkpolicies/{name}",
    )


def test_network_partition_rejects_overlapping_or_half_sides() -> None:
    with pytest.raises(TargetError, match="both sides"):
        inject_fault(FakeKube(), fault("network-partition", a="x,y", b="y"), ctx=ctx())
    with pytest.raises(TargetError, match="needs a and b"):
        inject_fault(FakeKube(), fault("network-partition", a="x"), ctx=ctx())


def test_network_partition_of_kind_nodes_drops_the_underlay_and_restores_it() -> None:
    kube = FakeKube([node("g-worker", ip="172.18.0.3"), node("g-worker2", ip="172.18.0.4")])
    docker = Docker()
    c = ctx(kind="g", docker=docker)
    handle = inject_fault(
        kube, fault("network-partition", a_nodes="g-worker", b_nodes="g-worker2"), ctx=c
    )
    ipt = ["iptables", "-w"]
    assert docker.commands == [
        ["exec", "g-worker", *ipt, "-I", "INPUT", "-s", "172.18.0.4", "-j", "DROP"],
        ["exec", "g-worker", *ipt, "-I", "OUTPUT", "-d", "172.18.0.4", "-j", "DROP"],
        ["exec", "g-worker2", *ipt, "-I", "INPUT", "-s", "172.18.0.3", "-j", "DROP"],
        ["exec", "g-worker2", *ipt, "-I", "OUTPUT", "-d", "172.18.0.3", "-j", "DROP"],
    ]
    docker.commands.clear()
    revert_fault(kube, handle, ctx=c)
    assert sorted(docker.commands) == sorted(
        [
            [*cmd[:4], "-D", *cmd[5:]]
            for cmd in [
                ["exec", "g-worker", *ipt, "-I", "INPUT", "-s", "172.18.0.4", "-j", "DROP"],
                ["exec", "g-worker", *ipt, "-I", "OUTPUT", "-d", "172.18.0.4", "-j", "DROP"],
                ["exec", "g-worker2", *ipt, "-I", "INPUT", "-s", "172.18.0.3", "-j", "DROP"],
                ["exec", "g-worker2", *ipt, "-I", "OUTPUT", "-d", "172.18.0.3", "-j", "DROP"],
            ]
        ]
    )


def test_node_partition_is_not_supported_off_kind() -> None:
    with pytest.raises(NotSupportedByTarget, match="node network"):
        inject_fault(FakeKube(), fault("network-partition", a_nodes="a", b_nodes="b"), ctx=ctx())


def _agent_ok(ns: str, name: str, argv: Sequence[str], stdin: bytes | None) -> ExecResult:
    return ExecResult(b'{"ok":true}', b"", 0)


def test_slow_responses_set_and_reset_latency_through_the_agent_socket() -> None:
    kube = FakeKube()
    kube.exec_handler = _agent_ok
    c = ctx()
    c.pods = lambda: PODS  # listed when the fault resolves its pods
    handle = inject_fault(
        kube, fault("slow-responses", pods="team-a/api-0,team-a/api-1", latency_ms="250"), ctx=c
    )
    execs = [(x.args[1], x.args[2]) for x in kube.calls if x.verb == "exec"]
    control = [*AGENT_ARGV, "control", "--socket", CONTROL_SOCKET]
    assert execs == [
        ("api-7c9b-aa", [*control, '{"op":"set_latency","latency_ms":250.0}']),
        ("api-7c9b-bb", [*control, '{"op":"set_latency","latency_ms":250.0}']),
    ]
    kube.calls.clear()
    revert_fault(kube, handle, ctx=c)
    assert sorted((x.args[1], x.args[2][-1]) for x in kube.calls) == [
        ("api-7c9b-aa", '{"op":"set_latency","latency_ms":0}'),
        ("api-7c9b-bb", '{"op":"set_latency","latency_ms":0}'),
    ]


def test_error_responses_default_ratio_and_half_done_fault_rolled_back() -> None:
    kube = FakeKube()

    def handler(ns: str, name: str, argv: Sequence[str], stdin: bytes | None) -> ExecResult:
        if name == "api-7c9b-bb" and "0.1" in argv[-1]:
            return ExecResult(b'{"ok":false,"error":"no socket"}', b"", 2)
        return ExecResult(b'{"ok":true}', b"", 0)

    kube.exec_handler = handler
    c = ctx()
    with pytest.raises(TargetError, match="api-7c9b-bb failed"):
        inject_fault(kube, fault("error-responses", pods="team-a/api-0,team-a/api-1"), ctx=c)
    sent = [(x.args[1], x.args[2][-1]) for x in kube.calls if x.verb == "exec"]
    assert sent == [
        ("api-7c9b-aa", '{"op":"set_error_ratio","error_ratio":0.1}'),
        ("api-7c9b-bb", '{"op":"set_error_ratio","error_ratio":0.1}'),
        ("api-7c9b-aa", '{"op":"set_error_ratio","error_ratio":0}'),  # rolled back
    ]
    assert not c.records


def test_webhook_outage_scales_gatekeeper_to_zero_and_back() -> None:
    gk = deployment("gatekeeper-system", "gatekeeper-controller-manager", replicas=3)
    kube = FakeKube([gk])
    c = ctx()
    handle = inject_fault(kube, fault("admission-webhook-outage"), ctx=c)
    live = kube.obj("apps/v1", "Deployment", "gatekeeper-controller-manager", "gatekeeper-system")
    assert live["spec"]["replicas"] == 0
    revert_fault(kube, handle, ctx=c)
    assert live is not None
    assert (
        kube.obj("apps/v1", "Deployment", "gatekeeper-controller-manager", "gatekeeper-system")[
            "spec"
        ]["replicas"]
        == 3
    )
    with pytest.raises(NotSupportedByTarget, match="Gatekeeper"):
        inject_fault(FakeKube(), fault("admission-webhook-outage"), ctx=c)


def test_policy_engine_restart_deletes_the_cilium_agent_of_the_node() -> None:
    agents = [
        pod("kube-system", "cilium-aaaa", labels={"k8s-app": "cilium"}, node="w1"),
        pod("kube-system", "cilium-bbbb", labels={"k8s-app": "cilium"}, node="w2"),
    ]
    kube = FakeKube(agents)
    handle = inject_fault(kube, fault("policy-engine-restart", node="w2"), ctx=(c := ctx()))
    listing = next(x for x in kube.calls if x.verb == "list")
    assert listing.kwargs == {"namespace": "kube-system", "label_selector": "k8s-app=cilium"}
    assert [x.args for x in kube.calls if x.verb == "delete"] == [("v1", "Pod", "cilium-bbbb")]
    assert c.records[handle].undo == ()
    with pytest.raises(NotSupportedByTarget, match="no Cilium agent"):
        inject_fault(kube, fault("policy-engine-restart", node="w9"), ctx=c)


def test_control_plane_degradation_pauses_the_kind_control_plane() -> None:
    docker = Docker()
    c = ctx(kind="gauntlet", docker=docker)
    handle = inject_fault(FakeKube(), fault("control-plane-degradation", duration_s="30"), ctx=c)
    revert_fault(FakeKube(), handle, ctx=c)
    assert docker.commands == [
        ["pause", "gauntlet-control-plane"],
        ["unpause", "gauntlet-control-plane"],
    ]
    with pytest.raises(NotSupportedByTarget, match="kind cluster"):
        inject_fault(FakeKube(), fault("control-plane-degradation"), ctx=ctx())


def test_registry_outage_moves_images_to_a_missing_repository_and_back() -> None:
    dep = deployment("team-a", "api", image="registry.platform.example/tenants/a/api:1.4.2")
    kube = FakeKube([dep])
    c = ctx()
    handle = inject_fault(
        kube, fault("registry-outage", namespace="team-a", deployment="api"), ctx=c
    )
    patch = next(x for x in kube.calls if x.verb == "patch")
    assert patch.kwargs["patch_type"] == "strategic"
    image = "registry.platform.example/gauntlet-registry-outage/tenants/a/api:1.4.2"
    assert patch.kwargs["patch"] == {
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}
    }
    revert_fault(kube, handle, ctx=c)
    assert kube.obj("apps/v1", "Deployment", "api", "team-a") == dep


def test_node_pressure_pins_a_memory_hog_and_deletes_it() -> None:
    kube = FakeKube()
    c = ctx()
    handle = inject_fault(
        kube, fault("node-pressure", node="gauntlet-worker", memory="256Mi"), ctx=c
    )
    (hog,) = [x.args[0] for x in kube.calls if x.verb == "apply"]
    assert hog["metadata"] == {
        "name": "gauntlet-hog-gauntlet-worker",
        "namespace": "gp",
        "labels": {
            "gauntlet.io/run": "r1",
            "app.kubernetes.io/managed-by": "gauntlet",
            "app": "gauntlet-node-pressure",
        },
    }
    assert hog["spec"]["nodeName"] == "gauntlet-worker"
    (container,) = hog["spec"]["containers"]
    assert f"n = {256 << 20}" in container["command"][-1]
    assert container["resources"]["limits"]["memory"] == "320Mi"
    revert_fault(kube, handle, ctx=c)
    assert not kube.store
    with pytest.raises(TargetError, match="memory"):
        inject_fault(kube, fault("node-pressure", node="n", memory="lots"), ctx=c)


def cnp(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": {
            "name": name,
            "namespace": "team-a",
            "resourceVersion": "41",
            "uid": "u1",
            "generation": 1,
        },
        "spec": {"endpointSelector": {}, "ingress": [{}], "egress": [{}]},
    }


def test_gitops_drift_neutralises_a_policy_and_revert_replaces_it_exactly() -> None:
    kube = FakeKube([cnp("default-deny")])
    c = ctx()
    handle = inject_fault(
        kube,
        fault("gitops-drift", kind="CiliumNetworkPolicy", namespace="team-a", name="default-deny"),
        ctx=c,
    )
    live = kube.obj("cilium.io/v2", "CiliumNetworkPolicy", "default-deny", "team-a")
    assert live["spec"]["endpointSelector"] == {"matchLabels": {"gauntlet.io/drift": "r1"}}
    live["metadata"]["resourceVersion"] = "42"
    revert_fault(kube, handle, ctx=c)
    put = kube.calls[-1]
    assert put.args == (
        "PUT",
        "/apis/cilium.io/v2/namespaces/team-a/ciliumnetworkpolicys/default-deny",
    )
    assert put.kwargs["body"]["metadata"] == {
        "name": "default-deny",
        "namespace": "team-a",
        "resourceVersion": "42",
    }
    assert put.kwargs["body"]["spec"] == cnp("x")["spec"]
    restored = kube.obj("cilium.io/v2", "CiliumNetworkPolicy", "default-deny", "team-a")
    assert restored["spec"] == cnp("x")["spec"]


def test_gitops_drift_scales_a_deployment_to_zero() -> None:
    kube = FakeKube([deployment("team-a", "api", replicas=2)])
    c = ctx()
    handle = inject_fault(
        kube, fault("gitops-drift", kind="Deployment", namespace="team-a", name="api"), ctx=c
    )
    assert kube.obj("apps/v1", "Deployment", "api", "team-a")["spec"]["replicas"] == 0
    revert_fault(kube, handle, ctx=c)
    assert kube.obj("apps/v1", "Deployment", "api", "team-a")["spec"]["replicas"] == 2


def test_gitops_drift_deletes_other_kinds_and_recreates_them() -> None:
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "q", "namespace": "team-a", "resourceVersion": "5"},
        "spec": {"hard": {"pods": "20"}},
        "status": {"used": {"pods": "3"}},
    }
    kube = FakeKube([quota])
    c = ctx()
    handle = inject_fault(
        kube, fault("gitops-drift", kind="ResourceQuota", namespace="team-a", name="q"), ctx=c
    )
    assert not kube.store
    revert_fault(kube, handle, ctx=c)
    post = kube.calls[-1]
    assert post.args == ("POST", "/api/v1/namespaces/team-a/resourcequotas")
    assert post.kwargs["body"] == {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "q", "namespace": "team-a"},
        "spec": {"hard": {"pods": "20"}},
    }


def test_a_failed_revert_step_stays_recorded_for_a_retry() -> None:
    docker = Docker(fail_on="unpause")
    c = ctx(kind="gauntlet", docker=docker)
    handle = inject_fault(FakeKube(), fault("control-plane-degradation"), ctx=c)
    with pytest.raises(TargetError, match="incomplete"):
        revert_fault(FakeKube(), handle, ctx=c)
    assert handle in c.records
    docker.fail_on = None
    revert_fault(FakeKube(), handle, ctx=c)
    assert not c.records
    assert docker.commands.count(["unpause", "gauntlet-control-plane"]) == 2


def test_records_serialise_for_crash_recovery() -> None:
    kube = FakeKube([deployment("gatekeeper-system", "gatekeeper-controller-manager")])
    c = ctx()
    handle = inject_fault(kube, fault("admission-webhook-outage"), ctx=c)
    from dataclasses import asdict

    assert json.loads(json.dumps(asdict(c.records[handle]))) == {
        "fault_id": "admission-webhook-outage",
        "undo": [
            {
                "namespace": "gatekeeper-system",
                "name": "gatekeeper-controller-manager",
                "replicas": 1,
            }
        ],
        "notes": ["gatekeeper-system/gatekeeper-controller-manager scaled 1 -> 0"],
    }


def test_packet_loss_and_bad_parameters() -> None:
    with pytest.raises(NotSupportedByTarget, match="netem"):
        inject_fault(FakeKube(), fault("packet-loss", pods="a/b", percent="10"), ctx=ctx())
    with pytest.raises(TargetError, match="unknown parameter"):
        inject_fault(FakeKube(), PlantedFault("pod-kill", "", (("pod", "x"),)), ctx=ctx())
    with pytest.raises(TargetError, match="unknown chaos fault"):
        inject_fault(FakeKube(), PlantedFault("meteor", ""), ctx=ctx())


def test_every_catalog_fault_has_a_kubernetes_answer() -> None:
    from gauntlet.targets.kubernetes.faults import _INJECTORS

    assert set(_INJECTORS) == {f for f, spec in CATALOG.items() if "kubernetes" in spec.targets}
