"""Experiments under plain ``chaos run``: the activities attach to a sandbox left up by
``gauntlet up``.

``GAUNTLET_SANDBOX=<name>`` names the sandbox (``gauntlet up --name <name>``) and
``GAUNTLET_PLATFORM`` the blueprint it runs (default: the reference platform, as ``gauntlet up``
deploys). There is no load and no isolation prober then (``gauntlet gameday`` adds them), but the
faults, the probes and the recovery watcher are the same, and every fault still in place when
the ``chaos`` process exits is reverted.
"""

from __future__ import annotations

import atexit
import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from gauntlet.blueprint import load_blueprint
from gauntlet.blueprint.model import Blueprint
from gauntlet.blueprint.probes import with_outsider
from gauntlet.chaos.context import ChaosContext
from gauntlet.chaos.watch import RecoveryWatcher
from gauntlet.policy import normalize
from gauntlet.targets.base import TargetError

if TYPE_CHECKING:
    from gauntlet.targets.local.sandbox import LocalSandbox

SANDBOX_ENV = "GAUNTLET_SANDBOX"
PLATFORM_ENV = "GAUNTLET_PLATFORM"


def attach_sandbox(name: str, blueprint: Blueprint) -> LocalSandbox:
    """The harness side of a running sandbox (not ours to tear down)."""
    from gauntlet.targets.local.control_plane import LocalControlPlane
    from gauntlet.targets.local.plan import make_plan
    from gauntlet.targets.local.sandbox import LocalSandbox

    sandbox = LocalSandbox(sandbox_name=name)
    if not (sandbox.state_dir / "supervisor.sock").exists():
        raise TargetError(
            f"no sandbox {name!r} is up (no {sandbox.state_dir / 'supervisor.sock'}); "
            f"start one with `gauntlet up --name {name}`"
        )
    sandbox.attached = True
    sandbox.plan = make_plan(blueprint)
    sandbox.policies = normalize(blueprint, sandbox.plan.endpoints)
    sandbox.control = LocalControlPlane(blueprint)
    _, revision = sandbox.status()  # also learns every pod's control socket
    sandbox.revision = sandbox.applied_revision = revision
    return sandbox


def attached_context() -> ChaosContext | None:
    name = os.environ.get(SANDBOX_ENV, "").strip()
    if not name:
        return None
    from gauntlet.plugin import REFERENCE_PLATFORM

    platform = Path(os.environ.get(PLATFORM_ENV) or REFERENCE_PLATFORM)
    blueprint = with_outsider(load_blueprint(platform))
    sandbox = attach_sandbox(name, blueprint)
    ctx = ChaosContext(target=sandbox, blueprint=blueprint)
    watcher = RecoveryWatcher(ctx.target, clock=ctx, pods=[p.key for p in blueprint.pods()])
    watcher.start()
    ctx.watcher = watcher

    def release() -> None:
        with contextlib.suppress(TargetError):
            ctx.revert(reason="chaos run ended")
        watcher.stopped.set()

    atexit.register(release)
    return ctx
