"""The objects chaos faults create or change on a cluster, as plain manifests (pure functions,
validated against the Kubernetes and Cilium schemas in tests/test_kube_schemas.py).

- Network partition: one CiliumClusterwideNetworkPolicy with two rules, one selecting each
  side's pods, each with ``ingressDeny`` *and* ``egressDeny`` towards the other side. Deny rules
  win over every allow of any policy kind (CNP, CCNP, NetworkPolicy), so the partition holds
  whatever the tenants allow; a CCNP's peer selectors span all namespaces, and the namespace is
  the ``k8s:io.kubernetes.pod.namespace`` label. ``enableDefaultDeny: false`` both ways: a
  policy that selects an endpoint otherwise switches it to default-deny in every direction it
  has rules for (deny rules included), which would cut traffic *outside* the partition too
  (Cilium docs, "Deny Policies"; field available since Cilium 1.15).
- Node pressure: a pod pinned to the node (``nodeName``: no scheduler, no quota of a tenant)
  that writes every page of the memory it holds (a ``bytearray`` alone is lazily zero-mapped and
  costs nothing), with a small request and a limit above what it allocates, so it is Burstable
  and the kubelet sees real usage. Same restricted security context as the agent pods.
- Registry outage: the image moves to a repository that does not exist on its own registry.
  A host that does not resolve would model the outage more literally, but the platform's
  trusted-registry guardrail (G4) refuses images from untrusted hosts, so the patch itself
  would be denied in tenant namespaces; to the kubelet both are the same failed pull.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from gauntlet.targets.kubernetes.workloads import (
    AGENT_ARGV,
    container_security_context,
    image_registry,
    pod_security_context,
    run_labels,
)

Manifest = dict[str, Any]

NAMESPACE_LABEL = "k8s:io.kubernetes.pod.namespace"
OUTAGE_REPOSITORY = "gauntlet-registry-outage"
HOG_APP = "gauntlet-node-pressure"
PAGE_BYTES = 4096


def partition_name(run_id: str, index: int) -> str:
    return f"gauntlet-partition-{run_id}-{index}"


def _in(namespaces: Sequence[str]) -> Manifest:
    return {
        "matchExpressions": [
            {"key": NAMESPACE_LABEL, "operator": "In", "values": sorted(set(namespaces))}
        ]
    }


def _side(own: Sequence[str], other: Sequence[str]) -> Manifest:
    return {
        "endpointSelector": _in(own),
        "enableDefaultDeny": {"ingress": False, "egress": False},
        "ingressDeny": [{"fromEndpoints": [_in(other)]}],
        "egressDeny": [{"toEndpoints": [_in(other)]}],
    }


def partition_policy(
    run_id: str, index: int, side_a: Sequence[str], side_b: Sequence[str]
) -> Manifest:
    """A CCNP dropping all traffic between the pods of namespaces ``side_a`` and ``side_b``."""
    if not side_a or not side_b:
        raise ValueError("a partition needs namespaces on both sides")
    overlap = set(side_a) & set(side_b)
    if overlap:
        raise ValueError(f"namespaces on both sides of a partition: {', '.join(sorted(overlap))}")
    return {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumClusterwideNetworkPolicy",
        "metadata": {"name": partition_name(run_id, index), "labels": run_labels(run_id)},
        "specs": [
            {"description": "gauntlet chaos: network-partition, side A", **_side(side_a, side_b)},
            {"description": "gauntlet chaos: network-partition, side B", **_side(side_b, side_a)},
        ],
    }


def hog_pod_name(node: str) -> str:
    cleaned = re.sub(r"[^a-z0-9-]", "-", node.lower()).strip("-")
    return f"gauntlet-hog-{cleaned}"[:63].rstrip("-")


def hog_pod(*, run_id: str, namespace: str, node: str, memory_bytes: int, image: str) -> Manifest:
    """A pod pinned to ``node`` that keeps ``memory_bytes`` resident until deleted."""
    script = (
        "import time\n"
        f"n = {memory_bytes}\n"
        "b = bytearray(n)\n"
        f"b[::{PAGE_BYTES}] = b'\\x01' * len(range(0, n, {PAGE_BYTES}))\n"
        "time.sleep(1e9)\n"
    )
    limit_mib = memory_bytes // (1 << 20) + 64  # the interpreter's own ~10 MiB, and slack
    labels = {**run_labels(run_id), "app": HOG_APP}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": hog_pod_name(node), "namespace": namespace, "labels": labels},
        "spec": {
            "nodeName": node,
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "terminationGracePeriodSeconds": 0,
            "tolerations": [
                {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}
            ],
            "securityContext": pod_security_context({}, low_ports=False),
            "containers": [
                {
                    "name": "hog",
                    "image": image,
                    "imagePullPolicy": "IfNotPresent",
                    "command": [*AGENT_ARGV[:4], "-c", script],
                    "resources": {
                        "requests": {"cpu": "10m", "memory": "16Mi"},
                        "limits": {"cpu": "200m", "memory": f"{limit_mib}Mi"},
                    },
                    "securityContext": container_security_context(),
                }
            ],
        },
    }


def outage_image(image: str) -> str:
    """``image`` moved to a repository that does not exist on the same registry."""
    registry = image_registry(image)
    first, slash, rest = image.partition("/")
    if slash and first.lower() == registry:
        return f"{first}/{OUTAGE_REPOSITORY}/{rest}"
    return f"{registry}/{OUTAGE_REPOSITORY}/{image}"
