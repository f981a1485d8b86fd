"""A synthetic but self-consistent ``Scorecard``: the ready fake for report tests and benchmarks.

Like httpx ships ``MockTransport`` with its transport protocol, the reports ship a scorecard
generator, so HTML, JUnit, compare and gate can be exercised (and looked at) without running a
sandbox. Everything is derived from one seeded latency sample, so the numbers agree with each other:
the SLOs' observed values are the load's percentiles, the HDR histogram holds exactly the per-second
requests, the matrix's leaks fail the isolation check.

The load has four phases: warm-up, steady, a spike (latency x2.5, errors x5) and recovery.
``extra_latency_ms`` shifts every request (planted slowness, as the gate's candidate).
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Literal

from gauntlet.load.samples import hdr_histogram_b64, latency_stats, percentile
from gauntlet.report.scorecard import (
    BurnRateAlert,
    Check,
    Distribution,
    Evidence,
    LatencySummary,
    LoadReport,
    MatrixCell,
    PhaseMark,
    Scorecard,
    SeriesPoint,
    SloResult,
    TenantResources,
    Verdict,
    build_scorecard,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
TENANTS = ("team-alpha", "team-beta", "team-gamma")
PODS = ("api-0", "client-0", "worker-0")
_SUITES = ("isolation", "l7", "policy", "tenancy")
Observed = Literal["pass", "leak", "blocked", "inconclusive"]


def _phases(duration_s: int) -> list[PhaseMark]:
    cut = [0, round(duration_s * 0.1), round(duration_s * 0.6), round(duration_s * 0.7), duration_s]
    names = ("warm-up", "steady", "spike", "recovery")
    return [PhaseMark(name=n, start_s=cut[i], end_s=cut[i + 1]) for i, n in enumerate(names)]


def synthetic_load(
    *,
    duration_s: int = 60,
    rps: int = 100,
    seed: int = 0,
    extra_latency_ms: float = 0.0,
    error_ratio: float = 0.0002,
    median_ms: float = 8.0,
) -> tuple[LoadReport, list[int]]:
    """A load report and its raw latencies (microseconds), ``rps`` requests in every second."""
    rng = random.Random(seed)
    phases = _phases(duration_s)
    spike = phases[2]
    mu = math.log(median_ms * 1000)
    extra_us = int(extra_latency_ms * 1000)
    series: list[SeriesPoint] = []
    all_us: list[int] = []
    errors_total = 0
    status: Counter[str] = Counter()
    for second in range(duration_s):
        in_spike = spike.start_s <= second < spike.end_s
        factor = 2.5 if in_spike else 1.0
        p_error = error_ratio * (5 if in_spike else 1)
        lat = [int(rng.lognormvariate(mu, 0.45) * factor) + extra_us for _ in range(rps)]
        errors = sum(1 for _ in range(rps) if rng.random() < p_error)
        lat.sort()
        all_us.extend(lat)
        errors_total += errors
        status["200"] += rps - errors
        status["503"] += errors
        series.append(
            SeriesPoint(
                t_s=float(second),
                requests=rps,
                errors=errors,
                p50_ms=percentile(lat, 50) / 1000,
                p95_ms=percentile(lat, 95) / 1000,
                p99_ms=percentile(lat, 99) / 1000,
            )
        )
    ordered = sorted(all_us)
    report = LoadReport(
        profile="steady",
        entrypoint="http://10.96.0.10:8080/api/v1/items",
        started_at=T0 + timedelta(seconds=5),
        duration_s=float(duration_s),
        requests=len(ordered),
        errors=errors_total,
        rps=len(ordered) / duration_s,
        status_counts={k: v for k, v in status.items() if v},
        error_counts={"HTTP 503": errors_total} if errors_total else {},
        latency=LatencySummary(**asdict(latency_stats(ordered))),
        series=series,
        phases=phases,
        histogram=hdr_histogram_b64(ordered),
    )
    return report, ordered


def _latency_slo(
    name: str, objective_ms: float, p: float, ordered_us: list[int], *, critical: bool
) -> SloResult:
    observed = percentile(ordered_us, p) / 1000
    slow = len(ordered_us) - _count_at_most(ordered_us, int(objective_ms * 1000))
    allowed = (100 - p) / 100 * len(ordered_us)
    consumed = min(100.0, slow / allowed) if allowed else 0.0
    return SloResult(
        name=name,
        description=f"{p:g} % of requests complete within {objective_ms:g} ms",
        sli="request-latency",
        unit="ms",
        comparator="lte",
        objective=objective_ms,
        observed=observed,
        verdict=Verdict.PASS if observed <= objective_ms else Verdict.FAIL,
        error_budget_consumed=consumed,
        critical=critical,
        peak_burn_rate=round(consumed * 2.4, 3),
        alerts=_alerts(consumed),
        window="load",
    )


def _count_at_most(ordered: list[int], value: int) -> int:
    lo, hi = 0, len(ordered)
    while lo < hi:
        mid = (lo + hi) // 2
        if ordered[mid] <= value:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _alerts(consumed: float) -> list[BurnRateAlert]:
    fast = consumed > 0.5
    return [
        BurnRateAlert(
            name="page-fast",
            long_window_s=36,
            short_window_s=3,
            threshold=14.4,
            fired=fast,
            first_fired_s=37.0 if fast else None,
        ),
        BurnRateAlert(
            name="ticket-slow",
            long_window_s=180,
            short_window_s=15,
            threshold=6,
            fired=False,
            first_fired_s=None,
        ),
    ]


def synthetic_slos(load: LoadReport, ordered_us: list[int], *, leaks: int) -> list[SloResult]:
    availability = 1 - load.errors / load.requests
    budget = (1 - availability) / 0.001
    cells = 128
    return [
        SloResult(
            name="availability",
            description="99.9 % of requests answer without 5xx or connection error",
            sli="request-availability",
            unit="ratio",
            objective=0.999,
            observed=availability,
            verdict=Verdict.PASS if availability >= 0.999 else Verdict.FAIL,
            error_budget_consumed=budget,
            critical=True,
            peak_burn_rate=round(budget * 5, 3),
            alerts=_alerts(budget),
            window="load",
        ),
        _latency_slo("latency-p95", 50.0, 95, ordered_us, critical=True),
        _latency_slo("latency-p99", 120.0, 99, ordered_us, critical=False),
        SloResult(
            name="isolation-integrity",
            description="denied cells stay denied",
            sli="isolation",
            unit="ratio",
            objective=1.0,
            observed=(cells - leaks) / cells,
            verdict=Verdict.PASS if not leaks else Verdict.FAIL,
            error_budget_consumed=0.0 if not leaks else 1000.0,  # capped, as slo.burn does
            critical=True,
            weight=2.0,
        ),
        SloResult(
            name="pod-start-latency",
            description="pods become ready within 5 s",
            sli="pod-start-latency",
            unit="s",
            comparator="lte",
            objective=5.0,
            observed=None,
            verdict=Verdict.INCONCLUSIVE,
            error_budget_consumed=None,
        ),
    ]


def synthetic_matrix(*, leaks: int = 1) -> list[MatrixCell]:
    pods = [f"{t}/{p}" for t in TENANTS for p in PODS] + ["gauntlet-probe/outsider-0"]
    cells: list[MatrixCell] = []
    planted = 0
    for src in pods:
        for dst in pods:
            if dst == src or dst.startswith("gauntlet-probe"):
                continue
            for port, proto in ((8080, "TCP"), (9090, "TCP"), (5353, "UDP")):
                if port == 9090 and not dst.endswith("api-0"):
                    continue
                same = src.split("/")[0] == dst.split("/")[0]
                expected = same or (
                    src == "team-beta/client-0" and dst == "team-alpha/api-0" and port == 8080
                )
                observed: Observed = "pass"
                if not expected and planted < leaks and src.startswith("team-gamma/worker"):
                    observed, planted = "leak", planted + 1
                elif expected and src == "team-alpha/worker-0" and dst.endswith("api-0"):
                    observed = "blocked" if port == 9090 else "pass"
                elif src.startswith("gauntlet-probe") and port == 5353:
                    observed = "inconclusive"
                cells.append(
                    MatrixCell(
                        src=src,
                        dst=dst,
                        port=port,
                        protocol=proto,
                        expected=expected,
                        observed=observed,
                    )
                )
    return cells


def synthetic_tenants() -> list[TenantResources]:
    return [
        TenantResources(
            namespace=t,
            pods=3 + i,
            requests_cpu_m=300.0 * (i + 1),
            requests_memory_mib=256.0 * (i + 2),
            limits_cpu_m=600.0 * (i + 1),
            limits_memory_mib=512.0 * (i + 2),
        )
        for i, t in enumerate(TENANTS)
    ]


def synthetic_checks(count: int, *, leaks: int, seed: int = 0) -> list[Check]:
    rng = random.Random(seed)
    out: list[Check] = []
    for i in range(count):
        suite = _SUITES[i % len(_SUITES)]
        verdict = Verdict.PASS
        message = ""
        evidence: list[Evidence] = []
        if i == 0 and leaks:
            verdict = Verdict.FAIL
            message = f"{leaks} leak(s): team-gamma/worker-0 reached a denied destination"
            evidence = [
                Evidence(
                    kind="matrix",
                    title="expected / observed / diff",
                    content="                 alpha/api:8080  beta/api:8080\n"
                    "gamma/worker-0   .               L\n"
                    "legend: . as expected, L leak (denied but reached), B blocked",
                )
            ]
        elif i == 1:
            verdict = Verdict.INCONCLUSIVE
            message = "probe timed out and no positive control reached an allowed destination"
        elif i % 17 == 5:
            verdict = Verdict.SKIP
            message = "not in the smoke profile"
        out.append(
            Check(
                suite=suite,
                id=f"{suite}/check-{i:03d}",
                title=f"{suite} claim number {i}",
                verdict=verdict,
                message=message,
                duration_s=round(rng.uniform(0.01, 1.5), 3),
                evidence=evidence,
                counts={"cells": 24, "mismatches": leaks if i == 0 else 0},
            )
        )
    return out


def synthetic_scorecard(
    *,
    duration_s: int = 60,
    rps: int = 100,
    checks: int = 40,
    seed: int = 0,
    extra_latency_ms: float = 0.0,
    leaks: int = 1,
    distribution: str = "local-sandbox",
    run_id: str | None = None,
) -> Scorecard:
    """A whole run: checks (one failure with evidence when ``leaks``), SLOs, load, matrix,
    tenants."""
    load, ordered = synthetic_load(
        duration_s=duration_s, rps=rps, seed=seed, extra_latency_ms=extra_latency_ms
    )
    return build_scorecard(
        checks=synthetic_checks(checks, leaks=leaks, seed=seed),
        slos=synthetic_slos(load, ordered, leaks=leaks),
        target="local",
        profile="smoke",
        platform="fixtures/platform",
        distribution=Distribution(
            name=distribution,
            kubernetes_version="v1.30 (emulated)",
            cni="nftables",
            policy_engine="rego",
            policy_engine_version="regorus 0.2",
        ),
        started_at=T0,
        finished_at=T0 + timedelta(seconds=duration_s + 20),
        run_id=run_id or f"synthetic-{seed}",
        load=load,
        matrix=synthetic_matrix(leaks=leaks),
        tenants=synthetic_tenants(),
    )


__all__ = [
    "synthetic_checks",
    "synthetic_load",
    "synthetic_matrix",
    "synthetic_scorecard",
    "synthetic_slos",
    "synthetic_tenants",
]
