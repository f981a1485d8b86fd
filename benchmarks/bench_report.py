"""Scoring and report generation for a 10-minute run at 1,000 req/s (goal: <= 5 s).

What is timed, in the order ``gauntlet run`` does it at the end of a load run:

1. the load report from the raw samples (exact percentiles, per-second series, HDR histogram):
   ``gauntlet.load.runner.build_report``;
2. SLO evaluation of the load SLOs in ``scenarios/slos`` over those samples (budgets, burn rates,
   alerts): ``gauntlet.slo.evaluate``;
3. the scorecard (score, formula, verdict) and ``scorecard.json`` written and read back;
4. ``report.html`` and ``junit.xml``.

The input is synthetic but shaped like a real run: 600 s x 1,000 req/s = 600,000 requests with
lognormal latencies (a 60 s spike at 2.5x), 0.05 % errors, four phases, 120 checks, a 12-pod
isolation matrix and 3 tenants. Generating it is not timed. ``gauntlet gate`` of the run against
itself (bootstrap from the stored histograms) is timed separately.

    python3 benchmarks/bench_report.py [--seconds 600] [--rps 1000] [--checks 120] [--repeat 3]
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gauntlet.load.protocol import Decoder
from gauntlet.load.runner import LoadRun, build_report
from gauntlet.report.gate import gate
from gauntlet.report.html import write_html
from gauntlet.report.junit import write_junit
from gauntlet.report.scorecard import (
    Distribution,
    build_scorecard,
    load_scorecard,
    write_scorecard,
)
from gauntlet.report.synthetic import synthetic_checks, synthetic_matrix, synthetic_tenants
from gauntlet.slo import Measurements, evaluate, load_specs

GOAL_S = 5.0


def synthetic_stream(*, seconds: int, rps: int, seed: int) -> Decoder:
    """A finished load stream as the harness receives it from the Locust child."""
    rng = random.Random(seed)
    decoder = Decoder()
    decoder.t0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC).timestamp()
    decoder.samples.names.append("GET /api/v1/items/[n]")
    decoder.samples.errors.append("HTTP 503")
    cuts = (0, seconds // 10, seconds * 6 // 10, seconds * 7 // 10)
    decoder.phases = [
        (float(c), name)
        for c, name in zip(cuts, ("warm-up", "steady", "spike", "recovery"), strict=True)
    ]
    mu = math.log(8000)
    append = decoder.samples.append
    for second in range(seconds):
        factor = 2.5 if cuts[2] <= second < cuts[3] else 1.0
        for i in range(rps):
            error = rng.random() < 0.0005
            append(
                done_us=second * 1_000_000 + i * (1_000_000 // rps),
                name_id=0,
                latency_us=int(rng.lognormvariate(mu, 0.45) * factor),
                status=503 if error else 200,
                error_id=0 if error else -1,
            )
    decoder.last_t_us = seconds * 1_000_000
    decoder.ended = "completed"
    return decoder


def one_round(decoder: Decoder, *, checks: int, out: Path) -> dict[str, float]:
    t: dict[str, float] = {}
    start = time.perf_counter()

    report = build_report(decoder, profile="steady", entrypoint="http://10.96.0.10:8080")
    run = LoadRun(report=report, samples=decoder.samples, ended="completed")
    t["load report (percentiles, series, HDR)"] = time.perf_counter() - start

    mark = time.perf_counter()
    slos = evaluate(
        load_specs(measurement="load"),
        Measurements(load=run),
        distribution="local-sandbox",
        window="load",
    )
    t["SLO evaluation"] = time.perf_counter() - mark

    mark = time.perf_counter()
    t0 = report.started_at
    sc = build_scorecard(
        checks=synthetic_checks(checks, leaks=1),
        slos=slos,
        target="local",
        profile="nightly",
        platform="fixtures/platform",
        distribution=Distribution(name="local-sandbox", cni="nftables"),
        started_at=t0 - timedelta(seconds=5),
        finished_at=t0 + timedelta(seconds=report.duration_s + 5),
        load=report,
        matrix=synthetic_matrix(leaks=1),
        tenants=synthetic_tenants(),
    )
    write_scorecard(sc, out / "scorecard.json")
    sc = load_scorecard(out / "scorecard.json")
    t["scorecard (score, JSON write + read)"] = time.perf_counter() - mark

    mark = time.perf_counter()
    write_html(sc, out / "report.html")
    write_junit(sc, out / "junit.xml")
    t["report.html + junit.xml"] = time.perf_counter() - mark
    t["total"] = time.perf_counter() - start

    mark = time.perf_counter()
    result = gate(sc, sc)
    t["gate, run vs itself (not in total)"] = time.perf_counter() - mark
    assert int(result.exit_code) == 0, result.lines()
    return t


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=600)
    parser.add_argument("--rps", type=int, default=1000)
    parser.add_argument("--checks", type=int, default=120)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    print(f"generating {args.seconds} s x {args.rps} req/s = {args.seconds * args.rps:,} requests")
    decoder = synthetic_stream(seconds=args.seconds, rps=args.rps, seed=0)
    rounds = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeat):
            rounds.append(one_round(decoder, checks=args.checks, out=Path(tmp)))
        sizes = {p.name: p.stat().st_size for p in Path(tmp).iterdir()}
    for step in rounds[0]:
        values = [r[step] for r in rounds]
        print(f"{step:<40} median {statistics.median(values):6.2f} s   (min {min(values):.2f} s)")
    print(
        "sizes: "
        + ", ".join(f"{name} {size / 1024:,.0f} KiB" for name, size in sorted(sizes.items()))
    )
    total = statistics.median(r["total"] for r in rounds)
    verdict = "OK" if total <= GOAL_S else "OVER"
    print(f"scoring + report generation: {total:.2f} s (goal <= {GOAL_S:g} s): {verdict}")
    return 0 if total <= GOAL_S else 1


if __name__ == "__main__":
    sys.exit(main())
