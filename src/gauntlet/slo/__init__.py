"""Service-level objectives: OpenSLO v1 specs, their evaluation over a run, and data sources.

Specs live in ``scenarios/slos/`` (docs/slos.md); ``load_specs`` resolves them, ``evaluate``
turns them and a run's ``Measurements`` into ``SloResult``s for the scorecard. The harness's own
measurements are one data source; a Prometheus server (``PrometheusSource``) is the other, used
only when a URL is given.
"""

from gauntlet.slo.burn import BUDGET_CAP
from gauntlet.slo.evaluate import EventCounts, Measurements, evaluate, evaluate_one
from gauntlet.slo.prometheus import PrometheusError, PrometheusSource
from gauntlet.slo.spec import DEFAULT_SPEC_DIR, SloSpec, SloSpecError, load_specs

__all__ = [
    "BUDGET_CAP",
    "DEFAULT_SPEC_DIR",
    "EventCounts",
    "Measurements",
    "PrometheusError",
    "PrometheusSource",
    "SloSpec",
    "SloSpecError",
    "evaluate",
    "evaluate_one",
    "load_specs",
]
