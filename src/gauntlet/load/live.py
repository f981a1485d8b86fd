"""Live progress of a load run on the terminal: requests/s, errors, p95, users, phase.

On a terminal one status line is redrawn every second (rich ``Live``, transient); elsewhere (CI
logs) ``gauntlet.progress`` prints a line every ``LOG_EVERY_S``. Both go to the real stderr so
they show while pytest captures output.
"""

from __future__ import annotations

import sys
from types import TracebackType

from rich.console import Console
from rich.live import Live
from rich.text import Text

from gauntlet import progress
from gauntlet.load.runner import LiveStats

LOG_EVERY_S = 5.0


def describe(stats: LiveStats) -> str:
    p95 = "-" if stats.p95_ms is None else f"{stats.p95_ms:.1f} ms"
    return (
        f"load {stats.phase} {stats.elapsed_s:5.1f}s: {stats.rps:7.1f} req/s, "
        f"{stats.requests} requests, {stats.errors} errors, p95 {p95}, {stats.users} users"
    )


class LiveProgress:
    """Use as a context manager around ``run_load`` and pass the instance as ``progress``."""

    def __init__(self, *, enabled: bool = True, tty: bool | None = None) -> None:
        self.enabled = enabled
        stream = sys.__stderr__
        self.tty = (stream is not None and stream.isatty()) if tty is None else tty
        self._live: Live | None = None
        self._next_log_s = 0.0
        self.last: LiveStats | None = None

    def __enter__(self) -> LiveProgress:
        if self.enabled and self.tty:
            console = Console(file=sys.__stderr__, highlight=False)
            self._live = Live(Text("load starting"), console=console, transient=True)
            self._live.start()
        return self

    def __call__(self, stats: LiveStats) -> None:
        self.last = stats
        if not self.enabled:
            return
        if self._live is not None:
            self._live.update(Text(describe(stats)))
        elif stats.elapsed_s >= self._next_log_s:
            progress.say(describe(stats))
            self._next_log_s = stats.elapsed_s + LOG_EVERY_S

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


__all__ = ["LiveProgress", "describe"]
