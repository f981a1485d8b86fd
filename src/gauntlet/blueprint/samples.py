"""Manifests that satisfy the reference guardrails (docs/guardrails.md), for suites that need a
workload the platform must admit: the compliant twin of the policy suite, the tenancy suite's
quota probes. One definition, so a guardrail change is made in one place."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Manifest = dict[str, Any]

TRUSTED_IMAGE = "registry.platform.example/tenants/{team}/probe:1.0.0"
"""An image of the trusted registry with a pinned tag (G2, G4)."""


def pod_security_context() -> Manifest:
    """A fresh pod-level securityContext for Pod Security "restricted"."""
    return {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}


def restricted_container(
    name: str, team: str, *, requests: Mapping[str, str], limits: Mapping[str, str]
) -> Manifest:
    """A container passing G1-G7 and Pod Security "restricted"."""
    return {
        "name": name,
        "image": TRUSTED_IMAGE.format(team=team),
        "resources": {"requests": dict(requests), "limits": dict(limits)},
        "securityContext": {
            "privileged": False,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }


def workload(kind: str, meta: Mapping[str, Any], spec: Manifest) -> Manifest:
    """A Pod with ``spec``, or a one-replica Deployment whose template carries it (selected by
    the ``app`` label of ``meta``)."""
    if kind == "Pod":
        return {"apiVersion": "v1", "kind": "Pod", "metadata": dict(meta), "spec": spec}
    if kind != "Deployment":
        raise ValueError(f"workload kind must be Pod or Deployment, not {kind!r}")
    labels = dict(meta.get("labels") or {})
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": dict(meta),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": labels["app"]}},
            "template": {"metadata": {"labels": labels}, "spec": spec},
        },
    }
