"""Per-request samples of a load run and the exact statistics built from them.

Design notes
- Every request Locust completes arrives here (``gauntlet.load.protocol``). Samples are kept
  columnar (``array`` columns, ~26 bytes per request) so a 10-minute run at 1,000 req/s stays
  around 16 MB, and iterating them still yields small named tuples.
- Latencies are integers in microseconds. Percentiles are *nearest-rank* over the raw values:
  exact, not Locust's 2-significant-figure buckets. The same values also go into an
  HdrHistogram (``HdrHistogram(1, 60_000_000, 3)``, microseconds) whose base64 text travels in
  the scorecard, so the upgrade gate can resample a run without the raw samples; it agrees with
  the exact percentiles to 3 significant digits.
- Errors count with their latency (a refused connection is a fast failure, a timeout a slow
  one); a request is an error when Locust marked it failed (``error`` set).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

HDR_LOWEST_US = 1
HDR_HIGHEST_US = 60_000_000
HDR_SIGNIFICANT_DIGITS = 3


class Sample(NamedTuple):
    """One request as Locust reported it."""

    time_s: float
    """When the request completed, seconds since the load started."""
    name: str
    """Method and Locust request name, e.g. ``"GET /api/v1/items/[n]"``."""
    latency_ms: float
    status: int
    """HTTP status; 0 when no response arrived (connection error, timeout)."""
    error: str | None
    """Why Locust marked the request failed (``"HTTP 503"``, ``"ConnectionRefusedError"``...);
    None for a success."""


@dataclass
class Samples:
    """All requests of a run, stored by column; ``names``/``errors`` intern repeated strings."""

    names: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    done_us: array[int] = field(default_factory=lambda: array("q"))
    """Completion time, microseconds since the load started."""
    name_id: array[int] = field(default_factory=lambda: array("H"))
    latency_us: array[int] = field(default_factory=lambda: array("q"))
    status: array[int] = field(default_factory=lambda: array("H"))
    error_id: array[int] = field(default_factory=lambda: array("i"))
    """Index into ``errors``; -1 for a success."""

    def __len__(self) -> int:
        return len(self.done_us)

    def __getitem__(self, i: int) -> Sample:
        err = self.error_id[i]
        return Sample(
            time_s=self.done_us[i] / 1e6,
            name=self.names[self.name_id[i]],
            latency_ms=self.latency_us[i] / 1000.0,
            status=self.status[i],
            error=None if err < 0 else self.errors[err],
        )

    def __iter__(self) -> Iterator[Sample]:
        for i in range(len(self)):
            yield self[i]

    def append(
        self, *, done_us: int, name_id: int, latency_us: int, status: int, error_id: int
    ) -> None:
        self.done_us.append(done_us)
        self.name_id.append(name_id)
        self.latency_us.append(latency_us)
        self.status.append(status)
        self.error_id.append(error_id)

    @property
    def error_count(self) -> int:
        return len(self) - self.error_id.count(-1)


def percentile(sorted_values: Sequence[int], p: float) -> int:
    """Nearest-rank percentile (``p`` in 0..100) of ascending values; the smallest value at or
    above which ``p`` percent of the values lie. Raises on an empty sequence."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    rank = max(1, math.ceil(p / 100.0 * len(sorted_values) - 1e-9))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass(frozen=True)
class LatencyStats:
    """Exact statistics of a set of latencies (microseconds in, milliseconds out)."""

    count: int
    mean_ms: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float


def latency_stats(latencies_us: Sequence[int]) -> LatencyStats:
    """Exact nearest-rank percentiles; all zero when there are no latencies."""
    if not latencies_us:
        return LatencyStats(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    ordered = sorted(latencies_us)

    def ms(p: float) -> float:
        return percentile(ordered, p) / 1000.0

    return LatencyStats(
        count=len(ordered),
        mean_ms=sum(ordered) / len(ordered) / 1000.0,
        p50_ms=ms(50),
        p90_ms=ms(90),
        p95_ms=ms(95),
        p99_ms=ms(99),
        p999_ms=ms(99.9),
        max_ms=ordered[-1] / 1000.0,
    )


@dataclass(frozen=True)
class SecondStats:
    """One second of a run (requests that completed in ``[t_s, t_s + 1)``)."""

    t_s: float
    requests: int
    errors: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


def per_second(samples: Samples, *, duration_s: float) -> list[SecondStats]:
    """One entry per second from 0 to ``duration_s`` (rounded up), empty seconds included, so
    a stall shows as zeros instead of a gap."""
    seconds = max(1, math.ceil(duration_s - 1e-9))
    if len(samples):
        seconds = max(seconds, samples.done_us[len(samples) - 1] // 1_000_000 + 1)
    buckets: list[list[int]] = [[] for _ in range(seconds)]
    errors = [0] * seconds
    for i in range(len(samples)):
        sec = min(samples.done_us[i] // 1_000_000, seconds - 1)
        buckets[sec].append(samples.latency_us[i])
        if samples.error_id[i] >= 0:
            errors[sec] += 1
    out = []
    for sec, lat in enumerate(buckets):
        lat.sort()
        out.append(
            SecondStats(
                t_s=float(sec),
                requests=len(lat),
                errors=errors[sec],
                p50_ms=percentile(lat, 50) / 1000.0 if lat else None,
                p95_ms=percentile(lat, 95) / 1000.0 if lat else None,
                p99_ms=percentile(lat, 99) / 1000.0 if lat else None,
            )
        )
    return out


def hdr_histogram_b64(latencies_us: Sequence[int]) -> str:
    """The latencies as base64 HdrHistogram text (values clamped into the trackable range)."""
    from hdrh.histogram import HdrHistogram  # type: ignore[import-untyped]

    hist = HdrHistogram(HDR_LOWEST_US, HDR_HIGHEST_US, HDR_SIGNIFICANT_DIGITS)
    counts: dict[int, int] = {}
    for v in latencies_us:
        v = min(max(v, HDR_LOWEST_US), HDR_HIGHEST_US)
        counts[v] = counts.get(v, 0) + 1
    for value, n in counts.items():
        hist.record_value(value, n)
    encoded: bytes = hist.encode()
    return encoded.decode("ascii")


__all__ = [
    "LatencyStats",
    "Sample",
    "Samples",
    "SecondStats",
    "hdr_histogram_b64",
    "latency_stats",
    "per_second",
    "percentile",
]
