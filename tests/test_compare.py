"""Tests for gauntlet.report.compare (``gauntlet compare``)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from gauntlet.cli import main
from gauntlet.exitcodes import ExitCode
from gauntlet.report.compare import RunNotFound, compare, load_run, render_compare_html
from gauntlet.report.scorecard import Scorecard, ScorecardError, write_scorecard
from gauntlet.report.synthetic import synthetic_scorecard


@pytest.fixture(scope="module")
def runs() -> list[Scorecard]:
    return [
        synthetic_scorecard(duration_s=20, rps=50, checks=12, seed=0, run_id="local-1"),
        synthetic_scorecard(
            duration_s=20,
            rps=50,
            checks=12,
            seed=1,
            run_id="kind-1",
            distribution="kind",
            extra_latency_ms=40,
            leaks=0,
        ),
        synthetic_scorecard(duration_s=20, rps=50, checks=12, seed=2, run_id="local-2"),
    ]


def test_columns_grouped_by_distribution_keeping_order(runs: list[Scorecard]) -> None:
    comparison = compare(runs)
    assert [sc.run_id for sc in comparison.runs] == ["local-1", "local-2", "kind-1"]
    assert comparison.headers()[2].startswith("kind\nkind-1\n")


def test_rows_cover_verdict_score_suites_slos_and_latency(runs: list[Scorecard]) -> None:
    rows = {(r.section, r.label): r for r in compare(runs).rows}
    assert [c.text for c in rows[("run", "verdict")].cells] == ["fail", "fail", "fail"]
    assert rows[("run", "score")].cells[0].text == f"{runs[0].score:.1f}"
    iso = rows[("suites (pass/fail/inconclusive/skip)", "isolation")]
    assert iso.cells[0].text == "2/1/0/0"
    assert iso.cells[2].text == "3/0/0/0"
    p95 = rows[("SLOs: observed (error budget used)", "latency-p95 [load] ≤ 50 ms")]
    assert re.fullmatch(r"\d+(\.\d)? ms \(\d+ %\)", p95.cells[0].text)
    assert p95.cells[2].verdict is not None and p95.cells[2].verdict.value == "fail"
    assert rows[("load", "p95")].cells[2].text.endswith(" ms")


def test_missing_figures_show_as_dash(runs: list[Scorecard]) -> None:
    no_load = runs[0].model_copy(update={"load": None, "slos": runs[0].slos[:1], "run_id": "bare"})
    rows = {(r.section, r.label): r for r in compare([no_load, runs[1]]).rows}
    assert rows[("load", "p99")].cells[0].text == "-"
    assert (
        rows[("SLOs: observed (error budget used)", "latency-p99 [load] ≤ 120 ms")].cells[0].text
        == "-"
    )


def test_html_page(runs: list[Scorecard]) -> None:
    html = render_compare_html(compare(runs))
    assert html.startswith("<!DOCTYPE html>")
    assert "<script" not in html
    for run_id in ("local-1", "kind-1", "local-2"):
        assert run_id in html
    assert "latency-p95 [load] ≤ 50 ms" in html


def test_load_run_accepts_dirs_files_and_v1(tmp_path: Path, runs: list[Scorecard]) -> None:
    write_scorecard(runs[0], tmp_path / "r" / "scorecard.json")
    assert load_run(tmp_path / "r") == runs[0]
    assert load_run(tmp_path / "r" / "scorecard.json") == runs[0]
    v1 = json.loads(runs[0].to_json())
    v1["schema"] = "gauntlet.scorecard/v1"
    for key in ("load", "matrix", "tenants", "score_formula", "min_score"):
        v1.pop(key)
    (tmp_path / "v1.json").write_text(json.dumps(v1))
    assert load_run(tmp_path / "v1.json").load is None
    with pytest.raises(RunNotFound, match="no scorecard here"):
        load_run(tmp_path / "missing")
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ScorecardError):
        load_run(tmp_path / "bad.json")


def test_cli_compare(
    tmp_path: Path, runs: list[Scorecard], capsys: pytest.CaptureFixture[str]
) -> None:
    paths = []
    for sc in runs:
        write_scorecard(sc, tmp_path / sc.run_id / "scorecard.json")
        paths.append(str(tmp_path / sc.run_id))
    html = tmp_path / "compare.html"
    assert main(["compare", *paths, "--html", str(html)]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "kind-1" in out and "local-2" in out
    assert "latency-p95 [load]" in out
    assert html.read_text().startswith("<!DOCTYPE html>")
    assert main(["compare", str(tmp_path / "nothing")]) == ExitCode.USAGE_ERROR
