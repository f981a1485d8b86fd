"""Exact latency statistics of a load run: percentiles, per-second series, HDR histogram."""

from __future__ import annotations

import math

import pytest
from hdrh.histogram import HdrHistogram
from hypothesis import given
from hypothesis import strategies as st

from gauntlet.load.samples import (
    HDR_HIGHEST_US,
    Samples,
    hdr_histogram_b64,
    latency_stats,
    per_second,
    percentile,
)

latencies = st.lists(st.integers(min_value=0, max_value=5_000_000), min_size=1, max_size=400)


@given(values=latencies, p=st.floats(min_value=0, max_value=100))
def test_percentile_is_the_nearest_rank(values: list[int], p: float) -> None:
    ordered = sorted(values)
    v = percentile(ordered, p)
    n = len(ordered)
    # Nearest rank: at least p % of the values are <= v, and fewer than p % lie below it
    # (the smallest value for which the first holds).
    assert sum(x <= v for x in ordered) >= p / 100 * n - 1e-9
    below = sum(x < v for x in ordered)
    assert below == 0 or below < max(1, math.ceil(p / 100 * n - 1e-9))


def test_percentile_examples() -> None:
    ordered = list(range(1, 101))  # 1..100
    assert [percentile(ordered, p) for p in (0, 1, 50, 90, 95, 99, 99.9, 100)] == [
        1,
        1,
        50,
        90,
        95,
        99,
        100,
        100,
    ]
    assert percentile([7], 99.9) == 7
    with pytest.raises(ValueError):
        percentile([], 50)


def test_latency_stats_match_sorted_samples() -> None:
    values = [900, 100, 300, 200, 1_000_000, 400, 500, 600, 700, 800]
    stats = latency_stats(values)
    assert stats.count == 10
    assert stats.p50_ms == 0.5 and stats.p90_ms == 0.9 and stats.p95_ms == 1000.0
    assert stats.max_ms == 1000.0
    assert stats.mean_ms == pytest.approx(sum(values) / 10 / 1000)
    assert latency_stats([]).count == 0


@given(values=latencies)
def test_hdr_histogram_agrees_with_exact_percentiles(values: list[int]) -> None:
    hist = HdrHistogram.decode(hdr_histogram_b64(values).encode())
    assert hist.get_total_count() == len(values)
    ordered = sorted(max(v, 1) for v in values)
    for p in (50, 90, 95, 99, 99.9, 100):
        # HdrHistogram's own rank rule, then its bucket: equal to 3 significant digits.
        rank = max(1, int(p / 100 * len(ordered) + 0.5))
        exact = ordered[min(rank, len(ordered)) - 1]
        assert hist.get_value_at_percentile(p) == pytest.approx(exact, rel=1e-3, abs=1)


def test_hdr_histogram_clamps_out_of_range_values() -> None:
    hist = HdrHistogram.decode(hdr_histogram_b64([0, 10 * HDR_HIGHEST_US]).encode())
    assert hist.get_total_count() == 2
    assert hist.get_max_value() == pytest.approx(HDR_HIGHEST_US, rel=1e-3)


def _samples(rows: list[tuple[float, int, int, bool]]) -> Samples:
    samples = Samples(names=["GET /"], errors=["HTTP 503"])
    for done_s, latency_us, status, failed in rows:
        samples.append(
            done_us=round(done_s * 1e6),
            name_id=0,
            latency_us=latency_us,
            status=status,
            error_id=0 if failed else -1,
        )
    return samples


def test_per_second_series_counts_completions_and_keeps_empty_seconds() -> None:
    samples = _samples(
        [
            (0.1, 1000, 200, False),
            (0.9, 3000, 503, True),
            (2.5, 2000, 200, False),
        ]
    )
    series = per_second(samples, duration_s=3.2)
    assert [s.t_s for s in series] == [0.0, 1.0, 2.0, 3.0]
    assert [s.requests for s in series] == [2, 0, 1, 0]
    assert [s.errors for s in series] == [1, 0, 0, 0]
    assert series[0].p50_ms == 1.0 and series[0].p99_ms == 3.0
    assert series[1].p95_ms is None


def test_samples_iterate_as_named_tuples() -> None:
    samples = _samples([(0.5, 1500, 200, False), (0.75, 2500, 503, True)])
    first, second = list(samples)
    assert first.time_s == 0.5 and first.latency_ms == 1.5 and first.error is None
    assert second.status == 503 and second.error == "HTTP 503" and second.name == "GET /"
    assert samples.error_count == 1 and len(samples) == 2
