"""The OpenSLO v1 documents Gauntlet reads (``SLO``, ``SLI``, ``AlertPolicy``, ``AlertCondition``).

Design notes:

- These models mirror the OpenSLO v1 specification (github.com/OpenSLO/OpenSLO, README "SLO",
  "SLI", "AlertPolicy", "AlertCondition") closely enough that the files stay valid OpenSLO, and
  reject everything Gauntlet would otherwise silently ignore (``extra="forbid"``): a typo in a
  field name is an error naming the file, the object and the field, not an SLO that never fires.
- Only what Gauntlet evaluates is accepted: ``budgetingMethod: Occurrences``, one objective per
  SLO, ``ratioMetric`` (``good`` or ``bad`` plus ``total``) and ``thresholdMetric`` SLIs, and
  ``burnrate`` alert conditions. Turning these documents into something evaluable (references,
  metric names, per-distribution overrides) is ``gauntlet.slo.spec``'s job.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

API_VERSION = "openslo/v1"

_DURATION = re.compile(r"^(\d+)(s|m|h|d|w|M|Q|Y)$")
_UNIT_S = {
    "s": 1,
    "m": 60,
    "h": 3600,
    "d": 86_400,
    "w": 7 * 86_400,
    # OpenSLO's duration-shorthand: a month is 30 days, a quarter 90, a year 365.
    "M": 30 * 86_400,
    "Q": 90 * 86_400,
    "Y": 365 * 86_400,
}


def duration_s(text: str) -> float:
    """Seconds in an OpenSLO duration shorthand (``"5m"``, ``"1h"``, ``"30d"``, ``"1M"``)."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(
            f"{text!r} is not a duration: write a whole number and one of s, m, h, d, w, M, Q, Y "
            "(e.g. '5m', '30d')"
        )
    return float(int(match.group(1)) * _UNIT_S[match.group(2)])


class _Doc(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


def _check_duration(value: str) -> str:
    duration_s(value)
    return value


class Metadata(_Doc):
    name: str = Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
    """RFC 1123 label, as OpenSLO requires."""
    displayName: str = ""
    labels: dict[str, str | list[str]] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class MetricSource(_Doc):
    metricSourceRef: str | None = None
    type: str = Field(min_length=1)
    """``Gauntlet`` (the harness's own measurements) or ``Prometheus``."""
    spec: dict[str, str]
    """``{metric: <Gauntlet metric>}`` or ``{query: <PromQL>}``."""


class MetricSpec(_Doc):
    metricSource: MetricSource


class RatioMetric(_Doc):
    counter: bool = True
    """Prometheus: the queries return monotonic counters (their increase is counted)."""
    good: MetricSpec | None = None
    bad: MetricSpec | None = None
    total: MetricSpec


class SLISpec(_Doc):
    description: str = ""
    thresholdMetric: MetricSpec | None = None
    ratioMetric: RatioMetric | None = None


class SLI(_Doc):
    apiVersion: Literal["openslo/v1"]
    kind: Literal["SLI"]
    metadata: Metadata
    spec: SLISpec


class InlineSLI(_Doc):
    metadata: Metadata
    spec: SLISpec


class BurnRateCondition(_Doc):
    kind: Literal["burnrate"]
    op: Literal["gt", "gte"]
    """A burn-rate alert fires when the burn rate rises to (``gte``) or above (``gt``) it."""
    threshold: float = Field(gt=0)
    lookbackWindow: str
    """The long window, e.g. ``1h``; the short window is the annotation
    ``gauntlet.io/short-window`` (default: a twelfth of it, as in the SRE workbook)."""
    alertAfter: str = "0s"
    """How long both windows must stay at or above the threshold before the alert fires."""

    _durations = field_validator("lookbackWindow", "alertAfter")(_check_duration)


class AlertConditionSpec(_Doc):
    description: str = ""
    severity: str = ""
    condition: BurnRateCondition


class AlertCondition(_Doc):
    apiVersion: Literal["openslo/v1"]
    kind: Literal["AlertCondition"]
    metadata: Metadata
    spec: AlertConditionSpec


class InlineAlertCondition(_Doc):
    kind: Literal["AlertCondition"]
    metadata: Metadata
    spec: AlertConditionSpec


class ConditionRef(_Doc):
    conditionRef: str


class AlertPolicySpec(_Doc):
    description: str = ""
    alertWhenNoData: bool = False
    alertWhenResolved: bool = False
    alertWhenBreaching: bool = True
    conditions: list[ConditionRef | InlineAlertCondition] = Field(min_length=1)
    notificationTargets: list[dict[str, object]] = Field(default_factory=list)
    """Accepted for OpenSLO compatibility; a test run notifies nobody."""


class AlertPolicy(_Doc):
    apiVersion: Literal["openslo/v1"]
    kind: Literal["AlertPolicy"]
    metadata: Metadata
    spec: AlertPolicySpec


class InlineAlertPolicy(_Doc):
    kind: Literal["AlertPolicy"]
    metadata: Metadata
    spec: AlertPolicySpec


class AlertPolicyRef(_Doc):
    alertPolicyRef: str


class Objective(_Doc):
    displayName: str = ""
    op: Literal["lte", "lt", "gte", "gt"] | None = None
    """Threshold SLIs: how a good event compares to ``value`` (``lte``: at most ``value``)."""
    value: float | None = None
    """Threshold SLIs: the threshold in the metric's unit, e.g. ``300`` (ms)."""
    target: float | None = Field(default=None, gt=0, le=1)
    """Fraction of good events the SLO promises, e.g. ``0.999``."""
    targetPercent: float | None = Field(default=None, gt=0, le=100)
    """Alternative to ``target`` in percent, e.g. ``99.9``."""


class TimeWindow(_Doc):
    duration: str
    """The SLO period the budget is defined over, e.g. ``30d``; burn-rate windows scale
    against it (docs/slos.md)."""
    isRolling: bool = True
    calendar: dict[str, str] | None = None

    _duration = field_validator("duration")(_check_duration)


class SLOSpec(_Doc):
    description: str = ""
    service: str = Field(min_length=1)
    indicator: InlineSLI | None = None
    indicatorRef: str | None = None
    budgetingMethod: Literal["Occurrences"]
    """Gauntlet counts events (requests, cells, decisions); time slices are not supported."""
    timeWindow: list[TimeWindow] = Field(min_length=1, max_length=1)
    objectives: list[Objective] = Field(min_length=1, max_length=1)
    """Exactly one: write one SLO object per objective (e.g. latency-p95 and latency-p99)."""
    alertPolicies: list[str | AlertPolicyRef | InlineAlertPolicy] = Field(default_factory=list)


class SLO(_Doc):
    apiVersion: Literal["openslo/v1"]
    kind: Literal["SLO"]
    metadata: Metadata
    spec: SLOSpec


Document = SLO | SLI | AlertPolicy | AlertCondition
KINDS: dict[str, type[SLO] | type[SLI] | type[AlertPolicy] | type[AlertCondition]] = {
    "SLO": SLO,
    "SLI": SLI,
    "AlertPolicy": AlertPolicy,
    "AlertCondition": AlertCondition,
}
