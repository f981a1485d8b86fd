"""The blueprint, split into what ``up`` applies with kubectl and what the driver deploys.

Order matters on a real API server, so the blueprint goes in four groups:

1. ``objects``: namespaces first, then service accounts, RBAC, quotas, limit ranges, network
   policies (Kubernetes and Cilium), services, config maps -- everything that configures the
   platform and has no pods. Server-side applied (``--field-manager=gauntlet``).
2. ``templates``: Gatekeeper ConstraintTemplates; each must report ``status.created`` (its
   constraint CRD exists) before any constraint of its kind can be applied.
3. ``constraints``: applied once their CRDs are Established; ready when every pod of
   Gatekeeper reports ``enforced: true`` for every constraint.
4. ``workloads`` (Deployments and other pod controllers): not applied here. Their images are
   the blueprint's (often a private registry); the Kubernetes driver runs Gauntlet's probe
   agent in their place, so they go to ``KubernetesTarget.deploy``.

Services (and Deployments) in the namespaces every cluster has (``kube-system``, ...) belong to
the cluster's installer -- kind's ``kube-dns`` is not ours to re-apply, and a server-side apply
with other values would conflict with kubeadm's field manager -- so they are left out (the
Kubernetes driver skips them the same way). Kinds whose API this cluster does not serve (e.g.
``PrometheusRule`` without the Prometheus operator) are left out of ``objects`` and named in the
plan, rather than failing the apply.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import yaml

from gauntlet.blueprint.model import Blueprint
from gauntlet.targets.kind.steps import Check

WORKLOAD_KINDS = frozenset(
    {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Pod", "Job", "CronJob"}
)
# Install order for the rest (like Helm's): what others reference goes first.
_ORDER = (
    "Namespace",
    "ServiceAccount",
    "Secret",
    "ConfigMap",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "ResourceQuota",
    "LimitRange",
    "NetworkPolicy",
    "CiliumClusterwideNetworkPolicy",
    "CiliumNetworkPolicy",
    "Service",
    "PodDisruptionBudget",
    "HorizontalPodAutoscaler",
    "PersistentVolumeClaim",
    "Ingress",
)
INSTALLER_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease", "default"})
_INSTALLER_KINDS = frozenset({"Deployment", "Service"})
SERVED_KINDS = frozenset(_ORDER)
"""Kinds the kind cluster serves once Cilium is installed (built-in APIs + cilium.io)."""


@dataclass(frozen=True)
class SplitBlueprint:
    objects: tuple[dict[str, Any], ...]
    templates: tuple[dict[str, Any], ...]
    constraints: tuple[dict[str, Any], ...]
    workloads: tuple[dict[str, Any], ...]
    unserved: tuple[str, ...]
    """``Kind ns/name`` of objects left out because the cluster has no API for them."""
    installer_owned: tuple[str, ...] = ()
    """``Kind ns/name`` of objects left to the cluster installer (e.g. kube-system/kube-dns)."""

    @property
    def constraint_kinds(self) -> tuple[str, ...]:
        """The constraint CRD kinds the templates create, in template order."""
        return tuple(_template_kind(t) for t in self.templates)

    def digest(self) -> str:
        """A stable hash of everything ``up`` would apply or hand to the driver."""
        payload = [self.objects, self.templates, self.constraints, self.workloads]
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _template_kind(template: dict[str, Any]) -> str:
    kind = template.get("spec", {}).get("crd", {}).get("spec", {}).get("names", {}).get("kind")
    return str(kind or template["metadata"]["name"])


def _name(doc: dict[str, Any]) -> str:
    meta = doc.get("metadata", {})
    ns = meta.get("namespace")
    return f"{doc.get('kind')} {ns + '/' if ns else ''}{meta.get('name')}"


def split(bp: Blueprint) -> SplitBlueprint:
    objects: list[dict[str, Any]] = []
    templates: list[dict[str, Any]] = []
    constraints: list[dict[str, Any]] = []
    workloads: list[dict[str, Any]] = []
    unserved: list[str] = []
    installer: list[str] = []
    for (kind, namespace, _), doc in bp.manifests.items():
        api = str(doc.get("apiVersion", ""))
        if namespace in INSTALLER_NAMESPACES and kind in _INSTALLER_KINDS:
            installer.append(_name(doc))
        elif kind == "ConstraintTemplate":
            templates.append(doc)
        elif api.startswith("constraints.gatekeeper.sh/"):
            constraints.append(doc)
        elif kind in WORKLOAD_KINDS:
            workloads.append(doc)
        elif kind in SERVED_KINDS:
            objects.append(doc)
        else:
            unserved.append(_name(doc))
    objects.sort(key=lambda d: _ORDER.index(str(d["kind"])))
    return SplitBlueprint(
        tuple(objects),
        tuple(templates),
        tuple(constraints),
        tuple(workloads),
        tuple(unserved),
        tuple(installer),
    )


def to_yaml(docs: tuple[dict[str, Any], ...]) -> str:
    return yaml.safe_dump_all(list(docs), sort_keys=False, explicit_start=True)


def resource_names(docs: tuple[dict[str, Any], ...], resource: str) -> list[str]:
    return [f"{resource}/{d['metadata']['name']}" for d in docs]


def constraints_enforced(expected: list[str]) -> Check:
    """A Poll check over ``kubectl get constraints -o json``: every expected constraint
    (``Kind/name``) is reported by at least one Gatekeeper pod, all saying ``enforced``."""

    def check(stdout: str) -> str | None:
        try:
            items = json.loads(stdout).get("items", [])
        except (json.JSONDecodeError, AttributeError):
            return "no JSON from kubectl get constraints"
        seen = {f"{i.get('kind')}/{i.get('metadata', {}).get('name')}": i for i in items}
        waiting = []
        for key in expected:
            item = seen.get(key)
            by_pod = (item or {}).get("status", {}).get("byPod") or []
            if item is None:
                waiting.append(f"{key} (not found)")
            elif not by_pod:
                waiting.append(f"{key} (no status.byPod yet)")
            elif not all(p.get("enforced") is True for p in by_pod):
                pods = [p.get("id", "?") for p in by_pod if p.get("enforced") is not True]
                waiting.append(f"{key} (not enforced on {', '.join(pods)})")
        return "; ".join(waiting) or None

    return check
