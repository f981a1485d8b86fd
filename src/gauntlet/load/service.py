"""Which Service of a blueprint the load suite loads, and which pods answer behind it.

The first tenant's first Service with a TCP port named ``http`` (the reference blueprint:
``team-alpha/api`` port 80, backed by ``api-0`` and ``api-1``): a tenant's public api, the
traffic the platform's ingress carries. Selfcheck plants its slow/erroring workload on the first
pod behind the same Service, so the fault sits where the load goes.
"""

from __future__ import annotations

from dataclasses import dataclass

from gauntlet.blueprint.model import Blueprint
from gauntlet.blueprint.selectors import LabelSelector, matches


@dataclass(frozen=True)
class LoadService:
    namespace: str
    service: str
    port: int
    """The Service port (not the container port)."""
    pods: tuple[str, ...]
    """Keys (``ns/pod``) of the pods the Service selects, sorted."""

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.service}"


class NoLoadService(LookupError):
    """The blueprint has no tenant Service with an ``http`` port to send load to."""


def load_service(bp: Blueprint) -> LoadService:
    tenants = bp.tenants()
    candidates = sorted(
        (s for s in bp.services if (s.metadata.namespace or "default") in tenants),
        key=lambda s: (tenants.index(s.metadata.namespace or "default"), s.metadata.name),
    )
    for svc in candidates:
        port = next((p for p in svc.spec.ports if p.name == "http" and p.protocol == "TCP"), None)
        if port is None or not svc.spec.selector:
            continue
        ns = svc.metadata.namespace or "default"
        selector = LabelSelector(match_labels=svc.spec.selector)
        pods = sorted(p.key for p in bp.pods() if p.namespace == ns and matches(selector, p.labels))
        if pods:
            return LoadService(ns, svc.metadata.name, port.port, tuple(pods))
    raise NoLoadService(
        "no tenant Service with a TCP port named 'http' that selects pods: the load suite has "
        "nothing to load (name the port of a tenant's public Service 'http')"
    )


__all__ = ["LoadService", "NoLoadService", "load_service"]
