"""Live game-day dashboard: a panel on a terminal, status lines in CI logs, nothing when off."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from gauntlet import progress
from gauntlet.chaos.dashboard import EVENTS_SHOWN, LOG_EVERY_S, ChaosDashboard, describe, render
from gauntlet.chaos.live import ChaosSnapshot
from gauntlet.report.scorecard import ChaosEvent


def snapshot(elapsed_s: float = 12.0, **update: object) -> ChaosSnapshot:
    base: dict[str, object] = {
        "experiment": "api survives a pod kill",
        "phase": "method",
        "elapsed_s": elapsed_s,
        "time_left_s": 48.0,
        "rps": 412.5,
        "requests": 5000,
        "errors": 25,
        "p95_ms": 18.25,
        "steady_state": False,
        "fault_active": True,
        "leaks": 1,
        "isolation_rounds": 11,
        "events": (
            *(
                ChaosEvent(t_s=float(i), kind="note", message=f"event number {i}")
                for i in range(12)
            ),
            ChaosEvent(t_s=10.0, kind="fault-injected", message="pod-kill team-alpha/api-0"),
        ),
    }
    base.update(update)
    return ChaosSnapshot(**base)  # type: ignore[arg-type]


def _text(snap: ChaosSnapshot) -> str:
    console = Console(record=True, width=110, file=io.StringIO(), color_system=None)
    console.print(render(snap))
    return console.export_text()


def test_panel_shows_every_number() -> None:
    text = _text(snapshot())
    for needle in (
        "game day · api survives a pod kill",
        "method",
        "0:12 / 0:48",
        "412.5",
        "5,000",
        "25",
        "0.50 %",
        "18.2 ms",
        "broken",
        "ACTIVE",
        "1 leaks in 11 rounds",
        "pod-kill team-alpha/api-0",
    ):
        assert needle in text, needle


def test_panel_lists_only_the_latest_events() -> None:
    text = _text(snapshot())
    shown = [i for i in range(12) if f"event number {i}\n" in text or f"event number {i} " in text]
    # The last EVENTS_SHOWN events: 7 notes plus the fault injection.
    assert shown == list(range(12 - EVENTS_SHOWN + 1, 12))
    assert text.index("event number 11") < text.index("fault-injected")


def test_panel_unknowns_and_quiet_state() -> None:
    text = _text(
        snapshot(
            time_left_s=None,
            p95_ms=None,
            steady_state=None,
            fault_active=False,
            leaks=0,
            errors=0,
            requests=0,
            events=(),
        )
    )
    assert "0:12 / unknown" in text
    assert "p95" in text and " - " in text
    assert "unknown" in text and "off" in text
    assert "0 leaks in 11 rounds" in text
    assert "0.00 %" in text
    assert "no events yet" in text
    assert "holds" in _text(snapshot(steady_state=True))


def test_describe_is_one_plain_line() -> None:
    line = describe(snapshot())
    assert "\n" not in line
    assert line.startswith("chaos api survives a pod kill [method] 12.0s, 48s left: 412.5 req/s")
    assert "25 errors (0.50 %)" in line and "p95 18.2 ms" in line
    assert "steady state broken" in line and "fault ACTIVE" in line
    assert "1 leaks in 11 isolation rounds" in line
    assert "left" not in describe(snapshot(time_left_s=None))


def test_lines_off_a_terminal_every_few_seconds_and_on_changes(
    capfd: pytest.CaptureFixture[str],
) -> None:
    progress.enable(True)
    try:
        with ChaosDashboard(tty=False) as dashboard:
            for t in range(12):
                dashboard(snapshot(float(t), phase="method" if t < 7 else "rollback"))
    finally:
        progress.enable(False)
    logged = re.findall(r"\[(\w+)\] (\d+\.\d)s", capfd.readouterr().err)
    # t = 0 and 5 (every LOG_EVERY_S), 7 (phase change); 12 would be next.
    assert int(LOG_EVERY_S) == 5
    assert logged == [("method", "0.0"), ("method", "5.0"), ("rollback", "7.0")]
    assert dashboard.last is not None and dashboard.last.elapsed_s == 11.0


def test_live_panel_is_transient_and_leaves_a_summary() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100, color_system=None)
    with ChaosDashboard(tty=True, console=console) as dashboard:
        dashboard(snapshot())
    written = out.getvalue()
    assert "ACTIVE" in written  # the panel was drawn...
    assert written.rstrip().endswith(describe(snapshot()))  # ...and one line stays


def test_live_panel_stops_when_an_exception_unwinds() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100, color_system=None)
    dashboard = ChaosDashboard(tty=True, console=console)
    with pytest.raises(KeyboardInterrupt), dashboard:
        dashboard(snapshot())
        raise KeyboardInterrupt
    assert dashboard._live is None
    assert console._live_stack == []  # type: ignore[attr-defined]


def test_disabled_dashboard_prints_nothing(capfd: pytest.CaptureFixture[str]) -> None:
    with ChaosDashboard(enabled=False, tty=True) as dashboard:
        dashboard(snapshot())
    assert capfd.readouterr().err == ""
    assert dashboard.last is not None
