"""Kubernetes targets (``--target kind``, ``--target kubeconfig``): the driver and its API client.

``make_target(kind, context=...)`` is the factory other layers (the chaos game day, the pytest
plugin through ``driver.connect``) use; ``KubernetesTarget`` implements every Target verb.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from gauntlet.targets.kubernetes.client import ApiResponse, ExecResult, KubeApiError, KubeClient
from gauntlet.targets.kubernetes.driver import KubernetesTarget, connect

if TYPE_CHECKING:
    from gauntlet.targets.kind.provision import KindOptions

__all__ = [
    "ApiResponse",
    "ExecResult",
    "KubeApiError",
    "KubeClient",
    "KubernetesTarget",
    "connect",
    "make_target",
]


def make_target(
    kind: str,
    *,
    context: str | None,
    allow_contexts: Sequence[str] = (),
    agent_image: str | None = None,
    ingress_url: str | None = None,
    kind_options: KindOptions | None = None,
) -> KubernetesTarget:
    """The connected (not yet deployed) target for ``kind`` (``"kind"`` or ``"kubeconfig"``);
    ``kind_options``: the cluster ``gauntlet up --target kind`` was given (default: its
    defaults)."""
    return connect(
        kind,
        context=context,
        allow_contexts=allow_contexts,
        agent_image=agent_image,
        ingress_url=ingress_url,
        kind_options=kind_options,
    )
