"""Run results: the scorecard model and the reports rendered from it.

One typed model (``Scorecard``) holds everything a run found out; ``scorecard.json`` is its JSON
form (schema in ``docs/scorecard.schema.json``, semantics in ``docs/scorecard.md``) and every other
report (JUnit today; Allure and HTML later) is rendered from it, never from pytest's own objects.

``gauntlet.report.schema`` (the JSON Schema generator) is not imported here, so that
``python -m gauntlet.report.schema`` runs it cleanly.
"""

from gauntlet.report.junit import render_junit, write_junit
from gauntlet.report.scorecard import (
    SCHEMA_ID,
    BurnRateAlert,
    Check,
    Distribution,
    Evidence,
    LatencySummary,
    LoadReport,
    MatrixCell,
    PhaseMark,
    Scorecard,
    ScorecardError,
    ScoreParts,
    SeriesPoint,
    SloResult,
    SuiteSummary,
    TenantResources,
    Verdict,
    build_scorecard,
    compute_score,
    exit_code_for,
    explain_score,
    load_scorecard,
    overall_verdict,
    score_parts,
    summarize,
    write_scorecard,
)

__all__ = [
    "SCHEMA_ID",
    "BurnRateAlert",
    "Check",
    "Distribution",
    "Evidence",
    "LatencySummary",
    "LoadReport",
    "MatrixCell",
    "PhaseMark",
    "ScoreParts",
    "Scorecard",
    "ScorecardError",
    "SeriesPoint",
    "SloResult",
    "SuiteSummary",
    "TenantResources",
    "Verdict",
    "build_scorecard",
    "compute_score",
    "exit_code_for",
    "explain_score",
    "load_scorecard",
    "overall_verdict",
    "render_junit",
    "score_parts",
    "summarize",
    "write_junit",
    "write_scorecard",
]
