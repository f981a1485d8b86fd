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
  only together with ``SCHEMA_ID``.
"""

from __future__ import annotations

import math
import os
import tempfile
import uuid
from collections.abc import Iterable, Sequence
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

SCHEMA_ID: Literal["gauntlet.scorecard/v1"] = "gauntlet.scorecard/v1"
"""Value of the ``schema`` key; bump it whenever the JSON shape changes incompatibly."""


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


class SloResult(_Model):
    """One service-level objective evaluated over the run (or over a load/chaos window)."""

    name: str = Field(min_length=1)
    """E.g. ``"availability"``, ``"latency-p95"``, ``"isolation-during-chaos"``."""
    objective: float
    """The target in the SLI's own unit, e.g. ``0.999`` availability, ``0.3`` p95 seconds."""
    observed: float | None
    """The measured SLI; null when there was no data (then the verdict cannot be ``pass``)."""
    verdict: Verdict
    """``inconclusive`` when there was no data; ``skip`` leaves the SLO out of verdict and score."""
    error_budget_consumed: NonNegativeFloat | None
    """Fraction of the error budget used: 0 = none, 1 = all of it, above 1 = overspent; null when
    there was no data. Cap it at a finite value: JSON has no infinity."""
    critical: bool = False
    """A breached critical SLO fails the run with ``SLO_BREACHED``; others only lower the score."""

    @model_validator(mode="after")
    def _no_data_is_not_a_pass(self) -> Self:
        if self.verdict is Verdict.PASS and self.observed is None:
            raise ValueError(
                f"SLO {self.name!r} has verdict 'pass' but no observed value; "
                "an SLO without data must be 'inconclusive'"
            )
        return self


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

    schema_: Literal["gauntlet.scorecard/v1"] = Field(alias="schema")
    """Format and version of this document; always ``"gauntlet.scorecard/v1"`` for this schema."""
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
    score: float = Field(ge=0, le=100)
    """0-100; formula in docs/scorecard.md (skips left out, inconclusive counts against)."""
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
    """A file that should hold a scorecard does not hold a valid ``gauntlet.scorecard/v1``."""

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


def compute_score(checks: Sequence[Check], slos: Sequence[SloResult]) -> float:
    """Score of a run, 0-100.

    - conformance = 100 x passed / (passed + failed + inconclusive) over the checks; skips are left
      out, inconclusive checks count against the score (nothing was proven). It is 0 when no check
      ran.
    - slo = 100 x mean over all SLOs of max(0, 1 - min(error_budget_consumed, 1)); an SLO without
      data (``error_budget_consumed is None``) contributes 0.
    - score = conformance when there are no SLOs, else 0.5 x conformance + 0.5 x slo.

    With no checks and no SLOs the score is 0. SLOs with verdict ``skip`` are not SLOs of this run
    and are left out like skipped checks.
    """
    ran = [c for c in checks if c.verdict is not Verdict.SKIP]
    passed = sum(1 for c in ran if c.verdict is Verdict.PASS)
    conformance = 100.0 * passed / len(ran) if ran else 0.0
    scored_slos = [s for s in slos if s.verdict is not Verdict.SKIP]
    if not scored_slos:
        return conformance
    budget_left = [
        0.0
        if s.error_budget_consumed is None
        else max(0.0, 1.0 - min(s.error_budget_consumed, 1.0))
        for s in scored_slos
    ]
    slo_part = 100.0 * math.fsum(budget_left) / len(budget_left)
    # Both parts are within [0, 100]; the clamp only guards against float rounding.
    return min(100.0, max(0.0, 0.5 * conformance + 0.5 * slo_part))


def overall_verdict(checks: Sequence[Check], slos: Sequence[SloResult]) -> Verdict:
    """Verdict of the run, first match wins.

    1. any check or SLO failed -> ``fail``;
    2. any check or SLO inconclusive -> ``inconclusive``;
    3. no check passed (none ran, or all were skipped) -> ``inconclusive``;
    4. otherwise ``pass``.
    """
    verdicts = {c.verdict for c in checks} | {s.verdict for s in slos}
    if Verdict.FAIL in verdicts:
        return Verdict.FAIL
    if Verdict.INCONCLUSIVE in verdicts:
        return Verdict.INCONCLUSIVE
    if not any(c.verdict is Verdict.PASS for c in checks):
        return Verdict.INCONCLUSIVE
    return Verdict.PASS


def exit_code_for(checks: Sequence[Check], slos: Sequence[SloResult]) -> ExitCode:
    """Exit code of the run, first match wins.

    1. any check failed -> ``CONFORMANCE_FAILED``;
    2. any critical SLO failed -> ``SLO_BREACHED``;
    3. any check or critical SLO inconclusive, or no check passed -> ``INCONCLUSIVE``;
    4. otherwise ``OK``.

    Non-critical SLOs never change the exit code (they lower the score and the verdict), whether
    breached or without data: gating on a non-critical SLO's missing data but not on its breach
    would be backwards.
    """
    critical = [s.verdict for s in slos if s.critical]
    check_verdicts = {c.verdict for c in checks}
    if Verdict.FAIL in check_verdicts:
        return ExitCode.CONFORMANCE_FAILED
    if Verdict.FAIL in critical:
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
) -> Scorecard:
    """Assemble a scorecard; summaries, score, verdict and exit code are computed, never passed.

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
        score=compute_score(checks, slos),
        verdict=overall_verdict(checks, slos),
        exit_code=int(exit_code_for(checks, slos)),
    )


def load_scorecard(path: str | os.PathLike[str]) -> Scorecard:
    """Read a ``scorecard.json``; raises ``ScorecardError`` if it is not a valid v1 scorecard
    (``OSError`` if it cannot be read)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    try:
        return Scorecard.model_validate_json(text)
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
