"""Unit tests of the L7 suite's request derivation (suites/l7/l7_requests.py) and its judge."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from gauntlet.blueprint.cilium import HTTPHeaderMatch, HTTPRule
from gauntlet.oracle.l7 import L7Expectation, L7Request, L7Verdict
from gauntlet.targets.base import Outcome, ProbeResult

SUITE = Path(__file__).resolve().parents[1] / "suites" / "l7"
sys.path.insert(0, str(SUITE))

from l7_judge import RowVerdict, echoed, judge, table  # noqa: E402
from l7_requests import (  # noqa: E402
    CaseKind,
    HeaderRequirement,
    derive,
    example_methods,
    example_path,
    generated_cases,
    header_requirements,
    is_plain_path,
    near_misses,
)

GATEWAY = (
    HTTPRule(method="GET", path="/api/v1/health"),
    HTTPRule(method="GET", path="/api/v1/items/.*"),
)
TOKEN = HTTPRule(method="GET", path="/api/v1/items/.*", headers=("X-Tenant-Token beta-7c41e9",))
EGRESS = HTTPRule(method="GET", path="/api/v1/.*")


def _headers_ok(rule: HTTPRule, headers: tuple[tuple[str, str], ...]) -> bool:
    got = {name.lower(): value for name, value in headers}
    reqs = header_requirements(rule) or ()
    return all(
        r.name.lower() in got and (r.value is None or got[r.name.lower()] == r.value) for r in reqs
    )


def _satisfies(rule: HTTPRule, req: L7Request) -> bool:
    return (
        (rule.method is None or re.fullmatch(rule.method, req.method) is not None)
        and (rule.path is None or re.fullmatch(rule.path, req.path) is not None)
        and _headers_ok(rule, req.headers)
    )


# -- header requirements -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("X-Tenant-Token beta-1", HeaderRequirement("X-Tenant-Token", "beta-1")),
        ("X-My-Header: true", HeaderRequirement("X-My-Header", "true")),
        ("X-Present", HeaderRequirement("X-Present", None)),
        ("X-Spaces a b", HeaderRequirement("X-Spaces", "a b")),
    ],
)
def test_header_entries_split_as_cilium_does(entry: str, expected: HeaderRequirement) -> None:
    assert header_requirements(HTTPRule(headers=(entry,))) == (expected,)


def test_header_matches_without_mismatch_are_required() -> None:
    rule = HTTPRule(
        header_matches=(
            HTTPHeaderMatch(name="X-A", value="1"),
            HTTPHeaderMatch(name="X-B", value="2", mismatch="ADD"),
        )
    )
    assert header_requirements(rule) == (HeaderRequirement("X-A", "1"),)
    secret = HTTPRule(header_matches=(HTTPHeaderMatch(name="X-S", secret={"name": "s"}),))
    assert header_requirements(secret) is None


# -- allowed examples --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("regex", "path"),
    [
        ("/api/v1/health", "/api/v1/health"),
        ("/api/v1/items/.*", "/api/v1/items/42"),
        ("/api/v1/.+", "/api/v1/42"),
        ("^/public$", "/public"),
        (r"/v[12]/items/[0-9]+", None),  # no hand expansion: hypothesis finds a match
        (r"/files/[a-z]{3}\.txt", None),
        (None, "/"),
    ],
)
def test_example_paths_fully_match(regex: str | None, path: str | None) -> None:
    got = example_path(regex)
    assert got is not None and is_plain_path(got)
    if regex is not None:
        assert re.fullmatch(regex, got), got
    if path is not None:
        assert got == path


def test_example_methods() -> None:
    assert example_methods(None) == ["GET"]
    assert example_methods("GET") == ["GET"]
    assert example_methods("GET|HEAD") == ["GET", "HEAD"]
    assert example_methods("P.*") == ["POST", "PUT"]
    (custom,) = example_methods("PURGE")
    assert custom == "PURGE"


def test_allowed_examples_satisfy_their_rule() -> None:
    d = derive(None, GATEWAY)
    allowed = [c.request for c in d.cases if c.kind is CaseKind.ALLOWED]
    assert [(r.method, r.path) for r in allowed] == [
        ("GET", "/api/v1/health"),
        ("GET", "/api/v1/items/42"),
    ]
    for rule, req in zip(GATEWAY, allowed, strict=True):
        assert _satisfies(rule, req)
    assert d.unexemplified == ()


def test_examples_carry_headers_and_pass_both_sides() -> None:
    d = derive((EGRESS,), (TOKEN,))
    allowed = [c.request for c in d.cases if c.kind is CaseKind.ALLOWED]
    both = [r for r in allowed if _satisfies(EGRESS, r) and _satisfies(TOKEN, r)]
    assert both, allowed
    assert both[0].headers == (("X-Tenant-Token", "beta-7c41e9"),)


def test_unexemplifiable_rule_is_reported() -> None:
    rule = HTTPRule(header_matches=(HTTPHeaderMatch(name="X-S", secret={"name": "s"}),))
    d = derive(None, (rule,))
    assert d.unexemplified and "secret" in d.unexemplified[0][1]
    # the cell is still probed around the fallback path
    assert any(c.request.path == "/api/v1/health" for c in d.cases)


# Not @given: the derivation runs hypothesis itself, which cannot nest inside a given test.
@pytest.mark.parametrize(
    "path", ["/api/v1/.*", "/[a-z]+/[0-9]{1,3}", "/a(b|c)d/.+", "/x/y?", "/files/.*\\.json"]
)
@pytest.mark.parametrize("method", [None, "GET", "GET|POST", "DELETE"])
def test_every_example_fullmatches(path: str, method: str | None) -> None:
    rule = HTTPRule(method=method, path=path)
    d = derive(None, (rule,), generated=0)
    allowed = [c.request for c in d.cases if c.kind is CaseKind.ALLOWED]
    assert allowed
    assert all(_satisfies(rule, r) and is_plain_path(r.path) for r in allowed)


# -- near misses -------------------------------------------------------------------------------


def test_near_misses_of_the_issue_are_produced() -> None:
    paths = {(c.request.method, c.request.path) for c in derive(None, GATEWAY).cases}
    for path in (
        "/admin",
        "/api/v1/health/",
        "/API/v1/health",
        "/api/v1/health/../admin",
        "//api/v1/health",
        "/api/v1/health?x=1",
        "/api/v1/%68ealth",
        "/api/v1%2Fhealth",
        "/api/v1/items%2F42",
        "/api/v1/%69tems/42",
    ):
        assert ("GET", path) in paths, path
    for method in ("POST", "PUT", "DELETE", "HEAD"):
        assert (method, "/api/v1/health") in paths, method


def test_header_near_misses() -> None:
    (base,) = [c for c in derive(None, (TOKEN,), generated=0).cases if c.kind is CaseKind.ALLOWED]
    misses = {c.label.split(" (")[0]: c.request.headers for c in near_misses(base)}
    assert misses["header X-Tenant-Token missing"] == ()
    assert misses["header X-Tenant-Token wrong value"] == (("X-Tenant-Token", "beta-7c41e9-wrong"),)
    assert misses["header name as X-TENANT-TOKEN"] == (("X-TENANT-TOKEN", "beta-7c41e9"),)


def test_no_rules_still_probes_normalisation() -> None:
    d = derive(None, None)
    paths = {c.request.path for c in d.cases}
    assert {"/api/v1/health", "/api/v1/health/../admin", "/api/v1%2Fhealth"} <= paths


def test_rule_with_host_makes_every_request_name_one() -> None:
    rule = HTTPRule(method="GET", path="/", host="api[.]example[.]com")
    d = derive(None, (rule,), generated=5)
    assert all(c.request.host is not None for c in d.cases)
    assert any(c.request.host == "elsewhere.invalid" for c in d.cases)


# -- generated requests ------------------------------------------------------------------------

_DETERMINISM = """
import sys
sys.path.insert(0, {suite!r})
from l7_requests import derive
from gauntlet.blueprint.cilium import HTTPRule
d = derive((HTTPRule(method="GET", path="/api/v1/.*"),), (HTTPRule(path="/api/v1/items/.*"),))
print("\\n".join(repr(c.request) for c in d.cases))
"""


def test_generated_requests_are_deterministic_across_processes() -> None:
    code = _DETERMINISM.format(suite=str(SUITE))
    outputs = [
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"},
        ).stdout
        for seed in ("1", "2")
    ]
    assert outputs[0] == outputs[1]
    assert outputs[0].count("\n") > 20


def test_generated_requests_are_bounded_safe_and_distinct() -> None:
    bases = [c for c in derive(None, GATEWAY, generated=0).cases if c.kind is CaseKind.ALLOWED]
    cases = generated_cases(bases, count=30)
    assert 15 <= len(cases) <= 30
    assert len({c.request for c in cases}) == len(cases)
    assert cases == generated_cases(bases, count=30)
    for c in cases:
        path = c.request.path
        assert path.startswith("/")
        assert "#" not in path and not any(ch.isspace() for ch in path), path
        assert all(re.fullmatch(r"%[0-9A-Fa-f]{2}", m) for m in re.findall(r"%.{0,2}", path))
    assert generated_cases(bases, count=0) == []


# -- judging -----------------------------------------------------------------------------------


def _exp(verdict: L7Verdict, *, method: str = "GET", upstream: str | None = None) -> L7Expectation:
    status = {L7Verdict.DENIED: 403, L7Verdict.REDIRECTED: 307, L7Verdict.REJECTED: 400}
    return L7Expectation(
        request=L7Request(method=method, path="/x"),
        verdict=verdict,
        status=status.get(verdict),
        upstream_path=upstream,
        location=None,
        proxied=True,
        reason="test",
    )


def _obs(outcome: Outcome = Outcome.HTTP, **kw: object) -> ProbeResult:
    return ProbeResult(id="p", outcome=outcome, latency_ms=1.0, **kw)  # type: ignore[arg-type]


APP = '{"status":"ok","pod":"a/api-0","method":"GET","path":"/x","headers":{}}'
FROM_APP = _obs(http_status=200, peer="a/api-0", body=APP)
PROXY_403 = _obs(http_status=403, body="Access denied")
FWD_X = _exp(L7Verdict.FORWARDED, upstream="/x")
DENIED = _exp(L7Verdict.DENIED)
OK, MISMATCH, UNJUDGED = RowVerdict.OK, RowVerdict.MISMATCH, RowVerdict.UNJUDGED


@pytest.mark.parametrize(
    ("expected", "observed", "verdict"),
    [
        (FWD_X, FROM_APP, OK),
        (_exp(L7Verdict.FORWARDED, upstream="/y"), FROM_APP, MISMATCH),
        (FWD_X, PROXY_403, MISMATCH),
        (FWD_X, _obs(http_status=200, peer="a/api-0", body=""), UNJUDGED),
        (FWD_X, _obs(http_status=200, peer="b/api-0", body=APP), MISMATCH),
        (_exp(L7Verdict.FORWARDED, method="HEAD", upstream="/x"), FROM_APP, OK),
        (DENIED, PROXY_403, OK),
        (_exp(L7Verdict.DENIED, method="HEAD"), _obs(http_status=403, body=""), OK),
        (DENIED, FROM_APP, MISMATCH),
        (DENIED, _obs(http_status=403, body="Forbidden"), MISMATCH),
        (_exp(L7Verdict.REDIRECTED), _obs(http_status=307), OK),
        (_exp(L7Verdict.REJECTED), _obs(http_status=400), OK),
        (_exp(L7Verdict.REJECTED), FROM_APP, MISMATCH),
        (_exp(L7Verdict.DROPPED), _obs(Outcome.TIMEOUT), OK),
        (DENIED, _obs(Outcome.TIMEOUT), MISMATCH),
        (DENIED, _obs(Outcome.ERROR, error_class="agent"), UNJUDGED),
        (DENIED, _obs(Outcome.RESET), UNJUDGED),
    ],
)
def test_judge(expected: L7Expectation, observed: ProbeResult, verdict: RowVerdict) -> None:
    assert judge(expected, observed, dst="a/api-0")[0] is verdict


def test_echo_survives_a_cut_off_body() -> None:
    body = '{"item":"1","pod":"a/api-0","method":"GET","path":"/api/v1/items/1","headers":{"x-lo'
    assert echoed(body) == {"method": "GET", "path": "/api/v1/items/1"}
    assert echoed(APP) == {"method": "GET", "path": "/x"}
    assert echoed("Access denied") == {}


def test_failure_table_is_short_and_aligned() -> None:
    from l7_judge import Row
    from l7_requests import RequestCase

    case = RequestCase(CaseKind.NEAR_MISS, "admin path", L7Request(path="/admin"))
    rows = [Row(case, DENIED, FROM_APP, MISMATCH, "answered by the application")] * 30
    text = table(rows, limit=5)
    lines = text.splitlines()
    assert lines[0].startswith("request") and "expected" in lines[0] and "observed" in lines[0]
    assert len(lines) == 2 + 5 + 1 and lines[-1] == "... and 25 more"
    assert "denied 403" in lines[2] and "200 from a/api-0" in lines[2]
    assert all(len(line) < 220 for line in lines)
