"""The sandbox's L7 enforcement: the compiler (which ports are redirected, which rules apply per
source and side), the proxy's own path normalisation and rule matching, and — on a real sandbox —
transparent redirection, Cilium's denial answer, the access log, reloads, pod restarts and the
planted L7 faults."""

from __future__ import annotations

import os
import shutil
import time
from typing import Any

import pytest

from gauntlet.blueprint import Blueprint
from gauntlet.policy import normalize
from gauntlet.targets.base import HttpRequest, PlantedFault, ProbeMode, ProbeRequest, ProbeResult
from gauntlet.targets.local.l7 import PROXY_PORT, L7Options, compile_l7
from gauntlet.targets.local.l7proxy import Rule, Side, normalize_target
from gauntlet.targets.local.plan import make_plan
from policytables import Manifest, cnp, deployment, load, namespace, sel

HEALTH = {"method": "GET", "path": "/api/v1/health"}


def ports(port: int, http: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    rule: dict[str, Any] = {"ports": [{"port": str(port), "protocol": "TCP"}]}
    if http is not None:
        rule["rules"] = {"http": http}
    return [rule]


ITEMS = {"method": "GET", "path": "/api/v1/items/.*"}


def l7_manifests() -> list[Manifest]:
    """web/api (8080 http, 9090 metrics) is default-deny ingress: the gateway may GET health on
    8080 (L7), the client reaches 8080 at L3/L4 only; the gateway's own egress to 9090 carries
    an L7 rule while api admits 9090 at L3/L4 (an egress-only proxied flow)."""
    return [
        namespace("web"),
        deployment("web", "api", {"app": "api"}, ports=((8080, "TCP", "http"), (9090, "TCP", "m"))),
        deployment("web", "gw", {"app": "gw"}),
        deployment("web", "client", {"app": "client"}),
        cnp(
            "web",
            "api-in",
            {
                "endpointSelector": sel(app="api"),
                "ingress": [
                    {
                        "fromEndpoints": [sel(app="gw")],
                        "toPorts": ports(8080, [HEALTH]),
                    },
                    {"fromEndpoints": [sel(app="client")], "toPorts": ports(8080)},
                    {"fromEndpoints": [sel(app="gw")], "toPorts": ports(9090)},
                ],
            },
        ),
        cnp(
            "web",
            "gw-out",
            {
                "endpointSelector": sel(app="gw"),
                "egress": [
                    {
                        "toEndpoints": [sel(app="api")],
                        "toPorts": ports(9090, [ITEMS]),
                    },
                    {"toEndpoints": [sel(app="api")], "toPorts": ports(8080)},
                ],
            },
        ),
    ]


@pytest.fixture(scope="module")
def bp(tmp_path_factory: pytest.TempPathFactory) -> Blueprint:
    return load(tmp_path_factory.mktemp("l7"), l7_manifests())


class TestCompile:
    def test_ports_sources_and_sides(self, bp: Blueprint) -> None:
        plan = make_plan(bp)
        out = compile_l7(normalize(bp, plan.endpoints), plan)
        assert set(out) == {"web/api-0"}
        ip = plan.ip_of()
        cfg = out["web/api-0"].config
        p8080, p9090 = cfg["ports"]["8080"], cfg["ports"]["9090"]
        gw, client = ip["web/gw-0"], ip["web/client-0"]
        # 8080: every source is proxied; the gateway has the HTTP rule, the client is
        # unrestricted (its rule carries no L7 rules), the gateway's egress is unrestricted.
        assert p8080[gw] == {"egress": None, "ingress": [HEALTH]}
        assert p8080[client] == {"egress": None, "ingress": None}
        # 9090: only the gateway's egress carries rules, so only the gateway is redirected.
        assert set(p9090) == {gw}
        assert p9090[gw] == {"egress": [ITEMS], "ingress": None}
        rules = out["web/api-0"].ruleset
        assert f'iifname "eth0" tcp dport {{ 8080 }} redirect to :{PROXY_PORT}' in rules
        assert f"ip saddr {{ {gw} }} tcp dport 9090 redirect to :{PROXY_PORT}" in rules

    def test_faults(self, bp: Blueprint) -> None:
        plan = make_plan(bp)
        pset = normalize(bp, plan.endpoints)
        bypass = compile_l7(pset, plan, L7Options(bypass=True))["web/api-0"]
        assert "redirect" not in bypass.ruleset
        flags = compile_l7(pset, plan, L7Options(unanchored=True, ignore_method=True))
        assert flags["web/api-0"].config["faults"] == {"unanchored": True, "ignore_method": True}
        assert compile_l7(pset, plan, disabled=True) == {}
        assert "web/api-0" not in compile_l7(pset, plan, unenforced={"web/api-0", "web/gw-0"})


class TestProxyLogic:
    def test_agrees_with_the_oracle(self) -> None:
        """The proxy and the oracle normalise independently; on 20,000 random targets built
        from the tricky pieces they must agree exactly."""
        import random

        from gauntlet.oracle.l7 import normalize_path

        pieces = ["/", ".", "..", "%2e", "%2F", "%5c", "\\", "a", "%41", "%zz", "%3a", "?"]
        pieces += ["//", "%7e", "#", "%", " ", "%00", "é", "%2", "~", "{", "%%", "4"]
        rng = random.Random(4)
        for _ in range(20_000):
            target = "/" + "".join(rng.choice(pieces) for _ in range(rng.randint(0, 9)))
            want = normalize_path(target)
            if want.rejected:
                expected: tuple[str | None, str | None] = (None, None)
            elif want.redirect:
                expected = (None, want.path)
            else:
                expected = (want.path, None)
            assert normalize_target(target) == expected, target

    @pytest.mark.parametrize(
        ("target", "expected"),
        [
            ("/api/v1/health", ("/api/v1/health", None)),
            ("//api/v1//health", ("/api/v1/health", None)),
            ("/api/v1/health/../admin", ("/api/v1/admin", None)),
            ("/api/v1/%68ealth", ("/api/v1/health", None)),
            ("/a/%2e%2E/b", ("/b", None)),
            ("/a/%7e%zz", ("/a/~%zz", None)),
            ("/a/%3f", ("/a/%3f", None)),  # escapes left alone keep their hex case
            ("/a/%2%41", ("/a/%252A", None)),  # a nested escape is not decoded twice
            ("/a/b c", ("/a/b%20c", None)),
            ("/a%00", (None, None)),
            ("/a#frag", (None, None)),
            ("/a/..%2Fb", (None, "/b")),  # escaped slashes are unescaped first (Envoy)
            ("//", ("//", None)),  # Envoy's mergeSlashes keeps a leading and trailing slash
            ("/x?q=/../y//z", ("/x?q=/../y//z", None)),
            ("/../../admin", ("/admin", None)),
            ("/a/.", ("/a/", None)),
            ("/a%2Fb", (None, "/a/b")),
            ("/a%5cb?x", (None, "/a/b?x")),
            ("api", (None, None)),
            ("*", (None, None)),
        ],
    )
    def test_normalize(self, target: str, expected: tuple[str | None, str | None]) -> None:
        assert normalize_target(target) == expected

    def test_rule_fields_match_whole_values(self) -> None:
        rule = Rule(
            {"method": "GET|HEAD", "path": "/api/v1/health", "headers": ["X-Token: s3cret"]}, {}
        )
        ok = {"x-token": ["s3cret"]}
        assert rule.matches("GET", "/api/v1/health", "h", ok)
        assert rule.matches("HEAD", "/api/v1/health", "h", ok)
        assert not rule.matches("GETX", "/api/v1/health", "h", ok)
        assert not rule.matches("GET", "/api/v1/healthz", "h", ok)
        assert not rule.matches("GET", "/x/api/v1/health", "h", ok)
        assert not rule.matches("GET", "/api/v1/health?x=1", "h", ok)
        assert not rule.matches("GET", "/api/v1/health", "h", {"x-token": ["other"]})
        assert not rule.matches("GET", "/api/v1/health", "h", {})
        presence = Rule({"headers": ["X-Token"], "host": r"api\.web"}, {})
        assert presence.matches("POST", "/anything", "api.web", {"x-token": [""]})
        assert not presence.matches("POST", "/anything", "api.web.evil", {"x-token": [""]})

    def test_header_matches_and_mismatch_actions(self) -> None:
        rule = Rule(
            {
                "headerMatches": [
                    {"name": "X-A", "value": "1"},
                    {"name": "X-Log", "value": "v", "mismatch": "LOG"},
                    {"name": "X-Secret", "secret": {"name": "s", "namespace": "n"}},
                ]
            },
            {},
        )
        # The secret cannot be resolved: like Cilium, the match fails.
        assert not rule.matches("GET", "/", "h", {"x-a": ["1"], "x-secret": ["x"]})
        no_secret = Rule({"headerMatches": [{"name": "X-A", "value": "1"}]}, {})
        assert no_secret.matches("GET", "/", "h", {"x-a": ["1"]})
        assert not no_secret.matches("GET", "/", "h", {"x-a": ["2"]})

    def test_fault_knobs(self) -> None:
        spec = {"method": "GET", "path": "/api/v1/health"}
        assert Rule(spec, {"unanchored": True}).matches("GET", "/x/api/v1/healthz", "h", {})
        assert Rule(spec, {"ignore_method": True}).matches("DELETE", "/api/v1/health", "h", {})

    def test_sides(self) -> None:
        assert Side(None, {}).decide("DELETE", "/admin", "h", {}) == (True, "unrestricted")
        assert Side([], {}).decide("GET", "/", "h", {})[0] is False
        ok, why = Side([HEALTH, ITEMS], {}).decide("GET", "/api/v1/items/7", "h", {})
        assert ok and why.startswith("rule 1")


# -- on a real sandbox ---------------------------------------------------------------------


def _sandbox_reason() -> str | None:
    missing = [tool for tool in ("nft", "ip", "nsenter") if shutil.which(tool) is None]
    if missing:
        return f"the local sandbox needs {', '.join(missing)}"
    if os.geteuid() != 0:
        return "the L7 sandbox tests run as root"
    return None


_REASON = _sandbox_reason()


def _req(i: int, src: str, port: int, method: str, path: str, **headers: str) -> ProbeRequest:
    return ProbeRequest(
        id=f"r{i}",
        src=src,
        dst="web/api-0",
        port=port,
        mode=ProbeMode.HTTP,
        timeout_s=1.0,
        http=HttpRequest(method, path, tuple(headers.items())),
    )


def _summary(res: ProbeResult) -> tuple[Any, ...]:
    if res.http_status == 403:
        return 403, res.peer, res.body
    return res.http_status, res.peer


@pytest.mark.e2e
@pytest.mark.skipif(_REASON is not None, reason=_REASON or "")
class TestOnSandbox:
    @pytest.fixture(scope="class")
    def sandbox(self, bp: Blueprint) -> Any:
        from gauntlet.targets.local.sandbox import LocalSandbox

        sb = LocalSandbox(sandbox_name=f"l7-{os.getpid()}")
        try:
            sb.deploy(bp)
            assert sb.wait_policy_converged(timeout_s=10)
            yield sb
        finally:
            sb.teardown()

    CASES = (
        ("web/gw-0", 8080, "GET", "/api/v1/health", (200, "web/api-0")),
        ("web/gw-0", 8080, "GET", "/admin", (403, None, "Access denied")),
        ("web/gw-0", 8080, "POST", "/api/v1/health", (403, None, "Access denied")),
        ("web/gw-0", 8080, "GET", "//api/v1/health", (200, "web/api-0")),
        ("web/gw-0", 8080, "GET", "/api/v1/health?x=1", (403, None, "Access denied")),
        ("web/gw-0", 8080, "GET", "/a%2Fb", (307, None)),
        ("web/client-0", 8080, "DELETE", "/admin", (200, "web/api-0")),
        ("web/gw-0", 9090, "GET", "/api/v1/items/3", (200, "web/api-0")),
        ("web/gw-0", 9090, "GET", "/admin", (403, None, "Access denied")),
    )

    def probe_cases(self, sandbox: Any) -> list[tuple[Any, ...]]:
        reqs = [_req(i, s, p, m, path) for i, (s, p, m, path, _) in enumerate(self.CASES)]
        return [_summary(r) for r in sandbox.probe(reqs)]

    def test_enforcement_and_access_log(self, sandbox: Any) -> None:
        since = time.time()
        assert self.probe_cases(sandbox) == [c[-1] for c in self.CASES]
        flows = [f for f in sandbox.l7_flows(since=since) if f.source == "web/gw-0"]
        denied = {(f.method, f.path, f.port, f.side) for f in flows if f.verdict == "denied"}
        assert ("GET", "/admin", 8080, "ingress") in denied
        assert ("GET", "/admin", 9090, "egress") in denied
        fwd = [f for f in flows if f.verdict == "forwarded" and f.path == "/api/v1/health"]
        assert fwd and fwd[0].status == 200 and fwd[0].destination == "web/api-0"

    def test_the_application_receives_the_normalised_path(self, sandbox: Any) -> None:
        (res,) = sandbox.probe([_req(0, "web/gw-0", 8080, "GET", "/api/v1/./%68ealth")])
        assert res.http_status == 200
        assert '"path":"/api/v1/health"' in (res.body or "")

    def test_faults_then_repair(self, sandbox: Any) -> None:
        admin = _req(0, "web/gw-0", 8080, "GET", "/admin")
        post = _req(1, "web/gw-0", 8080, "POST", "/api/v1/health")
        longer = _req(2, "web/gw-0", 8080, "GET", "/api/v1/healthz")
        try:
            sandbox.plant(PlantedFault("l7-proxy-bypassed", ""))
            assert [r.http_status for r in sandbox.probe([admin])] == [200]
            sandbox.plant(PlantedFault("l7-method-dropped", ""))
            assert [r.http_status for r in sandbox.probe([admin, post])] == [403, 405]  # the app
            sandbox.plant(PlantedFault("l7-path-unanchored", ""))
            assert [r.http_status for r in sandbox.probe([post, longer])] == [403, 404]
        finally:
            from gauntlet.targets.local.nftables import CompileOptions

            assert sandbox.policies is not None
            sandbox.reapply(sandbox.policies, CompileOptions())
        assert self.probe_cases(sandbox) == [c[-1] for c in self.CASES]

    def test_restarted_pod_gets_its_proxy_back(self, sandbox: Any) -> None:
        before = sandbox.status()[0]
        sandbox.kill_pod("web/api-0")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            pods = {p.key: p for p in sandbox.status()[0]}
            old = {p.key: p for p in before}
            if pods["web/api-0"].restarts > old["web/api-0"].restarts and pods["web/api-0"].ready:
                break
            time.sleep(0.05)
        else:
            pytest.fail("web/api-0 was not restarted")
        assert self.probe_cases(sandbox) == [c[-1] for c in self.CASES]

    def test_a_crashed_proxy_is_restarted(self, sandbox: Any) -> None:
        import signal

        from gauntlet.targets.local.supervisor import L7PROXY

        mine = f"/{sandbox.sandbox_name}/p/"

        def proxies() -> list[int]:
            pids = []
            for entry in os.scandir("/proc"):
                if entry.name.isdigit():
                    try:
                        with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                            cmd = f.read().replace(b"\0", b" ").decode()
                    except OSError:
                        continue
                    if str(L7PROXY) in cmd and mine in cmd:
                        pids.append(int(entry.name))
            return pids

        deadline = time.monotonic() + 10
        while len(pids := proxies()) != 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(pids) == 1, pids
        os.kill(pids[0], signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.probe_cases(sandbox) == [c[-1] for c in self.CASES]:
                return
            time.sleep(0.1)
        pytest.fail("the L7 proxy was not restarted")
