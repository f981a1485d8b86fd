"""The normalised rule model both the oracle and the enforcement compiler read."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from gauntlet.blueprint.cilium import HTTPRule


class Direction(StrEnum):
    INGRESS = "ingress"
    EGRESS = "egress"


@dataclass(frozen=True)
class PortMatch:
    """A port clause. ``port is None`` means every port; ``name`` is a named container port.

    ``protocol`` is TCP, UDP, SCTP or ANY (Cilium's ANY covers all three).
    ``http`` holds L7 rules (None: unrestricted at L7).
    """

    protocol: str
    port: int | None = None
    end_port: int | None = None
    name: str | None = None
    http: tuple[HTTPRule, ...] | None = None

    def matches_protocol(self, protocol: str) -> bool:
        return self.protocol in ("ANY", protocol)


@dataclass(frozen=True)
class PeerSet:
    """The peers of a rule, resolved to endpoint indices.

    ``any_peer`` is Cilium's L3 wildcard (a rule with only toPorts, a NetworkPolicy rule without
    ``from``/``to``): every endpoint and every address. ``endpoints`` are the matched endpoints.
    ``external`` records peers outside the pod network (world/host entities, CIDRs) that the
    pod-to-pod truth table has no cells for.
    """

    any_peer: bool
    endpoints: frozenset[int]
    external: tuple[str, ...] = ()

    def contains(self, index: int) -> bool:
        return self.any_peer or index in self.endpoints


@dataclass(frozen=True)
class Rule:
    """One allow or deny rule of one policy, for one direction.

    ``ports is None`` means all ports (an L3-only rule). ``origin`` points at the manifest field
    (``CiliumNetworkPolicy team-a/allow-dns spec.egress[0]``) for explanations.
    """

    direction: Direction
    deny: bool
    peers: PeerSet
    ports: tuple[PortMatch, ...] | None
    origin: str


@dataclass(frozen=True)
class SelectedPolicy:
    """A policy with the endpoints it selects and its per-direction default-deny effect."""

    ref: str
    subjects: frozenset[int]
    default_deny_ingress: bool
    default_deny_egress: bool
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class PolicySet:
    """All policies of a blueprint, normalised."""

    policies: tuple[SelectedPolicy, ...]

    def without(self, refs: set[str]) -> PolicySet:
        return PolicySet(tuple(p for p in self.policies if p.ref not in refs))
