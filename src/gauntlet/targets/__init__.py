"""Targets: the platforms Gauntlet verifies, behind one small protocol."""

from gauntlet.targets.base import (
    AdmissionResult,
    Denial,
    DeployReport,
    HttpRequest,
    NotSupportedByTarget,
    Outcome,
    PlantedFault,
    PodStatus,
    ProbeMode,
    ProbeRequest,
    ProbeResult,
    Subject,
    Target,
    TargetError,
)

__all__ = [
    "AdmissionResult",
    "Denial",
    "DeployReport",
    "HttpRequest",
    "NotSupportedByTarget",
    "Outcome",
    "PlantedFault",
    "PodStatus",
    "ProbeMode",
    "ProbeRequest",
    "ProbeResult",
    "Subject",
    "Target",
    "TargetError",
]
