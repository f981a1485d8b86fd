"""Allure results: attachments on checks (through the pytest plugin) and SLO/run results."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
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


SUITE = textwrap.dedent(
    """
    import pytest
    from gauntlet.report.scorecard import MatrixCell, Verdict

    pytestmark = pytest.mark.gauntlet_suite("isolation")


    def test_leaky_row(gauntlet_check):
        gauntlet_check.attach("expected / observed / diff", "      b\\na     L", kind="matrix")
        gauntlet_check.publish_matrix(
            [
                MatrixCell(src="t1/a", dst="t2/b", port=80, protocol="TCP", expected=False,
                           observed="leak"),
                MatrixCell(src="t1/a", dst="t1/c", port=80, protocol="TCP", expected=True,
                           observed="pass"),
            ]
        )
        gauntlet_check.conclude(Verdict.FAIL, "t1/a reached t2/b")


    def test_clean_row(gauntlet_check):
        gauntlet_check.attach("probes", "all as expected")
    """
)


def test_plugin_writes_allure_results_with_attachments(tmp_path: Path) -> None:
    (tmp_path / "test_suite.py").write_text(SUITE)
    allure_dir, report_dir = tmp_path / "allure", tmp_path / "report"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "test_suite.py",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--alluredir={allure_dir}",
            f"--report-dir={report_dir}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr  # CONFORMANCE_FAILED: the leak
    assert (report_dir / "report.html").is_file()

    found = {str(r["name"]): r for r in results(allure_dir)}
    leaky = found["test_leaky_row"]
    assert leaky["status"] == "failed"
    attachments = {a["name"]: a for a in leaky["attachments"]}  # type: ignore[attr-defined]
    assert {
        "expected / observed / diff (matrix)",
        "isolation matrix",
        "isolation matrix (text)",
    } <= set(attachments)
    assert (allure_dir / attachments["isolation matrix"]["source"]).read_text().startswith("<svg")
    assert (
        "t1/a -> t2/b:80/TCP  deny  leak"
        in (allure_dir / attachments["isolation matrix (text)"]["source"]).read_text()
    )
    clean = found["test_clean_row"]
    assert [a["name"] for a in clean["attachments"]] == ["probes (text)"]  # type: ignore[attr-defined]
    # The session's own results: the run (with report.html) and the run-level isolation SLO.
    run = next(r for name, r in found.items() if name.startswith("gauntlet run: score"))
    assert "report.html" in {a["name"] for a in run["attachments"]}  # type: ignore[attr-defined]
    assert any(
        any(label == {"name": "suite", "value": "slo"} for label in r["labels"])  # type: ignore[attr-defined]
        for r in found.values()
    )
    assert (allure_dir / "environment.properties").is_file()
