"""CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy (cilium.io/v2) as typed models.

Every field of a rule changes who may talk to whom, so these models forbid unknown fields: a
construct Gauntlet cannot evaluate is an error naming its field, never silently ignored. The
constructs Cilium has but Gauntlet does not evaluate (``fromRequires``, ``toFQDNs``, ``toGroups``,
node selectors, ...) are listed in ``UNSUPPORTED_RULE_FIELDS`` with the reason given to the user.
"""

from __future__ import annotations

import re
import warnings
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from gauntlet.blueprint.kube import ObjectMeta
from gauntlet.blueprint.selectors import LabelSelector

UNSUPPORTED_RULE_FIELDS: dict[str, str] = {
    "fromRequires": "deprecated in Cilium and not evaluated by the oracle; express it with "
    "fromEndpoints selectors",
    "toRequires": "deprecated in Cilium and not evaluated by the oracle; express it with "
    "toEndpoints selectors",
    "fromGroups": "cloud-provider groups cannot be resolved offline",
    "toGroups": "cloud-provider groups cannot be resolved offline",
    "fromNodes": "node selectors need the cluster's node labels, which a blueprint does not hold",
    "toNodes": "node selectors need the cluster's node labels, which a blueprint does not hold",
    "toFQDNs": "FQDN rules depend on live DNS answers and are not evaluated",
    "toServices": "toServices is not evaluated; select the backing pods with toEndpoints",
    "authentication": "mutual authentication is not modelled",
    "nodeSelector": "host policies (nodeSelector) are not modelled",
}


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class L4Protocol(StrEnum):
    TCP = "TCP"
    UDP = "UDP"
    SCTP = "SCTP"
    ANY = "ANY"


class Entity(StrEnum):
    """Cilium's reserved identities usable in fromEntities/toEntities."""

    ALL = "all"
    WORLD = "world"
    WORLD_IPV4 = "world-ipv4"
    WORLD_IPV6 = "world-ipv6"
    CLUSTER = "cluster"
    HOST = "host"
    REMOTE_NODE = "remote-node"
    KUBE_APISERVER = "kube-apiserver"
    INGRESS = "ingress"
    INIT = "init"
    HEALTH = "health"
    UNMANAGED = "unmanaged"


class PortProtocol(_Strict):
    port: str = "0"
    end_port: int | None = Field(default=None, alias="endPort", ge=1, le=65535)
    protocol: L4Protocol = L4Protocol.ANY

    @field_validator("port", mode="before")
    @classmethod
    def _port_as_text(cls, value: object) -> object:
        # Cilium's CRD types the port as a string ("80", "http"); YAML authors often write 80.
        return str(value) if isinstance(value, int) else value

    @field_validator("port")
    @classmethod
    def _port_valid(cls, value: str) -> str:
        if value.isdigit():
            if not 0 <= int(value) <= 65535:
                raise ValueError(f"port {value} is outside 0-65535")
        elif not value or len(value) > 15:
            raise ValueError(f"'{value}' is neither a port number nor an IANA port name")
        return value


# Constructs Python's ``re`` accepts that RE2 (Envoy's regex engine for Cilium's HTTP rules)
# rejects: the "NOT SUPPORTED" entries of https://github.com/google/re2/wiki/Syntax.
_RE2_UNSUPPORTED: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\(\?<?[=!]"), "lookahead and lookbehind assertions"),
    (re.compile(r"\(\?>"), "atomic groups"),
    (re.compile(r"\(\?P="), "named backreferences (?P=name)"),
    (re.compile(r"\\[1-9]"), "backreferences (\\1 .. \\9)"),
    (re.compile(r"\(\?\("), "conditional groups"),
    (re.compile(r"\(\?#"), "comment groups (?#...)"),
    (re.compile(r"\\Z"), "\\Z (RE2 spells the end of text \\z)"),
    (re.compile(r"(?:[*+?]|\{\d+(?:,\d*)?\})\+"), "possessive quantifiers (*+, ++, ?+, {n}+)"),
)


def _skeleton(pattern: str) -> tuple[str, bool]:
    """``pattern`` with bracket expressions and escaped punctuation reduced to ``_`` (so ``[(?=]``
    and ``\\(?=`` are not read as lookaheads), and whether it has a POSIX class ``[:name:]``."""
    out: list[str] = []
    posix = False
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            nxt = pattern[i + 1 : i + 2]
            out.append("\\" + nxt if nxt.isalnum() else "_")
            i += 2
        elif ch == "[":
            j = i + 1
            j += pattern.startswith("^", j)
            j += pattern.startswith("]", j)  # a leading ']' is a member
            while j < n and pattern[j] != "]":
                close = pattern.find(":]", j + 2) if pattern.startswith("[:", j) else -1
                if close != -1:
                    posix, j = True, close + 2
                else:
                    j += 2 if pattern[j] == "\\" else 1
            out.append("_")
            i = j + 1
        else:
            out.append(ch)
            i += 1
    return "".join(out), posix


def check_re2(pattern: str) -> str | None:
    """Why ``pattern`` cannot serve as a Cilium HTTP rule regex, or None if it can.

    Cilium hands ``path``, ``method`` and ``host`` to Envoy as RE2 regexes (pkg/envoy/server.go
    getHTTPRule); Gauntlet evaluates them with Python's ``re``. So a pattern must be RE2 (or
    Envoy refuses the policy) and must compile in Python (or the oracle cannot evaluate it). The
    RE2 side is a syntactic check of the constructs RE2 lists as unsupported; RE2's program-size
    limit is not checked.
    """
    skeleton, posix = _skeleton(pattern)
    for construct, name in _RE2_UNSUPPORTED:
        if construct.search(skeleton):
            return f"RE2, the regex engine Envoy uses for Cilium, does not support {name}"
    if posix:
        return "POSIX classes such as [[:alpha:]] are RE2 syntax that Python reads differently"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            re.compile(pattern)
    except re.error as exc:
        return f"not a regular expression Gauntlet can evaluate ({exc})"
    return None


class HTTPHeaderMatch(_Strict):
    name: str
    value: str | None = None
    mismatch: Literal["LOG", "ADD", "DELETE", "REPLACE"] | None = None
    secret: dict[str, Any] | None = None


class HTTPRule(_Strict):
    """An L7 HTTP rule: each field is a regular expression matched against the whole value."""

    method: str | None = None
    path: str | None = None
    host: str | None = None
    headers: tuple[str, ...] = ()
    header_matches: tuple[HTTPHeaderMatch, ...] = Field(default=(), alias="headerMatches")

    @field_validator("method", "path", "host")
    @classmethod
    def _re2_regex(cls, value: str | None) -> str | None:
        if value:
            problem = check_re2(value)
            if problem is not None:
                raise ValueError(f"regex {value!r}: {problem}")
        return value


class DNSRule(_Strict):
    match_name: str | None = Field(default=None, alias="matchName")
    match_pattern: str | None = Field(default=None, alias="matchPattern")


class L7Rules(_Strict):
    http: tuple[HTTPRule, ...] | None = None
    dns: tuple[DNSRule, ...] | None = None


class PortRule(_Strict):
    ports: tuple[PortProtocol, ...] = ()
    rules: L7Rules | None = None


class CIDRRule(_Strict):
    cidr: str
    except_: tuple[str, ...] = Field(default=(), alias="except")


class ICMPField(_Strict):
    type: int | str
    family: Literal["IPv4", "IPv6"] = "IPv4"


class ICMPRule(_Strict):
    fields: tuple[ICMPField, ...] = ()


class PeerRule(_Strict):
    """One ingress/egress (allow or deny) rule; the ``from*`` or ``to*`` half is used per side."""

    from_endpoints: tuple[LabelSelector, ...] | None = Field(default=None, alias="fromEndpoints")
    from_entities: tuple[Entity, ...] | None = Field(default=None, alias="fromEntities")
    from_cidr: tuple[str, ...] | None = Field(default=None, alias="fromCIDR")
    from_cidr_set: tuple[CIDRRule, ...] | None = Field(default=None, alias="fromCIDRSet")
    to_endpoints: tuple[LabelSelector, ...] | None = Field(default=None, alias="toEndpoints")
    to_entities: tuple[Entity, ...] | None = Field(default=None, alias="toEntities")
    to_cidr: tuple[str, ...] | None = Field(default=None, alias="toCIDR")
    to_cidr_set: tuple[CIDRRule, ...] | None = Field(default=None, alias="toCIDRSet")
    to_ports: tuple[PortRule, ...] | None = Field(default=None, alias="toPorts")
    icmps: tuple[ICMPRule, ...] | None = None


class DefaultDenyConfig(_Strict):
    ingress: bool | None = None
    egress: bool | None = None


class CiliumPolicySpec(_Strict):
    description: str | None = None
    endpoint_selector: LabelSelector | None = Field(default=None, alias="endpointSelector")
    ingress: tuple[PeerRule, ...] | None = None
    ingress_deny: tuple[PeerRule, ...] | None = Field(default=None, alias="ingressDeny")
    egress: tuple[PeerRule, ...] | None = None
    egress_deny: tuple[PeerRule, ...] | None = Field(default=None, alias="egressDeny")
    enable_default_deny: DefaultDenyConfig | None = Field(default=None, alias="enableDefaultDeny")
    labels: tuple[dict[str, str], ...] = ()


class CiliumNetworkPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    api_version: Literal["cilium.io/v2"] = Field(alias="apiVersion")
    kind: Literal["CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy"]
    metadata: ObjectMeta
    spec: CiliumPolicySpec | None = None
    specs: tuple[CiliumPolicySpec, ...] | None = None
    status: dict[str, Any] | None = None

    @property
    def clusterwide(self) -> bool:
        return self.kind == "CiliumClusterwideNetworkPolicy"

    def all_specs(self) -> tuple[CiliumPolicySpec, ...]:
        return ((self.spec,) if self.spec else ()) + (self.specs or ())
