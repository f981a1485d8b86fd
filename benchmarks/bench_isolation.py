"""Isolation benchmarks (issue: foundation). Run as root: python benchmarks/bench_isolation.py

1. Matrix: a scaled blueprint of 20 tenants x 3 pods x 2 ports (~7,200 probes, most denied and
   so waiting for their timeout), probed as Gauntlet does: one batch per source pod, all sources
   concurrently. Goal: the whole matrix in <= 10 s.
2. Upstream way: the same probes run one process per probe (nsenter into the source pod's
   network namespace + the agent's ``probe-one``), 15 in parallel, as netpol e2e/Cyclonus do with
   one ``kubectl exec`` per probe. A stratified sample is run and extrapolated to the full matrix
   (``--full`` runs everything: ~8 minutes). Goal: Gauntlet >= 20x faster.
3. Setup: 50 tenants x 4 pods deployed into a fresh sandbox. Goal: <= 30 s, RSS <= 30 MiB/pod.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from gauntlet.agent import AGENT_PATH
from gauntlet.blueprint import load_blueprint
from gauntlet.blueprint.scale import scaled_blueprint
from gauntlet.isolation import CellVerdict, probe_round
from gauntlet.oracle import compute_truth_table
from gauntlet.targets.local.sandbox import LocalSandbox

TIMEOUT_S = 1.0


def host_pid_of(pod_key: str) -> int:
    """Host PID of a pod's agent (the sandbox's own PIDs live in its pid namespace)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"serve" in argv and pod_key.encode() in argv:
            return int(proc.name)
    raise LookupError(pod_key)


def bench_matrix(sample: int, full: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        bp = load_blueprint(scaled_blueprint(Path(tmp), tenants=20, pods_per_tenant=3, ports=2))
    table = compute_truth_table(bp)
    cells = len(table.expectations)
    with LocalSandbox(sandbox_name="bench-matrix") as sb:
        sb.deploy(bp)
        assert sb.wait_policy_converged(timeout_s=30)
        t0 = time.monotonic()
        results = probe_round(sb, table, timeout_s=TIMEOUT_S)
        gauntlet_s = time.monotonic() - t0
        bad = sum(1 for c in results.values() if c.verdict is not CellVerdict.OK)
        print(
            f"matrix: {cells} probes ({table.allowed_count} allowed) in {gauntlet_s:.2f} s "
            f"[goal <= 10 s]; mismatches: {bad}"
        )
        exps = list(table.expectations)
        random.Random(7).shuffle(exps)
        chosen = exps if full else exps[:sample]
        pids = {ep.key: host_pid_of(ep.key) for ep in table.endpoints}
        ips = sb.plan.ip_of() if sb.plan else {}

        def one(e: object) -> None:
            cell = e.cell  # type: ignore[attr-defined]
            subprocess.run(
                [
                    "nsenter",
                    "-t",
                    str(pids[cell.src]),
                    "-n",
                    sys.executable,
                    "-I",
                    "-S",
                    str(AGENT_PATH),
                    "probe-one",
                    "--host",
                    ips[cell.dst],
                    "--port",
                    str(cell.port),
                    "--timeout",
                    str(TIMEOUT_S),
                ],
                check=True,
                capture_output=True,
            )

        t0 = time.monotonic()
        with ThreadPoolExecutor(max_workers=15) as pool:
            list(pool.map(one, chosen))
        upstream_sample_s = time.monotonic() - t0
    upstream_s = upstream_sample_s * cells / len(chosen)
    ratio = upstream_s / gauntlet_s
    how = "measured" if full else f"extrapolated from {len(chosen)} sampled probes"
    print(
        f"upstream way (1 process per probe, 15 parallel): {upstream_s:.0f} s ({how}); "
        f"ratio {ratio:.0f}x [goal >= 20x]"
    )
    return {"gauntlet_s": gauntlet_s, "upstream_s": upstream_s, "ratio": ratio}


def bench_setup() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        bp = load_blueprint(scaled_blueprint(Path(tmp), tenants=50, pods_per_tenant=4, ports=2))
    with LocalSandbox(sandbox_name="bench-setup") as sb:
        report = sb.deploy(bp)
        rss = [p.rss_bytes for p in report.pods if p.rss_bytes]
    mean_mib = sum(rss) / len(rss) / 2**20
    max_mib = max(rss) / 2**20
    print(
        f"setup: {len(report.pods)} pods in {report.duration_s:.1f} s [goal <= 30 s]; "
        f"RSS per pod mean {mean_mib:.1f} MiB, max {max_mib:.1f} MiB [goal <= 30 MiB]"
    )
    return {"setup_s": report.duration_s, "rss_mean_mib": mean_mib, "rss_max_mib": max_mib}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sample", type=int, default=450)
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--only", choices=("matrix", "setup"), default=None)
    args = parser.parse_args()
    ok = True
    if args.only in (None, "matrix"):
        m = bench_matrix(args.sample, args.full)
        ok &= m["gauntlet_s"] <= 10 and m["ratio"] >= 20
    if args.only in (None, "setup"):
        s = bench_setup()
        ok &= s["setup_s"] <= 30 and s["rss_max_mib"] <= 30
    print("all goals met" if ok else "SOME GOALS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
