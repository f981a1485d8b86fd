"""The chaos timeline: what each experiment did to load, steady state and isolation, second by
second, for the postmortem (``timeline.html`` of ``gauntlet gameday``, the chaos section of
``report.html``).

Design notes:

- Rendered only from ``ChaosExperimentReport`` objects (``chaos.json`` or ``Scorecard.chaos``),
  with the same charts, numbers and page style as ``report.html`` (``gauntlet.report.charts``,
  ``fmt``, ``html.CSS``), so a chaos experiment reads the same in both places.
- Per experiment, three strips share one time axis (seconds since the experiment started, the
  same ``x_max`` and margins): requests/errors per second, p95 per second, and a lane strip with
  the fault, one lane per leaking cell and the timeline events. The fault window is shaded red in
  all three and the recovery point (fault start + recovery time) is a green dashed line, so "when
  did it break, when did it come back, what leaked meanwhile" is one vertical glance.
- A fault that was never reverted is drawn to the end of the experiment and says so; a recovery
  that never happened is said in words, never drawn (no line is a claim nobody measured).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from html import escape
from pathlib import Path

from gauntlet.report import charts, fmt
from gauntlet.report.charts import Lane, LaneItem, Line, Marker, Phase
from gauntlet.report.html import CSS, ERRORS, OK_REQUESTS, P95, VERDICT_COLOR
from gauntlet.report.scorecard import (
    ChaosEvent,
    ChaosExperimentReport,
    ChaosWindow,
    IsolationLeak,
    Verdict,
    atomic_write_text,
)

FAULT_FILL, FAULT_ACCENT = "#fee2e2", "#b91c1c"
RECOVERY_COLOR = "#15803d"
LEAK_COLOR = "#dc2626"
EVENT_COLORS: dict[str, str] = {
    "phase": "#6366f1",
    "fault-injected": "#b91c1c",
    "fault-reverted": "#0891b2",
    "steady-state": "#0d9488",
    "recovered": RECOVERY_COLOR,
    "leak": LEAK_COLOR,
    "safeguard": "#d97706",
    "rollback": "#7c3aed",
    "error": "#991b1b",
    "note": "#6b7280",
}
X_LABEL = "time since experiment start (s)"


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _pill(verdict: Verdict) -> str:
    return f'<span class="pill" style="background:{VERDICT_COLOR[verdict]}">{_e(verdict)}</span>'


def _cell(leak: IsolationLeak) -> str:
    proto = "" if leak.protocol.upper() == "TCP" else f"/{leak.protocol}"
    return f"{leak.src} → {leak.dst}:{leak.port}{proto}"


def _fault_end_s(report: ChaosExperimentReport) -> float | None:
    if report.fault_start_s is None:
        return None
    return report.fault_end_s if report.fault_end_s is not None else report.duration_s


def _x_max(report: ChaosExperimentReport) -> float:
    ends = [report.duration_s, 1.0]
    if report.series:
        ends.append(report.series[-1].t_s + 1)
    ends += [leak.end_s for leak in report.leaks] + [ev.t_s for ev in report.events]
    return max(ends)


def _fault_name(report: ChaosExperimentReport) -> str:
    name = "fault" if report.fault_end_s is not None else "fault (never reverted)"
    return name + (": " + ", ".join(report.faults) if report.faults else "")


def _instantaneous(report: ChaosExperimentReport) -> bool:
    """A fault too short to shade (a pod kill is one signal): drawn as a moment instead."""
    start, end = report.fault_start_s, _fault_end_s(report)
    return start is not None and end is not None and end - start < _x_max(report) / 300


def _fault_phase(report: ChaosExperimentReport) -> list[Phase]:
    start, end = report.fault_start_s, _fault_end_s(report)
    if start is None or end is None or _instantaneous(report):
        return []
    return [Phase(_fault_name(report), start, end, FAULT_FILL, FAULT_ACCENT, closed=True)]


def _recovery_at_s(report: ChaosExperimentReport) -> float | None:
    if report.fault_start_s is None or report.recovery_time_s is None:
        return None
    return report.fault_start_s + report.recovery_time_s


def _resolution(report: ChaosExperimentReport) -> str:
    return f"± {report.recovery_resolution_s:.2g} s"


def _markers(report: ChaosExperimentReport) -> list[Marker]:
    out = []
    if _instantaneous(report) and report.fault_start_s is not None:
        at_s = report.fault_start_s
        tip = f"{_fault_name(report)} at t = {at_s:.2f} s (instantaneous)"
        out.append(Marker(_fault_name(report), at_s, FAULT_ACCENT, tooltip=tip, above=True))
    at = _recovery_at_s(report)
    if at is not None and report.recovery_time_s is not None:
        took = f"{report.recovery_time_s:.2f} s {_resolution(report)}"
        out.append(
            Marker(
                f"recovered +{report.recovery_time_s:.2f} s",
                at,
                RECOVERY_COLOR,
                tooltip=f"steady state held again at t = {at:.2f} s, {took} after the fault",
            )
        )
    return out


def _tooltip(report: ChaosExperimentReport, i: int, j: int) -> str:
    points = report.series[i:j]
    first, last = points[0], points[-1]
    span = f"t = {first.t_s:g} s" if len(points) == 1 else f"t = {first.t_s:g}-{last.t_s:g} s"
    start, end = report.fault_start_s, _fault_end_s(report)
    during = start is not None and end is not None and start <= first.t_s < end
    requests = sum(p.requests for p in points)
    errors = sum(p.errors for p in points)
    worst = max((p.p95_ms for p in points if p.p95_ms is not None), default=None)
    return (
        f"{span}{' (fault active)' if during else ''}\n"
        f"requests: {requests:,}  errors: {errors:,}\np95 {fmt.ms(worst)}"
    )


def throughput_svg(report: ChaosExperimentReport) -> str | None:
    """Requests per second (successful and failed, stacked), errors per second on the right axis,
    the fault window and the recovery point; ``None`` without a series."""
    if not report.series:
        return None
    errors = [float(p.errors) for p in report.series]
    return charts.time_chart(
        times=[p.t_s for p in report.series],
        lines=[],
        stacked_areas=[
            Line(
                "successful requests/s", OK_REQUESTS, [p.requests - p.errors for p in report.series]
            ),
            Line("failed requests/s", "#fca5a5", errors),
        ],
        secondary=Line("errors/s (right axis)", ERRORS, errors, width=1.5),
        secondary_label="errors per second",
        y_label="requests per second",
        title=f"{report.title}: requests and errors per second",
        phases=_fault_phase(report),
        markers=_markers(report),
        tooltip=lambda i, j: _tooltip(report, i, j),
        x_label=X_LABEL,
        x_max=_x_max(report),
        height=260,
    )


def latency_svg(report: ChaosExperimentReport) -> str | None:
    """p95 per second with the fault window; ``None`` when no second has a p95."""
    if not any(p.p95_ms is not None for p in report.series):
        return None
    return charts.time_chart(
        times=[p.t_s for p in report.series],
        lines=[Line("p95 latency", P95, [p.p95_ms for p in report.series])],
        y_label="p95 latency (ms)",
        title=f"{report.title}: p95 latency per second",
        phases=_fault_phase(report),
        markers=_markers(report),
        tooltip=lambda i, j: _tooltip(report, i, j),
        x_label=X_LABEL,
        x_max=_x_max(report),
        height=200,
    )


def _event_tooltip(ev: ChaosEvent) -> str:
    return f"t = {ev.t_s:.2f} s · {ev.kind}\n{ev.message}"


def lanes_svg(report: ChaosExperimentReport) -> str:
    """The fault, one red bar per leaking cell over the rounds that reached it, and the events
    as ticks with their message as tooltip."""
    start, end = report.fault_start_s, _fault_end_s(report)
    fault_items = []
    if start is not None and end is not None:
        what = " ".join(["fault", *report.faults])
        tip = f"{what} active {start:.2f}-{end:.2f} s"
        fault_items.append(LaneItem(start, end, FAULT_ACCENT, tip))
    lanes = [Lane("fault" if fault_items else "fault: none injected", fault_items)]
    for leak in sorted(report.leaks, key=lambda lk: (lk.start_s, _cell(lk))):
        lanes.append(
            Lane(
                f"leak {_cell(leak)}",
                [
                    LaneItem(
                        leak.start_s,
                        max(leak.end_s, leak.start_s),
                        LEAK_COLOR,
                        f"LEAK {_cell(leak)}: reached in {leak.rounds} probe round(s), "
                        f"{leak.start_s:.2f}-{leak.end_s:.2f} s"
                        f"{' (during the fault)' if leak.during_fault else ' (outside the fault)'}",
                    )
                ],
                name_color="#991b1b",
            )
        )
    lanes.append(
        Lane(
            "events",
            [
                LaneItem(ev.t_s, ev.t_s, EVENT_COLORS.get(ev.kind, "#6b7280"), _event_tooltip(ev))
                for ev in report.events
            ],
        )
    )
    return charts.lanes_chart(
        lanes=lanes,
        x_max=_x_max(report),
        title=f"{report.title}: fault, leaks and events",
        x_label=X_LABEL,
        phases=_fault_phase(report),
        markers=_markers(report),
    )


def _steady(value: bool | None) -> str:
    if value is None:
        return '<span class="muted">not run</span>'
    return '<span class="held">met</span>' if value else '<span class="broken">not met</span>'


def _recovery(report: ChaosExperimentReport) -> str:
    if report.fault_start_s is None:
        return '<span class="muted">no fault injected</span>'
    if report.recovery_time_s is None:
        return '<span class="broken">never recovered</span>'
    return (
        f"{report.recovery_time_s:.2f} s "
        f'<span class="muted">({_resolution(report)} resolution)</span>'
    )


def _windows(windows: Sequence[ChaosWindow]) -> str:
    if not windows:
        return '<p class="empty">No load windows were measured.</p>'
    rows = []
    for w in windows:
        ratio = f"{100 * w.errors / w.requests:.2f} %" if w.requests else "-"
        burn = "-" if w.peak_burn_rate is None else f"{w.peak_burn_rate:.2f}x"
        rows.append(
            f"<tr><td><b>{_e(w.name)}</b></td><td class=num>{w.start_s:.1f}-{w.end_s:.1f} s</td>"
            f"<td class=num>{w.requests:,}</td><td class=num>{w.errors:,} ({ratio})</td>"
            f"<td class=num>{_e(fmt.ms(w.p95_ms))}</td>"
            f"<td>{charts.budget_bar(w.error_budget_consumed)}</td><td class=num>{burn}</td></tr>"
        )
    return (
        "<table><tr><th>window</th><th class=num>span</th><th class=num>requests</th>"
        "<th class=num>errors</th><th class=num>p95</th><th>availability budget</th>"
        f"<th class=num>peak burn rate</th></tr>{''.join(rows)}</table>"
    )


def _leaks(leaks: Sequence[IsolationLeak], rounds: int) -> str:
    if not leaks:
        return (
            f'<p class="muted">No leak in {rounds} isolation probe round(s).</p>'
            if rounds
            else '<p class="empty">Isolation was not probed during this experiment.</p>'
        )
    rows = "".join(
        f"<tr><td><b>{_e(_cell(lk))}</b></td><td class=num>{lk.start_s:.2f} s</td>"
        f"<td class=num>{lk.end_s:.2f} s</td><td class=num>{lk.rounds}</td>"
        f"<td>{'yes' if lk.during_fault else 'no'}</td></tr>"
        for lk in sorted(leaks, key=lambda lk: (lk.start_s, _cell(lk)))
    )
    return (
        "<table><tr><th>leaking cell (denied by the blueprint, reached)</th>"
        "<th class=num>first reached</th><th class=num>last reached</th><th class=num>rounds</th>"
        f"<th>during the fault</th></tr>{rows}</table>"
    )


def _events(events: Sequence[ChaosEvent]) -> str:
    if not events:
        return '<p class="empty">No event was recorded.</p>'
    rows = "".join(
        f"<tr><td class=num>{ev.t_s:.2f} s</td><td><span class=ev "
        f'style="background:{EVENT_COLORS.get(ev.kind, "#6b7280")}">{_e(ev.kind)}</span></td>'
        f"<td>{_e(ev.message)}</td></tr>"
        for ev in sorted(events, key=lambda ev: ev.t_s)
    )
    return f"<table><tr><th class=num>t</th><th>event</th><th>what happened</th></tr>{rows}</table>"


def _stat(value: str, label: str) -> str:
    return f'<div class="stat"><b>{value}</b><span>{_e(label)}</span></div>'


def experiment_html(report: ChaosExperimentReport) -> str:
    """One experiment: verdict, key numbers, the three aligned strips, then the tables."""
    requests = sum(p.requests for p in report.series)
    errors = sum(p.errors for p in report.series)
    rollbacks = {None: "not run", True: "ok", False: "failed"}[report.rollbacks_ok]
    stats = "".join(
        [
            _stat(_steady(report.steady_state_before), "steady state before"),
            _stat(_steady(report.steady_state_after), "steady state after"),
            _stat(_recovery(report), "recovery time"),
            _stat(f"{len(report.leaks)}", f"leaks in {report.isolation_rounds} probe rounds"),
            _stat(f"{requests:,} / {errors:,}", "requests / errors"),
            _stat(f"{report.duration_s:.1f} s", "duration"),
            _stat(_e(rollbacks), "rollbacks"),
        ]
    )
    notes = []
    if report.aborted_by_safeguard:
        notes.append("aborted by the burn-rate safeguard")
    if report.deviated:
        notes.append("deviated from the steady-state hypothesis")
    if report.pod_start_latency_ms:
        worst = max(report.pod_start_latency_ms)
        notes.append(f"{len(report.pod_start_latency_ms)} pod restart(s), slowest {fmt.ms(worst)}")
    message = f'<div class="why">{_e(report.message)}</div>' if report.message else ""
    plots = [s for s in (throughput_svg(report), latency_svg(report)) if s is not None]
    load = (
        "".join(plots)
        if plots
        else '<p class="empty">No load was measured, so there is nothing to plot per second.</p>'
    )
    faults = ", ".join(report.faults) or "none"
    return (
        f'<div class="exp"><h3>{_pill(report.verdict)} {_e(report.title)}</h3>'
        f'<div class="muted">{_e(report.file)} · faults: {_e(faults)} · Chaos Toolkit status '
        f"<b>{_e(report.status)}</b> · started "
        f"{_e(report.started_at.isoformat(timespec='seconds'))}"
        f"{' · ' + _e('; '.join(notes)) if notes else ''}</div>{message}"
        f'<div class="stats">{stats}</div>{load}{lanes_svg(report)}'
        '<p class="muted">Red shading: the fault window (a red dashed line for an instantaneous '
        "fault); green dashed line: steady state held again; red bars: leaking cells over the "
        "probe rounds that reached them; ticks: events (hover for details).</p>"
        f"<h4>Windows</h4>{_windows(report.windows)}"
        f"<h4>Leaks</h4>{_leaks(report.leaks, report.isolation_rounds)}"
        f"<h4>Events</h4>{_events(report.events)}</div>"
    )


def chaos_section(reports: Sequence[ChaosExperimentReport]) -> str:
    """``<section id="chaos">`` with every experiment, or a sentence when none ran."""
    if not reports:
        return (
            '<section id="chaos"><h2>Chaos</h2>'
            '<p class="empty">No chaos experiment ran in this run.</p></section>'
        )
    tally = {v: sum(1 for r in reports if r.verdict is v) for v in Verdict}
    summary = ", ".join(f"{n} {v}" for v, n in tally.items() if n)
    return (
        f'<section id="chaos"><h2>Chaos</h2><div class="muted">{len(reports)} experiment(s): '
        f"{_e(summary)}</div>{''.join(experiment_html(r) for r in reports)}</section>"
    )


def render_timeline(reports: Sequence[ChaosExperimentReport], *, title: str = "") -> str:
    """A whole self-contained page (``timeline.html``) for one or more experiments."""
    heading = title or ("Game day: " + ", ".join(r.title for r in reports) if reports else "")
    heading = heading or "Game day"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="generator" content="gauntlet (chaos timeline)">'
        f"<title>{_e(heading)}</title><style>{CSS}</style></head>\n<body><main>\n"
        f'<header class="top"><div class="meta"><h1>{_e(heading)}</h1>'
        '<div class="muted">Timeline for the postmortem: load, steady state, faults and '
        "isolation leaks on one time axis per experiment.</div></div></header>\n"
        f"{chaos_section(reports)}\n</main></body></html>\n"
    )


def write_timeline(
    reports: Sequence[ChaosExperimentReport], path: str | os.PathLike[str], *, title: str = ""
) -> None:
    """Write ``render_timeline`` to ``path`` atomically; parent folders are created."""
    atomic_write_text(Path(path), render_timeline(reports, title=title))


__all__ = [
    "chaos_section",
    "experiment_html",
    "lanes_svg",
    "latency_svg",
    "render_timeline",
    "throughput_svg",
    "write_timeline",
]
