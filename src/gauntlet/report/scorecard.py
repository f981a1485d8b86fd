"""The one result model every report is generated from, and the rules that judge a run.

Design notes:

- Verdicts are three-valued plus ``skip``. ``inconclusive`` means a check could not observe what it
  claims (probe timed out, target errored, metric missing); it never counts as a pass, neither in
  the verdict, nor in the score, nor in the exit code. Tools that let "no data" pass (Krkn's
  resiliency score) gate nothing; this module is where that mistake is not repeated.
- Everything here is a pure function of ``checks`` and ``slos``: ``summarize``, ``compute_score``,
  ``overall_verdict`` and ``exit_code_for``. ``build_scorecard`` only assembles their results, so a
  scorecard read back from disk can always be re-judged and compared.
- The JSON form is a contract (``docs/scorecard.schema.json``, ``docs/scorecard.md``): the top-level
  key is literally ``"schema"`` (an alias, because ``BaseModel.schema`` is taken); change a field
  only together with ``SCHEMA_ID``. v2 only added fields with defaults, so ``load_scorecard``
  upgrades a v1 file by relabelling it; a v2 file is never written as v1.
- Load results (``LoadReport``) carry the whole HDR histogram, not only its percentiles, so the
  upgrade gate can bootstrap latency differences between two runs from the files alone.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Literal, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    ValidationError,
    model_validator,
)

from gauntlet.exitcodes import ExitCode

SCHEMA_ID: Literal["gauntlet.scorecard/v2"] = "gauntlet.scorecard/v2"
"""Value of the ``schema`` key; bump it whenever the JSON shape changes incompatibly."""

_READABLE_SCHEMAS = ("gauntlet.scorecard/v1", SCHEMA_ID)
"""Versions ``load_scorecard`` reads; older ones are upgraded on load."""


class Verdict(StrEnum):
    """Outcome of one check or SLO."""

    PASS = "pass"
    """The behaviour was observed and matches the blueprint (or the SLO held)."""
    FAIL = "fail"
    """The behaviour was observed and contradicts the blueprint (or the SLO was breached)."""
    INCONCLUSIVE = "inconclusive"
    """Nothing was proven either way: no data, a probe error, a target error."""
    SKIP = "skip"
    """Deliberately not run (not in this profile, not supported by this target)."""


class _Model(BaseModel):
    # NaN and infinity have no JSON form and would make the score meaningless. Field docstrings
    # become "description"s in docs/scorecard.schema.json.
    model_config = ConfigDict(
        frozen=True, extra="forbid", allow_inf_nan=False, use_attribute_docstrings=True
    )


class Evidence(_Model):
    """A piece of text that shows why a check got its verdict."""

    kind: str = Field(min_length=1)
    """What the content is, e.g. ``"matrix"``, ``"log"``, ``"text"``; renderers may style by it."""
    title: str
    """One line shown above the content, e.g. ``"expected / observed / diff"``."""
    content: str
    """Plain text, e.g. an expected/observed/diff connectivity matrix."""


class Check(_Model):
    """One conformance check: a single claim about the platform, verified against the target."""

    suite: str = Field(min_length=1)
    """Suite the check belongs to, e.g. ``"isolation"``."""
    id: str = Field(min_length=1)
    """Stable identifier across runs, e.g. ``"isolation/team-alpha/client-7f9c"``; compare and
    gate match checks by it."""
    title: str
    """Human-readable claim, e.g. ``"team-alpha client cannot reach team-beta api"``."""
    verdict: Verdict
    """``inconclusive`` when the check could not observe what it claims; never a pass."""
    message: str = ""
    """Why the verdict is what it is; empty for a plain pass."""
    duration_s: NonNegativeFloat = 0
    """Wall-clock time the check took, in seconds."""
    evidence: list[Evidence] = Field(default_factory=list)
    """What was expected and observed, for a human to see why without re-running."""
    counts: dict[str, NonNegativeInt] = Field(default_factory=dict)
    """Named tallies, e.g. ``{"cells": 144, "mismatches": 2}``."""
    started_at: AwareDatetime | None = None
    """When the check started (ISO 8601 with a timezone)."""


class BurnRateAlert(_Model):
    """One multi-window burn-rate alert condition and whether it fired during the SLO's window.

    The alert fires while the error budget burns at ``threshold`` times the sustainable rate or
    faster over both the long and the short window (Google SRE workbook, "multiwindow,
    multi-burn-rate alerts"); the windows are already scaled to the run length (docs/slos.md).
    """

    name: str = Field(min_length=1)
    """E.g. ``"page-fast"``; names come from the SLO spec's alert conditions."""
    long_window_s: float = Field(gt=0)
    """Long look-back window, seconds (scaled to the run)."""
    short_window_s: float = Field(gt=0)
    """Short look-back window, seconds (scaled to the run); it makes the alert reset quickly."""
    threshold: float = Field(gt=0)
    """Burn rate (multiple of the sustainable rate) both windows must reach, e.g. ``14.4``."""
    fired: bool
    """Whether both windows reached ``threshold`` at the same moment at least once."""
    first_fired_s: NonNegativeFloat | None = None
    """When it first fired, seconds since the start of the SLO's window; null if it never did."""

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.short_window_s > self.long_window_s:
            raise ValueError(
                f"alert {self.name!r}: short_window_s ({self.short_window_s:g}) is longer than "
                f"long_window_s ({self.long_window_s:g})"
            )
        if self.fired != (self.first_fired_s is not None):
            raise ValueError(
                f"alert {self.name!r}: first_fired_s must be set exactly when fired is true"
            )
        return self


class SloResult(_Model):
    """One service-level objective evaluated over the run (or over a load/chaos window)."""

    name: str = Field(min_length=1)
    """E.g. ``"availability"``, ``"latency-p95"``, ``"isolation-during-chaos"``."""
    description: str = ""
    """The objective in words, from the SLO spec."""
    sli: str = ""
    """What is measured, e.g. ``"availability"``, ``"latency-p95"``, ``"isolation"``."""
    unit: str = ""
    """Unit of ``objective`` and ``observed``: ``"ratio"``, ``"ms"``, ``"s"``."""
    objective: float
    """The target in the SLI's own unit, e.g. ``0.999`` availability, ``300`` p95 ms."""
    comparator: Literal["gte", "lte"] = "gte"
    """``gte``: the SLO holds when observed >= objective (ratios); ``lte``: observed <= objective
    (latencies, durations)."""
    observed: float | None
    """The measured SLI; null when there was no data (then the verdict cannot be ``pass``)."""
    verdict: Verdict
    """``inconclusive`` when there was no data; ``skip`` leaves the SLO out of verdict and score."""
    error_budget_consumed: NonNegativeFloat | None
    """Fraction of the error budget used: 0 = none, 1 = all of it, above 1 = overspent; null when
    there was no data. Cap it at a finite value: JSON has no infinity."""
    critical: bool = False
    """A breached critical SLO fails the run with ``SLO_BREACHED``; others only lower the score."""
    weight: NonNegativeFloat = 1.0
    """Share of this SLO in the SLO part of the score (docs/scorecard.md); 0 = informational."""
    peak_burn_rate: NonNegativeFloat | None = None
    """Highest burn rate (multiple of the sustainable error rate) over a sliding window as long as
    the fastest alert's long window, scaled to the run (docs/slos.md); null when the SLI has no
    time series (e.g. isolation cell counts)."""
    alerts: list[BurnRateAlert] = Field(default_factory=list)
    """The spec's burn-rate alert conditions, evaluated over the window."""
    window: str = "run"
    """Time span the SLO was evaluated over: ``"run"``, ``"load"``, or ``"chaos:<experiment>"``."""
    source: str = "gauntlet"
    """Where the data came from: ``"gauntlet"`` (the harness's own measurements) or
    ``"prometheus"``."""
    message: str = ""
    """Why the verdict is what it is when the numbers do not say it, e.g. why there was no data or
    why the SLO was skipped."""

    @model_validator(mode="after")
    def _no_data_is_not_a_pass(self) -> Self:
        if self.verdict is Verdict.PASS and self.observed is None:
            raise ValueError(
                f"SLO {self.name!r} has verdict 'pass' but no observed value; "
                "an SLO without data must be 'inconclusive'"
            )
        return self


class LatencySummary(_Model):
    """Exact latency statistics of a load run (from the HDR histogram, errors included)."""

    count: NonNegativeInt
    """Number of requests the statistics cover."""
    mean_ms: NonNegativeFloat
    p50_ms: NonNegativeFloat
    p90_ms: NonNegativeFloat
    p95_ms: NonNegativeFloat
    p99_ms: NonNegativeFloat
    p999_ms: NonNegativeFloat
    """99.9th percentile, milliseconds."""
    max_ms: NonNegativeFloat


class SeriesPoint(_Model):
    """One second of a load run."""

    t_s: NonNegativeFloat
    """Start of the second, seconds since the load started."""
    requests: NonNegativeInt
    """Requests that completed during this second (errors included)."""
    errors: NonNegativeInt
    """Of those, requests that failed (5xx, connection error, timeout...)."""
    p50_ms: NonNegativeFloat | None = None
    """Median latency of this second's requests; null when there were none."""
    p95_ms: NonNegativeFloat | None = None
    p99_ms: NonNegativeFloat | None = None

    @model_validator(mode="after")
    def _errors_within_requests(self) -> Self:
        if self.errors > self.requests:
            raise ValueError(
                f"series point at t_s={self.t_s:g}: errors ({self.errors}) exceed "
                f"requests ({self.requests})"
            )
        return self


class PhaseMark(_Model):
    """A named phase of a load profile (warm-up, ramp, spike...), drawn as a marker on plots."""

    name: str = Field(min_length=1)
    start_s: NonNegativeFloat
    """Seconds since the load started."""
    end_s: NonNegativeFloat
    """Seconds since the load started; not before ``start_s``."""

    @model_validator(mode="after")
    def _ends_after_start(self) -> Self:
        if self.end_s < self.start_s:
            raise ValueError(
                f"phase {self.name!r} ends ({self.end_s:g} s) before it starts ({self.start_s:g} s)"
            )
        return self


class LoadReport(_Model):
    """What one load run measured."""

    profile: str = Field(min_length=1)
    """Load profile (locustfile) name, e.g. ``"smoke"``, ``"steady"``, ``"spike"``."""
    entrypoint: str
    """URL the load was sent to."""
    started_at: AwareDatetime
    """When the load started (ISO 8601 with a timezone); ``t_s`` values count from here."""
    duration_s: NonNegativeFloat
    """Wall-clock length of the load, seconds."""
    requests: NonNegativeInt
    """Requests completed, errors included."""
    errors: NonNegativeInt
    """Requests that failed (5xx, connection error, timeout...)."""
    rps: NonNegativeFloat
    """Mean requests per second over ``duration_s``."""
    status_counts: dict[str, NonNegativeInt] = Field(default_factory=dict)
    """Requests per HTTP status, e.g. ``{"200": 5321, "503": 4}``."""
    error_counts: dict[str, NonNegativeInt] = Field(default_factory=dict)
    """Failed requests per error kind, e.g. ``{"ConnectionRefusedError": 3, "HTTP 503": 4}``."""
    latency: LatencySummary
    series: list[SeriesPoint] = Field(default_factory=list)
    """One point per second since the load started."""
    phases: list[PhaseMark] = Field(default_factory=list)
    histogram: str
    """Base64 text of the HdrHistogram of all latencies (``HdrHistogram(1, 60_000_000, 3)``,
    values in microseconds, ``.encode()``); the gate bootstraps latency differences from it."""

    @model_validator(mode="after")
    def _errors_within_requests(self) -> Self:
        if self.errors > self.requests:
            raise ValueError(
                f"load report: errors ({self.errors}) exceed requests ({self.requests})"
            )
        return self


class MatrixCell(_Model):
    """One cell of the isolation matrix: may ``src`` reach ``dst`` on ``port``, and did it?"""

    src: str = Field(min_length=1)
    """Source pod, ``<namespace>/<pod>``."""
    dst: str = Field(min_length=1)
    """Destination pod, ``<namespace>/<pod>``."""
    port: int = Field(ge=0, le=65535)
    protocol: str
    """``"TCP"``, ``"UDP"``..."""
    expected: bool
    """Whether the blueprint allows the connection."""
    observed: Literal["pass", "leak", "blocked", "inconclusive"]
    """``pass``: as expected; ``leak``: denied but connected; ``blocked``: allowed but did not
    connect; ``inconclusive``: nothing was proven (e.g. no positive control)."""


class TenantResources(_Model):
    """Resources a tenant namespace requests and is limited to (for cost attribution)."""

    namespace: str = Field(min_length=1)
    pods: NonNegativeInt
    requests_cpu_m: NonNegativeFloat
    """Sum of CPU requests, millicores."""
    requests_memory_mib: NonNegativeFloat
    """Sum of memory requests, MiB."""
    limits_cpu_m: NonNegativeFloat
    limits_memory_mib: NonNegativeFloat


class ChaosEvent(_Model):
    """One moment of a chaos experiment's timeline."""

    t_s: NonNegativeFloat
    """Seconds since the experiment started."""
    kind: Literal[
        "phase",
        "fault-injected",
        "fault-reverted",
        "steady-state",
        "recovered",
        "leak",
        "safeguard",
        "rollback",
        "error",
        "note",
    ]
    message: str


class IsolationLeak(_Model):
    """A cell the oracle forbids that was reachable during the experiment."""

    src: str = Field(min_length=1)
    dst: str = Field(min_length=1)
    port: int = Field(ge=0, le=65535)
    protocol: str
    start_s: NonNegativeFloat
    """First probe round (seconds since the experiment started) that reached the cell."""
    end_s: NonNegativeFloat
    """Last probe round that reached it."""
    rounds: NonNegativeInt
    """How many probe rounds reached it."""
    during_fault: bool
    """Whether the leak overlaps the fault window."""


class ChaosWindow(_Model):
    """Load measured over one window of an experiment: before, during and after the fault."""

    name: Literal["before", "fault", "recovery", "after"]
    start_s: NonNegativeFloat
    end_s: NonNegativeFloat
    requests: NonNegativeInt
    errors: NonNegativeInt
    p95_ms: NonNegativeFloat | None = None
    error_budget_consumed: NonNegativeFloat | None = None
    """Share of the availability SLO's budget for the window's length used up in it."""
    peak_burn_rate: NonNegativeFloat | None = None


class ChaosExperimentReport(_Model):
    """What one Chaos Toolkit experiment did to the platform, measured under load."""

    title: str = Field(min_length=1)
    file: str
    """Experiment file (``scenarios/chaos/<name>.yaml``)."""
    faults: list[str] = Field(default_factory=list)
    """Fault ids injected (``gauntlet.chaos.catalog``)."""
    status: str
    """The Chaos Toolkit journal's ``status`` (completed, failed, aborted, interrupted)."""
    steady_state_before: bool | None
    """The journal's ``steady_states.before.steady_state_met``; null when it did not run."""
    steady_state_after: bool | None
    deviated: bool
    verdict: Verdict
    message: str = ""
    started_at: AwareDatetime
    duration_s: NonNegativeFloat
    fault_start_s: NonNegativeFloat | None = None
    fault_end_s: NonNegativeFloat | None = None
    recovery_time_s: NonNegativeFloat | None = None
    """Fault injected until the steady state held again; null when it never did."""
    recovery_resolution_s: NonNegativeFloat = 0.1
    """Sampling interval of the recovery watcher (the measurement's resolution)."""
    pod_start_latency_ms: list[NonNegativeFloat] = Field(default_factory=list)
    """Start-to-ready latencies of pods restarted during the experiment."""
    isolation_rounds: NonNegativeInt = 0
    """Probe rounds of the isolation matrix run during the experiment."""
    leaks: list[IsolationLeak] = Field(default_factory=list)
    windows: list[ChaosWindow] = Field(default_factory=list)
    series: list[SeriesPoint] = Field(default_factory=list)
    """Load per second since the experiment started."""
    events: list[ChaosEvent] = Field(default_factory=list)
    aborted_by_safeguard: bool = False
    rollbacks_ok: bool | None = None


class Distribution(_Model):
    """What the target runs: enough to tell results of different platforms apart."""

    name: str = Field(min_length=1)
    """E.g. ``"local-sandbox"``, ``"kind"``, ``"eks"``."""
    kubernetes_version: str | None = None
    cni: str | None = None
    """E.g. ``"cilium"``, or ``"nftables"`` for the local sandbox."""
    cni_version: str | None = None
    policy_engine: str | None = None
    """E.g. ``"gatekeeper"``, or ``"rego"`` for the local sandbox's built-in engine."""
    policy_engine_version: str | None = None


class SuiteSummary(_Model):
    """Verdict counts of one suite's checks."""

    passed: NonNegativeInt = 0
    failed: NonNegativeInt = 0
    inconclusive: NonNegativeInt = 0
    skipped: NonNegativeInt = 0

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.inconclusive + self.skipped


class Scorecard(_Model):
    """Everything a run found out; JUnit, JSON and any other report are rendered from this."""

    model_config = ConfigDict(populate_by_name=True)

    schema_: Literal["gauntlet.scorecard/v2"] = Field(alias="schema")
    """Format and version of this document; always ``"gauntlet.scorecard/v2"`` for this schema."""
    run_id: str = Field(min_length=1)
    """Unique per run; by default ``<start, UTC, YYYYmmddTHHMMSSZ>-<8 hex digits>``."""
    started_at: AwareDatetime
    """Start of the run (ISO 8601 with a timezone)."""
    finished_at: AwareDatetime
    """End of the run (ISO 8601 with a timezone); not before ``started_at``."""
    target: str
    """Target driver, e.g. ``"local"``, ``"kind"``, ``"kubeconfig"``."""
    profile: str
    """E.g. ``"smoke"``, ``"nightly"``, ``"gameday"``."""
    platform: str
    """Path of the blueprint (platform directory) the run verified."""
    distribution: Distribution
    suites: dict[str, SuiteSummary]
    """Verdict counts of the checks, per suite name."""
    checks: list[Check]
    slos: list[SloResult]
    load: LoadReport | None = None
    """The run's load measurements; null when no load ran."""
    matrix: list[MatrixCell] = Field(default_factory=list)
    """The isolation matrix as probed (empty when the isolation suite did not publish one)."""
    tenants: list[TenantResources] = Field(default_factory=list)
    """Requested resources per tenant namespace."""
    chaos: list[ChaosExperimentReport] = Field(default_factory=list)
    """Chaos experiments run under load (the chaos suite, ``gauntlet gameday``)."""
    score: float = Field(ge=0, le=100)
    """0-100; formula in docs/scorecard.md (skips left out, inconclusive counts against)."""
    score_formula: str = ""
    """The score formula with this run's numbers, as printed at the end of ``gauntlet run``."""
    min_score: float | None = Field(default=None, ge=0, le=100)
    """Score threshold of the run (``--min-score``); below it the run exits ``SLO_BREACHED``."""
    verdict: Verdict
    """Verdict of the whole run: ``pass`` only if something passed and nothing failed or was
    inconclusive."""
    exit_code: int = Field(ge=0)
    """The ``gauntlet.exitcodes.ExitCode`` value the run exits with."""

    @model_validator(mode="after")
    def _finished_after_start(self) -> Self:
        if self.finished_at < self.started_at:
            raise ValueError(
                f"finished_at ({self.finished_at.isoformat()}) is before "
                f"started_at ({self.started_at.isoformat()})"
            )
        return self

    def to_json(self) -> str:
        """The JSON form: keys by alias (``"schema"``), indented by 2, newline-terminated."""
        return self.model_dump_json(by_alias=True, indent=2) + "\n"


class ScorecardError(Exception):
    """A file that should hold a scorecard does not hold a valid ``gauntlet.scorecard/v1`` or
    ``v2``."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: not a valid {SCHEMA_ID} scorecard: {reason}")
        self.path = path
        self.reason = reason


def summarize(checks: Iterable[Check]) -> dict[str, SuiteSummary]:
    """Verdict counts per suite, sorted by suite name (stable whatever order checks ran in)."""
    tallies: dict[str, dict[Verdict, int]] = {}
    for check in checks:
        per_verdict = tallies.setdefault(check.suite, dict.fromkeys(Verdict, 0))
        per_verdict[check.verdict] += 1
    return {
        suite: SuiteSummary(
            passed=t[Verdict.PASS],
            failed=t[Verdict.FAIL],
            inconclusive=t[Verdict.INCONCLUSIVE],
            skipped=t[Verdict.SKIP],
        )
        for suite, t in sorted(tallies.items())
    }


@dataclass(frozen=True)
class ScoreParts:
    """The numbers the score is made of (``score_parts``), for printing the formula."""

    passed: int
    """Checks that passed."""
    failed: int
    inconclusive: int
    skipped: int
    conformance: float
    """100 x passed / (passed + failed + inconclusive); 0 when no check ran."""
    slo_terms: tuple[tuple[str, float, float], ...]
    """(SLO name, weight, budget left) per scored SLO, in scorecard order."""
    slo: float | None
    """100 x sum(weight x budget left) / sum(weight); None when no SLO carries weight."""
    score: float


def _budget_left(slo: SloResult) -> float:
    # Failed and inconclusive SLOs earn nothing: the budget is spent, or nothing was proven.
    if slo.verdict is not Verdict.PASS or slo.error_budget_consumed is None:
        return 0.0
    return max(0.0, 1.0 - min(slo.error_budget_consumed, 1.0))


def score_parts(checks: Sequence[Check], slos: Sequence[SloResult]) -> ScoreParts:
    """Compute the score and the numbers it is made of; see ``compute_score`` for the formula."""
    counts = dict.fromkeys(Verdict, 0)
    for c in checks:
        counts[c.verdict] += 1
    passed, failed = counts[Verdict.PASS], counts[Verdict.FAIL]
    inconclusive, skipped = counts[Verdict.INCONCLUSIVE], counts[Verdict.SKIP]
    ran = passed + failed + inconclusive
    conformance = 100.0 * passed / ran if ran else 0.0
    terms = tuple(
        (s.name, s.weight, _budget_left(s)) for s in slos if s.verdict is not Verdict.SKIP
    )
    total_weight = math.fsum(w for _, w, _ in terms)
    slo: float | None = None
    score = conformance
    if total_weight > 0:
        slo = 100.0 * math.fsum(w * left for _, w, left in terms) / total_weight
        score = 0.5 * conformance + 0.5 * slo
    return ScoreParts(
        passed=passed,
        failed=failed,
        inconclusive=inconclusive,
        skipped=skipped,
        conformance=conformance,
        slo_terms=terms,
        slo=slo,
        # Both parts are within [0, 100]; the clamp only guards against float rounding.
        score=min(100.0, max(0.0, score)),
    )


def compute_score(checks: Sequence[Check], slos: Sequence[SloResult]) -> float:
    """Score of a run, 0-100.

    - conformance = 100 x passed / (passed + failed + inconclusive) over the checks; skips are left
      out, inconclusive checks count against the score (nothing was proven). It is 0 when no check
      ran.
    - slo = 100 x sum(weight x budget_left) / sum(weight) over the SLOs that were not skipped,
      where budget_left = max(0, 1 - min(error_budget_consumed, 1)) for an SLO that passed and 0
      for one that failed or is inconclusive (no data earns nothing).
    - score = conformance when no SLO carries weight (none, all skipped, or all weights 0), else
      0.5 x conformance + 0.5 x slo.

    With no checks and no SLOs the score is 0. ``explain_score`` prints it with the run's numbers.
    """
    return score_parts(checks, slos).score


def _num(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".") if x != int(x) else str(int(x))


def explain_score(checks: Sequence[Check], slos: Sequence[SloResult]) -> str:
    """The score formula with this run's numbers, one line per part (``score_formula``)."""
    p = score_parts(checks, slos)
    ran = p.passed + p.failed + p.inconclusive
    skipped = f"; {p.skipped} skipped left out" if p.skipped else ""
    conformance = (
        f"conformance = 100 x passed / (passed + failed + inconclusive) = "
        f"100 x {p.passed} / ({p.passed} + {p.failed} + {p.inconclusive}) = {p.conformance:.2f}"
        if ran
        else "conformance = 0 (no check ran)"
    ) + skipped
    if p.slo is None:
        why = "no SLO" if not p.slo_terms else "no SLO carries weight"
        return f"score = conformance = {p.score:.2f} ({why})\n  {conformance}"
    terms = " + ".join(f"{_num(w)} x {_num(left)} [{name}]" for name, w, left in p.slo_terms)
    weights = _num(math.fsum(w for _, w, _ in p.slo_terms))
    return (
        f"score = 0.5 x conformance + 0.5 x slo = 0.5 x {p.conformance:.2f} + 0.5 x {p.slo:.2f}"
        f" = {p.score:.2f}\n"
        f"  {conformance}\n"
        f"  slo = 100 x sum(weight x budget_left) / sum(weight) = 100 x ({terms}) / {weights}"
        f" = {p.slo:.2f}\n"
        "  budget_left = max(0, 1 - min(error_budget_consumed, 1)) if the SLO passed, else 0"
    )


def _below(score: float, min_score: float | None) -> bool:
    return min_score is not None and score < min_score


def overall_verdict(
    checks: Sequence[Check], slos: Sequence[SloResult], *, min_score: float | None = None
) -> Verdict:
    """Verdict of the run, first match wins.

    1. any check or SLO failed, or the score is below ``min_score`` -> ``fail``;
    2. any check or SLO inconclusive -> ``inconclusive``;
    3. no check passed (none ran, or all were skipped) -> ``inconclusive``;
    4. otherwise ``pass``.
    """
    verdicts = {c.verdict for c in checks} | {s.verdict for s in slos}
    if Verdict.FAIL in verdicts or _below(compute_score(checks, slos), min_score):
        return Verdict.FAIL
    if Verdict.INCONCLUSIVE in verdicts:
        return Verdict.INCONCLUSIVE
    if not any(c.verdict is Verdict.PASS for c in checks):
        return Verdict.INCONCLUSIVE
    return Verdict.PASS


def exit_code_for(
    checks: Sequence[Check], slos: Sequence[SloResult], *, min_score: float | None = None
) -> ExitCode:
    """Exit code of the run, first match wins.

    1. any check failed -> ``CONFORMANCE_FAILED``;
    2. any critical SLO failed, or the score is below ``min_score`` -> ``SLO_BREACHED``;
    3. any check or critical SLO inconclusive, or no check passed -> ``INCONCLUSIVE``;
    4. otherwise ``OK``.

    Non-critical SLOs change the exit code only through the score (with ``min_score``), whether
    breached or without data: gating on a non-critical SLO's missing data but not on its breach
    would be backwards.
    """
    critical = [s.verdict for s in slos if s.critical]
    check_verdicts = {c.verdict for c in checks}
    if Verdict.FAIL in check_verdicts:
        return ExitCode.CONFORMANCE_FAILED
    if Verdict.FAIL in critical or _below(compute_score(checks, slos), min_score):
        return ExitCode.SLO_BREACHED
    if (
        Verdict.INCONCLUSIVE in check_verdicts
        or Verdict.INCONCLUSIVE in critical
        or Verdict.PASS not in check_verdicts
    ):
        return ExitCode.INCONCLUSIVE
    return ExitCode.OK


def build_scorecard(
    *,
    checks: Sequence[Check],
    slos: Sequence[SloResult],
    target: str,
    profile: str,
    platform: str,
    distribution: Distribution,
    started_at: datetime,
    finished_at: datetime,
    run_id: str | None = None,
    load: LoadReport | None = None,
    matrix: Sequence[MatrixCell] = (),
    tenants: Sequence[TenantResources] = (),
    chaos: Sequence[ChaosExperimentReport] = (),
    min_score: float | None = None,
) -> Scorecard:
    """Assemble a scorecard; summaries, score, its formula, verdict and exit code are computed,
    never passed.

    ``run_id`` defaults to ``<started_at as UTC, compact ISO 8601>-<8 hex digits>``, which sorts by
    start time. Checks and SLOs keep the order given. Datetimes must carry a timezone.
    """
    if run_id is None:
        run_id = f"{started_at.astimezone(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    return Scorecard(
        schema_=SCHEMA_ID,
        run_id=run_id,
        started_at=started_at,
        finished_at=finished_at,
        target=target,
        profile=profile,
        platform=platform,
        distribution=distribution,
        suites=summarize(checks),
        checks=list(checks),
        slos=list(slos),
        load=load,
        matrix=list(matrix),
        tenants=list(tenants),
        chaos=list(chaos),
        score=compute_score(checks, slos),
        score_formula=explain_score(checks, slos),
        min_score=min_score,
        verdict=overall_verdict(checks, slos, min_score=min_score),
        exit_code=int(exit_code_for(checks, slos, min_score=min_score)),
    )


def load_scorecard(path: str | os.PathLike[str]) -> Scorecard:
    """Read a ``scorecard.json`` (v2, or v1 upgraded to v2); raises ``ScorecardError`` if it is not
    a valid scorecard (``OSError`` if it cannot be read)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScorecardError(path, f"not JSON: {exc}") from exc
    if isinstance(data, dict) and data.get("schema") in _READABLE_SCHEMAS:
        # v1 is v2 without the fields v2 added (all of which have defaults).
        data["schema"] = SCHEMA_ID
    try:
        return Scorecard.model_validate(data)
    except ValidationError as exc:
        raise ScorecardError(path, str(exc)) from exc


def write_scorecard(sc: Scorecard, path: str | os.PathLike[str]) -> None:
    """Write ``sc`` as JSON (see ``Scorecard.to_json``) atomically; parent folders are created."""
    atomic_write_text(Path(path), sc.to_json())


def atomic_write_text(path: Path, text: str) -> None:
    """Write UTF-8 text so readers see the old file or the new one, never half of it.

    The temporary file lives in the destination folder because ``os.replace`` is only atomic within
    one file system.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as tmp:
            # mkstemp creates 0600; a report is meant to be read by CI and colleagues.
            os.fchmod(tmp.fileno(), 0o644)
            tmp.write(text)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
