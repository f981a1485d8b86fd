"""Load runner overhead benchmark (issue 5). Run as root: python benchmarks/bench_load.py

Goal: harness-driven load (``gauntlet.load.run_load``: Locust as a library in a child process,
every request streamed back and kept) reaches >= 95 % of the requests/s of plain
``locust --headless`` with the same locustfile against the same sandbox service.

Setup: the reference blueprint in a sandbox; both generators run inside the ingress gateway
pod's network namespace (``Target.load_exec_prefix``) against ``team-alpha/api`` port 80 (the
Service VIP, two api pods behind the tenant's L7 proxy), with ``scenarios/load/steady.py``
in closed-loop mode (``GAUNTLET_LOAD_RPS_PER_USER=0``: each user sends its next request as soon
as the last one is answered) so the generators, not a pacing, set the rate. Requests/s for both
is completed requests over the same profile length (both are stopped by the same shape, at its
first tick after the duration).

Side by side (default, ``--mode together``): in each round the harness and plain Locust run *at
the same time*, each with its own users, so both see the same moments: the same CPU contention
from the service, from each other and from anything else on the machine. Runs one after the
other (``--mode alternate``) swing by +-25 % from round to round on the shared 2-core machine
(how the users' keep-alive connections split over the Service's two pods, other processes),
which drowns a 5 % difference. The figure is the median over the rounds of the per-round
ratio. Each round also reports each generator's CPU time per request (user + system of all
its processes: for the harness the Locust child *and* the harness process reading the stream),
an overhead figure that does not depend on the service.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from gauntlet.blueprint import load_blueprint
from gauntlet.blueprint.probes import with_outsider
from gauntlet.load.profiles import SCENARIOS_DIR
from gauntlet.load.runner import run_load
from gauntlet.load.service import load_service
from gauntlet.plugin import REFERENCE_PLATFORM
from gauntlet.targets.local.sandbox import LocalSandbox

LOCUSTFILE = SCENARIOS_DIR / "steady.py"
GOAL_RATIO = 0.95


def _cpu_s(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _plain_argv(prefix: list[str], url: str, csv_prefix: str) -> list[str]:
    return [
        *prefix,
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--only-summary",
        "--host",
        url,
        "--csv",
        csv_prefix,
    ]


class PlainLocust:
    """``locust --headless`` in the background; its own CPU time from wait4()."""

    def __init__(self, prefix: list[str], url: str, env: dict[str, str], users: int) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.csv_prefix = str(Path(self.tmp.name) / "plain")
        self.log = open(Path(self.tmp.name) / "log", "w+b")  # noqa: SIM115 - closed in result()
        self.proc = subprocess.Popen(
            _plain_argv(prefix, url, self.csv_prefix),
            env={**env, "GAUNTLET_LOAD_USERS": str(users)},
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=self.log,
        )

    def result(self, *, duration_s: float) -> tuple[dict[str, Any], float]:
        _, status, usage = os.wait4(self.proc.pid, 0)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        cpu_s = usage.ru_utime + usage.ru_stime
        try:
            if self.proc.returncode not in (0, 1):  # 1: some requests failed
                self.log.seek(0)
                tail = self.log.read().decode(errors="replace")[-2000:]
                raise RuntimeError(f"locust exited {self.proc.returncode}: {tail}")
            with open(f"{self.csv_prefix}_stats.csv", newline="") as f:
                total = next(r for r in csv.DictReader(f) if r["Name"] == "Aggregated")
        finally:
            self.log.close()
            self.tmp.cleanup()
        requests = int(total["Request Count"])
        return {
            "requests": requests,
            "failures": int(total["Failure Count"]),
            "rps": round(requests / duration_s, 1),
            "locust_rps": round(float(total["Requests/s"]), 1),
            "cpu_us_per_request": round(cpu_s / max(requests, 1) * 1e6, 1),
        }, cpu_s


def harness(prefix: list[str], url: str, *, duration_s: float, users: int) -> dict[str, Any]:
    run = run_load(LOCUSTFILE, url, duration_s=duration_s, users=users, exec_prefix=prefix)
    report = run.report
    return {
        "requests": report.requests,
        "failures": report.errors,
        "rps": round(report.requests / duration_s, 1),
        "report_rps": round(report.rps, 1),
        "p95_ms": report.latency.p95_ms,
        "samples": len(run.samples),
    }


def one_round(
    prefix: list[str], url: str, env: dict[str, str], args: argparse.Namespace
) -> dict[str, Any]:
    """One round: both generators together, or harness then plain."""
    children0 = _cpu_s(resource.RUSAGE_CHILDREN)
    self0 = _cpu_s(resource.RUSAGE_SELF)
    plain = PlainLocust(prefix, url, env, args.users) if args.mode == "together" else None
    h = harness(prefix, url, duration_s=args.duration, users=args.users)
    harness_cpu = _cpu_s(resource.RUSAGE_SELF) - self0
    if plain is None:
        harness_cpu += _cpu_s(resource.RUSAGE_CHILDREN) - children0
        plain = PlainLocust(prefix, url, env, args.users)
        p, _ = plain.result(duration_s=args.duration)
    else:
        p, plain_cpu = plain.result(duration_s=args.duration)
        harness_cpu += _cpu_s(resource.RUSAGE_CHILDREN) - children0 - plain_cpu
    h["cpu_us_per_request"] = round(harness_cpu / max(h["requests"], 1) * 1e6, 1)
    return {"harness": h, "plain": p}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per round")
    parser.add_argument("--users", type=int, default=50, help="users per generator")
    parser.add_argument("--mode", choices=("together", "alternate"), default="together")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per generator")
    parser.add_argument("--json", action="store_true", help="print only the JSON result")
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="sandbox on CPU 1, generators on CPU 0",
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("run as root (the sandbox's network namespaces)", file=sys.stderr)
        return 2

    bp = with_outsider(load_blueprint(REFERENCE_PLATFORM))
    svc = load_service(bp)
    env = dict(os.environ)
    env.update(
        GAUNTLET_LOAD_RPS_PER_USER="0",
        GAUNTLET_LOAD_USERS=str(args.users),
        GAUNTLET_LOAD_DURATION_S=f"{args.duration:g}",
    )
    rounds: list[dict[str, Any]] = []
    with LocalSandbox(sandbox_name=f"bench-load-{os.getpid()}") as sandbox:
        if args.pin:
            os.sched_setaffinity(0, {1})  # the supervisor and every pod inherit it
        sandbox.deploy(bp)
        if args.pin:
            os.sched_setaffinity(0, {0})  # the generators (and the harness) inherit this
        if not sandbox.wait_policy_converged(timeout_s=30):
            raise RuntimeError("policies did not converge")
        url = sandbox.load_entrypoint(svc.namespace, svc.service, port=svc.port)
        prefix = sandbox.load_exec_prefix()
        os.environ["GAUNTLET_LOAD_RPS_PER_USER"] = "0"  # the harness child inherits it
        for i in range(args.rounds):
            result = one_round(prefix, url, env, args)
            result["ratio"] = round(result["harness"]["rps"] / result["plain"]["rps"], 3)
            rounds.append(result)
            if not args.json:
                print(f"round {i + 1}: {json.dumps(result)}", flush=True)
    ratio = statistics.median(r["ratio"] for r in rounds)
    med = {name: statistics.median(r[name]["rps"] for r in rounds) for name in ("harness", "plain")}
    cpu = {
        name: statistics.median(r[name]["cpu_us_per_request"] for r in rounds)
        for name in ("harness", "plain")
    }
    out = {
        "service": f"{svc.key}:{svc.port}",
        "source": "ingress/ingress-gateway-0",
        "mode": args.mode,
        "users_each": args.users,
        "duration_s": args.duration,
        "pinned": args.pin,
        "rounds": rounds,
        "median_rps": med,
        "median_cpu_us_per_request": cpu,
        "ratio": ratio,
        "goal": GOAL_RATIO,
        "pass": ratio >= GOAL_RATIO,
    }
    print(json.dumps(out, indent=None if not args.json else 2))
    if not args.json:
        print(
            f"harness {med['harness']:.0f} req/s vs plain locust {med['plain']:.0f} req/s "
            f"(medians, {args.mode}); median ratio {ratio:.1%} (goal >= {GOAL_RATIO:.0%}); "
            "generator CPU per request "
            f"{cpu['harness']:.0f} us vs {cpu['plain']:.0f} us"
        )
    return 0 if ratio >= GOAL_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
