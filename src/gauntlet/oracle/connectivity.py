"""Expected pod-to-pod connectivity (source pod x destination pod x port/protocol).

A connection is allowed when the source's egress and the destination's ingress both allow it.
Per direction, as Cilium enforces it:
1. a matching deny rule of any selecting policy drops it, whatever allows exist;
2. otherwise, an endpoint no policy puts into default-deny for that direction allows it;
3. otherwise it is allowed only if some allow rule of a selecting policy matches peer and port.
Self-traffic (a pod to itself) has no cell: it never leaves the pod's network namespace.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

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

    ``l7_rules`` is None when L7 is unrestricted, else the union of HTTP rules that govern the
    cell (from the ingress side, where Cilium's proxy enforces them; egress L7 rules are added).
    """

    cell: Cell
    allowed: bool
    egress_reason: str
    ingress_reason: str
    l7_rules: tuple[HTTPRule, ...] | None = None

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


def _rule_matches(rule: Rule, peer: Endpoint, cell: Cell, dst: Endpoint) -> PortMatch | bool:
    """False if the rule does not cover the cell, else the matching port clause (or True)."""
    if not rule.peers.contains(peer.index):
        return False
    if rule.ports is None:
        return True
    for pm in rule.ports:
        if _port_matches(pm, cell, dst):
            return pm
    return False


@dataclass
class _DirectionIndex:
    """Per endpoint: whether it is default-deny and which rules apply, for one direction."""

    enforced_by: dict[int, list[str]]
    allows: dict[int, list[Rule]]
    denies: dict[int, list[Rule]]


def _index(policies: PolicySet, direction: Direction, n: int) -> _DirectionIndex:
    idx = _DirectionIndex({}, {i: [] for i in range(n)}, {i: [] for i in range(n)})
    for pol in policies.policies:
        dd = pol.default_deny_ingress if direction is Direction.INGRESS else pol.default_deny_egress
        rules = [r for r in pol.rules if r.direction is direction]
        for subject in pol.subjects:
            if dd:
                idx.enforced_by.setdefault(subject, []).append(pol.ref)
            for r in rules:
                (idx.denies if r.deny else idx.allows)[subject].append(r)
    return idx


def _evaluate(
    idx: _DirectionIndex, subject: Endpoint, peer: Endpoint, cell: Cell, dst: Endpoint
) -> tuple[bool, str, tuple[HTTPRule, ...] | None]:
    for rule in idx.denies[subject.index]:
        if _rule_matches(rule, peer, cell, dst):
            return False, f"denied by {rule.origin}", None
    enforcing = idx.enforced_by.get(subject.index)
    if not enforcing:
        return True, "not selected by a default-deny policy", None
    allowed_by: list[str] = []
    l7: list[HTTPRule] = []
    unrestricted = False
    for rule in idx.allows[subject.index]:
        hit = _rule_matches(rule, peer, cell, dst)
        if hit is False:
            continue
        allowed_by.append(rule.origin)
        if isinstance(hit, PortMatch) and hit.http is not None:
            l7.extend(hit.http)
        else:
            unrestricted = True
    if not allowed_by:
        return False, f"denied: default-deny ({enforcing[0]}) and no allow rule matches", None
    return True, f"allowed by {allowed_by[0]}", None if unrestricted else tuple(l7)


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
        ok_out, why_out, l7_out = _evaluate(egress, src, dst, cell, dst)
        ok_in, why_in, l7_in = _evaluate(ingress, dst, src, cell, dst)
        l7: tuple[HTTPRule, ...] | None = None
        if l7_out is not None or l7_in is not None:
            l7 = (l7_out or ()) + (l7_in or ())
        table.expectations.append(
            Expectation(
                cell=cell,
                allowed=ok_out and ok_in,
                egress_reason=why_out,
                ingress_reason=why_in,
                l7_rules=l7 if ok_out and ok_in else None,
            )
        )
    return table
