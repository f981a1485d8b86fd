"""L7 proxy latency benchmark (issue: Cilium L7). Run as root: python benchmarks/bench_l7.py

Goal: the sandbox's L7 proxy adds <= 1 ms to p50 latency at 1,000 requests/s, compared with the
same traffic without L7 rules, measured side by side in one run.

Setup: a sandbox with two pods in namespace ``bench``: ``api`` serves the sample application on
8080 and 8081; ``load`` may reach both, with an L7 rule (``GET /api/v1/health``) on 8080 only,
so 8080 goes through the proxy and 8081 does not. A load client runs inside the ``load`` pod's
network namespace and sends an open-loop (fixed schedule, coordinated-omission free: latency is
measured from each request's *scheduled* time) stream of ``GET /api/v1/health`` at the target
rate, alternating between the two ports request by request, over keep-alive connections. Both
series therefore share the same moments, CPU contention and kernel path; the only difference is
the proxy.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

from gauntlet.blueprint import load_blueprint
from gauntlet.targets.local.sandbox import LocalSandbox

BLUEPRINT = """
apiVersion: v1
kind: Namespace
metadata: {name: bench}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: bench}
spec:
  replicas: 1
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers:
        - name: app
          image: registry.example/bench/app:1.0.0
          ports:
            - {containerPort: 8080, name: http, protocol: TCP}
            - {containerPort: 8081, name: plain, protocol: TCP}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: load, namespace: bench}
spec:
  replicas: 1
  selector: {matchLabels: {app: load}}
  template:
    metadata: {labels: {app: load}}
    spec:
      containers:
        - name: app
          image: registry.example/bench/load:1.0.0
          ports: [{containerPort: 8080, name: http, protocol: TCP}]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: api-ingress, namespace: bench}
spec:
  endpointSelector: {matchLabels: {app: api}}
  ingress:
    - fromEndpoints: [{matchLabels: {app: load}}]
      toPorts:
        - ports: [{port: "8080", protocol: TCP}]
          rules:
            http:
              - {method: GET, path: /api/v1/health}
    - fromEndpoints: [{matchLabels: {app: load}}]
      toPorts:
        - ports: [{port: "8081", protocol: TCP}]
"""

# Runs inside the load pod's network namespace: stdlib only, prints one JSON line.
CLIENT = textwrap.dedent(
    r"""
    import asyncio, json, sys, time

    HOST, RATE, SECONDS = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    CONNS = int(sys.argv[4])
    PORTS = (8080, 8081)
    REQ = (f"GET /api/v1/health HTTP/1.1\r\nhost: {HOST}\r\nuser-agent: bench\r\n\r\n").encode()

    async def conn(port):
        return await asyncio.open_connection(HOST, port)

    async def one(pool, port, scheduled, out):
        reader, writer = pool.pop() if pool else await conn(port)
        writer.write(REQ)
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await reader.readexactly(length)
        out.append(((time.perf_counter() - scheduled) * 1000.0, int(head[9:12])))
        pool.append((reader, writer))

    async def main():
        pools = {p: [await conn(p) for _ in range(CONNS)] for p in PORTS}
        results = {p: [] for p in PORTS}
        for p in PORTS:  # warm-up
            for _ in range(50):
                await one(pools[p], p, time.perf_counter(), [])
        total = int(RATE * SECONDS)
        start = time.perf_counter() + 0.05
        tasks = []
        for i in range(total):
            scheduled = start + i / RATE
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            port = PORTS[i % 2]
            tasks.append(asyncio.ensure_future(one(pools[port], port, scheduled, results[port])))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
        by_port = {str(p): r for p, r in results.items()}
        print(json.dumps({"elapsed_s": elapsed, "results": by_port}))

    asyncio.run(main())
    """
)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def agent_pid(sandbox_name: str, pod: str) -> int:
    pattern = re.compile(rf"agent\.py serve --name {re.escape(pod)} --control \S*/{sandbox_name}/")
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if pattern.search(cmd):
                return int(entry.name)
    raise RuntimeError(f"no agent process for {pod}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=1000.0, help="requests/s, both ports")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--connections", type=int, default=8, help="keep-alive, per port")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()
    if os.geteuid() != 0 or shutil.which("nsenter") is None:
        sys.exit("bench_l7 runs the local sandbox: run it as root with nsenter installed")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "bench.yaml").write_text(BLUEPRINT)
        bp = load_blueprint(Path(tmp))
    name = f"bench-l7-{os.getpid()}"
    with LocalSandbox(sandbox_name=name) as sandbox:
        sandbox.deploy(bp)
        if not sandbox.wait_policy_converged(timeout_s=30):
            sys.exit("the sandbox did not converge")
        assert sandbox.plan is not None
        api_ip = sandbox.plan.ip_of()["bench/api-0"]
        pid = agent_pid(name, "bench/load-0")
        proc = subprocess.run(
            ["nsenter", "-t", str(pid), "-n", sys.executable, "-I", "-S", "-c", CLIENT,
             api_ip, str(args.rate), str(args.seconds), str(args.connections)],
            capture_output=True, text=True, timeout=args.seconds * 4 + 60, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            sys.exit(f"load client failed: {proc.stderr[-2000:]}")
        data = json.loads(proc.stdout)
        flows = sandbox.l7_flows()
    l7 = [ms for ms, status in data["results"]["8080"]]
    plain = [ms for ms, status in data["results"]["8081"]]
    bad = sum(1 for r in data["results"].values() for _, status in r if status != 200)
    achieved = (len(l7) + len(plain)) / data["elapsed_s"]
    figures: dict[str, Any] = {
        "target_rate": args.rate,
        "achieved_rate": round(achieved),
        "requests": len(l7) + len(plain),
        "non_200": bad,
        "proxied_requests_logged": sum(1 for f in flows if f.port == 8080),
    }
    for label, series in (("l7", l7), ("plain", plain)):
        for q in (50, 90, 99):
            figures[f"{label}_p{q}_ms"] = round(percentile(series, q), 3)
    figures["p50_overhead_ms"] = round(figures["l7_p50_ms"] - figures["plain_p50_ms"], 3)
    figures["goal_met"] = figures["p50_overhead_ms"] <= 1.0 and achieved >= 0.95 * args.rate
    print(
        f"L7 proxy overhead at {achieved:,.0f} req/s (target {args.rate:,.0f}), "
        f"{figures['requests']:,} requests, {bad} not 200:\n"
        f"  through the proxy (8080): p50 {figures['l7_p50_ms']:.3f} ms  "
        f"p90 {figures['l7_p90_ms']:.3f}  p99 {figures['l7_p99_ms']:.3f}\n"
        f"  no L7 rules     (8081): p50 {figures['plain_p50_ms']:.3f} ms  "
        f"p90 {figures['plain_p90_ms']:.3f}  p99 {figures['plain_p99_ms']:.3f}\n"
        f"  p50 overhead: {figures['p50_overhead_ms']:.3f} ms (goal <= 1 ms): "
        f"{'met' if figures['goal_met'] else 'NOT met'}"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
