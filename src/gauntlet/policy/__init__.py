"""Normalised policy rules: Kubernetes NetworkPolicy and Cilium policies in one shape.

Cilium translates Kubernetes NetworkPolicy into its own rule format before enforcing it; we do
the same so the oracle (``gauntlet.oracle``) and the sandbox's enforcement compiler
(``gauntlet.targets.local.nftables``) read one rule model. Each of them implements the
*semantics* (default-deny, unions, deny-wins) on its own: the oracle by evaluating cells, the
compiler by emitting kernel rules, so one cannot hide the other's mistakes.
"""

from gauntlet.policy.endpoints import Endpoint, endpoints_of
from gauntlet.policy.ir import Direction, PeerSet, PolicySet, PortMatch, Rule, SelectedPolicy
from gauntlet.policy.normalize import normalize

__all__ = [
    "Direction",
    "Endpoint",
    "PeerSet",
    "PolicySet",
    "PortMatch",
    "Rule",
    "SelectedPolicy",
    "endpoints_of",
    "normalize",
]
