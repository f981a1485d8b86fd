"""Rendering the blueprint for a cluster, and mapping live pods to blueprint keys."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest

from gauntlet.agent import AGENT_PATH
from gauntlet.blueprint.loader import load_blueprint
from gauntlet.blueprint.model import Blueprint
from gauntlet.blueprint.probes import with_outsider
from gauntlet.targets.kubernetes.workloads import (
    AGENT_ARGV,
    AGENT_CONFIGMAP,
    MANAGED_BY_LABEL,
    RUN_LABEL,
    PodRef,
    agent_image_problem,
    check_run_id,
    image_registry,
    pod_ref,
    pod_refs,
    render_agent_deployment,
    render_deploy,
    skipped_objects,
)
from kube_workload_fakes import pod

REPO = Path(__file__).resolve().parents[1]
IMAGE = "registry.platform.example/library/python:3.12.8-slim-bookworm"


@cache
def reference() -> Blueprint:
    return with_outsider(load_blueprint(REPO / "fixtures" / "platform"))


def rendered() -> list[dict[str, Any]]:
    return render_deploy(reference(), agent_image=IMAGE, run_id="r1")


def names(manifests: list[dict[str, Any]], kind: str) -> list[str]:
    return [
        f"{m['metadata'].get('namespace', '')}/{m['metadata']['name']}"
        for m in manifests
        if m["kind"] == kind
    ]


def test_order_namespaces_first_policies_before_pods_templates_before_constraints() -> None:
    out = rendered()
    kinds = [m["kind"] for m in out]
    first = {k: kinds.index(k) for k in dict.fromkeys(kinds)}
    last = {k: len(kinds) - 1 - kinds[::-1].index(k) for k in first}
    assert last["Namespace"] < first["ServiceAccount"]
    assert last["ConstraintTemplate"] < first["K8sGauntletNoPrivileged"]
    assert last["CiliumNetworkPolicy"] < first["Deployment"]
    assert last["K8sGauntletReadOnlyRootFs"] < first["Deployment"]
    assert last["ConfigMap"] < first["Service"] < first["Deployment"]
    assert kinds[-1] == "Deployment"


def test_namespaces_are_labelled_except_the_installer_ones() -> None:
    ns = {
        m["metadata"]["name"]: m["metadata"]["labels"]
        for m in rendered()
        if m["kind"] == "Namespace"
    }
    assert RUN_LABEL not in ns["kube-system"]  # teardown deletes by RUN_LABEL: never kube-system
    assert ns["team-alpha"][RUN_LABEL] == "r1"
    assert ns["team-alpha"][MANAGED_BY_LABEL] == "gauntlet"
    assert ns["team-alpha"]["gauntlet.io/tenant"] == "true"
    assert ns["gauntlet-probe"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_installer_workloads_are_left_to_the_cluster() -> None:
    out = rendered()
    assert "kube-system/coredns" not in names(out, "Deployment")
    assert "kube-system/kube-dns" not in names(out, "Service")
    assert "kube-system/kube-dns" in names(out, "CiliumNetworkPolicy")  # its policy still applies
    assert [n.split(":")[0] for n in skipped_objects(reference())] == [
        "Deployment kube-system/coredns",
        "Service kube-system/kube-dns",
    ]


def test_one_agent_config_map_per_workload_namespace() -> None:
    maps = [
        m
        for m in rendered()
        if m["kind"] == "ConfigMap" and m["metadata"]["name"] == AGENT_CONFIGMAP
    ]
    assert sorted(m["metadata"]["namespace"] for m in maps) == [
        "gauntlet-probe",
        "ingress",
        "monitoring",
        "team-alpha",
        "team-beta",
        "team-gamma",
    ]
    assert maps[0]["data"]["agent.py"] == AGENT_PATH.read_text()


def test_api_deployment_keeps_its_controller_shape_and_runs_the_agent() -> None:
    dep = next(
        m
        for m in rendered()
        if m["kind"] == "Deployment"
        and m["metadata"]["namespace"] == "team-alpha"
        and m["metadata"]["name"] == "api"
    )
    assert dep["spec"]["replicas"] == 2
    assert dep["spec"]["selector"] == {"matchLabels": {"app": "api"}}
    assert dep["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert labels["app"] == "api" and labels["cost-center"] == "cc-1001-payments"
    assert labels[RUN_LABEL] == "r1"
    spec = dep["spec"]["template"]["spec"]
    assert spec["topologySpreadConstraints"][0]["topologyKey"] == "kubernetes.io/hostname"
    (c,) = spec["containers"]
    assert c["name"] == "api" and c["image"] == IMAGE
    assert c["command"] == [
        *AGENT_ARGV,
        "serve",
        "--name",
        "$(POD_NAMESPACE)/$(POD_NAME)",
        "--tcp",
        "8080,9090",
        "--control",
        "/run/gauntlet/agent.sock",
        "--ready-file",
        "/run/gauntlet/ready",
    ]
    assert c["ports"] == [
        {"name": "http", "containerPort": 8080, "protocol": "TCP"},
        {"name": "metrics", "containerPort": 9090, "protocol": "TCP"},
    ]
    assert c["resources"] == {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"cpu": "500m", "memory": "256Mi"},
    }
    assert spec["securityContext"]["runAsUser"] == 10001
    assert "sysctls" not in spec["securityContext"]


def raw(containers: list[dict[str, Any]], pod_ctx: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": "dns", "namespace": "team-x"},
        "spec": {
            "selector": {"matchLabels": {"app": "dns"}},
            "template": {
                "metadata": {"labels": {"app": "dns"}},
                "spec": {
                    "containers": containers,
                    "securityContext": pod_ctx or {},
                    "hostNetwork": True,
                    "volumes": [{"name": "h", "hostPath": {"path": "/"}}],
                    "initContainers": [{"name": "init", "image": "x"}],
                },
            },
        },
    }


def test_multi_container_pod_becomes_one_agent_serving_every_port() -> None:
    dep = render_agent_deployment(
        raw(
            [
                {
                    "name": "dns",
                    "image": "a",
                    "ports": [
                        {"name": "dns", "containerPort": 53, "protocol": "UDP"},
                        {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
                    ],
                },
                {
                    "name": "sidecar",
                    "image": "b",
                    "ports": [
                        {"name": "dns", "containerPort": 9153},  # name taken: kept unnamed
                        {"containerPort": 53, "protocol": "TCP"},
                    ],
                },  # duplicate: dropped
            ],
            {"runAsUser": 0, "seccompProfile": {"type": "Unconfined"}},
        ),
        agent_image=IMAGE,
        labels={RUN_LABEL: "r1"},
    )
    spec = dep["spec"]["template"]["spec"]
    (c,) = spec["containers"]
    assert c["ports"] == [
        {"name": "dns", "containerPort": 53, "protocol": "UDP"},
        {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
        {"containerPort": 9153, "protocol": "TCP"},
    ]
    assert "--tcp" in c["command"] and c["command"][c["command"].index("--tcp") + 1] == "53,9153"
    assert c["command"][c["command"].index("--udp") + 1] == "53"
    # Root and Unconfined are replaced; low ports are bound through the safe sysctl.
    assert spec["securityContext"] == {
        "runAsUser": 65532,
        "runAsGroup": 65532,
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
        "sysctls": [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}],
    }
    assert "hostNetwork" not in spec and "initContainers" not in spec
    assert [v["name"] for v in spec["volumes"]] == ["agent", "run"]
    assert c["resources"]["limits"] == {"cpu": "500m", "memory": "128Mi"}  # defaults
    assert dep["spec"]["replicas"] == 1


def test_run_id_must_fit_labels_and_names() -> None:
    assert check_run_id("g1a2b") == "g1a2b"
    for bad in ("", "Upper", "-x", "x" * 41, "a_b"):
        with pytest.raises(ValueError, match="run id"):
            check_run_id(bad)
    with pytest.raises(ValueError):
        render_deploy(reference(), agent_image=IMAGE, run_id="Bad")


def test_pod_ref_reads_a_listed_pod() -> None:
    listed = pod("team-a", "api-7c-aa", ip="10.244.1.6", node="w1", ready=False, restarts=3)
    assert pod_ref(listed) == PodRef("team-a", "api-7c-aa", "10.244.1.6", "w1", False, 3)
    assert pod_ref(listed).key == "team-a/api-7c-aa"


def test_pod_refs_number_live_pods_ready_first_then_oldest() -> None:
    bp = reference()
    api = {"app": "api"}
    pods = [
        pod("team-alpha", "api-new", labels=api, ip="10.0.0.3", created="2024-01-03T00:00:00Z"),
        pod("team-alpha", "api-old", labels=api, ip="10.0.0.1", created="2024-01-01T00:00:00Z"),
        pod(
            "team-alpha",
            "api-starting",
            labels=api,
            ip="10.0.0.4",
            ready=False,
            created="2023-12-01T00:00:00Z",
        ),
        {
            **pod("team-alpha", "api-dying", labels=api, created="2023-01-01T00:00:00Z"),
            "metadata": {
                "namespace": "team-alpha",
                "name": "api-dying",
                "labels": api,
                "deletionTimestamp": "2024-01-04T00:00:00Z",
            },
        },
        pod("team-beta", "api-b", labels=api, ip="10.0.1.1"),
        pod("kube-system", "coredns-abc", labels={"k8s-app": "kube-dns"}, ip="10.0.9.9"),
    ]
    refs = pod_refs(bp, pods)
    assert refs["team-alpha/api-0"].name == "api-old"
    assert refs["team-alpha/api-1"].name == "api-new"  # replicas: 2, the starting one waits
    assert refs["team-beta/api-0"].name == "api-b"
    assert refs["kube-system/coredns-0"].ip == "10.0.9.9"  # installer pods found by selector
    assert "kube-system/coredns-1" not in refs
    assert "team-gamma/api-0" not in refs


def test_image_registry_follows_the_reference_grammar() -> None:
    assert image_registry("python:3.12") == "docker.io"
    assert image_registry("library/python:3.12") == "docker.io"
    assert image_registry("Registry.Platform.Example:5000/x:1") == "registry.platform.example:5000"
    assert image_registry("localhost/x:1") == "localhost"


def test_exempt_image_is_no_problem() -> None:
    bp = load_blueprint(REPO / "fixtures" / "platform")
    doc = bp.manifests[("K8sGauntletTrustedRegistries", "", "g4-trusted-registries")]
    doc["spec"]["parameters"]["exemptImages"] = ["python:3.12.8-slim"]
    assert agent_image_problem(bp, "python:3.12.8-slim") is None
    assert agent_image_problem(bp, "python:3.12.9-slim") is not None
