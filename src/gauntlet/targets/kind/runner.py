"""Running the external tools (kind, helm, kubectl): the one seam tests replace.

A ``Runner`` takes an argv and returns a ``CommandResult``; it never raises for a non-zero exit
(the caller decides what a failure means and words it). ``SubprocessRunner`` is the real one:
output is captured (so a failure can quote the tool's stderr tail) and, while a command runs
longer than a few seconds, a heartbeat line says what is still running, so a 4-minute
``kind create cluster`` never looks hung. Tests pass a fake that records argv and answers from
a script.

``missing_tools`` checks the host before anything runs: the error lists every missing tool at
once with its install page, not the first one only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

Progress = Callable[[str], None]
"""Where progress lines go (one line per call, no trailing newline)."""

HEARTBEAT_S = 20.0
"""Seconds between "still running" lines while one command runs."""

INSTALL_DOCS = {
    "kind": "https://kind.sigs.k8s.io/docs/user/quick-start/#installation",
    "helm": "https://helm.sh/docs/intro/install/",
    "kubectl": "https://kubernetes.io/docs/tasks/tools/#kubectl",
    "docker": "https://docs.docker.com/engine/install/",
    "podman": "https://podman.io/docs/installation",
}


class KindProvisionError(RuntimeError):
    """Provisioning (or tearing down) the kind cluster failed; the message says what and why."""


class ToolsMissing(KindProvisionError):
    """Required command-line tools are not on PATH; the message lists them with install docs."""

    def __init__(self, missing: Sequence[str]) -> None:
        self.missing = tuple(missing)
        lines = [f"  {tool}: {INSTALL_DOCS[tool]}" for tool in self.missing]
        super().__init__(
            f"the kind target needs {', '.join(self.missing)} on PATH (missing); install:\n"
            + "\n".join(lines)
            + "\n(`gauntlet up --target kind --dry-run` prints the plan without them)"
        )


def container_runtime() -> str:
    """The container CLI kind drives: docker, or podman/nerdctl when kind is told so."""
    return os.environ.get("KIND_EXPERIMENTAL_PROVIDER", "docker") or "docker"


def missing_tools(
    tools: Sequence[str], which: Callable[[str], str | None] = shutil.which
) -> list[str]:
    """The subset of ``tools`` not found on PATH, in the given order."""
    return [tool for tool in tools if which(tool) is None]


def require_tools(tools: Sequence[str], which: Callable[[str], str | None] = shutil.which) -> None:
    if missing := missing_tools(tools, which):
        raise ToolsMissing(missing)


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str = ""
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def stderr_tail(self, lines: int = 15) -> str:
        text = (self.stderr.strip() or self.stdout.strip()).splitlines()
        return "\n".join(f"    {line}" for line in text[-lines:])


class Runner(Protocol):
    """Runs one command to completion; returns its exit code and captured output."""

    def __call__(self, argv: Sequence[str], *, timeout_s: float | None = None) -> CommandResult: ...


def stderr_progress(line: str) -> None:
    print(f"gauntlet: {line}", file=sys.stderr, flush=True)


class SubprocessRunner:
    """The real runner: ``subprocess.run`` with captured output and a heartbeat."""

    def __init__(self, progress: Progress = stderr_progress, heartbeat_s: float = HEARTBEAT_S):
        self.progress = progress
        self.heartbeat_s = heartbeat_s

    def __call__(self, argv: Sequence[str], *, timeout_s: float | None = None) -> CommandResult:
        done = threading.Event()
        started = time.monotonic()
        label = " ".join(argv[:3])

        def heartbeat() -> None:
            while not done.wait(self.heartbeat_s):
                self.progress(f"  ... {label}: still running ({time.monotonic() - started:.0f}s)")

        beat = threading.Thread(target=heartbeat, daemon=True)
        beat.start()
        try:
            proc = subprocess.run(
                list(argv),
                capture_output=True,
                text=True,
                timeout=timeout_s,
                check=False,
                stdin=subprocess.DEVNULL,
            )
            return CommandResult(tuple(argv), proc.returncode, proc.stdout, proc.stderr)
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            return CommandResult(tuple(argv), 124, out, f"timed out after {timeout_s:.0f}s")
        except FileNotFoundError:
            return CommandResult(tuple(argv), 127, "", f"{argv[0]}: command not found")
        finally:
            done.set()
