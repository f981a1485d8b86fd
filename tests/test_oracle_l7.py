"""The oracle's L7 HTTP expectations: ``gauntlet.oracle.l7`` and the per-side L7 cells.

Sources of the expected values are cited in ``gauntlet.oracle.l7``'s docstring; the normalisation
cases marked "Envoy test" are taken from envoyproxy/envoy test/common/http/path_utility_test.cc
and test/integration/header_integration_test.cc.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gauntlet.blueprint import BlueprintError, load_blueprint
from gauntlet.blueprint.cilium import HTTPHeaderMatch, HTTPRule, check_re2
from gauntlet.cli import main
from gauntlet.exitcodes import ExitCode
from gauntlet.oracle import Cell, Expectation, compute_truth_table
from gauntlet.oracle.l7 import (
    L7Request,
    L7Verdict,
    NormalizedPath,
    expect_l7,
    normalize_path,
    rule_matches,
    rule_summary,
)
from policytables import Manifest, cnp, deployment, load, namespace, sel, write_blueprint

SETTINGS = settings(derandomize=True, max_examples=200, deadline=None)
HOST = "10.0.0.7:8080"

HEALTH = HTTPRule(method="GET", path="/api/v1/health")
ITEMS = HTTPRule.model_validate(
    {"method": "GET", "path": "/api/v1/items/.*", "headers": ["X-Tenant-Token t-1"]}
)
READS = HTTPRule(method="GET", path="/api/v1/.*")


# --------------------------------------------------------------------------------------------
# Path normalisation
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/api/v1/health", "/api/v1/health"),
        ("//api/v1/health", "/api/v1/health"),  # merge_slashes
        ("/api/v1//health/", "/api/v1/health/"),  # the trailing slash stays
        ("/api/v1/health/../admin", "/api/v1/admin"),
        ("/api/v1/./health", "/api/v1/health"),
        ("/../admin", "/admin"),  # '..' above the root stays at the root
        ("/a/b/../../../../c", "/c"),  # Envoy test
        ("/a/b/..", "/a/"),
        ("/..", "/"),
        ("/api/v1/%68ealth", "/api/v1/health"),  # escaped unreserved characters are decoded
        ("/%7Euser/%41%2D%5f", "/~user/A-_"),
        ("/a/%2e%2e/b", "/b"),  # an escaped dot is a dot
        ("/a/b/%2E%2E/c", "/a/c"),  # Envoy test
        ("/a/b/%2E./c", "/a/c"),  # Envoy test
        ("/a/..\\c", "/c"),  # Envoy test: a backslash is a slash
        ("/a/...", "/a/..."),  # three dots are a name
        ("/a/.b/..c", "/a/.b/..c"),
        ("/%c0%af", "/%c0%af"),  # Envoy test: other escapes are kept, hex case included
        ("/%3a%3A", "/%3a%3A"),
        ("/a b", "/a%20b"),  # characters that must be escaped are, in upper-case hex
        ("/%%30%30", "/%2500"),  # a decoded escape cannot form a new one with a stray '%'
        ("/x?q=/../y", "/x?q=/../y"),  # only the part before '?' is normalised
        ("//x/../y?a=%2F//", "/y?a=%2F//"),
        ("/", "/"),
    ],
)
def test_normalisation(target: str, expected: str) -> None:
    assert normalize_path(target) == NormalizedPath(expected)


@pytest.mark.parametrize(
    ("target", "location"),
    [
        ("/a%2Fb", "/a/b"),
        ("/a%2fb%5Cc", "/a/b/c"),  # %5C unescapes to '\', which the canonicaliser makes '/'
        # Envoy unescapes slashes before it removes dot segments.
        ("/api/v1/health/..%2Fadmin", "/api/v1/admin"),
        ("/private%2f../%2e%5Cpublic", "/public"),  # Envoy test input, normalisation on
        ("/a%2Fb?next=%2F", "/a/b?next=%2F"),  # the query is not touched
    ],
)
def test_escaped_slashes_redirect(target: str, location: str) -> None:
    assert normalize_path(target) == NormalizedPath(location, redirect=True)


@pytest.mark.parametrize(
    "target",
    [
        "api",  # not origin-form: the HTTP/1 codec answers 400
        "",
        "*",
        "/a#frag",  # Envoy rejects fragments by default
        "/xyz/.%00../abc",  # Envoy test: NUL fails the canonicaliser
        "/xyz/AAAAA%%0000/abc",  # Envoy test
    ],
)
def test_rejected_targets(target: str) -> None:
    assert normalize_path(target).rejected


TARGETS = st.text(alphabet="/.%2eEfF5cC?#aZ~-_\\ \x00é", max_size=24).map(lambda s: "/" + s)


@SETTINGS
@given(target=TARGETS)
def test_normalisation_is_idempotent(target: str) -> None:
    first = normalize_path(target)
    if first.rejected or first.redirect:
        return
    again = normalize_path(first.path)
    assert again == NormalizedPath(first.path)


@SETTINGS
@given(target=TARGETS)
def test_redirect_location_is_final(target: str) -> None:
    """A client that follows the 307 is not redirected again."""
    first = normalize_path(target)
    if first.redirect:
        assert normalize_path(first.path) == NormalizedPath(first.path)


@SETTINGS
@given(target=st.text(max_size=40))
def test_normalisation_never_raises(target: str) -> None:
    result = normalize_path(target)
    assert result.rejected or result.path.startswith("/")


# --------------------------------------------------------------------------------------------
# Rule matching
# --------------------------------------------------------------------------------------------


def _matches(rule: HTTPRule, path: str = "/", *, method: str = "GET", **kw: Any) -> bool:
    return rule_matches(
        rule,
        method=method,
        path=path,
        host=kw.get("host", HOST),
        headers=tuple(kw.get("headers", ())),
    )


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/api/v1/health", True),
        ("/api/v1/healthz", False),  # a full match, not a search
        ("/x/api/v1/health", False),
        ("/API/v1/health", False),  # case-sensitive
        ("/api/v1/health/", False),
        ("/api/v1/health?x=1", False),  # :path includes the query
        ("/api/v1/health?", False),
    ],
)
def test_path_is_a_full_match_on_path_and_query(path: str, allowed: bool) -> None:
    assert _matches(HEALTH, path) is allowed


def test_path_regex_may_allow_a_query() -> None:
    rule = HTTPRule(path=r"/api/v1/health(\?.*)?")
    assert _matches(rule, "/api/v1/health?x=1")
    assert _matches(rule, "/api/v1/health")


def test_method_is_a_full_match() -> None:
    assert _matches(HEALTH, "/api/v1/health", method="GET")
    for method in ("POST", "get", "GETX", "XGET"):
        assert not _matches(HEALTH, "/api/v1/health", method=method)
    either = HTTPRule(method="GET|HEAD")
    assert _matches(either, method="HEAD")
    assert not _matches(either, method="DELETE")


def test_host_is_a_full_match_on_authority() -> None:
    rule = HTTPRule(host=r"api\.shop\.svc(:8080)?")
    assert _matches(rule, host="api.shop.svc")
    assert _matches(rule, host="api.shop.svc:8080")
    assert not _matches(rule, host="evil-api.shop.svc")
    assert not _matches(rule, host=HOST)


def test_headers_presence_value_and_case_insensitive_names() -> None:
    assert _matches(ITEMS, "/api/v1/items/7", headers=[("X-Tenant-Token", "t-1")])
    assert _matches(ITEMS, "/api/v1/items/7", headers=[("x-tenant-token", "t-1")])
    assert not _matches(ITEMS, "/api/v1/items/7")  # missing
    assert not _matches(ITEMS, "/api/v1/items/7", headers=[("X-Tenant-Token", "t-2")])
    assert not _matches(ITEMS, "/api/v1/items/7", headers=[("X-Tenant-Token", "T-1")])
    colon = HTTPRule(headers=("X-Tenant-Token: t-1",))  # "Name: value" is accepted too
    assert _matches(colon, headers=[("X-TENANT-TOKEN", "t-1")])
    presence = HTTPRule(headers=("X-Debug",))
    assert _matches(presence, headers=[("x-debug", "")])
    assert not _matches(presence, headers=[("X-Other", "1")])


def test_every_field_of_a_rule_must_match() -> None:
    assert not _matches(
        ITEMS, "/api/v1/items/7", method="POST", headers=[("X-Tenant-Token", "t-1")]
    )
    assert not _matches(ITEMS, "/api/v1/health", headers=[("X-Tenant-Token", "t-1")])


def test_empty_rule_matches_everything() -> None:
    anything = HTTPRule()
    assert _matches(anything, "/whatever?x", method="DELETE", host="h")
    assert rule_summary(anything) == "any request"


def test_header_matches() -> None:
    def hm(**fields: Any) -> HTTPRule:
        return HTTPRule.model_validate({"headerMatches": [{"name": "X-Token", **fields}]})

    exact = hm(value="s3cret")
    assert _matches(exact, headers=[("x-token", "s3cret")])
    assert not _matches(exact, headers=[("x-token", "other")])
    assert not _matches(exact)
    presence = hm()
    assert _matches(presence, headers=[("X-Token", "anything")])
    assert not _matches(presence)
    for action in ("LOG", "ADD", "DELETE", "REPLACE"):  # side effects only, never a denial
        assert _matches(hm(value="s3cret", mismatch=action))
    # Secrets are not resolved: with no inline value the match fails, whatever the action.
    secret = {"namespace": "shop", "name": "token"}
    assert not _matches(hm(secret=secret), headers=[("X-Token", "anything")])
    assert not _matches(hm(secret=secret, mismatch="LOG"), headers=[("X-Token", "x")])
    # Cilium falls back to the inline value when the secret has none.
    assert _matches(hm(secret=secret, value="v"), headers=[("X-Token", "v")])


def test_rule_summary() -> None:
    assert rule_summary(HEALTH) == "GET /api/v1/health"
    assert rule_summary(ITEMS) == "GET /api/v1/items/.* [X-Tenant-Token]"
    rule = HTTPRule(
        path="/x",
        host="h",
        header_matches=(HTTPHeaderMatch(name="X-A", value="1", mismatch="ADD"),),
    )
    assert rule_summary(rule) == "* /x host=h [X-A:ADD]"


# --------------------------------------------------------------------------------------------
# expect_l7 on one cell
# --------------------------------------------------------------------------------------------


def _exp(
    egress: tuple[HTTPRule, ...] | None,
    ingress: tuple[HTTPRule, ...] | None,
    *,
    proxied: bool = True,
    allowed: bool = True,
) -> Expectation:
    return Expectation(
        Cell("shop/client-0", "shop/api-0", 8080, "TCP"),
        allowed,
        "allowed by egress rule" if allowed else "denied by egress rule",
        "allowed by ingress rule",
        l7_egress=egress,
        l7_ingress=ingress,
        l7_proxied=proxied,
    )


def _get(path: str, **kw: Any) -> L7Request:
    return L7Request(method=kw.pop("method", "GET"), path=path, **kw)


def test_both_sides_must_allow() -> None:
    exp = _exp((READS,), (HEALTH, ITEMS))
    token = (("X-Tenant-Token", "t-1"),)
    # Allowed by egress (GET /api/v1/.*), not by ingress.
    out = expect_l7(exp, _get("/api/v1/version", headers=token), default_host=HOST)
    assert (out.verdict, out.status) == (L7Verdict.DENIED, 403)
    assert out.reason.startswith("egress: rule 0 (GET /api/v1/.*) matches; ingress: none of 2")
    # Allowed by ingress (the health rule), not by egress.
    narrow = _exp((ITEMS,), (HEALTH, ITEMS))
    out = expect_l7(narrow, _get("/api/v1/health"), default_host=HOST)
    assert out.verdict is L7Verdict.DENIED
    assert out.reason.startswith("egress: none of 1") and "ingress" not in out.reason
    # Allowed by both.
    out = expect_l7(exp, _get("/api/v1/items/42", headers=token), default_host=HOST)
    assert (out.verdict, out.status, out.upstream_path) == (
        L7Verdict.FORWARDED,
        None,
        "/api/v1/items/42",
    )
    assert out.reason == (
        "egress: rule 0 (GET /api/v1/.*) matches; "
        "ingress: rule 1 (GET /api/v1/items/.* [X-Tenant-Token]) matches"
    )


def test_rules_of_a_side_are_ored() -> None:
    exp = _exp(None, (HEALTH, ITEMS))
    assert expect_l7(exp, _get("/api/v1/health"), default_host=HOST).verdict is L7Verdict.FORWARDED
    post = _get("/api/v1/health", method="POST")
    assert expect_l7(exp, post, default_host=HOST).verdict is L7Verdict.DENIED


def test_unrestricted_peer_on_a_proxied_port_is_normalised() -> None:
    out = expect_l7(_exp(None, None), _get("//api/v1/./x/../health?q=1"), default_host=HOST)
    assert out.verdict is L7Verdict.FORWARDED
    assert out.proxied
    assert out.upstream_path == "/api/v1/health?q=1"
    assert out.reason == "egress: unrestricted; ingress: unrestricted"


def test_unproxied_cell_forwards_the_raw_target() -> None:
    out = expect_l7(_exp(None, None, proxied=False), _get("//a/../b%2Fc"), default_host=HOST)
    assert (out.verdict, out.upstream_path, out.proxied) == (
        L7Verdict.FORWARDED,
        "//a/../b%2Fc",
        False,
    )


def test_l3_l4_denied_cell_is_dropped() -> None:
    out = expect_l7(_exp(None, None, allowed=False, proxied=False), _get("/"), default_host=HOST)
    assert (out.verdict, out.status, out.upstream_path) == (L7Verdict.DROPPED, None, None)
    assert "denied by egress rule" in out.reason


def test_normalisation_answers_before_the_rules() -> None:
    exp = _exp(None, (HEALTH,))
    out = expect_l7(exp, _get("/api/v1%2Fhealth"), default_host=HOST)
    assert (out.verdict, out.status, out.location) == (L7Verdict.REDIRECTED, 307, "/api/v1/health")
    out = expect_l7(exp, _get("api/v1/health"), default_host=HOST)
    assert (out.verdict, out.status) == (L7Verdict.REJECTED, 400)
    # A traversal is resolved first, then judged: /api/v1/health/../admin is /api/v1/admin.
    out = expect_l7(exp, _get("/api/v1/health/../admin"), default_host=HOST)
    assert out.verdict is L7Verdict.DENIED
    out = expect_l7(exp, _get("/api/v1/%68ealth"), default_host=HOST)
    assert (out.verdict, out.upstream_path) == (L7Verdict.FORWARDED, "/api/v1/health")


def test_default_host_is_the_authority() -> None:
    exp = _exp(None, (HTTPRule(host=re.escape(HOST)),))
    assert expect_l7(exp, _get("/"), default_host=HOST).verdict is L7Verdict.FORWARDED
    named = _get("/", host="api.shop")
    assert expect_l7(exp, named, default_host=HOST).verdict is L7Verdict.DENIED


GET_RULE_PATHS = (
    r"/api/v1/.*",
    r"/api/v1/items/[A-Za-z0-9._~-]+",
    r"/(public|static)/[a-z]{1,8}(/[a-z0-9.]{1,8}){0,3}",
)
_DOT_SEGMENT = re.compile(r"(^|/)\.(/|$)")


@SETTINGS
@given(data=st.data(), pattern=st.sampled_from(GET_RULE_PATHS))
def test_a_path_the_rule_describes_is_forwarded(data: st.DataObject, pattern: str) -> None:
    path = data.draw(
        st.from_regex(pattern, fullmatch=True).filter(
            lambda p: (
                not any(bad in p for bad in ("..", "//", "%", "?", "#", "\\", "\x00"))
                and not _DOT_SEGMENT.search(p)
            )
        )
    )
    exp = _exp(None, (HTTPRule(method="GET", path=pattern),))
    out = expect_l7(exp, _get(path), default_host=HOST)
    assert out.verdict is L7Verdict.FORWARDED, (path, out)


# --------------------------------------------------------------------------------------------
# Per-side L7 in the truth table
# --------------------------------------------------------------------------------------------

WEB = (8080, "TCP", "http")


def _shop(*policies: Manifest) -> list[Manifest]:
    """ns ``shop``: client, other, api (8080/TCP ``http`` and 9090/TCP, 53/UDP)."""
    return [
        namespace("shop"),
        deployment("shop", "client", {"app": "client"}, ports=[WEB]),
        deployment("shop", "other", {"app": "other"}, ports=[WEB]),
        deployment(
            "shop", "api", {"app": "api"}, ports=[WEB, (9090, "TCP", None), (53, "UDP", None)]
        ),
        *policies,
    ]


def _http_port(port: int | str, rules: list[dict[str, Any]] | None, proto: str = "TCP") -> Any:
    clause: dict[str, Any] = {"ports": [{"port": str(port), "protocol": proto}]}
    if rules is not None:
        clause["rules"] = {"http": rules}
    return [clause]


API_INGRESS = cnp(
    "shop",
    "api-ingress",
    {
        "endpointSelector": sel(app="api"),
        "ingress": [
            {
                "fromEndpoints": [sel(app="client")],
                "toPorts": _http_port(8080, [{"method": "GET", "path": "/api/v1/health"}]),
            },
            {"fromEndpoints": [sel(app="other")], "toPorts": _http_port(8080, None)},
        ],
    },
)

# The client's own proxy lets it send reads of the v1 API (a named port: resolved on the api).
CLIENT_EGRESS = cnp(
    "shop",
    "client-egress",
    {
        "endpointSelector": sel(app="client"),
        "egress": [
            {
                "toEndpoints": [sel(app="api")],
                "toPorts": _http_port("http", [{"method": "GET", "path": "/api/v1/.*"}]),
            }
        ],
    },
)


def _cells(tmp_path: Path, *policies: Manifest) -> dict[str, Expectation]:
    return dict(compute_truth_table(load(tmp_path, _shop(*policies))).lookup())


def test_ingress_rules_proxy_the_port_for_every_allowed_peer(tmp_path: Path) -> None:
    cells = _cells(tmp_path, API_INGRESS)
    client = cells["shop/client-0->shop/api-0:8080/TCP"]
    assert client.allowed and client.l7_proxied
    assert client.l7_egress is None  # client has no egress policy
    assert client.l7_ingress == (HEALTH,)
    other = cells["shop/other-0->shop/api-0:8080/TCP"]
    assert other.allowed and other.l7_proxied  # an L3/L4 peer of a proxied port: wildcard L7
    assert other.l7_ingress is None and other.l7_egress is None
    assert not cells["shop/client-0->shop/api-0:9090/TCP"].allowed
    # Nothing else is proxied: no cell without HTTP rules on its port, no denied cell.
    assert not cells["shop/api-0->shop/client-0:8080/TCP"].l7_proxied
    denied = cells["shop/client-0->shop/api-0:9090/TCP"]
    assert (denied.l7_proxied, denied.l7_egress, denied.l7_ingress) == (False, None, None)


def test_egress_and_ingress_rules_are_kept_apart(tmp_path: Path) -> None:
    exp = _cells(tmp_path, API_INGRESS, CLIENT_EGRESS)["shop/client-0->shop/api-0:8080/TCP"]
    assert exp.l7_proxied
    assert exp.l7_egress == (READS,)
    assert exp.l7_ingress == (HEALTH,)
    allowed = expect_l7(exp, _get("/api/v1/health"), default_host=HOST)
    assert allowed.verdict is L7Verdict.FORWARDED
    denied = expect_l7(exp, _get("/api/v1/items/1"), default_host=HOST)
    assert denied.verdict is L7Verdict.DENIED and "ingress: none" in denied.reason


def test_l3_only_allow_of_the_same_peer_lifts_its_l7_rules(tmp_path: Path) -> None:
    """Cilium ``wildcardL3L4Rule``: an L3-only allow gives the peer a wildcard HTTP rule on
    ports that have HTTP rules; the port stays proxied."""
    l3 = cnp(
        "shop",
        "client-l3",
        {"endpointSelector": sel(app="api"), "ingress": [{"fromEndpoints": [sel(app="client")]}]},
    )
    exp = _cells(tmp_path, API_INGRESS, l3)["shop/client-0->shop/api-0:8080/TCP"]
    assert exp.l7_proxied and exp.l7_ingress is None


def test_empty_http_list_and_other_ports_are_not_proxied(tmp_path: Path) -> None:
    policy = cnp(
        "shop",
        "api-ingress",
        {
            "endpointSelector": sel(app="api"),
            "ingress": [
                {"fromEndpoints": [sel(app="client")], "toPorts": _http_port(8080, [])},
                {
                    "fromEndpoints": [sel(app="client")],
                    "toPorts": _http_port(9090, [{"path": "/metrics"}]),
                },
            ],
        },
    )
    cells = _cells(tmp_path, policy)
    web = cells["shop/client-0->shop/api-0:8080/TCP"]
    assert web.allowed and not web.l7_proxied and web.l7_ingress is None
    metrics = cells["shop/client-0->shop/api-0:9090/TCP"]
    assert metrics.l7_proxied and metrics.l7_ingress == (HTTPRule(path="/metrics"),)


def test_http_rules_do_not_govern_udp(tmp_path: Path) -> None:
    policy = cnp(
        "shop",
        "api-any",
        {
            "endpointSelector": sel(app="api"),
            "ingress": [
                {"fromEndpoints": [sel(app="client")], "toPorts": _http_port(0, [{}], "ANY")}
            ],
        },
    )
    cells = _cells(tmp_path, policy)
    assert cells["shop/client-0->shop/api-0:8080/TCP"].l7_proxied
    udp = cells["shop/client-0->shop/api-0:53/UDP"]
    assert udp.allowed and not udp.l7_proxied and udp.l7_ingress is None


def test_default_allow_direction_proxies_only_peers_with_http_rules(tmp_path: Path) -> None:
    policy = cnp(
        "shop",
        "api-audit",
        {
            "endpointSelector": sel(app="api"),
            "enableDefaultDeny": {"ingress": False},
            "ingress": [
                {
                    "fromEndpoints": [sel(app="client")],
                    "toPorts": _http_port(8080, [{"method": "GET"}]),
                }
            ],
        },
    )
    cells = _cells(tmp_path, policy)
    client = cells["shop/client-0->shop/api-0:8080/TCP"]
    assert client.allowed and client.l7_proxied
    assert client.l7_ingress == (HTTPRule(method="GET"),)
    other = cells["shop/other-0->shop/api-0:8080/TCP"]
    assert other.allowed and not other.l7_proxied


# --------------------------------------------------------------------------------------------
# The loader rejects what RE2 would
# --------------------------------------------------------------------------------------------


def test_loader_rejects_a_lookahead_path_regex(tmp_path: Path) -> None:
    policy = cnp(
        "shop",
        "api-ingress",
        {
            "endpointSelector": sel(app="api"),
            "ingress": [{"toPorts": _http_port(8080, [{"path": "/api/(?!admin).*"}])}],
        },
    )
    write_blueprint(tmp_path, _shop(policy), filename="policy.yaml")
    with pytest.raises(BlueprintError) as info:
        load_blueprint(tmp_path)
    exc = info.value
    assert exc.file.endswith("policy.yaml")
    assert exc.obj == "CiliumNetworkPolicy shop/api-ingress"
    assert exc.field == "spec.ingress[0].toPorts[0].rules.http[0].path"
    assert "lookahead" in exc.reason and "RE2" in exc.reason
    assert "Value error" not in str(exc)
    assert "policy.yaml" in str(exc) and exc.field in str(exc)


@pytest.mark.parametrize(
    "pattern",
    [
        r"(?=x)",
        r"a(?<!b)",
        r"(a)\1",
        r"(?P<n>a)(?P=n)",
        r"a++",
        r"a{2}+",
        r"(?>a)",
        r"a\Z",
        "(",
        r"\pL",
    ],
)
def test_check_re2_rejects(pattern: str) -> None:
    assert check_re2(pattern)


@pytest.mark.parametrize(
    "pattern",
    ["/api/v1/health", "/api/v1/items/.*", "GET|HEAD", r"[(?=]", r"\(?=", r"[a-z]+?", "(?i)get"],
)
def test_check_re2_accepts(pattern: str) -> None:
    assert check_re2(pattern) is None


@SETTINGS
@given(pattern=st.text(alphabet="()?=<!>P+*{}[]\\1Z.a-:^", max_size=16))
def test_check_re2_never_raises(pattern: str) -> None:
    problem = check_re2(pattern)
    if problem is None:
        re.compile(pattern)  # what it accepts, the oracle can evaluate


# --------------------------------------------------------------------------------------------
# gauntlet matrix shows L7
# --------------------------------------------------------------------------------------------


@pytest.fixture
def l7_platform(tmp_path: Path) -> Path:
    return write_blueprint(tmp_path / "platform", _shop(API_INGRESS, CLIENT_EGRESS))


def test_matrix_json_gives_l7_per_allowed_cell(
    l7_platform: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["matrix", "--platform", str(l7_platform), "--json"]) == ExitCode.OK
    data = json.loads(capsys.readouterr().out)
    assert data["schema"] == "gauntlet.matrix/v2"
    cells = {f"{c['src']}->{c['dst']}:{c['port']}/{c['protocol']}": c for c in data["cells"]}
    assert cells["shop/client-0->shop/api-0:8080/TCP"]["l7"] == {
        "proxied": True,
        "egress": [{"method": "GET", "path": "/api/v1/.*"}],
        "ingress": [{"method": "GET", "path": "/api/v1/health"}],
    }
    assert cells["shop/other-0->shop/api-0:8080/TCP"]["l7"] == {
        "proxied": True,
        "egress": None,
        "ingress": None,
    }
    assert cells["shop/api-0->shop/other-0:8080/TCP"]["l7"] == {
        "proxied": False,
        "egress": None,
        "ingress": None,
    }
    assert cells["shop/client-0->shop/api-0:9090/TCP"]["l7"] is None  # denied


def test_matrix_text_lists_proxied_cells(
    l7_platform: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["matrix", "--platform", str(l7_platform)]) == ExitCode.OK
    lines = capsys.readouterr().out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("L7 rules"))
    section = lines[start : lines.index("", start)]
    assert section[1:] == [
        "  shop/client-0->shop/api-0:8080/TCP",
        "    egress:  GET /api/v1/.*",
        "    ingress: GET /api/v1/health",
        "  shop/other-0->shop/api-0:8080/TCP",
        "    egress:  unrestricted",
        "    ingress: unrestricted",
    ]
    assert lines[-1].endswith("denied")  # the summary stays last


def test_matrix_text_without_l7(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_blueprint(tmp_path / "platform", _shop())
    assert main(["matrix", "--platform", str(root)]) == ExitCode.OK
    assert "L7 rules: none" in capsys.readouterr().out
