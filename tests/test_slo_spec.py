"""Tests for gauntlet.slo.spec: loading OpenSLO v1 files, references, overrides and errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from gauntlet.slo import DEFAULT_SPEC_DIR, SloSpecError, load_specs
from gauntlet.slo.openslo import duration_s
from gauntlet.slo.spec import Objective

SLI = """
apiVersion: openslo/v1
kind: SLI
metadata:
  name: lat
spec:
  thresholdMetric:
    metricSource:
      type: Gauntlet
      spec:
        metric: load.latency_ms
"""

SLO = """
apiVersion: openslo/v1
kind: SLO
metadata:
  name: p95
  annotations:
    gauntlet.io/critical: "true"
    gauntlet.io/weight: "2.5"
    gauntlet.io/value.kind: "300"
    gauntlet.io/target.eks: "0.9"
spec:
  service: web
  indicatorRef: lat
  budgetingMethod: Occurrences
  timeWindow:
    - duration: 30d
  objectives:
    - op: lte
      value: 200
      target: 0.95
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_shipped_specs_load_and_cover_the_issue() -> None:
    specs = {s.name: s for s in load_specs()}
    assert set(specs) >= {
        "availability",
        "latency-p95",
        "latency-p99",
        "isolation-integrity",
        "admission-correctness",
        "pod-start-latency",
        "recovery-time",
    }
    assert specs["isolation-integrity"].target == 1.0
    assert specs["isolation-integrity"].critical
    assert specs["availability"].measurement == "load"
    assert specs["recovery-time"].measurement == "chaos"
    assert [a.threshold for a in specs["availability"].alerts] == [14.4, 6, 1]
    fast = specs["availability"].alerts[0]
    assert (fast.long_window_s, fast.short_window_s) == (3600, 300)
    # Thresholds differ per distribution.
    p95 = specs["latency-p95"]
    assert p95.objective_for("local-sandbox").value == 200
    assert p95.objective_for("kind").value == 300
    assert p95.objective_for("eks").value == 400
    assert {s.name for s in load_specs(measurement="load")} == {
        "availability",
        "latency-p95",
        "latency-p99",
    }
    assert DEFAULT_SPEC_DIR.name == "slos"


def test_refs_annotations_and_overrides(tmp_path: Path) -> None:
    write(tmp_path, "sli.yaml", SLI)
    write(tmp_path, "slo.yml", SLO)
    (spec,) = load_specs(tmp_path)
    assert spec.indicator.kind == "threshold"
    assert spec.indicator.unit == "ms"
    assert (spec.op, spec.value, spec.target) == ("lte", 200, 0.95)
    assert spec.period_s == 30 * 86400
    assert spec.critical and spec.weight == 2.5
    assert spec.objective_for("kind") == Objective(0.95, 300)
    assert spec.objective_for("eks") == Objective(0.9, 200)
    assert spec.objective_for("local-sandbox") == Objective(0.95, 200)


def test_list_documents_inline_indicator_and_inline_policy(tmp_path: Path) -> None:
    write(
        tmp_path,
        "all.yaml",
        """
        - apiVersion: openslo/v1
          kind: SLO
          metadata: {name: avail}
          spec:
            service: web
            indicator:
              metadata: {name: avail-sli}
              spec:
                ratioMetric:
                  bad: {metricSource: {type: Gauntlet, spec: {metric: load.requests.unavailable}}}
                  total: {metricSource: {type: Gauntlet, spec: {metric: load.requests}}}
            budgetingMethod: Occurrences
            timeWindow: [{duration: 4w, isRolling: true}]
            objectives: [{targetPercent: 99.5}]
            alertPolicies:
              - kind: AlertPolicy
                metadata: {name: inline}
                spec:
                  conditions:
                    - kind: AlertCondition
                      metadata: {name: quick}
                      spec:
                        condition: {kind: burnrate, op: gt, threshold: 10, lookbackWindow: 2h}
        """,
    )
    (spec,) = load_specs(tmp_path / "all.yaml")
    assert spec.indicator.bad == "load.requests.unavailable"
    assert spec.target == pytest.approx(0.995)
    (rule,) = spec.alerts
    assert (rule.name, rule.threshold, rule.inclusive) == ("quick", 10, False)
    assert rule.short_window_s == pytest.approx(600)  # a twelfth of 2 h by default


def test_duration_shorthand() -> None:
    assert duration_s("5m") == 300
    assert duration_s("1M") == 30 * 86400
    assert duration_s("1Q") == 90 * 86400
    with pytest.raises(ValueError, match="not a duration"):
        duration_s("5 minutes")


ERRORS = [
    # (replace in SLO, expected fragments: field, reason)
    (("budgetingMethod: Occurrences", "budgetingMethod: Timeslices"), "spec.budgetingMethod"),
    (("  indicatorRef: lat", "  indicatorRef: latency"), "spec.indicatorRef: no SLI named"),
    (("  service: web", "  servce: web"), "spec.servce"),
    (("apiVersion: openslo/v1\nkind: SLO", "apiVersion: openslo/v2\nkind: SLO"), "apiVersion"),
    (("    - op: lte\n      value: 200\n", "    - "), "give op and value"),
    (('gauntlet.io/weight: "2.5"', 'gauntlet.io/weight: "heavy"'), "gauntlet.io/weight"),
    (('gauntlet.io/critical: "true"', 'gauntlet.io/critcal: "true"'), "unknown Gauntlet"),
    (('gauntlet.io/target.eks: "0.9"', 'gauntlet.io/target.eks: "1.5"'), "target.eks"),
    (("      target: 0.95", "      target: 1.5"), "spec.objectives[0].target"),
    (("  - duration: 30d", "  - duration: 30 days"), "spec.timeWindow[0].duration"),
]


@pytest.mark.parametrize(("change", "needle"), ERRORS)
def test_errors_name_file_object_and_field(
    tmp_path: Path, change: tuple[str, str], needle: str
) -> None:
    write(tmp_path, "sli.yaml", SLI)
    old, new = change
    text = textwrap.dedent(SLO)
    assert old in text
    path = write(tmp_path, "slo.yaml", text.replace(old, new))
    with pytest.raises(SloSpecError) as info:
        load_specs(tmp_path)
    message = str(info.value)
    assert str(path) in message
    assert "SLO p95" in message
    assert needle in message


def test_sli_errors(tmp_path: Path) -> None:
    write(tmp_path, "slo.yaml", SLO)
    path = write(tmp_path, "sli.yaml", SLI.replace("load.latency_ms", "load.requests"))
    with pytest.raises(SloSpecError, match="counts events; a threshold SLI needs a value metric"):
        load_specs(tmp_path)
    path.write_text(SLI.replace("load.latency_ms", "load.latency"), encoding="utf-8")
    with pytest.raises(SloSpecError, match=r"SLI lat: spec.thresholdMetric.metricSource.spec"):
        load_specs(tmp_path)
    path.write_text(SLI.replace("type: Gauntlet", "type: Datadog"), encoding="utf-8")
    with pytest.raises(SloSpecError, match="expected Gauntlet or Prometheus, got 'Datadog'"):
        load_specs(tmp_path)


def test_ratio_family_must_match(tmp_path: Path) -> None:
    write(
        tmp_path,
        "sli.yaml",
        """
        apiVersion: openslo/v1
        kind: SLI
        metadata: {name: mixed}
        spec:
          ratioMetric:
            good: {metricSource: {type: Gauntlet, spec: {metric: isolation.denied_cells.held}}}
            total: {metricSource: {type: Gauntlet, spec: {metric: load.requests}}}
        """,
    )
    with pytest.raises(SloSpecError, match=r"not a good part of 'load\.requests'"):
        load_specs(tmp_path / "sli.yaml")


def test_duplicate_names_and_bad_documents(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", SLI)
    write(tmp_path, "b.yaml", SLI)
    with pytest.raises(SloSpecError, match=r"b.yaml: SLI lat: metadata.name: SLI already defined"):
        load_specs(tmp_path)
    (tmp_path / "b.yaml").write_text("- just a string\n", encoding="utf-8")
    with pytest.raises(SloSpecError, match="document 0"):
        load_specs(tmp_path)
    (tmp_path / "b.yaml").write_text("kind: Service\napiVersion: openslo/v1\n", encoding="utf-8")
    with pytest.raises(SloSpecError, match="kind: expected one of SLO, SLI"):
        load_specs(tmp_path)
    (tmp_path / "b.yaml").write_text("a: [\n", encoding="utf-8")
    with pytest.raises(SloSpecError, match="not YAML"):
        load_specs(tmp_path)
    with pytest.raises(SloSpecError, match="no such file"):
        load_specs(tmp_path / "missing")


def test_alert_references(tmp_path: Path) -> None:
    write(tmp_path, "sli.yaml", SLI)
    write(tmp_path, "slo.yaml", SLO + "  alertPolicies: [page]\n")
    with pytest.raises(SloSpecError, match=r"spec.alertPolicies\[0\]: no AlertPolicy named 'page'"):
        load_specs(tmp_path)
    write(
        tmp_path,
        "alerts.yaml",
        """
        apiVersion: openslo/v1
        kind: AlertPolicy
        metadata: {name: page}
        spec:
          conditions: [{conditionRef: fast}]
        ---
        apiVersion: openslo/v1
        kind: AlertCondition
        metadata:
          name: fast
          annotations: {gauntlet.io/short-window: 2h}
        spec:
          condition: {kind: burnrate, op: gte, threshold: 14.4, lookbackWindow: 1h}
        """,
    )
    with pytest.raises(SloSpecError, match=r"short window \(2h\) is longer than lookbackWindow"):
        load_specs(tmp_path)
