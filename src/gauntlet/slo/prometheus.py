"""The Prometheus data source: range queries over the run's window (HTTP API, stdlib only).

Design notes:

- Only ``GET /api/v1/query_range`` is used (Prometheus HTTP API); its answer is
  ``{"status": "success", "data": {"resultType": "matrix", "result": [{"metric": {...},
  "values": [[<unix time>, "<value>"], ...]}, ...]}}``. Values arrive as strings, ``"NaN"`` and
  ``"+Inf"`` included; those are dropped (no data is not a value).
- Several series in an answer are summed per timestamp: an SLI query should aggregate itself
  (``sum(...)``), and summing is the only combination that is right for event counts.
- ``counter: true`` queries return counters; the events of a step are the increase since the
  previous step, and a decrease is a counter reset (the new value is the increase), as in
  Prometheus' own ``increase()``.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime

ENV_URL = "GAUNTLET_PROMETHEUS_URL"
"""Environment variable naming the Prometheus server when ``--prometheus-url`` is not given."""

MAX_POINTS = 1000
"""Points per query; Prometheus refuses more than 11,000."""


class PrometheusError(Exception):
    """The server could not be asked or did not answer a query successfully."""


Series = list[tuple[float, float]]
"""(unix time, value) pairs, ascending."""


@dataclass(frozen=True)
class PrometheusSource:
    """A Prometheus server's HTTP API, e.g. ``http://prometheus.monitoring:9090``."""

    url: str
    timeout_s: float = 10.0

    @classmethod
    def from_env(cls, url: str | None = None) -> PrometheusSource | None:
        """``url`` or ``$GAUNTLET_PROMETHEUS_URL``; None when neither is set."""
        url = url or os.environ.get(ENV_URL) or None
        return cls(url) if url else None

    @staticmethod
    def step_s(start: datetime, end: datetime) -> float:
        """Resolution of a query over ``start..end``: 1 s, or coarser to stay under MAX_POINTS."""
        span = max(0.0, (end - start).total_seconds())
        return float(max(1, math.ceil(span / MAX_POINTS)))

    def query_range(self, query: str, *, start: datetime, end: datetime) -> Series:
        """The query's values over ``start..end``, series summed per timestamp."""
        return _sum_series(self._fetch(query, start=start, end=end))

    def increases(self, query: str, *, start: datetime, end: datetime) -> Series:
        """Per-step increase of a counter query (resets handled), one pair per step after the
        first, summed over series."""
        return _increase_of(self._fetch(query, start=start, end=end))

    def _fetch(self, query: str, *, start: datetime, end: datetime) -> list[Series]:
        params = urllib.parse.urlencode(
            {
                "query": query,
                "start": f"{start.timestamp():.3f}",
                "end": f"{end.timestamp():.3f}",
                "step": f"{self.step_s(start, end):g}",
            }
        )
        url = f"{self.url.rstrip('/')}/api/v1/query_range?{params}"
        try:
            with urllib.request.urlopen(url, timeout=self.timeout_s) as resp:
                body = json.load(resp)
        except urllib.error.HTTPError as exc:
            # Prometheus answers 400/422 with a JSON error body naming the problem.
            detail = exc.read().decode("utf-8", "replace")[:300]
            raise PrometheusError(f"{self.url}: HTTP {exc.code} for {query!r}: {detail}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise PrometheusError(f"{self.url}: query {query!r} failed: {exc}") from None
        if not isinstance(body, dict) or body.get("status") != "success":
            error = body.get("error") if isinstance(body, dict) else body
            raise PrometheusError(f"{self.url}: query {query!r} failed: {error}")
        data = body.get("data")
        results = data.get("result", []) if isinstance(data, dict) else []
        return [_values(r) for r in results] if isinstance(results, list) else []


def _values(result: object) -> Series:
    out: Series = []
    if not isinstance(result, dict):
        return out
    for pair in result.get("values", []):
        try:
            t, v = float(pair[0]), float(pair[1])
        except (TypeError, ValueError, IndexError):
            continue
        if math.isfinite(v):
            out.append((t, v))
    return out


def _sum_series(series_list: list[Series]) -> Series:
    sums: dict[float, float] = {}
    for series in series_list:
        for t, v in series:
            sums[t] = sums.get(t, 0.0) + v
    return sorted(sums.items())


def _increase_of(series_list: list[Series]) -> Series:
    sums: dict[float, float] = {}
    for series in series_list:
        for (_, prev), (t, v) in itertools.pairwise(series):
            sums[t] = sums.get(t, 0.0) + (v - prev if v >= prev else v)
    return sorted(sums.items())
