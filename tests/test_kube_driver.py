"""KubernetesTarget: verbs composed from the client modules, with the workload-side modules
(workloads, faults, load) stubbed so the driver is tested on its own."""

from __future__ import annotations

import json
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kmock
import pytest

from gauntlet.targets.base import NotSupportedByTarget, PlantedFault, TargetError
from gauntlet.targets.kind import provision
from gauntlet.targets.kind.provision import KindOptions
from gauntlet.targets.kubernetes import driver
from gauntlet.targets.kubernetes.driver import KubernetesTarget, connect
from kube_emulator import call, client_for, declare, status

pytestmark = pytest.mark.kmock(cls=kmock.KubernetesScaffold)
GROUP = "constraints.gatekeeper.sh"


@dataclass(frozen=True)
class Ref:
    namespace: str
    name: str
    ip: str = "10.0.0.5"
    node: str = "kind-worker"
    ready: bool = True
    restarts: int = 0


@dataclass(frozen=True)
class BpPod:
    namespace: str
    name: str

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


class Blueprint:
    def pods(self) -> list[BpPod]:
        return [BpPod("team-a", "api-0")]


def _stub(monkeypatch: pytest.MonkeyPatch, name: str, **attrs: Any) -> types.ModuleType:
    module = types.ModuleType(f"gauntlet.targets.kubernetes.{name}")
    for key, value in attrs.items():
        setattr(module, key, value)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    return module


def _target(server: Any, *, allowed: bool, context: str = "prod") -> KubernetesTarget:
    return KubernetesTarget(client_for(server, context=context), allowed_for_disruption=allowed)


@pytest.mark.asyncio
async def test_chaos_and_load_refuse_contexts_not_allowed(
    kmock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    called: list[str] = []
    _stub(monkeypatch, "faults", inject_fault=lambda *a, **k: called.append("inject"))
    _stub(monkeypatch, "load", load_entrypoint=lambda *a, **k: called.append("load"))
    target = _target(kmock, allowed=False)
    with pytest.raises(TargetError, match=r"fault pod-kill on kubeconfig context 'prod'.*--allow"):
        await call(target.inject, PlantedFault("pod-kill", "kill", (("pods", "a/b"),)))
    with pytest.raises(TargetError, match="refusing load on kubeconfig context 'prod'"):
        await call(target.load_entrypoint, "team-a", "api", port=80)
    assert called == [] and target.active_faults() == []


@pytest.mark.asyncio
async def test_inject_revert_and_teardown_on_an_allowed_context(
    kmock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, Any]] = []

    def inject_fault(client: Any, fault: PlantedFault, *, ctx: Any) -> str:
        seen.append(("inject", ctx.kind_cluster))
        return f"{fault.id}#1"

    def revert_fault(client: Any, handle: str, *, ctx: Any) -> None:
        seen.append(("revert", handle))

    _stub(
        monkeypatch,
        "faults",
        inject_fault=inject_fault,
        revert_fault=revert_fault,
        FaultContext=lambda **fields: types.SimpleNamespace(**fields),
    )
    _stub(monkeypatch, "workloads", AGENT_IMAGE_DEFAULT="python:3.12")
    target = _target(kmock, allowed=True, context="kind-gauntlet")
    handle = await call(target.inject, PlantedFault("admission-webhook-outage", "down"))
    assert target.active_faults() == [handle]
    await call(target.revert, handle)
    await call(target.revert, handle)  # idempotent
    second = await call(target.inject, PlantedFault("pod-kill", "kill"))
    await call(target.teardown)
    await call(target.teardown)
    assert seen == [
        ("inject", "gauntlet"),
        ("revert", handle),
        ("inject", "gauntlet"),
        ("revert", second),
    ]
    assert target.active_faults() == []


def test_sandbox_only_verbs_say_why() -> None:
    from kubernetes import client as kclient

    from gauntlet.targets.kubernetes.client import KubeClient

    api = kclient.ApiClient(kclient.Configuration(host="http://127.0.0.1:9"))
    target = KubernetesTarget(KubeClient(api), allowed_for_disruption=False)
    with pytest.raises(NotSupportedByTarget, match="sandbox selfcheck fault"):
        target.plant(PlantedFault("quota-removed", "x"))
    with pytest.raises(NotSupportedByTarget, match="Hubble"):
        target.l7_flows()
    assert target.load_exec_prefix() == []


def _constraint(name: str, **status_fields: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {"enforcementAction": "warn"},
        "status": status_fields,
    }


def _gatekeeper(server: Any, items: list[dict[str, Any]]) -> None:
    server["get /apis"] << {
        "kind": "APIGroupList",
        "groups": [{"name": GROUP, "preferredVersion": {"groupVersion": f"{GROUP}/v1beta1"}}],
    }
    declare(server, f"{GROUP}/v1beta1", "k8srequiredlabels", "K8sRequiredLabels", namespaced=False)
    server[f"get /apis/{GROUP}/v1beta1/k8srequiredlabels"] << {"items": items}


@pytest.mark.asyncio
async def test_audit_reads_constraint_status(kmock: Any) -> None:
    violation = {
        "enforcementAction": "deny",
        "kind": "Pod",
        "namespace": "team-a",
        "name": "legacy",
        "message": 'you must provide labels: {"owner"}',
        "group": "",
        "version": "v1",
    }
    clean = _constraint("must-have-owner", auditTimestamp="2025-01-01T00:00:00Z", violations=[])
    bad = _constraint(
        "needs-team",
        auditTimestamp="2025-01-01T00:00:00Z",
        totalViolations=2,
        violations=[violation, {**violation, "name": "old", "enforcementAction": ""}],
    )
    _gatekeeper(kmock, [clean, bad])
    findings = await call(_target(kmock, allowed=False).audit)
    assert [
        (f.constraint, f.constraint_kind, f.action, f.kind, f.namespace, f.name) for f in findings
    ] == [
        ("needs-team", "K8sRequiredLabels", "deny", "Pod", "team-a", "legacy"),
        ("needs-team", "K8sRequiredLabels", "warn", "Pod", "team-a", "old"),
    ]


@pytest.mark.asyncio
async def test_audit_refuses_unaudited_or_capped_constraints(kmock: Any) -> None:
    capped = _constraint(
        "needs-team", auditTimestamp="2025-01-01T00:00:00Z", totalViolations=40, violations=[]
    )
    _gatekeeper(kmock, [capped, _constraint("fresh")])
    with pytest.raises(TargetError, match="has not audited K8sRequiredLabels/fresh"):
        await call(_target(kmock, allowed=False).audit)


@pytest.mark.asyncio
async def test_audit_without_gatekeeper(kmock: Any) -> None:
    kmock["get /apis"] << {"kind": "APIGroupList", "groups": []}
    with pytest.raises(TargetError, match="Gatekeeper is not installed"):
        await call(_target(kmock, allowed=False).audit)


@pytest.mark.asyncio
async def test_objects_lists_by_kind_name(kmock: Any) -> None:
    declare(kmock, "v1", "resourcequotas", "ResourceQuota", namespaced=True)
    declare(
        kmock,
        "cilium.io/v2",
        "ciliumclusterwidenetworkpolicies",
        "CiliumClusterwideNetworkPolicy",
        namespaced=False,
    )
    kmock["get /api/v1/namespaces/team-a/resourcequotas"] << {
        "items": [{"metadata": {"name": "q", "managedFields": [{"manager": "kubectl"}]}}]
    }
    target = _target(kmock, allowed=False)
    quotas = await call(target.objects, "ResourceQuota", "team-a")
    assert quotas == [{"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q"}}]
    assert await call(target.objects, "CiliumClusterwideNetworkPolicy", "team-a") == []


@pytest.mark.asyncio
async def test_deploy_applies_in_order_skips_unserved_kinds_and_tears_down(
    kmock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}}
    cnp = {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": {"name": "deny", "namespace": "team-a"},
    }
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "platform-view"},
    }
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "a", "namespace": "team-a"},
    }
    _stub(
        monkeypatch,
        "workloads",
        AGENT_IMAGE_DEFAULT="python:3.12",
        agent_image_problem=lambda bp, image: None,
        render_deploy=lambda bp, *, agent_image, run_id: [namespace, cnp, role, config],
        skipped_objects=lambda bp: ["Deployment kube-system/coredns: installer's"],
        pod_refs=lambda bp, pods: {"team-a/api-0": Ref("team-a", "api-7f9c")},
    )
    declare(kmock, "v1", "namespaces", "Namespace", namespaced=False)
    declare(kmock, "v1", "configmaps", "ConfigMap", namespaced=True)
    declare(kmock, "v1", "pods", "Pod", namespaced=True)
    declare(kmock, "rbac.authorization.k8s.io/v1", "clusterroles", "ClusterRole", namespaced=False)
    kmock["get /apis/rbac.authorization.k8s.io/v1/clusterroles/platform-view"] << {
        "kind": "ClusterRole"
    }
    kmock["get /api/v1/namespaces/team-a/pods"] << {
        "items": [{"metadata": {"namespace": "team-a", "name": "api-7f9c"}}]
    }
    kmock["patch"] << (lambda request: request.data)
    kmock["delete"] << status(200, "", "")
    target = _target(kmock, allowed=False)
    report = await call(target.deploy, Blueprint())  # type: ignore[arg-type]
    applied = [(r.url.path, r.params["fieldManager"]) for r in kmock["patch"]]
    assert applied == [
        ("/api/v1/namespaces/team-a", "gauntlet"),
        ("/apis/rbac.authorization.k8s.io/v1/clusterroles/platform-view", "gauntlet"),
        ("/api/v1/namespaces/team-a/configmaps/a", "gauntlet"),
    ]
    assert json.loads(kmock["patch"][0].body) == namespace
    assert [p.key for p in report.pods] == ["team-a/api-0"] and report.pods[0].node == "kind-worker"
    assert any("does not serve cilium.io/v2" in n for n in report.notes)
    assert any("1 objects existed before the run" in n for n in report.notes)
    await call(target.teardown)
    # The namespace takes its objects along; the pre-existing ClusterRole stays.
    assert [r.url.path for r in kmock["delete"]] == ["/api/v1/namespaces/team-a"]
    await call(target.teardown)
    assert len(kmock["delete"]) == 1


# -- connect("kind"): the cluster gauntlet up would build ---------------------------------------


@pytest.fixture
def kind_connect(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """connect() with ensure_cluster, the kubeconfig and the preflight faked; records calls."""
    seen: list[tuple[str, Any]] = []

    def ensure_cluster(options: Any, **kwargs: Any) -> Any:
        seen.append(("ensure_cluster", (options, kwargs)))
        return provision.KindCluster(options.name, f"kind-{options.name}", False, "h")

    def from_kubeconfig(**kwargs: Any) -> Any:
        seen.append(("kubeconfig", kwargs))
        return types.SimpleNamespace(context=kwargs["context"])

    monkeypatch.setattr(provision, "ensure_cluster", ensure_cluster)
    monkeypatch.setattr(
        driver, "KubeClient", types.SimpleNamespace(from_kubeconfig=from_kubeconfig)
    )
    monkeypatch.setattr(driver.KubernetesTarget, "preflight", lambda self: None)
    return seen


def test_connect_kind_provisions_from_the_run_options(kind_connect: list[tuple[str, Any]]) -> None:
    asked = KindOptions(name="ci", cilium_version="1.19.6", platform=Path("p"), agent_image="r/a:1")
    target = connect("kind", kind_options=asked, agent_image="r/a:1")
    (_, (options, kwargs)), (_, kubeconfig) = kind_connect
    assert options == asked
    # No deployer: the plugin deploys after ensure_cluster released its lock.
    assert "deployer" not in kwargs
    assert kubeconfig["context"] == "kind-ci"
    assert (target.name, target.allowed_for_disruption, target.agent_image) == (
        "kind",
        True,
        "r/a:1",
    )


def test_connect_kind_loads_the_image_the_pods_run(kind_connect: list[tuple[str, Any]]) -> None:
    target = connect("kind", agent_image="r/a:1")  # make_target without kind options
    assert kind_connect[0][1][0] == KindOptions(agent_image="r/a:1")
    assert target.agent_image == "r/a:1"
    target = connect("kind", kind_options=KindOptions(name="x", agent_image="r/b:2"))
    assert kind_connect[2][1][0].agent_image == target.agent_image == "r/b:2"


def test_connect_kind_provisioning_errors_are_target_errors(
    monkeypatch: pytest.MonkeyPatch, kind_connect: list[tuple[str, Any]]
) -> None:
    def mismatch(options: Any, **kwargs: Any) -> Any:
        raise provision.ClusterMismatch("exists but was provisioned from other versions")

    monkeypatch.setattr(provision, "ensure_cluster", mismatch)
    with pytest.raises(TargetError, match="kind cluster 'gauntlet': exists but was provisioned"):
        connect("kind")
