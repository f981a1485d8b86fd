"""Expected pod-to-pod connectivity (source pod x destination pod x port/protocol).

A connection is allowed when the source's egress and the destination's ingress both allow it.
Per direction, as Cilium enforces it:
1. a matching deny rule of any selecting policy drops it, whatever allows exist;
2. otherwise, an endpoint no policy puts into default-deny for that direction allows it;
3. otherwise it is allowed only if some allow rule of a selecting policy matches peer and port.
Self-traffic (a pod to itself) has no cell: it never leaves the pod's network namespace.

L7 (HTTP rules, ``toPorts[].rules.http``) is decided per side, as Cilium enforces it: the source's
egress rules run in the source's proxy, the destination's ingress rules in the destination's, and
a request must pass both. Per endpoint, direction and port, one allow rule carrying HTTP rules
redirects *all* traffic on that port to the proxy; a peer allowed there by a rule without HTTP
rules gets a wildcard HTTP rule (Cilium pkg/policy ``wildcardL3L4Rule``: ``HTTP: [{}]``), so it
is proxied but unrestricted at L7. An empty ``http: []`` is no L7 rule (Cilium: ``IsEmpty``).
Approximations: port clauses are compared by the ports they cover, while Cilium keys its L4
filters by the clause as written (a peer allowed only through a port range may bypass a proxy on
one port of it); HTTP rules on non-TCP cells are ignored (the proxy is an HTTP/TCP proxy); with
``enableDefaultDeny: false`` only peers matched by a rule carrying HTTP rules are proxied.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from gauntlet.blueprint.cilium import HTTPRule
from gauntlet.blueprint.model import Blueprint
from gauntlet.policy import Direction, Endpoint, PolicySet, PortMatch, Rule, endpoints_of, normalize


@dataclass(frozen=True)
class Cell:
    """One probe target: ``src`` pod to ``dst`` pod on a declared container port."""

    src: str
    dst: str
    port: int
    protocol: str
    port_name: str | None = None

    @property
    def id(self) -> str:
        return f"{self.src}->{self.dst}:{self.port}/{self.protocol}"


@dataclass(frozen=True)
class Expectation:
    """The oracle's verdict for a cell, with the reasons for each direction.

    Only allowed cells carry L7 information. ``l7_egress`` / ``l7_ingress`` are the HTTP rules of
    the source's egress / destination's ingress side, one of which must match a request (None:
    unrestricted on that side). ``l7_proxied``: requests on this cell traverse an L7 proxy at
    all (and so are normalised by Envoy), whether or not either side restricts them.
    """

    cell: Cell
    allowed: bool
    egress_reason: str
    ingress_reason: str
    l7_egress: tuple[HTTPRule, ...] | None = None
    l7_ingress: tuple[HTTPRule, ...] | None = None
    l7_proxied: bool = False

    @property
    def reason(self) -> str:
        if self.allowed:
            return f"egress: {self.egress_reason}; ingress: {self.ingress_reason}"
        if self.egress_reason.startswith("denied"):
            return f"egress {self.egress_reason}"
        return f"ingress {self.ingress_reason}"


@dataclass
class TruthTable:
    """The whole expected matrix, in a stable order (source, destination, port)."""

    endpoints: list[Endpoint]
    expectations: list[Expectation] = field(default_factory=list)

    def by_source(self) -> dict[str, list[Expectation]]:
        rows: dict[str, list[Expectation]] = {ep.key: [] for ep in self.endpoints}
        for exp in self.expectations:
            rows[exp.cell.src].append(exp)
        return rows

    def lookup(self) -> dict[str, Expectation]:
        return {e.cell.id: e for e in self.expectations}

    @property
    def allowed_count(self) -> int:
        return sum(1 for e in self.expectations if e.allowed)


def _port_matches(pm: PortMatch, cell: Cell, peer_of_port: Endpoint) -> bool:
    if not pm.matches_protocol(cell.protocol):
        return False
    if pm.name is not None:
        # A named port resolves against the container ports of the pod that owns the port.
        named = peer_of_port.pod.port_by_name(pm.name, cell.protocol)
        return named is not None and named.container_port == cell.port
    if pm.port is None:
        return True
    if pm.end_port is not None:
        return pm.port <= cell.port <= pm.end_port
    return pm.port == cell.port


def _matching_ports(rule: Rule, cell: Cell, dst: Endpoint) -> tuple[PortMatch, ...] | None:
    """The rule's port clauses that cover the cell's port (``()``: an L3-only rule), or None."""
    if rule.ports is None:
        return ()
    hits = tuple(pm for pm in rule.ports if _port_matches(pm, cell, dst))
    return hits or None


def _http(pm: PortMatch, cell: Cell) -> tuple[HTTPRule, ...] | None:
    """The clause's HTTP rules if they govern this cell (TCP, non-empty list), else None."""
    return pm.http if pm.http and cell.protocol == "TCP" else None


class _Side(NamedTuple):
    """One direction's verdict for a cell, with its L7 part (a tuple: built once per cell)."""

    allowed: bool
    reason: str
    l7: tuple[HTTPRule, ...] | None = None  # None: unrestricted at L7 for this peer
    proxied: bool = False  # this endpoint's proxy handles the cell's port in this direction


@dataclass
class _DirectionIndex:
    """Per endpoint: whether it is default-deny and which rules apply, for one direction."""

    enforced_by: dict[int, list[str]]
    allows: dict[int, list[Rule]]
    denies: dict[int, list[Rule]]
    http_allows: dict[int, list[Rule]]  # the allows with HTTP rules on some port clause


def _index(policies: PolicySet, direction: Direction, n: int) -> _DirectionIndex:
    idx = _DirectionIndex({}, {i: [] for i in range(n)}, {i: [] for i in range(n)}, {})
    for pol in policies.policies:
        dd = pol.default_deny_ingress if direction is Direction.INGRESS else pol.default_deny_egress
        rules = [r for r in pol.rules if r.direction is direction]
        for subject in pol.subjects:
            if dd:
                idx.enforced_by.setdefault(subject, []).append(pol.ref)
            for r in rules:
                (idx.denies if r.deny else idx.allows)[subject].append(r)
                if not r.deny and r.ports and any(pm.http for pm in r.ports):
                    idx.http_allows.setdefault(subject, []).append(r)
    return idx


def _evaluate(
    idx: _DirectionIndex, subject: Endpoint, peer: Endpoint, cell: Cell, dst: Endpoint
) -> _Side:
    for rule in idx.denies[subject.index]:
        if rule.peers.contains(peer.index) and _matching_ports(rule, cell, dst) is not None:
            return _Side(False, f"denied by {rule.origin}")
    allowed_by: list[str] = []
    l7: list[HTTPRule] = []
    unrestricted = False
    for rule in idx.allows[subject.index]:
        if not rule.peers.contains(peer.index):
            continue
        ports = _matching_ports(rule, cell, dst)
        if ports is None:
            continue
        allowed_by.append(rule.origin)
        for pm in ports or (None,):
            rules = None if pm is None else _http(pm, cell)
            if rules is None:
                unrestricted = True  # Cilium gives this peer a wildcard HTTP rule
            else:
                l7.extend(rules)
    enforcing = idx.enforced_by.get(subject.index)
    if not enforcing:
        # Default-allow direction: only peers matched by a rule with HTTP rules meet the proxy.
        return _Side(
            True,
            "not selected by a default-deny policy",
            None if unrestricted or not l7 else tuple(l7),
            bool(l7),
        )
    if not allowed_by:
        return _Side(False, f"denied: default-deny ({enforcing[0]}) and no allow rule matches")
    # One allow rule with HTTP rules on this port, for any peer, puts the port behind the proxy.
    proxied = bool(l7) or any(
        _http(pm, cell)
        for rule in idx.http_allows.get(subject.index, ())
        for pm in _matching_ports(rule, cell, dst) or ()
    )
    return _Side(True, f"allowed by {allowed_by[0]}", None if unrestricted else tuple(l7), proxied)


def cells_for(endpoints: Sequence[Endpoint]) -> list[Cell]:
    """Every (source, destination, declared port) cell, excluding a pod to itself."""
    cells = []
    for src in endpoints:
        for dst in endpoints:
            if src.index == dst.index:
                continue
            seen = set()
            for port in dst.pod.ports:
                key = (port.container_port, port.protocol.value)
                if key in seen:
                    continue
                seen.add(key)
                cells.append(
                    Cell(
                        src=src.key,
                        dst=dst.key,
                        port=port.container_port,
                        protocol=port.protocol.value,
                        port_name=port.name,
                    )
                )
    return cells


def compute_truth_table(bp: Blueprint, policies: PolicySet | None = None) -> TruthTable:
    """The expected matrix for ``bp`` (optionally with an explicit, e.g. altered, policy set)."""
    endpoints = endpoints_of(bp)
    pset = policies if policies is not None else normalize(bp, endpoints)
    by_key = {ep.key: ep for ep in endpoints}
    egress = _index(pset, Direction.EGRESS, len(endpoints))
    ingress = _index(pset, Direction.INGRESS, len(endpoints))
    table = TruthTable(endpoints=endpoints)
    for cell in cells_for(endpoints):
        src, dst = by_key[cell.src], by_key[cell.dst]
        out = _evaluate(egress, src, dst, cell, dst)
        into = _evaluate(ingress, dst, src, cell, dst)
        allowed = out.allowed and into.allowed
        table.expectations.append(
            Expectation(
                cell=cell,
                allowed=allowed,
                egress_reason=out.reason,
                ingress_reason=into.reason,
                l7_egress=out.l7 if allowed else None,
                l7_ingress=into.l7 if allowed else None,
                l7_proxied=allowed and (out.proxied or into.proxied),
            )
        )
    return table
