"""What a cluster runs, asked before anything is deployed.

Suites declare what they need (``pytest.mark.gauntlet_requires("cilium")``) and the plugin skips
them, naming the missing component, when the preflight did not find it. Detection reads what the
installers leave (names are the upstream charts' defaults):

- Kubernetes: ``GET /version`` (``gitVersion``); this is also the reachability check.
- Cilium: the ``cilium`` DaemonSet (any namespace; image tag of its ``cilium-agent`` container)
  and the ``ciliumnetworkpolicies.cilium.io`` CRD. ``cilium-l7``: Cilium with its L7 proxy on
  (``enable-l7-proxy`` in the ``cilium-config`` ConfigMap is not ``"false"``).
- Hubble: the ``hubble-relay`` Deployment.
- Gatekeeper: the ``gatekeeper-controller-manager`` Deployment (image tag of ``manager``) and the
  ``constrainttemplates.templates.gatekeeper.sh`` CRD.
- OpenShift: the ``route.openshift.io`` API group is served.

Workloads are found by ``fieldSelector=metadata.name=...`` across namespaces, so a Gatekeeper
installed outside ``gatekeeper-system`` is still found. A 403 (a restricted kubeconfig) means
"not seen", and the component's ``detail`` says so.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from gauntlet.report.scorecard import Distribution
from gauntlet.targets.base import TargetError
from gauntlet.targets.kubernetes.client import ApiResponse, KubeApiError, KubeClient

__all__ = ["ALL_COMPONENTS", "Component", "Preflight", "image_tag", "run_preflight"]

ALL_COMPONENTS = frozenset({"cilium", "cilium-l7", "hubble", "gatekeeper", "openshift"})
"""Names suites may require; the local sandbox provides all but ``openshift`` behaviour-wise and
is treated as having all of them."""

_CILIUM_CRD = "ciliumnetworkpolicies.cilium.io"
_GATEKEEPER_CRD = "constrainttemplates.templates.gatekeeper.sh"


class Component(BaseModel):
    model_config = ConfigDict(frozen=True)

    installed: bool = False
    version: str | None = None
    namespace: str | None = None
    detail: str = ""
    """Why it is missing (or what was found), for skip reasons and the run log."""


class Preflight(BaseModel):
    """What the cluster runs."""

    model_config = ConfigDict(frozen=True)

    context: str | None = None
    kubernetes_version: str
    platform: str
    """``openshift``, ``eks``, ``gke``, ``aks``, ``k3s``, ``kind`` or ``kubernetes``."""
    cilium: Component
    cilium_l7: Component
    hubble: Component
    gatekeeper: Component
    openshift: bool = False

    @property
    def components(self) -> frozenset[str]:
        present = {
            "cilium": self.cilium.installed,
            "cilium-l7": self.cilium_l7.installed,
            "hubble": self.hubble.installed,
            "gatekeeper": self.gatekeeper.installed,
            "openshift": self.openshift,
        }
        return frozenset(name for name, ok in present.items() if ok)

    def missing_reason(self, component: str) -> str:
        """Why ``component`` is not available here (for a skip message)."""
        if component not in ALL_COMPONENTS:
            raise ValueError(f"unknown component {component!r}; known: {sorted(ALL_COMPONENTS)}")
        if component == "openshift":
            return "the cluster is not OpenShift (no route.openshift.io API)"
        found: Component = getattr(self, component.replace("-", "_"))
        return f"{component} not found on context {self.context}: {found.detail}"

    def distribution(self, name: str | None = None) -> Distribution:
        return Distribution(
            name=name or self.platform,
            kubernetes_version=self.kubernetes_version,
            cni="cilium" if self.cilium.installed else None,
            cni_version=self.cilium.version,
            policy_engine="gatekeeper" if self.gatekeeper.installed else None,
            policy_engine_version=self.gatekeeper.version,
        )


def image_tag(image: str) -> str | None:
    """``quay.io/cilium/cilium:v1.16.5@sha256:...`` -> ``v1.16.5`` (None without a tag)."""
    ref = image.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def _named(client: KubeClient, collection: str, name: str) -> tuple[dict[str, Any] | None, str]:
    """The first object called ``name`` in an all-namespaces collection, or why none."""
    resp = client.request("GET", collection, query={"fieldSelector": f"metadata.name={name}"})
    if resp.status == 403:
        return None, f"not allowed to list {collection} ({resp.body.get('message', '')})"
    if not resp.ok:
        return None, f"listing {collection} failed: {resp.status} {resp.body.get('message', '')}"
    items = resp.body.get("items") or []
    return (items[0], "") if items else (None, f"no {name} in any namespace")


def _container_tag(obj: dict[str, Any], container: str) -> str | None:
    containers = (((obj.get("spec") or {}).get("template") or {}).get("spec") or {}).get(
        "containers"
    ) or []
    chosen = next((c for c in containers if c.get("name") == container), None)
    chosen = chosen or (containers[0] if containers else None)
    return image_tag(str(chosen.get("image") or "")) if chosen else None


def _crd(client: KubeClient, name: str) -> tuple[bool, str]:
    resp = client.request("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
    if resp.ok:
        return True, ""
    if resp.status == 403:
        return False, f"not allowed to read CRD {name}"
    return False, f"CRD {name} is not installed"


def _workload(
    client: KubeClient, collection: str, name: str, container: str, crd: str
) -> Component:
    obj, why = _named(client, collection, name)
    has_crd, crd_why = _crd(client, crd)
    if obj is None or not has_crd:
        return Component(installed=False, detail="; ".join(w for w in (why, crd_why) if w))
    namespace = str((obj.get("metadata") or {}).get("namespace") or "")
    return Component(
        installed=True,
        version=_container_tag(obj, container),
        namespace=namespace,
        detail=f"{name} in {namespace}",
    )


def _l7(client: KubeClient, cilium: Component) -> Component:
    if not cilium.installed:
        return Component(installed=False, detail=f"needs Cilium ({cilium.detail})")
    resp = client.request("GET", f"/api/v1/namespaces/{cilium.namespace}/configmaps/cilium-config")
    data = resp.body.get("data") or {} if resp.ok else {}
    if str(data.get("enable-l7-proxy", "true")).lower() == "false":
        return Component(installed=False, detail="cilium-config has enable-l7-proxy: false")
    return Component(installed=True, version=cilium.version, namespace=cilium.namespace)


def _platform(version: str, *, openshift: bool, context: str | None) -> str:
    if openshift:
        return "openshift"
    for marker, name in (("-eks-", "eks"), ("-gke.", "gke"), ("+k3s", "k3s"), ("-aks", "aks")):
        if marker in version:
            return name
    return "kind" if (context or "").startswith("kind-") else "kubernetes"


def _version(client: KubeClient) -> str:
    resp: ApiResponse = client.request("GET", "/version", timeout_s=15.0)
    if not resp.ok:
        raise KubeApiError.from_response(resp, doing="GET /version")
    version = str(resp.body.get("gitVersion") or "")
    if not version:
        raise TargetError(f"GET /version on {client.host} answered no gitVersion: {resp.body}")
    return version


def run_preflight(client: KubeClient) -> Preflight:
    """Detect the cluster's components (a handful of GETs)."""
    version = _version(client)
    openshift = client.request("GET", "/apis/route.openshift.io").ok
    cilium = _workload(client, "/apis/apps/v1/daemonsets", "cilium", "cilium-agent", _CILIUM_CRD)
    relay, why = _named(client, "/apis/apps/v1/deployments", "hubble-relay")
    hubble = (
        Component(
            installed=True,
            version=_container_tag(relay, "hubble-relay"),
            namespace=str((relay.get("metadata") or {}).get("namespace") or ""),
        )
        if relay
        else Component(installed=False, detail=why)
    )
    gatekeeper = _workload(
        client,
        "/apis/apps/v1/deployments",
        "gatekeeper-controller-manager",
        "manager",
        _GATEKEEPER_CRD,
    )
    return Preflight(
        context=client.context,
        kubernetes_version=version,
        platform=_platform(version, openshift=openshift, context=client.context),
        cilium=cilium,
        cilium_l7=_l7(client, cilium),
        hubble=hubble,
        gatekeeper=gatekeeper,
        openshift=openshift,
    )
