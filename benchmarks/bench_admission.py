"""Admission benchmarks (issue: guardrails). Run: python benchmarks/bench_admission.py

The reference policy library (fixtures/platform/policies/) evaluated by Gauntlet's Gatekeeper
engine on ONE core: this process and its Rego worker are both pinned to CPU 0, so the figure is
what one core delivers, IPC included.

1. Webhook throughput: a stream of tenant Pods and Deployments (about a third violating one
   guardrail or more) reviewed in batches, as ``review_many`` does for audit and fuzzing.
   Goal: >= 5,000 manifests/s.
2. Request by request: ``GatekeeperEngine.review`` one manifest per round trip (the latency a
   single ``admit`` pays for Gatekeeper).
3. Full chain: ``AdmissionChain.admit`` (RBAC, LimitRanger, Gatekeeper, ResourceQuota).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from pathlib import Path
from typing import Any

from gauntlet.admission.chain import AdmissionChain
from gauntlet.admission.gatekeeper import GatekeeperEngine
from gauntlet.blueprint import load_blueprint

REPO = Path(__file__).resolve().parents[1]
TENANTS = ("team-alpha", "team-beta", "team-gamma")
IMAGES = (
    "registry.platform.example/tenants/{team}/api:1.4.2",
    "registry.platform.example/tenants/{team}/api:latest",
    "registry.platform.example/tenants/{team}/api",
    "nginx:1.27.0",
    "registry.platform.example.evil.com/x:1.0",
)


def manifest(rng: random.Random, i: int) -> dict[str, Any]:
    team = rng.choice(TENANTS)
    violating = rng.random() < 0.33

    def container(name: str) -> dict[str, Any]:
        image = rng.choice(IMAGES) if violating else IMAGES[0]
        return {
            "name": name,
            "image": image.format(team=team),
            "resources": {
                "requests": {"cpu": "50m", "memory": "64Mi"},
                "limits": {"cpu": "100m", "memory": "128Mi"},
            },
            "securityContext": {
                "privileged": violating and rng.random() < 0.3,
                "readOnlyRootFilesystem": True,
            },
        }

    spec: dict[str, Any] = {
        "containers": [container(f"c{j}") for j in range(rng.randint(1, 3))],
        "initContainers": [container("init")] if rng.random() < 0.3 else [],
    }
    labels = {"app": f"app{i}", "team": team, "cost-center": "cc-1"}
    meta = {"name": f"w{i}", "namespace": team, "labels": labels}
    if rng.random() < 0.5:
        return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": f"app{i}"}},
            "template": {"metadata": {"labels": labels}, "spec": spec},
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--manifests", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()
    os.sched_setaffinity(0, {0})  # the Rego worker inherits the pinning
    bp = load_blueprint(REPO / "fixtures" / "platform")
    rng = random.Random(7)
    stream = [manifest(rng, i) for i in range(args.manifests)]
    figures: dict[str, Any] = {"constraints": 0, "manifests": len(stream)}

    with GatekeeperEngine.from_blueprint(bp) as engine:
        figures["constraints"] = len(engine.constraints)
        engine.review_many(stream[:200])  # warm-up: worker started, templates compiled
        start = time.perf_counter()
        violations = 0
        for i in range(0, len(stream), args.batch):
            for found in engine.review_many(stream[i : i + args.batch]):
                violations += bool(found)
        elapsed = time.perf_counter() - start
        figures["batched_per_s"] = round(len(stream) / elapsed)
        figures["violating_share"] = round(violations / len(stream), 3)
        sample = stream[:3000]
        start = time.perf_counter()
        for obj in sample:
            engine.review(obj)
        elapsed = time.perf_counter() - start
        figures["single_per_s"] = round(len(sample) / elapsed)
        figures["single_p50_us"] = round(elapsed / len(sample) * 1e6)

    chain = AdmissionChain.from_blueprint(bp)
    try:
        sample = stream[:3000]
        start = time.perf_counter()
        for obj in sample:
            team = obj["metadata"]["namespace"]
            chain.admit(obj, as_user=f"system:serviceaccount:{team}:{team}-deployer")
        elapsed = time.perf_counter() - start
        figures["chain_per_s"] = round(len(sample) / elapsed)
    finally:
        chain.close()

    print(
        f"reference library: {figures['constraints']} constraints, "
        f"{figures['manifests']} manifests ({figures['violating_share']:.0%} violating)\n"
        f"  batched review (one core):   {figures['batched_per_s']:>7,} manifests/s "
        f"(goal >= 5,000)\n"
        f"  one request per round trip:  {figures['single_per_s']:>7,} manifests/s "
        f"({figures['single_p50_us']} us each)\n"
        f"  full admission chain:        {figures['chain_per_s']:>7,} manifests/s"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
