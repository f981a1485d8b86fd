"""Progress lines on the terminal for long work (deploy, convergence, probing)."""

from __future__ import annotations

import sys

from rich.console import Console

_console: Console | None = None


def enable(enabled: bool = True) -> None:
    global _console
    # sys.__stderr__ bypasses pytest's capture, so phases show while fixtures run.
    _console = Console(file=sys.__stderr__, highlight=False) if enabled else None


def say(message: str) -> None:
    if _console is not None:
        _console.print(f"[bold cyan]gauntlet[/] {message}")
