"""The steps of a provisioning plan, and how a plan prints (``--dry-run``).

Four kinds of step, all plain data, so a plan can be asserted in tests and printed exactly:

- ``Run``: one command (argv). Readiness waits are commands too (``kubectl rollout status``,
  ``kubectl wait --for=condition=...``/``--for=jsonpath=...``): kubectl already implements
  watch-with-timeout against the API server, prints what it waited for, and the dry run shows
  the exact command a human would type to check the same thing.
- ``Poll``: a ``kubectl get -o json`` repeated until a Python check accepts the answer. Only
  for conditions ``kubectl wait`` cannot express: it refuses a JSONPath that yields several
  values, and "every ``status.byPod[]`` entry of every constraint says ``enforced: true``" is
  exactly that.
- ``WriteFile``: a values file or manifest written under the cluster's state directory before
  the command that reads it (the dry run prints it as a here-document, so the printed plan is
  a shell script one can read, diff, or run by hand).
- ``Deploy``: hand the blueprint's workloads to the Kubernetes driver (``KubernetesTarget
  .deploy``) through a callable injected by the caller; this module never imports the driver.

Each step belongs to a phase: ``cluster`` (kind, Cilium, Gatekeeper), ``agent`` (the probe
agent's image loaded into the nodes, with ``--agent-image``), ``blueprint`` (policies, objects,
workloads) or ``record`` (the reuse hashes stored on the cluster). A reused cluster re-runs
``agent`` (idempotent), and ``blueprint`` and ``record`` when its blueprint changed.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Phase = Literal["cluster", "agent", "blueprint", "record"]
Check = Callable[[str], str | None]
"""Reads a command's stdout; None when the condition holds, else what is still missing."""


@dataclass(frozen=True)
class Run:
    title: str
    argv: tuple[str, ...]
    phase: Phase = "cluster"
    timeout_s: float = 600.0

    def render(self) -> str:
        return shlex.join(self.argv)


@dataclass(frozen=True)
class Poll:
    title: str
    argv: tuple[str, ...]
    condition: str
    check: Check = field(compare=False, repr=False)
    phase: Phase = "blueprint"
    timeout_s: float = 300.0
    interval_s: float = 3.0

    def render(self) -> str:
        return (
            f"# poll every {self.interval_s:g}s for up to {self.timeout_s:g}s until "
            f"{self.condition}:\n# {shlex.join(self.argv)}"
        )


@dataclass(frozen=True)
class WriteFile:
    title: str
    path: Path
    content: str
    phase: Phase = "cluster"

    def render(self) -> str:
        body = self.content if self.content.endswith("\n") else self.content + "\n"
        return f"cat > {shlex.quote(str(self.path))} <<'EOF'\n{body}EOF"


@dataclass(frozen=True)
class Deploy:
    title: str
    platform: Path
    phase: Phase = "blueprint"

    def render(self) -> str:
        return (
            f"# KubernetesTarget.deploy(blueprint from {self.platform}): server-side apply of "
            "the workloads + Gauntlet's probe agents, waits for their pods (Python, no CLI)"
        )


Step = Run | Poll | WriteFile | Deploy


def render_steps(steps: list[Step] | tuple[Step, ...], *, start: int = 1) -> str:
    """Every step as a numbered comment line followed by what it does."""
    blocks = [f"# [{i}] {step.title}\n{step.render()}" for i, step in enumerate(steps, start)]
    return "\n\n".join(blocks)
