"""Tests for the Prometheus data source against a local stub of ``/api/v1/query_range``."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from gauntlet.report.scorecard import Verdict
from gauntlet.slo import Measurements, PrometheusError, PrometheusSource, evaluate, load_specs
from gauntlet.slo.prometheus import ENV_URL
from gauntlet.slo.spec import Indicator

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
T1 = T0 + timedelta(seconds=60)

# query -> list of series, each a list of (seconds since T0, value)
ANSWERS: dict[str, list[list[tuple[float, str]]]] = {
    # Two counters (two pods) of all requests: 10 req/s each; one resets at t=30.
    "total": [
        [(t, str(10.0 * t)) for t in range(61)],
        [(t, str(10.0 * (t if t < 30 else t - 30))) for t in range(61)],
    ],
    # Errors: 15 in the second ending at t=20, nothing else.
    "errors": [[(t, "0" if t < 20 else "15") for t in range(61)]],
    # A latency gauge in ms; NaN points are no data and dropped.
    "p95": [[(t, "NaN" if t == 0 else ("900" if t in (10, 11) else "100")) for t in range(61)]],
    "empty": [],
}


class Stub(BaseHTTPRequestHandler):
    requests: list[dict[str, list[str]]] = []

    def do_GET(self) -> None:
        url = urlparse(self.path)
        params = parse_qs(url.query)
        Stub.requests.append(params)
        query = params.get("query", [""])[0]
        if url.path != "/api/v1/query_range" or query == "bad(":
            body = {"status": "error", "errorType": "bad_data", "error": "parse error"}
            self._send(400, body)
            return
        series = ANSWERS.get(query, [])
        result = [
            {
                "metric": {"pod": str(i)},
                "values": [[T0.timestamp() + t, v] for t, v in points],
            }
            for i, points in enumerate(series)
        ]
        self._send(200, {"status": "success", "data": {"resultType": "matrix", "result": result}})

    def _send(self, code: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def prom() -> Iterator[PrometheusSource]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Stub.requests.clear()
    try:
        yield PrometheusSource(f"http://127.0.0.1:{server.server_address[1]}/", timeout_s=5)
    finally:
        server.shutdown()
        server.server_close()


def test_query_range_sums_series_and_drops_nan(prom: PrometheusSource) -> None:
    series = prom.query_range("p95", start=T0, end=T1)
    assert len(series) == 60  # t=0 was NaN
    assert series[10] == (T0.timestamp() + 11, 900.0)
    params = Stub.requests[-1]
    assert params["step"] == ["1"]
    assert float(params["start"][0]) == pytest.approx(T0.timestamp())
    assert float(params["end"][0]) == pytest.approx(T1.timestamp())


def test_increases_handle_counter_resets(prom: PrometheusSource) -> None:
    inc = dict(prom.increases("total", start=T0, end=T1))
    assert len(inc) == 60
    # At the reset (290 -> 0) the new value is the increase (0), not -290, as increase() does.
    assert inc[T0.timestamp() + 30] == 10.0
    assert {v for t, v in inc.items() if t != T0.timestamp() + 30} == {20.0}
    assert sum(inc.values()) == 1190


def test_errors_are_prometheus_errors(prom: PrometheusSource) -> None:
    with pytest.raises(PrometheusError, match=r"HTTP 400.*parse error"):
        prom.query_range("bad(", start=T0, end=T1)
    closed = PrometheusSource("http://127.0.0.1:9/", timeout_s=1)
    with pytest.raises(PrometheusError, match="failed"):
        closed.query_range("total", start=T0, end=T1)


def test_step_stays_under_the_point_limit() -> None:
    assert PrometheusSource.step_s(T0, T0 + timedelta(hours=1)) == 4
    assert PrometheusSource.step_s(T0, T0) == 1


def test_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_URL, raising=False)
    assert PrometheusSource.from_env() is None
    assert PrometheusSource.from_env("http://p:9090").url == "http://p:9090"  # type: ignore[union-attr]
    monkeypatch.setenv(ENV_URL, "http://env:9090")
    assert PrometheusSource.from_env().url == "http://env:9090"  # type: ignore[union-attr]


def prometheus_spec(name: str, indicator: Indicator) -> object:
    base = {s.name: s for s in load_specs()}[name]
    return replace(base, indicator=indicator, alerts=base.alerts)


def test_ratio_sli_from_prometheus(prom: PrometheusSource) -> None:
    ind = Indicator("api", "", "prometheus", "ratio", total="total", bad="errors", counter=True)
    spec = prometheus_spec("availability", ind)
    m = Measurements(started_at=T0, finished_at=T1)
    (result,) = evaluate([spec], m, distribution="local-sandbox", prometheus=prom)  # type: ignore[list-item]
    assert result.source == "prometheus"
    # 1190 requests, the errors counter rose by 15 once.
    assert result.observed == pytest.approx(1 - 15 / 1190)
    assert result.verdict is Verdict.FAIL
    assert result.error_budget_consumed == pytest.approx((15 / 1190) / 0.001)
    assert result.alerts and result.alerts[0].fired
    assert result.alerts[0].first_fired_s == 20  # the step ending at t=20


def test_threshold_sli_from_prometheus(prom: PrometheusSource) -> None:
    ind = Indicator("lat", "", "prometheus", "threshold", total="p95", unit="ms")
    spec = prometheus_spec("latency-p95", ind)
    m = Measurements(started_at=T0, finished_at=T1)
    (result,) = evaluate([spec], m, distribution="local-sandbox", prometheus=prom)
    # 60 points, 2 above 200 ms: 2/60 bad = 3.3 % <= 5 % -> pass; p95 nearest rank is 100.
    assert (result.verdict, result.observed, result.unit) == (Verdict.PASS, 100.0, "ms")
    assert result.error_budget_consumed == pytest.approx((2 / 60) / 0.05)


def test_no_samples_is_inconclusive_and_query_errors_too(prom: PrometheusSource) -> None:
    m = Measurements(started_at=T0, finished_at=T1)
    empty = prometheus_spec(
        "latency-p95", Indicator("lat", "", "prometheus", "threshold", total="empty")
    )
    broken = prometheus_spec(
        "latency-p95", Indicator("lat", "", "prometheus", "threshold", total="bad(")
    )
    results = evaluate([empty, broken], m, distribution="kind", prometheus=prom)  # type: ignore[list-item]
    assert [r.verdict for r in results] == [Verdict.INCONCLUSIVE, Verdict.INCONCLUSIVE]
    assert "no samples" in results[0].message
    assert "parse error" in results[1].message
    # Without a window there is nothing to query.
    (no_window,) = evaluate([empty], Measurements(), distribution="kind", prometheus=prom)  # type: ignore[list-item]
    assert no_window.verdict is Verdict.INCONCLUSIVE
