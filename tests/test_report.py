"""Tests for gauntlet.report: the scorecard model, its judging rules, JUnit and the JSON Schema."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

import gauntlet.report
from gauntlet.exitcodes import ExitCode
from gauntlet.report import (
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
    render_junit,
    summarize,
    write_junit,
    write_scorecard,
)
from gauntlet.report.schema import main as schema_main
from gauntlet.report.schema import render_schema, scorecard_json_schema

REPO = Path(__file__).resolve().parents[1]
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

P, F, INC, S = Verdict.PASS, Verdict.FAIL, Verdict.INCONCLUSIVE, Verdict.SKIP


def check(verdict: Verdict, *, suite: str = "isolation", n: int = 0, **kw: object) -> Check:
    return Check.model_validate(
        {"suite": suite, "id": f"{suite}/c{n}", "title": f"check {n}", "verdict": verdict, **kw}
    )


def checks(*verdicts: Verdict, suite: str = "isolation") -> list[Check]:
    return [check(v, suite=suite, n=i) for i, v in enumerate(verdicts)]


def slo(
    verdict: Verdict, *, budget: float | None = 0.0, critical: bool = False, name: str = "avail"
) -> SloResult:
    return SloResult(
        name=name,
        objective=0.999,
        observed=None if budget is None else 0.9995,
        verdict=verdict,
        error_budget_consumed=budget,
        critical=critical,
    )


def scorecard(cs: list[Check], slos: list[SloResult] | None = None) -> Scorecard:
    return build_scorecard(
        checks=cs,
        slos=slos or [],
        target="local",
        profile="smoke",
        platform="fixtures/platform",
        distribution=Distribution(name="local-sandbox", cni="nftables"),
        started_at=T0,
        finished_at=T0 + timedelta(seconds=42.5),
    )


def test_public_names() -> None:
    assert sorted(gauntlet.report.__all__) == sorted(
        [
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
    )


# --- model and JSON ------------------------------------------------------------------------------


def test_json_round_trip_uses_schema_key(tmp_path: Path) -> None:
    evidence = Evidence(kind="matrix", title="expected/observed", content="  a b\na . X")
    cs = [
        check(F, evidence=[evidence], counts={"cells": 4, "mismatches": 1}, started_at=T0),
        check(P, n=1, duration_s=0.25),
    ]
    sc = scorecard(cs, [slo(P, budget=0.5, critical=True)])
    path = tmp_path / "out" / "scorecard.json"

    write_scorecard(sc, path)

    raw = json.loads(path.read_text(encoding="utf-8"))
    assert raw["schema"] == "gauntlet.scorecard/v2"
    assert "schema_" not in raw
    assert raw["checks"][0]["verdict"] == "fail"
    assert raw["suites"] == {
        "isolation": {"passed": 1, "failed": 1, "inconclusive": 0, "skipped": 0}
    }
    assert raw["exit_code"] == 1
    assert path.read_text(encoding="utf-8") == sc.to_json()
    assert sc.to_json().startswith('{\n  "schema": ')
    assert load_scorecard(path) == sc
    assert [p.name for p in path.parent.iterdir()] == ["scorecard.json"]  # no temp file left


def test_write_replaces_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "scorecard.json"
    path.write_text("old", encoding="utf-8")
    write_scorecard(scorecard(checks(P)), path)
    assert load_scorecard(path).verdict is P
    assert path.stat().st_mode & 0o644 == 0o644


def test_scorecard_accepts_alias_and_field_name() -> None:
    data = json.loads(scorecard(checks(P)).to_json())
    assert Scorecard.model_validate(data).schema_ == SCHEMA_ID
    del data["schema"]
    with pytest.raises(ValidationError):
        Scorecard.model_validate(data)  # the version key is required in files


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda d: d.update(schema="gauntlet.scorecard/v3"), "schema"),
        (lambda d: d.update(surprise=1), "surprise"),
        (lambda d: d.update(started_at="2024-05-01T12:00:00"), "timezone"),
        (lambda d: d.update(finished_at="2024-05-01T11:00:00Z"), "before"),
        (lambda d: d.update(score=100.5), "score"),
    ],
)
def test_load_rejects_invalid_files(tmp_path: Path, mutate: object, needle: str) -> None:
    data = json.loads(scorecard(checks(P)).to_json())
    mutate(data)  # type: ignore[operator]
    path = tmp_path / "scorecard.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ScorecardError, match=needle) as info:
        load_scorecard(path)
    assert str(path) in str(info.value)


def test_load_rejects_non_json(tmp_path: Path) -> None:
    path = tmp_path / "scorecard.json"
    path.write_text("<testsuites/>", encoding="utf-8")
    with pytest.raises(ScorecardError):
        load_scorecard(path)


def test_models_are_frozen_and_strict() -> None:
    c = check(P)
    with pytest.raises(ValidationError):
        c.verdict = F  # type: ignore[misc]
    with pytest.raises(ValidationError):
        Check.model_validate({"suite": "s", "id": "s/1", "title": "t", "verdict": "ok"})
    with pytest.raises(ValidationError):
        check(P, duration_s=float("nan"))
    with pytest.raises(ValidationError):
        slo(F, budget=float("inf"))


def test_slo_without_data_cannot_pass() -> None:
    with pytest.raises(ValidationError, match="no observed value"):
        slo(P, budget=None)
    assert slo(INC, budget=None).observed is None


def v2_extras() -> dict[str, object]:
    latency = LatencySummary(
        count=3,
        mean_ms=12.0,
        p50_ms=10.0,
        p90_ms=15.0,
        p95_ms=15.0,
        p99_ms=15.0,
        p999_ms=15.0,
        max_ms=15.0,
    )
    load = LoadReport(
        profile="smoke",
        entrypoint="http://10.96.0.10:8080/",
        started_at=T0,
        duration_s=2.0,
        requests=3,
        errors=1,
        rps=1.5,
        status_counts={"200": 2, "503": 1},
        error_counts={"HTTP 503": 1},
        latency=latency,
        series=[
            SeriesPoint(t_s=0, requests=2, errors=0, p50_ms=10, p95_ms=10, p99_ms=10),
            SeriesPoint(t_s=1, requests=1, errors=1, p50_ms=15, p95_ms=15, p99_ms=15),
        ],
        phases=[PhaseMark(name="steady", start_s=0, end_s=2)],
        histogram="HISTFAAAAB54nJNpmSzMwMDAxQABzFCaEUzOmNZg/wEi0AgAU9oEhw==",
    )
    return {
        "load": load,
        "matrix": [
            MatrixCell(
                src="team-a/client",
                dst="team-b/api",
                port=8080,
                protocol="TCP",
                expected=False,
                observed="pass",
            )
        ],
        "tenants": [
            TenantResources(
                namespace="team-a",
                pods=2,
                requests_cpu_m=200,
                requests_memory_mib=256,
                limits_cpu_m=400,
                limits_memory_mib=512,
            )
        ],
    }


def test_v2_round_trip_with_load_matrix_tenants(tmp_path: Path) -> None:
    alert = BurnRateAlert(
        name="page",
        long_window_s=60,
        short_window_s=5,
        threshold=14.4,
        fired=True,
        first_fired_s=12.5,
    )
    rich_slo = SloResult(
        name="availability",
        description="no 5xx",
        sli="availability",
        unit="ratio",
        objective=0.999,
        observed=0.99,
        verdict=F,
        error_budget_consumed=10.0,
        critical=True,
        weight=2.0,
        peak_burn_rate=30.0,
        alerts=[alert],
        window="load",
    )
    sc = build_scorecard(
        checks=checks(P),
        slos=[rich_slo],
        target="local",
        profile="smoke",
        platform="p",
        distribution=Distribution(name="local-sandbox"),
        started_at=T0,
        finished_at=T0 + timedelta(seconds=3),
        min_score=50,
        **v2_extras(),  # type: ignore[arg-type]
    )
    path = tmp_path / "scorecard.json"
    write_scorecard(sc, path)
    back = load_scorecard(path)
    assert back == sc
    assert back.load is not None and back.load.series[1].errors == 1
    assert back.score_formula.startswith("score = 0.5 x conformance + 0.5 x slo")
    assert back.min_score == 50


def test_load_upgrades_v1_files(tmp_path: Path) -> None:
    v1 = json.loads(scorecard(checks(P, F), [slo(P, budget=0.5)]).to_json())
    v1["schema"] = "gauntlet.scorecard/v1"
    for key in ("load", "matrix", "tenants", "score_formula", "min_score"):
        del v1[key]
    v1["slos"] = [
        {
            k: v[k]
            for k in (
                "name",
                "objective",
                "observed",
                "verdict",
                "error_budget_consumed",
                "critical",
            )
        }
        for v in v1["slos"]
    ]
    path = tmp_path / "scorecard.json"
    path.write_text(json.dumps(v1), encoding="utf-8")
    sc = load_scorecard(path)
    assert sc.schema_ == SCHEMA_ID == "gauntlet.scorecard/v2"
    assert (sc.load, sc.matrix, sc.tenants, sc.score_formula) == (None, [], [], "")
    assert sc.slos[0].weight == 1.0
    assert sc.slos[0].comparator == "gte"


@pytest.mark.parametrize(
    ("factory", "needle"),
    [
        (lambda: SeriesPoint(t_s=0, requests=1, errors=2), "exceed"),
        (lambda: PhaseMark(name="spike", start_s=5, end_s=4), "before it starts"),
        (
            lambda: BurnRateAlert(
                name="a", long_window_s=5, short_window_s=60, threshold=2, fired=False
            ),
            "longer",
        ),
        (
            lambda: BurnRateAlert(
                name="a", long_window_s=60, short_window_s=5, threshold=2, fired=True
            ),
            "first_fired_s",
        ),
        (
            lambda: SloResult(
                name="x", objective=1, observed=1, verdict=P, error_budget_consumed=0, weight=-1
            ),
            "weight",
        ),
        (
            lambda: SloResult(
                name="x",
                objective=1,
                observed=float("nan"),
                verdict=F,
                error_budget_consumed=0,
            ),
            "observed",
        ),
        (
            lambda: MatrixCell(
                src="a", dst="b", port=70000, protocol="TCP", expected=True, observed="pass"
            ),
            "port",
        ),
        (
            lambda: MatrixCell(
                src="a", dst="b", port=80, protocol="TCP", expected=True, observed="ok"
            ),
            "observed",
        ),
        (
            lambda: TenantResources(
                namespace="t",
                pods=1,
                requests_cpu_m=-1,
                requests_memory_mib=0,
                limits_cpu_m=0,
                limits_memory_mib=0,
            ),
            "requests_cpu_m",
        ),
    ],
)
def test_v2_models_reject_nonsense(factory: object, needle: str) -> None:
    with pytest.raises(ValidationError, match=needle):
        factory()  # type: ignore[operator]


# --- summarize, score, verdict, exit code --------------------------------------------------------


def test_summarize_counts_per_suite_sorted() -> None:
    cs = checks(P, P, F, S, suite="policy") + checks(INC, P, suite="isolation")
    assert summarize(cs) == {
        "isolation": SuiteSummary(passed=1, inconclusive=1),
        "policy": SuiteSummary(passed=2, failed=1, skipped=1),
    }
    assert list(summarize(cs)) == ["isolation", "policy"]
    assert summarize([]) == {}


@pytest.mark.parametrize(
    ("verdicts", "slos", "expected"),
    [
        ([], [], 0.0),
        ([S, S], [], 0.0),
        ([P, P, P, P], [], 100.0),
        ([P, F], [], 50.0),
        ([P, INC], [], 50.0),  # inconclusive counts against
        ([P, P, P, S, S], [], 100.0),  # skips are left out
        ([P] * 8 + [F, INC] + [S] * 3, [], 80.0),
        ([P] * 8 + [F, INC] + [S] * 3, [slo(P, budget=0.25), slo(INC, budget=None)], 58.75),
        ([P], [slo(F, budget=3.0)], 50.0),  # overspent budget contributes 0, not negative
        ([P], [slo(P, budget=0.0)], 100.0),
        ([], [slo(P, budget=0.5)], 25.0),  # no checks: conformance part is 0
        ([P, F], [slo(S, budget=None)], 50.0),  # skipped SLOs are left out
    ],
)
def test_compute_score(verdicts: list[Verdict], slos: list[SloResult], expected: float) -> None:
    assert compute_score(checks(*verdicts), slos) == pytest.approx(expected)


def wslo(verdict: Verdict, budget: float | None, weight: float, name: str = "s") -> SloResult:
    return SloResult(
        name=name,
        objective=0.999,
        observed=None if budget is None else 0.9995,
        verdict=verdict,
        error_budget_consumed=budget,
        weight=weight,
    )


@pytest.mark.parametrize(
    ("slos", "expected"),
    [
        # slo part = 100 x (3 x 0.5 + 1 x 1) / 4 = 62.5; score = 0.5 x 100 + 0.5 x 62.5
        ([wslo(P, 0.5, 3), wslo(P, 0.0, 1)], 81.25),
        ([wslo(P, 0.5, 1), wslo(P, 0.0, 3)], 93.75),
        ([wslo(P, 0.0, 0)], 100.0),  # weight 0 only: informational, score = conformance
        ([wslo(F, 0.9, 1)], 50.0),  # a failed SLO earns nothing, whatever its budget says
        ([wslo(INC, None, 2), wslo(P, 0.0, 2)], 75.0),  # no data earns nothing
    ],
)
def test_compute_score_weights(slos: list[SloResult], expected: float) -> None:
    assert compute_score(checks(P), slos) == pytest.approx(expected)


def test_explain_score_shows_the_run_numbers() -> None:
    cs = checks(*([P] * 8 + [F, INC] + [S] * 3))
    text = explain_score(cs, [wslo(P, 0.25, 1, "availability"), wslo(INC, None, 1, "p95")])
    assert text.splitlines() == [
        "score = 0.5 x conformance + 0.5 x slo = 0.5 x 80.00 + 0.5 x 37.50 = 58.75",
        "  conformance = 100 x passed / (passed + failed + inconclusive) = "
        "100 x 8 / (8 + 1 + 1) = 80.00; 3 skipped left out",
        "  slo = 100 x sum(weight x budget_left) / sum(weight) = "
        "100 x (1 x 0.75 [availability] + 1 x 0 [p95]) / 2 = 37.50",
        "  budget_left = max(0, 1 - min(error_budget_consumed, 1)) if the SLO passed, else 0",
    ]
    assert explain_score(checks(P, F), []) == (
        "score = conformance = 50.00 (no SLO)\n"
        "  conformance = 100 x passed / (passed + failed + inconclusive) = "
        "100 x 1 / (1 + 1 + 0) = 50.00"
    )
    assert explain_score([], []).endswith("conformance = 0 (no check ran)")


def test_min_score_sets_slo_breached() -> None:
    cs = checks(P, P)
    slos = [wslo(P, 0.8, 1)]  # score = 0.5 x 100 + 0.5 x 20 = 60
    assert exit_code_for(cs, slos) is ExitCode.OK
    assert exit_code_for(cs, slos, min_score=60) is ExitCode.OK
    assert exit_code_for(cs, slos, min_score=61) is ExitCode.SLO_BREACHED
    assert overall_verdict(cs, slos, min_score=61) is F
    assert exit_code_for(checks(P, F), slos, min_score=99) is ExitCode.CONFORMANCE_FAILED


# (check verdicts, SLOs, run verdict, exit code): first matching rule wins.
PRECEDENCE = [
    ([P, P], [], P, ExitCode.OK),
    ([P, S], [], P, ExitCode.OK),
    ([], [], INC, ExitCode.INCONCLUSIVE),
    ([S, S], [], INC, ExitCode.INCONCLUSIVE),
    ([P, INC], [], INC, ExitCode.INCONCLUSIVE),
    ([P, F], [], F, ExitCode.CONFORMANCE_FAILED),
    ([F, INC, S], [], F, ExitCode.CONFORMANCE_FAILED),
    ([F], [slo(F, critical=True)], F, ExitCode.CONFORMANCE_FAILED),
    ([P], [slo(F, critical=True)], F, ExitCode.SLO_BREACHED),
    ([P, INC], [slo(F, critical=True)], F, ExitCode.SLO_BREACHED),
    ([], [slo(F, critical=True)], F, ExitCode.SLO_BREACHED),
    ([P], [slo(F)], F, ExitCode.OK),  # non-critical breach: verdict and score only
    ([P], [slo(INC, budget=None)], INC, ExitCode.OK),
    ([P], [slo(INC, budget=None, critical=True)], INC, ExitCode.INCONCLUSIVE),
    ([P], [slo(P, critical=True)], P, ExitCode.OK),
    ([P], [slo(S, budget=None, critical=True)], P, ExitCode.OK),
    ([], [slo(P, critical=True)], INC, ExitCode.INCONCLUSIVE),  # SLOs alone prove no conformance
]


@pytest.mark.parametrize(("verdicts", "slos", "run_verdict", "code"), PRECEDENCE)
def test_verdict_and_exit_code_precedence(
    verdicts: list[Verdict], slos: list[SloResult], run_verdict: Verdict, code: ExitCode
) -> None:
    cs = checks(*verdicts)
    assert overall_verdict(cs, slos) is run_verdict
    assert exit_code_for(cs, slos) is code
    sc = scorecard(cs, slos)
    assert (sc.verdict, sc.exit_code) == (run_verdict, int(code))


def test_build_scorecard_default_run_id_sorts_by_start() -> None:
    sc = scorecard(checks(P))
    assert sc.run_id.startswith("20240501T120000Z-")
    assert scorecard(checks(P)).run_id != sc.run_id
    named = build_scorecard(
        checks=[],
        slos=[],
        target="kind",
        profile="nightly",
        platform="p",
        distribution=Distribution(name="kind"),
        started_at=T0,
        finished_at=T0,
        run_id="nightly-42",
    )
    assert named.run_id == "nightly-42"


# --- JUnit ---------------------------------------------------------------------------------------


def junit_scorecard() -> Scorecard:
    matrix = Evidence(kind="matrix", title="expected / observed", content="    a b\na   . X")
    cs = [
        check(F, n=0, message="a -> b allowed", evidence=[matrix], duration_s=1.25),
        check(P, n=1, duration_s=0.5),
        check(INC, suite="l7", n=0, message="probe timed out"),
        check(S, suite="policy", n=0, message="not in smoke"),
    ]
    slos = [slo(F, budget=2.0, critical=True), slo(INC, budget=None, name="latency-p95")]
    return scorecard(cs, slos)


def test_junit_structure_and_counts() -> None:
    root = ET.fromstring(render_junit(junit_scorecard()))

    assert root.tag == "testsuites"
    assert root.attrib == {
        "name": "gauntlet",
        "tests": "6",
        "failures": "2",
        "errors": "0",
        "skipped": "3",
        "time": "42.500",
    }
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert list(suites) == ["isolation", "l7", "policy", "slo"]
    iso = suites["isolation"]
    assert (iso.get("tests"), iso.get("failures"), iso.get("skipped")) == ("2", "1", "0")
    assert iso.get("time") == "1.750"

    failed, passed = iso.findall("testcase")
    assert failed.attrib == {
        "classname": "gauntlet.isolation",
        "name": "isolation/c0",
        "time": "1.250",
    }
    failure = failed.find("failure")
    assert failure is not None
    assert failure.get("message") == "a -> b allowed"
    assert "a -> b allowed" in (failure.text or "")
    assert "a   . X" in (failure.text or "")
    assert "a   . X" in (failed.findtext("system-out") or "")
    assert [e.tag for e in passed] == ["system-out"]

    inconclusive = suites["l7"].find("testcase/skipped")
    assert inconclusive is not None
    assert (inconclusive.get("message") or "").startswith("inconclusive")
    skipped = suites["policy"].find("testcase/skipped")
    assert skipped is not None
    assert skipped.get("message") == "not in smoke"

    slo_cases = suites["slo"].findall("testcase")
    assert [c.get("classname") for c in slo_cases] == ["gauntlet.slo"] * 2
    assert [c.get("name") for c in slo_cases] == ["avail", "latency-p95"]
    assert slo_cases[0].find("failure") is not None
    no_data = slo_cases[1].find("skipped")
    assert no_data is not None
    assert (no_data.get("message") or "").startswith("inconclusive")


def test_junit_without_slos_has_no_slo_suite() -> None:
    root = ET.fromstring(render_junit(scorecard(checks(P, P))))
    assert [s.get("name") for s in root.findall("testsuite")] == ["isolation"]
    assert root.get("failures") == "0"


def test_junit_escapes_special_characters(tmp_path: Path) -> None:
    nasty = "deny <b> & \"quoted\" 'single'\n\x1b[31mred\x1b[0m \x00 ]]> é ✓"
    cs = [
        check(
            F,
            suite="l7",
            id='l7/GET "/admin?x=<1>&y=2"',
            message=nasty,
            evidence=[Evidence(kind="log", title="<proxy>", content=nasty)],
        )
    ]
    path = tmp_path / "junit.xml"
    write_junit(scorecard(cs), path)

    root = ET.parse(path).getroot()
    case = root.find("testsuite/testcase")
    assert case is not None
    assert case.get("name") == 'l7/GET "/admin?x=<1>&y=2"'
    failure = case.find("failure")
    assert failure is not None
    message = failure.get("message") or ""
    # Forbidden control characters are made visible, everything else survives unchanged.
    assert message == nasty.replace("\x1b", "\\x1b").replace("\x00", "\\x00")
    assert "<proxy>" in (case.findtext("system-out") or "")
    assert path.read_bytes().startswith(b'<?xml version="1.0" encoding="UTF-8"?>')


# --- JSON Schema ---------------------------------------------------------------------------------


def test_committed_schema_matches_model() -> None:
    committed = (REPO / "docs" / "scorecard.schema.json").read_text(encoding="utf-8")
    assert committed == render_schema(), "run: python -m gauntlet.report.schema"


def test_schema_describes_the_contract() -> None:
    schema = scorecard_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["schema"]["const"] == SCHEMA_ID
    assert "schema_" not in schema["properties"]
    assert {"schema", "suites", "checks", "slos", "score", "verdict"} <= set(schema["required"])
    assert schema["$defs"]["Verdict"]["enum"] == ["pass", "fail", "inconclusive", "skip"]


def test_schema_main_writes_file(tmp_path: Path) -> None:
    out = tmp_path / "schema.json"
    assert schema_main([str(out)]) == ExitCode.OK
    assert out.read_text(encoding="utf-8") == render_schema()
    assert schema_main(["--help"]) == ExitCode.USAGE_ERROR


# --- properties ----------------------------------------------------------------------------------

check_strategy = st.builds(
    Check,
    suite=st.sampled_from(["isolation", "l7", "policy", "tenancy", "chaos"]),
    id=st.text(min_size=1, max_size=20),
    title=st.text(max_size=20),
    verdict=st.sampled_from(Verdict),
)
slo_strategy = st.builds(
    SloResult,
    name=st.text(min_size=1, max_size=10),
    objective=st.floats(0, 1),
    observed=st.floats(0, 1),
    verdict=st.sampled_from(Verdict),
    error_budget_consumed=st.none() | st.floats(0, 1e6),
    critical=st.booleans(),
    weight=st.floats(0, 10),
)


@given(st.lists(check_strategy, max_size=60), st.lists(slo_strategy, max_size=6))
def test_summary_totals_and_score_bounds(cs: list[Check], slos: list[SloResult]) -> None:
    summary = summarize(cs)
    for suite, counts in summary.items():
        in_suite = sum(1 for c in cs if c.suite == suite)
        assert counts.passed + counts.failed + counts.inconclusive + counts.skipped == in_suite
    assert sum(s.total for s in summary.values()) == len(cs)
    assert 0.0 <= compute_score(cs, slos) <= 100.0
    assert explain_score(cs, slos).startswith("score = ")
    code = exit_code_for(cs, slos)
    if code is ExitCode.OK:
        assert any(c.verdict is Verdict.PASS for c in cs)
        assert all(c.verdict in (Verdict.PASS, Verdict.SKIP) for c in cs)
    if overall_verdict(cs, slos) is Verdict.PASS:
        assert code is ExitCode.OK
