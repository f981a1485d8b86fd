"""``gauntlet up --target kind`` / ``gauntlet down --target kind``: argparse in, exit code out.

Errors map onto the documented exit codes: a bad kind config or blueprint, missing tools, or
an existing cluster built from other pins is ``USAGE_ERROR`` (nothing ran); a step that failed
on the way is ``INCONCLUSIVE`` (the target errored).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from gauntlet.blueprint import BlueprintError
from gauntlet.exitcodes import ExitCode
from gauntlet.targets.kind.config import KindConfigError
from gauntlet.targets.kind.provision import (
    DEFAULT_NAME,
    ClusterMismatch,
    KindOptions,
    available_deployer,
    default_kind_config,
    down,
    ensure_cluster,
)
from gauntlet.targets.kind.runner import KindProvisionError, ToolsMissing
from gauntlet.targets.kind.versions import CILIUM_VERSION, GATEKEEPER_VERSION, KUBERNETES_VERSION


def add_up_options(parser: argparse.ArgumentParser) -> None:
    """The kind-only options of ``gauntlet up``."""
    kind = parser.add_argument_group("kind target (--target kind)")
    kind.add_argument(
        "--kind-config",
        default=None,
        help="kind cluster config (default: kind-configs/cilium-3node.yaml)",
    )
    kind.add_argument(
        "--kubernetes-version",
        default=KUBERNETES_VERSION,
        help=f"node image Kubernetes version (default: {KUBERNETES_VERSION})",
    )
    kind.add_argument(
        "--cilium-version",
        default=CILIUM_VERSION,
        help=f"Cilium chart version (default: {CILIUM_VERSION})",
    )
    kind.add_argument(
        "--gatekeeper-version",
        default=GATEKEEPER_VERSION,
        help=f"Gatekeeper chart version (default: {GATEKEEPER_VERSION})",
    )
    kind.add_argument(
        "--agent-image",
        default=None,
        help="name the probe agent's image gets on the nodes (a registry the blueprint trusts, "
        "e.g. registry.platform.example/library/python:3.12.8-slim-bookworm); loaded with "
        "kind load, pass the same to gauntlet run",
    )
    kind.add_argument(
        "--dry-run",
        action="store_true",
        help="print the plan (commands, values, manifests); run nothing",
    )
    kind.add_argument(
        "--recreate",
        action="store_true",
        help="delete an existing cluster built from another config/versions",
    )


def _err(message: str) -> None:
    print(f"gauntlet: {message}", file=sys.stderr)


def up_command(args: argparse.Namespace) -> int:
    name = args.name or DEFAULT_NAME
    options = KindOptions(
        name=name,
        kind_config=Path(args.kind_config) if args.kind_config else default_kind_config(),
        kubernetes_version=args.kubernetes_version,
        cilium_version=args.cilium_version,
        gatekeeper_version=args.gatekeeper_version,
        platform=args.platform,
        dry_run=args.dry_run,
        recreate=args.recreate,
        agent_image=args.agent_image,
    )
    started = time.monotonic()
    try:
        deployer = available_deployer(args.agent_image)
        if deployer is None and not args.dry_run:
            _err(
                "the Kubernetes driver is not installed: the cluster gets Cilium, Gatekeeper "
                "and the blueprint's policies; workloads are deployed by `gauntlet run`"
            )
        cluster = ensure_cluster(options, deployer=deployer)
    except (KindConfigError, BlueprintError, ToolsMissing, ClusterMismatch) as exc:
        # Found before anything ran: a configuration error, not a target error.
        _err(str(exc))
        return ExitCode.USAGE_ERROR
    except KindProvisionError as exc:
        _err(str(exc))
        return ExitCode.INCONCLUSIVE
    if args.dry_run:
        return ExitCode.OK
    how = "created" if cluster.created else "reused"
    print(
        f"gauntlet: kind cluster '{cluster.name}' ready ({how} in "
        f"{time.monotonic() - started:.0f}s); context {cluster.context}; "
        f"run: gauntlet run --target kind --context {cluster.context}; "
        f"remove: gauntlet down --target kind --name {cluster.name}"
    )
    return ExitCode.OK


def down_command(args: argparse.Namespace) -> int:
    try:
        removed = down(args.name)
    except ToolsMissing as exc:
        _err(str(exc))
        return ExitCode.USAGE_ERROR
    except KindProvisionError as exc:
        _err(str(exc))
        return ExitCode.INCONCLUSIVE
    if removed:
        print(f"gauntlet: deleted kind cluster {', '.join(removed)}")
    else:
        print("gauntlet: no gauntlet kind cluster to delete")
    return ExitCode.OK
