"""The outsider probe endpoint Gauntlet adds to every blueprint it verifies.

Pods of a well-built platform are default-deny in both directions, so a gap in one pod's
ingress enforcement is invisible from other tenant pods (their own egress stops the packet
first). Like Cyclonus' and Cilium's connectivity-test pods, Gauntlet runs its own workload in a
namespace no policy selects: it reaches whatever a pod's ingress lets in, and it receives
whatever a pod's egress lets out, so both directions of every pod are observed.
"""

from __future__ import annotations

import copy

from gauntlet.blueprint.kube import Deployment, Namespace
from gauntlet.blueprint.model import Blueprint

PROBE_NAMESPACE = "gauntlet-probe"
PROBE_PORT = 8080


def with_outsider(bp: Blueprint) -> Blueprint:
    """A copy of ``bp`` with the ``gauntlet-probe/outsider`` workload added."""
    if PROBE_NAMESPACE in bp.namespaces:
        return bp
    out = copy.copy(bp)
    out.namespaces = dict(bp.namespaces)
    out.deployments = list(bp.deployments)
    out.namespaces[PROBE_NAMESPACE] = Namespace.model_validate(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": PROBE_NAMESPACE, "labels": {"gauntlet.io/role": "probe"}},
        }
    )
    out.deployments.append(
        Deployment.model_validate(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "outsider", "namespace": PROBE_NAMESPACE},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": {"app": "gauntlet-outsider"}},
                    "template": {
                        "metadata": {"labels": {"app": "gauntlet-outsider"}},
                        "spec": {
                            "containers": [
                                {
                                    "name": "agent",
                                    "image": "python:3.11-slim",
                                    "ports": [{"containerPort": PROBE_PORT, "name": "http"}],
                                }
                            ]
                        },
                    },
                },
            }
        )
    )
    return out
