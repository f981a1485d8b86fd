"""``gauntlet up --target kind`` / ``gauntlet down --target kind``: argparse in, exit code out.

Errors map onto the documented exit codes: a bad kind config or blueprint, missing tools, or
an existing cluster built from other pins is ``USAGE_ERROR`` (nothing ran); a step that failed
on the way is ``INCONCLUSIVE`` (the target errored).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Callable
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


def add_cluster_options(add: Callable[..., object]) -> None:
    """What the cluster is built from: the kind config and the pinned versions, which make its
    reuse hash. ``gauntlet up`` and ``gauntlet run --target kind`` (and the pytest plugin) take
    the same options, so a run reuses the cluster ``up`` made. ``add`` is an argparse group's
    ``add_argument`` or a pytest option group's ``addoption``."""
    add(
        "--kind-config",
        default=None,
        help="kind cluster config (default: kind-configs/cilium-3node.yaml)",
    )
    add(
        "--kubernetes-version",
        default=KUBERNETES_VERSION,
        help=f"node image Kubernetes version (default: {KUBERNETES_VERSION})",
    )
    add(
        "--cilium-version",
        default=CILIUM_VERSION,
        help=f"Cilium chart version (default: {CILIUM_VERSION})",
    )
    add(
        "--gatekeeper-version",
        default=GATEKEEPER_VERSION,
        help=f"Gatekeeper chart version (default: {GATEKEEPER_VERSION})",
    )


def add_up_options(parser: argparse.ArgumentParser) -> None:
    """The kind-only options of ``gauntlet up``."""
    kind = parser.add_argument_group("kind target (--target kind)")
    add_cluster_options(kind.add_argument)
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
        f"run: {run_command(options)}; "
        f"remove: gauntlet down --target kind --name {cluster.name}"
    )
    return ExitCode.OK


def run_command(options: KindOptions) -> str:
    """The ``gauntlet run`` that reuses the cluster ``options`` build: the options that differ
    from the defaults (a different name, config or version is a different cluster)."""
    default = KindOptions()
    argv = ["gauntlet", "run", "--target", "kind"]
    if options.name != default.name:
        argv += ["--name", options.name]
    if options.platform is not None:
        argv += ["--platform", str(options.platform)]
    if options.kind_config != default.kind_config:
        argv += ["--kind-config", str(options.kind_config)]
    for flag, value, pinned in (
        ("--kubernetes-version", options.kubernetes_version, default.kubernetes_version),
        ("--cilium-version", options.cilium_version, default.cilium_version),
        ("--gatekeeper-version", options.gatekeeper_version, default.gatekeeper_version),
    ):
        if value != pinned:
            argv += [flag, value]
    if options.agent_image:
        argv += ["--agent-image", options.agent_image]
    return shlex.join(argv)


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
