"""The Target protocol: the only thing suites talk to.

Every driver (local sandbox, kind, kubeconfig) implements the same verbs. The protocol is
synchronous on purpose: suites stay plain pytest code, and drivers run their own event loops
for concurrent work such as probe batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from gauntlet.blueprint.model import Blueprint
from gauntlet.report.scorecard import Distribution


class TargetError(RuntimeError):
    """The target could not do what was asked (not a conformance failure)."""


class NotSupportedByTarget(TargetError):
    """A verb this driver does not implement (yet); suites report the check as inconclusive."""


class ProbeMode(StrEnum):
    TCP = "tcp"
    HTTP = "http"
    UDP = "udp"


class Outcome(StrEnum):
    """What a probe observed; see ``reached`` for how it maps to connectivity."""

    CONNECTED = "connected"
    HTTP = "http"
    UDP_REPLY = "udp_reply"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"
    RESET = "reset"
    ERROR = "error"

    @property
    def reached(self) -> bool | None:
        """True: packets reached the destination; False: dropped/blocked; None: unknown."""
        if self in (Outcome.CONNECTED, Outcome.HTTP, Outcome.UDP_REPLY, Outcome.REFUSED):
            # A RST (refused) came from the destination's stack, so the policy let it through.
            return True
        if self in (Outcome.TIMEOUT, Outcome.UNREACHABLE):
            return False
        return None


@dataclass(frozen=True)
class HttpRequest:
    """An HTTP probe's request. ``path`` is the request target sent verbatim (query included);
    a ``host`` header in ``headers`` replaces the default ``<ip>:<port>``."""

    method: str = "GET"
    path: str = "/"
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ProbeRequest:
    """Probe from pod ``src`` to pod ``dst`` (keys ``ns/name``) on ``port``/``protocol``."""

    id: str
    src: str
    dst: str
    port: int
    protocol: str = "TCP"
    mode: ProbeMode = ProbeMode.TCP
    timeout_s: float = 1.0
    http: HttpRequest | None = None


@dataclass(frozen=True)
class ProbeResult:
    id: str
    outcome: Outcome
    latency_ms: float
    error_class: str | None = None
    http_status: int | None = None
    peer: str | None = None
    body: str | None = None


@dataclass(frozen=True)
class PodStatus:
    key: str
    ip: str
    ready: bool
    restarts: int = 0
    start_latency_ms: float | None = None
    rss_bytes: int | None = None
    # The node the pod runs on (sandbox: a simulated node; clusters: spec.nodeName).
    node: str = ""


@dataclass(frozen=True)
class DeployReport:
    """What ``deploy`` did, for progress output and benchmarks."""

    pods: tuple[PodStatus, ...]
    duration_s: float
    policy_revision: int
    notes: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class PlantedFault:
    """A platform fault planted by ``gauntlet selfcheck`` (sandbox) or a chaos experiment."""

    id: str
    description: str
    params: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Denial:
    """One ``[constraint] message`` line of an admission denial."""

    constraint: str
    message: str


@dataclass(frozen=True)
class AdmissionResult:
    """The answer to ``admit``: the same shape for Gatekeeper on a cluster and the sandbox."""

    allowed: bool
    denials: tuple[Denial, ...] = ()
    warnings: tuple[str, ...] = ()
    status_code: int = 200
    # The API server's message for a refusal (quota, RBAC, LimitRange, webhook), verbatim.
    message: str = ""


@dataclass(frozen=True)
class AuditFinding:
    """A violation Gatekeeper's audit reports on an object that already exists."""

    constraint: str
    constraint_kind: str
    action: str
    kind: str
    namespace: str
    name: str
    message: str


@dataclass(frozen=True)
class L7Flow:
    """One request seen by an L7 proxy (Cilium's Envoy, the sandbox's proxy): the evidence of
    an L7 verdict, like a Hubble L7 flow.

    ``verdict`` is ``forwarded`` (passed to the application), ``denied`` (403 "Access denied"),
    ``redirected`` (307, escaped slashes) or ``rejected`` (400, malformed request).
    ``side`` says whose rules decided a denial: ``egress`` (the source's) or ``ingress``
    (the destination's); empty when forwarded.
    """

    time: float
    source: str
    destination: str
    port: int
    method: str
    path: str
    verdict: str
    status: int
    side: str = ""
    host: str = ""
    reason: str = ""


@dataclass(frozen=True)
class Subject:
    """Who asks ``can_i``: a user, a group member or a service account."""

    kind: str
    name: str
    namespace: str | None = None
    groups: tuple[str, ...] = ()


@runtime_checkable
class Target(Protocol):
    """A platform Gauntlet can verify."""

    name: str

    def distribution(self) -> Distribution:
        """Which platform this is (distribution, Kubernetes/CNI/policy-engine versions)."""
        ...

    def deploy(self, blueprint: Blueprint) -> DeployReport:
        """Apply the blueprint and run its workloads plus the probe agent in every pod."""
        ...

    def wait_policy_converged(self, *, timeout_s: float) -> bool:
        """Poll until the applied policies are enforced; False if not within ``timeout_s``."""
        ...

    def probe(self, requests: Sequence[ProbeRequest]) -> list[ProbeResult]:
        """Run a batch of probes concurrently (one batch per source pod); same order."""
        ...

    def plant(self, fault: PlantedFault) -> None:
        """Plant a known platform fault (selfcheck / chaos); raises NotSupportedByTarget."""
        ...

    def admit(
        self, manifest: dict[str, object], *, as_user: str, as_groups: Sequence[str] = ()
    ) -> AdmissionResult:
        """Submit a manifest for admission as a server-side dry run, impersonating ``as_user``
        (``system:serviceaccount:<ns>:<name>`` for a service account) in ``as_groups``."""
        ...

    def can_i(
        self, subject: Subject, verb: str, resource: str, *, namespace: str | None, name: str = ""
    ) -> bool:
        """Authorization question (SubjectAccessReview on clusters).

        ``resource`` is written as kubectl does: ``pods``, ``pods/log``, ``deployments.apps``.
        """
        ...

    def objects(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        """The objects of one kind the platform holds now (a list call on clusters)."""
        ...

    def audit(self) -> list[AuditFinding]:
        """Gatekeeper audit results over the objects that exist (constraint status on clusters)."""
        ...

    def l7_flows(self, *, since: float | None = None) -> list[L7Flow]:
        """L7 proxy access-log entries (oldest first), optionally only those after ``since``
        (a ``time.time()`` value); raises NotSupportedByTarget where none can be read."""
        ...

    def pod_statuses(self) -> list[PodStatus]:
        """Every pod of the deployed blueprint now: readiness, restarts, node."""
        ...

    def inject(self, fault: PlantedFault) -> str:
        """Start a chaos fault (ids in ``gauntlet.chaos.catalog``); returns a handle for
        ``revert``. Raises NotSupportedByTarget for faults this platform cannot undergo."""
        ...

    def revert(self, handle: str) -> None:
        """Undo one injected fault. Idempotent: reverting twice, or after teardown, is a no-op."""
        ...

    def active_faults(self) -> list[str]:
        """Handles of injected faults not reverted yet (cleanup after Ctrl-C or a crash)."""
        ...

    def load_entrypoint(self, namespace: str, service: str, *, port: int) -> str:
        """A URL through which load reaches ``service`` on its Service port ``port``."""
        ...

    def load_exec_prefix(self) -> list[str]:
        """Argv prefix under which the load generator runs so that the entrypoint is reachable
        (sandbox: ``nsenter`` into the load source pod's network namespace; clusters: ``[]``)."""
        ...

    def teardown(self) -> None:
        """Remove everything ``deploy`` created. Safe to call twice."""
        ...
