"""Publishing from suites: SLO results, load, matrix and tenants reach the scorecard, also under
pytest-xdist; run-level SLOs are evaluated for the suites that ran; --min-score sets the exit."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from gauntlet.exitcodes import ExitCode
from gauntlet.report import load_scorecard

pytest_plugins = ["pytester"]

SUITE = textwrap.dedent(
    """
    import pytest
    from datetime import datetime, timezone
    from gauntlet.report.scorecard import (
        LatencySummary, LoadReport, MatrixCell, SloResult, TenantResources, Verdict,
    )

    def load(profile):
        zero = LatencySummary(count=1, mean_ms=1, p50_ms=1, p90_ms=1, p95_ms=1, p99_ms=1,
                              p999_ms=1, max_ms=1)
        return LoadReport(profile=profile, entrypoint="http://x/",
                          started_at=datetime(2024, 1, 1, tzinfo=timezone.utc), duration_s=1,
                          requests=1, errors=0, rps=1, latency=zero, histogram="")

    def slo(name, verdict, budget):
        return SloResult(name=name, objective=0.99, observed=0.995 if budget is not None else None,
                         verdict=verdict, error_budget_consumed=budget, window="load",
                         critical=True)

    @pytest.mark.gauntlet_suite("demo")
    @pytest.mark.parametrize("n", [0, 1])
    def test_publishes(n, gauntlet_check):
        gauntlet_check.publish_slos([slo(f"slo-{n}", Verdict.PASS, 0.5)])
        gauntlet_check.publish_load(load(f"profile-{n}"))
        gauntlet_check.publish_matrix([
            MatrixCell(src=f"a/{n}", dst="b/api", port=80, protocol="TCP", expected=False,
                       observed="pass"),
        ])
        gauntlet_check.publish_tenants([
            TenantResources(namespace="team-a", pods=n, requests_cpu_m=1, requests_memory_mib=1,
                            limits_cpu_m=1, limits_memory_mib=1),
        ])

    @pytest.mark.gauntlet_suite("isolation")
    def test_row(gauntlet_check):
        gauntlet_check.counts.update(cells=10, expected_allowed=4, mismatches=0)
    """
)


def scorecard_of(report_dir: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((report_dir / "scorecard.json").read_text())
    return data


@pytest.mark.parametrize("workers", [None, "2"])
def test_published_results_reach_the_scorecard(
    pytester: pytest.Pytester, workers: str | None
) -> None:
    pytester.makepyfile(test_suite=SUITE)
    report_dir = pytester.path / "reports"
    args = ["--report-dir", str(report_dir), "-p", "no:cacheprovider"]
    if workers:
        args += ["-n", workers]
    result = pytester.runpytest_subprocess(*args)
    assert result.ret == ExitCode.OK, result.stdout.str()[-3000:]
    sc = load_scorecard(report_dir / "scorecard.json")
    assert {c.id for c in sc.checks} == {"demo/0", "demo/1", "isolation/test_row"}
    names = {s.name for s in sc.slos}
    # Both publish calls add up; the isolation row gives the run-level SLO (6 denied cells).
    assert names == {"slo-0", "slo-1", "isolation-integrity"}
    isolation = next(s for s in sc.slos if s.name == "isolation-integrity")
    # The matrix was published, so it is the source: 2 denied cells, both held.
    assert (isolation.verdict.value, isolation.observed) == ("pass", 1.0)
    assert "0 of 2 events bad" in isolation.message
    assert sc.load is not None and sc.load.profile in ("profile-0", "profile-1")
    assert len(sc.matrix) == 2
    assert [t.namespace for t in sc.tenants] == ["team-a"]
    assert sc.score_formula.startswith("score = 0.5 x conformance + 0.5 x slo")
    out = result.stdout.str()
    assert "gauntlet score" in out
    assert "2 load reports were published; the scorecard keeps the last" in out


def test_min_score_sets_slo_breached(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    report_dir = pytester.path / "reports"
    result = pytester.runpytest_subprocess(
        "--report-dir", str(report_dir), "-p", "no:cacheprovider", "--min-score", "99"
    )
    assert result.ret == ExitCode.SLO_BREACHED, result.stdout.str()[-3000:]
    sc = scorecard_of(report_dir)
    assert sc["min_score"] == 99
    assert sc["exit_code"] == ExitCode.SLO_BREACHED


def test_broken_slo_spec_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    bad = pytester.path / "slos"
    bad.mkdir()
    (bad / "x.yaml").write_text("apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: x}\n")
    result = pytester.runpytest_subprocess("--slo-specs", str(bad), "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "SLO spec error" in result.stderr.str()
    assert "x.yaml: SLO x: spec" in result.stderr.str()


def test_ordinary_test_runs_stay_untouched(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="def test_ok():\n    assert True\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == 0
    assert "gauntlet verdicts" not in result.stdout.str()
    assert "gauntlet score" not in result.stdout.str()


def test_cli_passes_min_score_and_prometheus_url(capsys: pytest.CaptureFixture[str]) -> None:
    from gauntlet.cli import _pytest_args, build_parser

    args = build_parser().parse_args(
        ["run", "--suite", "load", "--min-score", "80", "--prometheus-url", "http://p:9090"]
    )
    argv = _pytest_args(args, Path("reports"), [])
    assert argv[argv.index("--min-score") + 1] == "80.0"
    assert argv[argv.index("--prometheus-url") + 1] == "http://p:9090"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--min-score", "101"])
    assert "not a score between 0 and 100" in capsys.readouterr().err
    plain = _pytest_args(build_parser().parse_args(["run", "--suite", "load"]), Path("r"), [])
    assert "--min-score" not in plain and "--prometheus-url" not in plain
