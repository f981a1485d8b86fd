"""JUnit from a Scorecard v2: one testcase per check and per SLO, valid for CI parsers."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from gauntlet.report.junit import render_junit
from gauntlet.report.scorecard import BurnRateAlert, Scorecard, SloResult, Verdict
from gauntlet.report.synthetic import synthetic_scorecard

OUTCOMES = ("failure", "error", "skipped")


@pytest.fixture(scope="module")
def sc() -> Scorecard:
    return synthetic_scorecard(duration_s=30, rps=50, checks=24)


def test_one_testcase_per_check_and_per_slo(sc: Scorecard) -> None:
    root = ET.fromstring(render_junit(sc))
    cases = root.findall("testsuite/testcase")
    assert len(cases) == len(sc.checks) + len(sc.slos)
    slo_cases = [c for c in cases if c.get("classname") == "gauntlet.slo"]
    assert [c.get("name") for c in slo_cases] == [
        s.name if s.window == "run" else f"{s.name} [{s.window}]" for s in sc.slos
    ]
    assert {c.get("classname") for c in cases} == {
        "gauntlet.isolation",
        "gauntlet.l7",
        "gauntlet.policy",
        "gauntlet.tenancy",
        "gauntlet.slo",
    }
    # classname + name is unique: CI tools key history and flakiness by it.
    keys = [(c.get("classname"), c.get("name")) for c in cases]
    assert len(keys) == len(set(keys))


def test_slo_outcomes_follow_the_check_convention(sc: Scorecard) -> None:
    root = ET.fromstring(render_junit(sc))
    by_name = {c.get("name"): c for c in root.iterfind("testsuite[@name='slo']/testcase")}
    isolation = by_name["isolation-integrity"]  # failed, with a leak
    failure = isolation.find("failure")
    assert failure is not None
    assert failure.get("message", "").startswith("observed 99.2")
    assert "objective ≥ 100 %" in failure.get("message", "")
    no_data = by_name["pod-start-latency"].find("skipped")  # inconclusive: skipped, never green
    assert no_data is not None
    assert no_data.get("message", "").startswith("inconclusive: no data, objective ≤ 5 s")
    passed = by_name["latency-p95 [load]"]
    assert [e.tag for e in passed] == ["system-out"]
    out = passed.findtext("system-out") or ""
    assert "objective ≤ 50 ms" in out
    assert "alert page-fast: burn rate >= 14.4x over 36 s and 3 s" in out


def test_slo_message_names_fired_alerts_and_burn_rate() -> None:
    slo = SloResult(
        name="availability",
        sli="availability",
        unit="ratio",
        objective=0.999,
        observed=0.99,
        verdict=Verdict.FAIL,
        error_budget_consumed=9.0,
        critical=True,
        peak_burn_rate=14.9,
        alerts=[
            BurnRateAlert(
                name="page",
                long_window_s=60,
                short_window_s=5,
                threshold=14.4,
                fired=True,
                first_fired_s=12.5,
            )
        ],
    )
    sc = synthetic_scorecard(duration_s=5, rps=10, checks=2, leaks=0)
    root = ET.fromstring(render_junit(sc.model_copy(update={"slos": [slo]})))
    failure = root.find("testsuite[@name='slo']/testcase/failure")
    assert failure is not None
    assert failure.get("message") == (
        "observed 99 %, objective ≥ 99.9 %; error budget consumed: 900 %; "
        "peak burn rate 14.90x; alerts fired: page at 12.5 s, critical"
    )


def test_load_summary_travels_as_properties(sc: Scorecard) -> None:
    root = ET.fromstring(render_junit(sc))
    props = {
        p.get("name"): p.get("value") for p in root.iterfind("testsuite[1]/properties/property")
    }
    assert sc.load is not None
    assert props["load.requests"] == str(sc.load.requests)
    assert props["load.p95_ms"] == f"{sc.load.latency.p95_ms:.3f}"


def test_structure_is_what_junit_parsers_accept(sc: Scorecard) -> None:
    """The rules the Jenkins JUnit XSD, GitLab and GitHub test-report actions rely on."""
    text = render_junit(sc)
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites ')
    root = ET.fromstring(text)
    total = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in root.findall("testsuite"):
        assert set(suite.attrib) >= {"name", "tests", "failures", "errors", "skipped", "time"}
        children = [e.tag for e in suite]
        assert children[0] == "properties"
        assert set(children[1:]) == {"testcase"}
        cases = suite.findall("testcase")
        outcome = [next((e.tag for e in c if e.tag in OUTCOMES), "pass") for c in cases]
        counts = {
            "tests": len(cases),
            "failures": outcome.count("failure"),
            "errors": outcome.count("error"),
            "skipped": outcome.count("skipped"),
        }
        assert {k: int(suite.get(k, "-1")) for k in counts} == counts
        for k, v in counts.items():
            total[k] += v
        for case in cases:
            assert case.get("classname", "").startswith("gauntlet.")
            assert case.get("name")
            float(case.get("time", "x"))
            tags = [e.tag for e in case]
            # At most one outcome, and it comes before system-out (XSD sequence order).
            assert sum(t in OUTCOMES for t in tags) <= 1
            assert tags == sorted(tags, key=lambda t: t not in OUTCOMES)
    assert {k: int(root.get(k, "-1")) for k in total} == total
