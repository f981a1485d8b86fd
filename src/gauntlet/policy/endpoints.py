"""Endpoints as Cilium sees them: pod labels plus the identity labels Cilium derives."""

from __future__ import annotations

from dataclasses import dataclass

from gauntlet.blueprint.model import Blueprint, Pod

NAMESPACE_LABEL = "io.kubernetes.pod.namespace"
NAMESPACE_LABELS_PREFIX = "io.cilium.k8s.namespace.labels."
SERVICE_ACCOUNT_LABEL = "io.cilium.k8s.policy.serviceaccount"
CLUSTER_LABEL = "io.cilium.k8s.policy.cluster"


@dataclass(frozen=True)
class Endpoint:
    """A pod with its Cilium identity labels (source prefix ``k8s:`` stripped)."""

    index: int
    pod: Pod
    labels: dict[str, str]
    namespace_labels: dict[str, str]

    @property
    def key(self) -> str:
        return self.pod.key

    @property
    def namespace(self) -> str:
        return self.pod.namespace


def endpoints_of(bp: Blueprint) -> list[Endpoint]:
    """Every pod of the blueprint as an endpoint, in a stable order (namespace, name)."""
    pods = sorted(bp.pods(), key=lambda p: (p.namespace, p.name))
    out = []
    for i, pod in enumerate(pods):
        ns_labels = bp.namespace_labels(pod.namespace)
        labels = dict(pod.labels)
        labels[NAMESPACE_LABEL] = pod.namespace
        labels[SERVICE_ACCOUNT_LABEL] = pod.service_account
        labels[CLUSTER_LABEL] = "default"
        labels.update({NAMESPACE_LABELS_PREFIX + k: v for k, v in ns_labels.items()})
        out.append(Endpoint(index=i, pod=pod, labels=labels, namespace_labels=ns_labels))
    return out
