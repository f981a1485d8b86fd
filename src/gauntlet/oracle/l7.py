"""Expected outcomes of HTTP requests on L7-governed cells (Cilium's Envoy proxy semantics).

INTERFACE SKELETON - being implemented (see the docstrings for the contract).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from gauntlet.blueprint.cilium import HTTPRule
from gauntlet.oracle.connectivity import Expectation


class L7Verdict(StrEnum):
    FORWARDED = "forwarded"  # the application answers (the proxy let it through, or no proxy)
    DENIED = "denied"  # HTTP 403, body "Access denied", from the proxy
    REDIRECTED = "redirected"  # HTTP 307 from the proxy (escaped slashes unescaped)
    REJECTED = "rejected"  # HTTP 400 from the proxy (the path cannot be normalised)
    DROPPED = "dropped"  # denied at L3/L4: the client times out


@dataclass(frozen=True)
class L7Request:
    """One HTTP request of a probe. ``host`` None: the client's default ``<dst ip>:<port>``."""

    method: str = "GET"
    path: str = "/"
    host: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class NormalizedPath:
    """What Envoy's connection manager makes of a request target before any filter sees it."""

    path: str  # the normalised target (query kept) the rules see and the application receives
    redirect: bool = False  # escaped slashes (%2F, %5C): 307 to ``path``
    rejected: bool = False  # cannot be normalised: 400


@dataclass(frozen=True)
class L7Expectation:
    request: L7Request
    verdict: L7Verdict
    status: int | None  # the proxy's status (403/307/400); None for FORWARDED and DROPPED
    upstream_path: str | None  # FORWARDED: the target the application receives
    location: str | None  # REDIRECTED: the Location header
    proxied: bool  # the request traverses an L7 proxy at all
    reason: str  # which side and rule decided, for reports


def normalize_path(target: str) -> NormalizedPath:
    raise NotImplementedError


def rule_matches(rule: HTTPRule, *, method: str, path: str, host: str,
                 headers: tuple[tuple[str, str], ...]) -> bool:
    raise NotImplementedError


def expect_l7(exp: Expectation, req: L7Request, *, default_host: str) -> L7Expectation:
    raise NotImplementedError
