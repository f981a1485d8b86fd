"""Compile normalised policies into nftables rulesets the sandbox kernel enforces.

The policy table lives in the sandbox's root namespace, where every pod-to-pod packet is routed.
For a new connection the forward chain:
1. drops it if a deny rule matches (egress deny of the source, ingress deny of the destination),
2. if the source is egress-enforced, requires an egress allow rule to set mark bit 0x1,
3. if the destination is ingress-enforced, requires an ingress allow rule to set mark bit 0x2.
Replies of an accepted connection pass by conntrack state, as in Cilium's datapath.

This is the sandbox's *enforcement* and is written independently of ``gauntlet.oracle``, which
*predicts*; the isolation suite compares the two through real packets.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from gauntlet.policy import Direction, PolicySet, PortMatch, Rule
from gauntlet.targets.local.l7 import L7Options
from gauntlet.targets.local.plan import SandboxPlan, ServicePlan

TABLE = "gauntlet"
SERVICE_TABLE = "gauntlet_svc"
_PROTO = {"TCP": "tcp", "UDP": "udp", "SCTP": "sctp"}
_EGRESS_OK = "0x00000001"
_INGRESS_OK = "0x00000002"


@dataclass(frozen=True)
class CompileOptions:
    """Knobs used by selfcheck to plant enforcement faults (never by normal runs).

    ``unenforced`` pods have no policy applied at all, as if the agent never programmed their
    endpoint. ``disabled`` switches enforcement off entirely. ``l7`` plants L7 proxy faults.
    """

    unenforced: frozenset[str] = frozenset()
    disabled: bool = False
    l7: L7Options = field(default_factory=L7Options)


def _set(items: Iterable[str]) -> str:
    values = sorted(set(items))
    return "{ " + ", ".join(values) + " }"


def _port_exprs(pm: PortMatch, named_ports: Sequence[tuple[str, int, str]]) -> list[str]:
    """nft expressions for one port clause; ``named_ports`` are (ip, port, protocol) triples."""
    protos = list(_PROTO.values()) if pm.protocol == "ANY" else [_PROTO[pm.protocol]]
    proto_expr = f"meta l4proto {_set(protos)}" if len(protos) > 1 else f"meta l4proto {protos[0]}"
    if pm.name is not None:
        if not named_ports:
            return []
        if len(protos) == 1:
            pairs = _set(f"{ip} . {port}" for ip, port, _ in named_ports)
            return [f"{proto_expr} ip daddr . th dport {pairs}"]
        # With ANY, a name still resolves per protocol (Cilium): "dns" may be UDP 53 while
        # TCP 53 is named "dns-tcp", so the protocol travels with each resolved port.
        triples = _set(f"{_PROTO[proto]} . {ip} . {port}" for ip, port, proto in named_ports)
        return [f"meta l4proto . ip daddr . th dport {triples}"]
    if pm.port is None:
        return [proto_expr]
    ports = f"{pm.port}-{pm.end_port}" if pm.end_port is not None else str(pm.port)
    return [f"{proto_expr} th dport {ports}"]


class _Compiler:
    def __init__(self, plan: SandboxPlan, options: CompileOptions) -> None:
        self.plan = plan
        self.ip = [p.ip for p in plan.pods]
        self.skip = {p.index for p in plan.pods if p.key in options.unenforced}

    def named(self, name: str, protocol: str, owners: Iterable[int]) -> list[tuple[str, int, str]]:
        out = []
        for idx in owners:
            for proto in ("TCP", "UDP", "SCTP") if protocol == "ANY" else (protocol,):
                port = self.plan.endpoints[idx].pod.port_by_name(name, proto)
                if port is not None:
                    out.append((self.ip[idx], port.container_port, proto))
        return out

    def rule_lines(self, rule: Rule, subjects: frozenset[int], verdict: str) -> list[str]:
        subjects = frozenset(s for s in subjects if s not in self.skip)
        if not subjects:
            return []
        egress = rule.direction is Direction.EGRESS
        own, peer = ("saddr", "daddr") if egress else ("daddr", "saddr")
        head = f"ip {own} {_set(self.ip[s] for s in subjects)}"
        if not rule.peers.any_peer:
            if not rule.peers.endpoints:
                return []
            head += f" ip {peer} {_set(self.ip[e] for e in rule.peers.endpoints)}"
        if rule.ports is None:
            return [f"{head} {verdict}"]
        lines = []
        # The port owner is the destination: the peer for egress, the subject for ingress.
        owners = rule.peers.endpoints if egress else subjects
        if egress and rule.peers.any_peer:
            owners = frozenset(range(len(self.ip)))
        for pm in rule.ports:
            named = self.named(pm.name, pm.protocol, owners) if pm.name else []
            lines += [f"{head} {expr} {verdict}" for expr in _port_exprs(pm, named)]
        return lines


def compile_policy(
    policies: PolicySet, plan: SandboxPlan, options: CompileOptions | None = None
) -> str:
    """The full ``inet gauntlet`` table, replacing any previous one atomically (one nft -f)."""
    opts = options or CompileOptions()
    comp = _Compiler(plan, opts)
    enforced = {Direction.INGRESS: set(), Direction.EGRESS: set()}  # type: dict[Direction, set[int]]
    chains: dict[str, list[str]] = {
        "egress_deny": [],
        "ingress_deny": [],
        "egress_allow": [],
        "ingress_allow": [],
    }
    if not opts.disabled:
        for pol in policies.policies:
            if pol.default_deny_ingress:
                enforced[Direction.INGRESS] |= pol.subjects - comp.skip
            if pol.default_deny_egress:
                enforced[Direction.EGRESS] |= pol.subjects - comp.skip
            for rule in pol.rules:
                egress = rule.direction is Direction.EGRESS
                if rule.deny:
                    chain = "egress_deny" if egress else "ingress_deny"
                    verdict = f'drop comment "{_comment(rule.origin)}"'
                else:
                    chain = "egress_allow" if egress else "ingress_allow"
                    bit = _EGRESS_OK if egress else _INGRESS_OK
                    verdict = f"meta mark set meta mark or {bit}"
                chains[chain] += comp.rule_lines(rule, pol.subjects, verdict)
    out = [f"table inet {TABLE} {{}}", f"delete table inet {TABLE}", f"table inet {TABLE} {{"]
    for direction, name in ((Direction.INGRESS, "enforced_in"), (Direction.EGRESS, "enforced_out")):
        out.append(f"  set {name} {{ type ipv4_addr;")
        ips = [comp.ip[i] for i in sorted(enforced[direction])]
        if ips:
            out.append(f"    elements = {_set(ips)}")
        out.append("  }")
    for name, lines in chains.items():
        out.append(f"  chain {name} {{")
        out += [f"    {line}" for line in lines]
        out.append("  }")
    out += [
        "  chain forward {",
        "    type filter hook forward priority filter; policy accept;",
        "    ct state established,related accept",
        "    ct state invalid drop",
        "    meta mark set 0x0",
        "    jump egress_deny",
        "    jump ingress_deny",
        "    ip saddr @enforced_out jump egress_allow",
        f"    ip saddr @enforced_out meta mark and {_EGRESS_OK} == 0x0 drop",
        "    ip daddr @enforced_in jump ingress_allow",
        f"    ip daddr @enforced_in meta mark and {_INGRESS_OK} == 0x0 drop",
        "  }",
        "}",
    ]
    return "\n".join(out) + "\n"


def _comment(text: str) -> str:
    return text.replace('"', "'")[:120]


def compile_services(services: Sequence[ServicePlan]) -> str:
    """Per-pod service translation at connect time (the output hook of each pod's namespace)."""
    lines = [
        f"table ip {SERVICE_TABLE} {{}}",
        f"delete table ip {SERVICE_TABLE}",
        f"table ip {SERVICE_TABLE} {{",
        "  chain output {",
        "    type nat hook output priority -100; policy accept;",
    ]
    for svc in services:
        if not svc.backends:
            continue
        proto = _PROTO[svc.protocol]
        targets = ", ".join(f"{i} : {b.ip} . {b.port}" for i, b in enumerate(svc.backends))
        lines.append(
            f"    ip daddr {svc.vip} {proto} dport {svc.port} "
            f"dnat ip to numgen random mod {len(svc.backends)} map {{ {targets} }}"
        )
    lines += ["  }", "}"]
    return "\n".join(lines) + "\n"


# -- chaos: tables of their own, one per injected fault -------------------------------------
#
# Each network fault is a table ``inet gauntlet_chaos_<n>`` whose forward chain runs before the
# policy table's (priority filter - 10 < filter). A drop in any base chain is final for the
# packet, whatever other tables accept, so a partition wins over every policy allow and over
# the policy table's "ct state established accept" (a partition cuts live connections too).
# Creating and deleting a whole table are single nft transactions: the fault appears and
# disappears atomically, and deleting an absent table is made a no-op by declaring it first.

CHAOS_TABLE_PREFIX = "gauntlet_chaos_"
CHAOS_PRIORITY = -10
# Packet loss is drawn per mille: numgen random mod 1000 < loss.
_LOSS_SCALE = 1000


def chaos_table(n: int) -> str:
    return f"{CHAOS_TABLE_PREFIX}{n}"


def _chaos_table(
    table: str,
    sets: dict[str, Iterable[str]],
    rules: Sequence[str],
    chains: dict[str, Sequence[str]] | None = None,
) -> str:
    out = [f"table inet {table} {{}}", f"delete table inet {table}", f"table inet {table} {{"]
    for name, ips in sets.items():
        out += [f"  set {name} {{ type ipv4_addr;", f"    elements = {_set(ips)}", "  }"]
    for name, lines in (chains or {}).items():
        out += [f"  chain {name} {{", *(f"    {line}" for line in lines), "  }"]
    out += [
        "  chain forward {",
        f"    type filter hook forward priority {CHAOS_PRIORITY}; policy accept;",
        *(f"    {rule}" for rule in rules),
        "  }",
        "}",
    ]
    return "\n".join(out) + "\n"


def partition_ruleset(table: str, side_a: Iterable[str], side_b: Iterable[str]) -> str:
    """Drop every packet between the pod addresses of side A and side B, both ways."""
    return _chaos_table(
        table,
        {"side_a": side_a, "side_b": side_b},
        [
            'ip saddr @side_a ip daddr @side_b drop comment "network-partition a->b"',
            'ip saddr @side_b ip daddr @side_a drop comment "network-partition b->a"',
        ],
    )


def loss_ruleset(table: str, pods: Iterable[str], percent: float) -> str:
    """Drop ``percent`` % of the packets to or from the pod addresses ``pods``.

    One draw per packet: a packet between two lossy pods is not rolled twice (``goto`` ends the
    base chain when the lossy chain returns)."""
    per_mille = round(percent * _LOSS_SCALE / 100)
    # numgen's values are 0..999: "< 1000" is out of its range, and 100 % is a plain drop.
    draw = "" if per_mille >= _LOSS_SCALE else f"numgen random mod {_LOSS_SCALE} < {per_mille} "
    loss = [f'{draw}drop comment "packet-loss"'] if per_mille > 0 else []
    return _chaos_table(
        table,
        {"lossy": pods},
        ["ip saddr @lossy goto loss", "ip daddr @lossy goto loss"],
        {"loss": loss},
    )


def delete_table_ruleset(table: str) -> str:
    """Remove ``table`` if present (idempotent: declaring it first makes the delete valid)."""
    return f"table inet {table} {{}}\ndelete table inet {table}\n"


def flushed_policy_ruleset() -> str:
    """The policy table with every rule flushed: its chains accept everything (fail-open)."""
    return f"table inet {TABLE} {{}}\nflush table inet {TABLE}\n"
