"""Compile the L7 (HTTP) part of the normalised policies into per-pod proxy configurations and
the nftables redirects that send governed connections to each pod's proxy.

Cilium's model, as enforced here:
- Per endpoint, direction and port: when any allow rule of a policy selecting the endpoint
  covers the port and carries ``rules.http``, ALL allowed traffic on that port in that direction
  goes through the proxy; a peer whose matching rules carry no HTTP rules is unrestricted there
  (Cilium adds a wildcard L7 rule for it).
- A request must pass the source's egress rules and the destination's ingress rules.

The sandbox runs ONE proxy per destination pod and enforces both sides there: nftables in the
destination's namespace redirects the connection after the root namespace has admitted it at
L3/L4, so the L3/L4 verdict (a drop) always comes first, as in Cilium, and Service traffic
(translated to the backend in the client's namespace) is covered too. What a client can tell
apart from Cilium is only where the 403 comes from, never what it says.

Written independently of ``gauntlet.oracle`` (which predicts what this enforces).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from gauntlet.blueprint.cilium import HTTPRule
from gauntlet.policy import Direction, PolicySet, PortMatch, Rule
from gauntlet.targets.local.plan import SandboxPlan

L7_TABLE = "gauntlet_l7"
PROXY_PORT = 15001


@dataclass(frozen=True)
class L7Options:
    """selfcheck knobs: ``bypass`` installs no redirect (rules not enforced), ``unanchored``
    matches path regexes as a search, ``ignore_method`` drops the method of every rule."""

    bypass: bool = False
    unanchored: bool = False
    ignore_method: bool = False


@dataclass(frozen=True)
class PodL7:
    """What one pod's proxy enforces: ``config`` for the proxy, ``ruleset`` for its netns."""

    config: dict[str, Any]
    ruleset: str


def _covers(pm: PortMatch, port: int, plan: SandboxPlan, owner: int) -> bool:
    if not pm.matches_protocol("TCP"):
        return False
    if pm.name is not None:
        named = plan.endpoints[owner].pod.port_by_name(pm.name, "TCP")
        return named is not None and named.container_port == port
    if pm.port is None:
        return True
    if pm.end_port is not None:
        return pm.port <= port <= pm.end_port
    return pm.port == port


def _rule_json(rule: HTTPRule) -> dict[str, Any]:
    return rule.model_dump(by_alias=True, exclude_none=True, exclude_defaults=True)


class _Side:
    """Allow rules of one direction for one subject endpoint."""

    def __init__(self) -> None:
        self.enforced = False
        self.rules: list[Rule] = []

    def proxied(self, port: int, plan: SandboxPlan, owner: int) -> bool:
        """Whether some allow rule covering ``port`` (of pod ``owner``) carries HTTP rules,
        for any peer: then all allowed traffic on the port goes through the proxy."""
        for rule in self.rules:
            for pm in rule.ports or ():
                if pm.http is not None and _covers(pm, port, plan, owner):
                    return True
        return False

    def flow_rules(
        self, peer: int, port: int, plan: SandboxPlan, owner: int
    ) -> list[dict[str, Any]] | None:
        """The HTTP rules for traffic with ``peer`` on ``port``; None: unrestricted."""
        http: list[dict[str, Any]] = []
        matched = False
        for rule in self.rules:
            if not rule.peers.contains(peer):
                continue
            if rule.ports is None:
                return None  # L3-only allow: every port, no L7
            for pm in rule.ports:
                if not _covers(pm, port, plan, owner):
                    continue
                matched = True
                if pm.http is None:
                    return None
                http += [_rule_json(r) for r in pm.http]
        if not matched:
            # Not default-deny: an allowed peer no rule names is unrestricted. Default-deny:
            # L3/L4 drops it before the proxy; [] (deny all) keeps the proxy safe regardless.
            return None if not self.enforced else []
        return http


def compile_l7(
    policies: PolicySet,
    plan: SandboxPlan,
    options: L7Options | None = None,
    *,
    unenforced: Iterable[str] = (),
    disabled: bool = False,
    revision: int = 0,
) -> dict[str, PodL7]:
    """Per pod key with at least one proxied port: its proxy config and redirect ruleset."""
    opts = options or L7Options()
    skip = set(unenforced)
    n = len(plan.pods)
    ingress = [_Side() for _ in range(n)]
    egress = [_Side() for _ in range(n)]
    if not disabled:
        for pol in policies.policies:
            for subject in pol.subjects:
                if plan.pods[subject].key in skip:
                    continue
                if pol.default_deny_ingress:
                    ingress[subject].enforced = True
                if pol.default_deny_egress:
                    egress[subject].enforced = True
                for rule in pol.rules:
                    if rule.deny:
                        continue
                    side = ingress if rule.direction is Direction.INGRESS else egress
                    side[subject].rules.append(rule)
    identities = {p.ip: p.key for p in plan.pods}
    out: dict[str, PodL7] = {}
    for dst in plan.pods:
        d = dst.index
        ports: dict[str, dict[str, Any]] = {}
        whole_ports: list[int] = []
        per_source: dict[int, list[str]] = {}
        for port in dst.tcp_ports:
            in_proxied = ingress[d].proxied(port, plan, d)
            sources: dict[str, Any] = {}
            egress_only: list[str] = []
            for src in plan.pods:
                if src.index == d:
                    continue
                s = src.index
                # The owner of the port is the destination, whichever side the rule is on.
                out_proxied = egress[s].proxied(port, plan, d)
                if not in_proxied and not out_proxied:
                    continue
                flow = {
                    "egress": egress[s].flow_rules(d, port, plan, d) if out_proxied else None,
                    "ingress": ingress[d].flow_rules(s, port, plan, d) if in_proxied else None,
                }
                sources[src.ip] = flow
                if not in_proxied:
                    egress_only.append(src.ip)
            if not sources:
                continue
            ports[str(port)] = sources
            if in_proxied:
                whole_ports.append(port)
            else:
                per_source[port] = egress_only
        if not ports:
            continue
        config: dict[str, Any] = {
            "pod": dst.key,
            "listen": PROXY_PORT,
            "revision": revision,
            "identities": identities,
            "ports": ports,
            "faults": {"unanchored": opts.unanchored, "ignore_method": opts.ignore_method},
        }
        out[dst.key] = PodL7(config, _ruleset(whole_ports, per_source, bypass=opts.bypass))
    return out


def _ruleset(whole: list[int], per_source: dict[int, list[str]], *, bypass: bool) -> str:
    lines = [
        f"table ip {L7_TABLE} {{}}",
        f"delete table ip {L7_TABLE}",
        f"table ip {L7_TABLE} {{",
        "  chain prerouting {",
        "    type nat hook prerouting priority dstnat; policy accept;",
    ]
    if not bypass:
        if whole:
            ports = ", ".join(str(p) for p in sorted(whole))
            lines.append(f'    iifname "eth0" tcp dport {{ {ports} }} redirect to :{PROXY_PORT}')
        for port, ips in sorted(per_source.items()):
            addrs = ", ".join(sorted(ips))
            lines.append(
                f'    iifname "eth0" ip saddr {{ {addrs} }} tcp dport {port} '
                f"redirect to :{PROXY_PORT}"
            )
    lines += ["  }", "}"]
    return "\n".join(lines) + "\n"


def clear_ruleset() -> str:
    return f"table ip {L7_TABLE} {{}}\ndelete table ip {L7_TABLE}\n"
