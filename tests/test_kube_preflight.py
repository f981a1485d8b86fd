"""Preflight on real-shaped cluster answers: versions, components, skip reasons."""

from __future__ import annotations

from typing import Any

import kmock
import pytest

from gauntlet.targets.base import TargetError
from gauntlet.targets.kubernetes.preflight import image_tag, run_preflight
from kube_emulator import call, client_for, status

pytestmark = pytest.mark.kmock(cls=kmock.KubernetesScaffold)
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


def _workload(name: str, namespace: str, container: str, image: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"template": {"spec": {"containers": [{"name": container, "image": image}]}}},
    }


def _full_cluster(server: Any, *, l7: str = "true") -> None:
    server["get /version"] << {"gitVersion": "v1.31.2"}
    server["get /apis/route.openshift.io"] << 404 << status(404, "NotFound", "not found")
    agent = _workload(
        "cilium", "kube-system", "cilium-agent", "quay.io/cilium/cilium:v1.16.5@sha256:ab"
    )
    server["get /apis/apps/v1/daemonsets"] << {"items": [agent]}
    server[f"get {CRDS}/ciliumnetworkpolicies.cilium.io"] << {"kind": "CustomResourceDefinition"}
    server["get /api/v1/namespaces/kube-system/configmaps/cilium-config"] << {
        "data": {"enable-l7-proxy": l7}
    }
    gk = _workload(
        "gatekeeper-controller-manager", "gk", "manager", "openpolicyagent/gatekeeper:v3.18.2"
    )

    def deployments(request: Any) -> dict[str, Any]:
        wanted = request.params["fieldSelector"]
        return {"items": [gk] if wanted.endswith("gatekeeper-controller-manager") else []}

    server["get /apis/apps/v1/deployments"] << deployments
    server[f"get {CRDS}/constrainttemplates.templates.gatekeeper.sh"] << {"kind": "CRD"}


@pytest.mark.asyncio
async def test_full_platform(kmock: Any) -> None:
    _full_cluster(kmock)
    found = await call(run_preflight, client_for(kmock, context="kind-gauntlet"))
    assert found.components == frozenset({"cilium", "cilium-l7", "gatekeeper"})
    dist = found.distribution()
    assert (dist.name, dist.kubernetes_version, dist.cni, dist.cni_version) == (
        "kind",
        "v1.31.2",
        "cilium",
        "v1.16.5",
    )
    assert (dist.policy_engine, dist.policy_engine_version) == ("gatekeeper", "v3.18.2")
    assert found.gatekeeper.namespace == "gk"
    assert "hubble-relay" in found.missing_reason("hubble")
    ds = kmock["get /apis/apps/v1/daemonsets"][0]
    assert ds.params == {"fieldSelector": "metadata.name=cilium"}


@pytest.mark.asyncio
async def test_l7_proxy_off(kmock: Any) -> None:
    _full_cluster(kmock, l7="false")
    found = await call(run_preflight, client_for(kmock, context="arn:aws:eks:x"))
    assert "cilium-l7" not in found.components
    assert "enable-l7-proxy: false" in found.missing_reason("cilium-l7")


@pytest.mark.asyncio
async def test_bare_cluster_and_forbidden_lists(kmock: Any) -> None:
    kmock["get /version"] << {"gitVersion": "v1.30.1-eks-3a2b"}
    kmock["get /apis/route.openshift.io"] << {"kind": "APIGroup", "name": "route.openshift.io"}
    kmock["get /apis/apps/v1/daemonsets"] << 403 << status(403, "Forbidden", "no list")
    kmock["get /apis/apps/v1/deployments"] << {"items": []}
    kmock[f"get {CRDS}/ciliumnetworkpolicies.cilium.io"] << 404 << status(404, "NotFound", "x")
    (
        kmock[f"get {CRDS}/constrainttemplates.templates.gatekeeper.sh"]
        << 404
        << status(404, "NotFound", "x")
    )
    found = await call(run_preflight, client_for(kmock, context="prod"))
    assert found.components == frozenset({"openshift"}) and found.platform == "openshift"
    assert "not allowed to list" in found.missing_reason("cilium")
    assert "CRD ciliumnetworkpolicies.cilium.io is not installed" in found.missing_reason("cilium")
    assert "gatekeeper-controller-manager" in found.missing_reason("gatekeeper")
    with pytest.raises(ValueError, match="unknown component"):
        found.missing_reason("istio")


@pytest.mark.asyncio
async def test_version_refused_is_a_target_error(kmock: Any) -> None:
    kmock["get /version"] << 401 << status(401, "Unauthorized", "Unauthorized")
    with pytest.raises(TargetError, match="401 Unauthorized: GET /version: Unauthorized"):
        await call(run_preflight, client_for(kmock))


@pytest.mark.parametrize(
    ("image", "tag"),
    [
        ("quay.io/cilium/cilium:v1.16.5@sha256:ab", "v1.16.5"),
        ("localhost:5000/gatekeeper", None),
        ("registry:5000/ns/gatekeeper:v3.18.2", "v3.18.2"),
    ],
)
def test_image_tag(image: str, tag: str | None) -> None:
    assert image_tag(image) == tag
