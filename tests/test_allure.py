"""Allure results: attachments on checks (through the pytest plugin) and SLO/run results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gauntlet.report.allure_results import attach_check, write_run_results
from gauntlet.report.scorecard import Check, Scorecard, Verdict
from gauntlet.report.synthetic import synthetic_scorecard


@pytest.fixture(scope="module")
def sc() -> Scorecard:
    return synthetic_scorecard(duration_s=20, rps=50, checks=8)


def results(directory: Path) -> list[dict[str, object]]:
    return [json.loads(p.read_text()) for p in sorted(directory.glob("*-result.json"))]


def test_run_results_one_per_slo_plus_the_run(tmp_path: Path, sc: Scorecard) -> None:
    html = tmp_path / "report.html"
    html.write_text("<!DOCTYPE html><p>report</p>")
    write_run_results(sc, tmp_path / "allure", report_html=html)

    found = results(tmp_path / "allure")
    assert len(found) == len(sc.slos) + 1
    by_name = {str(r["name"]): r for r in found}
    assert by_name["isolation-integrity"]["status"] == "failed"
    no_data = by_name["pod-start-latency"]
    assert no_data["status"] == "skipped"
    assert str(no_data["statusDetails"]["message"]).startswith("inconclusive: ")  # type: ignore[index]
    assert by_name["latency-p95 [load]"]["status"] == "passed"
    run = next(r for name, r in by_name.items() if name.startswith("gauntlet run: score"))
    attachments = {a["name"]: a for a in run["attachments"]}  # type: ignore[attr-defined]
    assert {
        "score formula",
        "latency percentiles over time",
        "requests and errors over time",
        "isolation matrix",
        "requested resources per tenant",
        "SLOs",
        "report.html",
    } <= set(attachments)
    heatmap = tmp_path / "allure" / attachments["isolation matrix"]["source"]
    assert heatmap.suffix == ".svg"
    assert heatmap.read_text().startswith("<svg")
    env = (tmp_path / "allure" / "environment.properties").read_text()
    assert "distribution=local-sandbox\n" in env
    categories = json.loads((tmp_path / "allure" / "categories.json").read_text())
    assert categories[0]["name"].startswith("Inconclusive")


def test_attach_outside_an_allure_session_is_a_no_op(sc: Scorecard) -> None:
    check = Check(suite="s", id="s/a", title="a", verdict=Verdict.PASS)
    attach_check(check, load=sc.load, matrix=sc.matrix, tenants=sc.tenants, slos=sc.slos)
