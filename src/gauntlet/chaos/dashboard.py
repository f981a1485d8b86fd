"""Live game-day dashboard: what a running chaos experiment is doing to the platform, right now.

Design notes:

- Fed only by ``ChaosSnapshot`` (about once a second, from ``run_chaos(on_snapshot=...)``), so it
  knows nothing about Chaos Toolkit, Locust or the target; ``render`` is a pure function of one
  snapshot and is what the tests look at.
- On a terminal a rich ``Live`` panel is redrawn in place, *transient*: when the experiment ends
  (or Ctrl-C unwinds through ``__exit__``) the panel is erased and one plain summary line stays,
  so the scrollback holds the outcome, not 300 stale frames. Off a terminal (CI logs) a status
  line goes through ``gauntlet.progress`` every ``LOG_EVERY_S`` and whenever the phase, the fault
  or the leak count changes, the moments a postmortem reader looks for.
- Both draw to the real stderr (``sys.__stderr__``), like ``gauntlet.load.live``, so the view
  shows while pytest captures output and stdout stays free for the command's result.
"""

from __future__ import annotations

import sys
from types import TracebackType

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from gauntlet import progress
from gauntlet.chaos.live import ChaosSnapshot
from gauntlet.report.scorecard import ChaosEvent

LOG_EVERY_S = 5.0
"""Seconds between status lines off a terminal (phase, fault and leak changes print at once)."""
EVENTS_SHOWN = 8
"""Timeline events listed under the numbers, most recent last."""

_EVENT_STYLE = {
    "fault-injected": "bold red",
    "fault-reverted": "cyan",
    "recovered": "bold green",
    "leak": "bold red",
    "safeguard": "bold yellow",
    "error": "red",
    "rollback": "magenta",
    "steady-state": "green",
}


def _clock(seconds: float) -> str:
    minutes, secs = divmod(max(0, int(seconds)), 60)
    return f"{minutes:d}:{secs:02d}"


def _steady(held: bool | None) -> Text:
    if held is None:
        return Text("unknown", style="yellow")
    return Text("holds", style="bold green") if held else Text("broken", style="bold red")


def _error_percent(snapshot: ChaosSnapshot) -> float:
    return 100.0 * snapshot.errors / snapshot.requests if snapshot.requests else 0.0


def _p95(snapshot: ChaosSnapshot) -> str:
    return "-" if snapshot.p95_ms is None else f"{snapshot.p95_ms:.1f} ms"


def describe(snapshot: ChaosSnapshot) -> str:
    """One plain line (CI logs, the summary left behind by the transient panel)."""
    left = "" if snapshot.time_left_s is None else f", {snapshot.time_left_s:.0f}s left"
    steady = {None: "unknown", True: "holds", False: "broken"}[snapshot.steady_state]
    return (
        f"chaos {snapshot.experiment} [{snapshot.phase}] {snapshot.elapsed_s:.1f}s{left}: "
        f"{snapshot.rps:.1f} req/s, {snapshot.errors} errors ({_error_percent(snapshot):.2f} %), "
        f"p95 {_p95(snapshot)}, steady state {steady}, "
        f"fault {'ACTIVE' if snapshot.fault_active else 'off'}, "
        f"{snapshot.leaks} leaks in {snapshot.isolation_rounds} isolation rounds"
    )


def _event_line(event: ChaosEvent) -> Text:
    line = Text(f"{event.t_s:7.2f}s ", style="dim")
    line.append(f"{event.kind:<15}", style=_EVENT_STYLE.get(event.kind, "blue"))
    line.append(event.message)
    return line


def render(snapshot: ChaosSnapshot) -> Panel:
    """The dashboard for one snapshot: the numbers in two columns, then the latest events."""
    numbers = Table.grid(padding=(0, 2))
    for _ in range(4):
        numbers.add_column()
    left = "unknown" if snapshot.time_left_s is None else _clock(snapshot.time_left_s)
    error_style = "bold red" if snapshot.errors else ""
    fault = Text("ACTIVE", style="bold red") if snapshot.fault_active else Text("off", "green")
    leaks = Text(str(snapshot.leaks), style="bold red" if snapshot.leaks else "green")
    rows: list[tuple[str, Text | str, str, Text | str]] = [
        (
            "phase",
            Text(snapshot.phase, style="bold"),
            "elapsed / left",
            f"{_clock(snapshot.elapsed_s)} / {left}",
        ),
        ("requests/s", f"{snapshot.rps:,.1f}", "requests", f"{snapshot.requests:,}"),
        (
            "errors",
            Text(f"{snapshot.errors:,}", style=error_style),
            "error %",
            Text(f"{_error_percent(snapshot):.2f} %", style=error_style),
        ),
        ("p95", _p95(snapshot), "steady state", _steady(snapshot.steady_state)),
        (
            "fault",
            fault,
            "isolation",
            Text.assemble(leaks, f" leaks in {snapshot.isolation_rounds} rounds"),
        ),
    ]
    for label_a, value_a, label_b, value_b in rows:
        numbers.add_row(Text(label_a, style="dim"), value_a, Text(label_b, style="dim"), value_b)
    events = snapshot.events[-EVENTS_SHOWN:]
    timeline = (
        Group(*(_event_line(e) for e in events)) if events else Text("no events yet", style="dim")
    )
    border = "red" if snapshot.leaks or snapshot.steady_state is False else "cyan"
    return Panel(
        Group(numbers, Text(""), Text("timeline", style="bold dim"), timeline),
        title=f"[bold]game day[/] · {snapshot.experiment}",
        title_align="left",
        border_style=border,
    )


class ChaosDashboard:
    """Use as a context manager around ``run_chaos`` and pass the instance as ``on_snapshot``."""

    def __init__(
        self, *, enabled: bool = True, tty: bool | None = None, console: Console | None = None
    ) -> None:
        self.enabled = enabled
        stream = sys.__stderr__
        self.tty = (stream is not None and stream.isatty()) if tty is None else tty
        self._console = console
        self._live: Live | None = None
        self._next_log_s = 0.0
        self._logged: tuple[str, bool, int] | None = None
        self.last: ChaosSnapshot | None = None

    def __enter__(self) -> ChaosDashboard:
        if self.enabled and self.tty:
            console = self._console or Console(file=sys.__stderr__, highlight=False)
            self._console = console
            self._live = Live(
                Text("game day starting"),
                console=console,
                transient=True,
                refresh_per_second=4,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._live.start()
        return self

    def __call__(self, snapshot: ChaosSnapshot) -> None:
        self.last = snapshot
        if not self.enabled:
            return
        if self._live is not None:
            self._live.update(render(snapshot))
            return
        state = (snapshot.phase, snapshot.fault_active, snapshot.leaks)
        if snapshot.elapsed_s >= self._next_log_s or state != self._logged:
            # progress.say takes rich markup: a title or phase in brackets must stay text.
            progress.say(escape(describe(snapshot)))
            self._next_log_s = snapshot.elapsed_s + LOG_EVERY_S
            self._logged = state

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._live is None:
            return
        self._live.stop()
        self._live = None
        if self.last is not None and self._console is not None:
            self._console.print(Text(describe(self.last), style="dim"), soft_wrap=True)


__all__ = ["EVENTS_SHOWN", "LOG_EVERY_S", "ChaosDashboard", "describe", "render"]
