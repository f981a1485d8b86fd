"""A fake kind/helm/kubectl for provisioning tests: records every argv, keeps just enough state
(clusters, the kube-system annotations, the constraints applied) to answer like the real tools."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import yaml

from gauntlet.targets.kind.runner import CommandResult


class FakeTools:
    def __init__(
        self,
        clusters: Sequence[str] = (),
        *,
        fail: tuple[str, int, str] | None = None,
        enforced: bool = True,
        create_delay_s: float = 0.0,
    ) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.clusters = list(clusters)
        self.annotations: dict[str, dict[str, str]] = {}
        self.fail = fail
        self.enforced = enforced
        self.create_delay_s = create_delay_s
        self.constraints: list[dict[str, object]] = []
        self._lock = threading.Lock()

    def commands(self, *prefix: str) -> list[tuple[str, ...]]:
        return [c for c in self.calls if c[: len(prefix)] == prefix]

    def __call__(self, argv: Sequence[str], *, timeout_s: float | None = None) -> CommandResult:
        args = tuple(argv)
        with self._lock:
            self.calls.append(args)
        ok = CommandResult(args, 0)
        if self.fail and self.fail[0] in " ".join(args):
            return CommandResult(args, self.fail[1], "", self.fail[2])
        if args[:3] == ("kind", "get", "clusters"):
            return CommandResult(args, 0, "".join(f"{c}\n" for c in self.clusters))
        if args[:3] == ("kind", "create", "cluster"):
            time.sleep(self.create_delay_s)
            self.clusters.append(args[args.index("--name") + 1])
            return ok
        if args[:3] == ("kind", "delete", "cluster"):
            name = args[args.index("--name") + 1]
            self.clusters.remove(name)
            self.annotations.pop(f"kind-{name}", None)
            return ok
        if args[0] == "kubectl":
            return self._kubectl(args, args[2])
        return ok

    def _kubectl(self, args: tuple[str, ...], context: str) -> CommandResult:
        rest = args[3:]
        if rest[:3] == ("annotate", "namespace", "kube-system"):
            pairs = dict(a.split("=", 1) for a in rest if "=" in a)
            self.annotations.setdefault(context, {}).update(pairs)
        elif rest[:3] == ("get", "namespace", "kube-system"):
            body = {
                "metadata": {"name": "kube-system", "annotations": self.annotations.get(context)}
            }
            return CommandResult(args, 0, json.dumps(body))
        elif rest[:1] == ("apply",):
            path = Path(rest[rest.index("-f") + 1])
            docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
            self.constraints += [
                d for d in docs if str(d["apiVersion"]).startswith("constraints.gatekeeper.sh/")
            ]
        elif rest[:2] == ("get", "constraints"):
            items = [
                {
                    **c,
                    "status": {
                        "byPod": [
                            {"id": "gatekeeper-audit-1", "enforced": True},
                            {"id": "gatekeeper-controller-manager-1", "enforced": self.enforced},
                        ]
                    },
                }
                for c in self.constraints
            ]
            return CommandResult(args, 0, json.dumps({"items": items}))
        return CommandResult(args, 0)
