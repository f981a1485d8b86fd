"""Tests for gauntlet.report.timeline (the chaos timeline page and report.html's chaos section),
incl. a headless Chromium render."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from gauntlet.report.html import render_html
from gauntlet.report.scorecard import (
    ChaosEvent,
    ChaosExperimentReport,
    ChaosWindow,
    Distribution,
    IsolationLeak,
    SeriesPoint,
    Verdict,
    build_scorecard,
)
from gauntlet.report.timeline import (
    FAULT_ACCENT,
    FAULT_FILL,
    LEAK_COLOR,
    RECOVERY_COLOR,
    lanes_svg,
    latency_svg,
    render_timeline,
    throughput_svg,
    write_timeline,
)
from test_report_html import CHROMIUM, _chromium, _png_pixels

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SVG = "{http://www.w3.org/2000/svg}"


def _series(duration_s: int, fault: tuple[float, float]) -> list[SeriesPoint]:
    points = []
    for t in range(duration_s):
        in_fault = fault[0] <= t < fault[1]
        requests = 80 if in_fault else 100
        errors = 20 if in_fault else (1 if t % 7 == 0 else 0)
        points.append(
            SeriesPoint(
                t_s=t,
                requests=requests,
                errors=errors,
                p50_ms=2.0,
                p95_ms=180.0 if in_fault else 6.0 + t % 3,
                p99_ms=250.0 if in_fault else 12.0,
            )
        )
    return points


def experiment(**update: object) -> ChaosExperimentReport:
    """A pod-kill under load: fault 10-14 s, recovered 6.2 s after injection, one leak."""
    report = ChaosExperimentReport(
        title="api survives a pod kill",
        file="scenarios/chaos/pod-kill.yaml",
        faults=["pod-kill"],
        status="completed",
        steady_state_before=True,
        steady_state_after=True,
        deviated=False,
        verdict=Verdict.FAIL,
        message="isolation leaked during the fault: 1 cell",
        started_at=T0,
        duration_s=30.0,
        fault_start_s=10.0,
        fault_end_s=14.0,
        recovery_time_s=6.2,
        recovery_resolution_s=0.05,
        pod_start_latency_ms=[820.0, 1310.0],
        isolation_rounds=28,
        leaks=[
            IsolationLeak(
                src="team-beta/client-0",
                dst="team-alpha/api-0",
                port=8080,
                protocol="TCP",
                start_s=11.0,
                end_s=13.5,
                rounds=3,
                during_fault=True,
            )
        ],
        windows=[
            ChaosWindow(name="before", start_s=0, end_s=10, requests=1000, errors=2, p95_ms=7.5),
            ChaosWindow(
                name="fault",
                start_s=10,
                end_s=14,
                requests=320,
                errors=80,
                p95_ms=180.0,
                error_budget_consumed=2.5,
                peak_burn_rate=250.0,
            ),
            ChaosWindow(
                name="recovery",
                start_s=14,
                end_s=16.2,
                requests=200,
                errors=0,
                p95_ms=8.0,
                error_budget_consumed=0.0,
            ),
            ChaosWindow(name="after", start_s=16.2, end_s=30, requests=1380, errors=2),
        ],
        series=_series(30, (10, 14)),
        events=[
            ChaosEvent(t_s=0.0, kind="phase", message="steady-state hypothesis (before)"),
            ChaosEvent(t_s=1.2, kind="steady-state", message="before: met (3 probes)"),
            ChaosEvent(t_s=10.0, kind="fault-injected", message="pod-kill team-alpha/api-0"),
            ChaosEvent(t_s=11.0, kind="leak", message="team-beta/client-0 → team-alpha/api-0"),
            ChaosEvent(t_s=14.0, kind="fault-reverted", message="pod-kill reverted"),
            ChaosEvent(t_s=16.2, kind="recovered", message="steady state holds again"),
            ChaosEvent(t_s=29.0, kind="steady-state", message="after: met <ok> & done"),
        ],
        rollbacks_ok=True,
    )
    return report.model_copy(update=update)


def svgs(html: str) -> list[str]:
    return re.findall(r"<svg\b.*?</svg>", html, flags=re.S)


class _Balanced(HTMLParser):
    """Fails on a closing tag that does not match the open one (void elements excepted)."""

    VOID = frozenset({"meta", "br", "hr", "img", "input", "link"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: object) -> None:
        pass

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, (tag, self.stack[-5:])
        self.stack.pop()


def test_page_is_well_formed_and_self_contained() -> None:
    page = render_timeline([experiment()])
    parser = _Balanced()
    parser.feed(page)
    assert parser.stack == []
    for svg in svgs(page):
        ET.fromstring(svg)
    lowered = page.lower()
    for needle in ("<script", "<link", "<img", "url(", " src="):
        assert needle not in lowered


def test_fault_window_is_shaded_and_labelled_in_every_strip() -> None:
    report = experiment()
    for svg in (throughput_svg(report), latency_svg(report), lanes_svg(report)):
        assert svg is not None
        root = ET.fromstring(svg)
        shaded = [r for r in root.iter(f"{SVG}rect") if r.get("fill") == FAULT_FILL]
        assert len(shaded) == 1
        title = shaded[0].find(f"{SVG}title")
        assert title is not None and title.text == "fault: pod-kill: 10.0-14.0 s"
        labels = [t.text for t in root.iter(f"{SVG}text")]
        assert "fault: pod-kill" in labels


def test_recovery_point_is_marked_at_fault_start_plus_recovery_time() -> None:
    svg = throughput_svg(experiment())
    assert svg is not None
    root = ET.fromstring(svg)
    marker = next(
        g
        for g in root.iter(f"{SVG}g")
        if any(ln.get("stroke") == RECOVERY_COLOR for ln in g.iter(f"{SVG}line"))
    )
    text = marker.find(f"{SVG}text")
    assert text is not None and text.text == "recovered +6.20 s"
    title = marker.find(f"{SVG}title")
    assert title is not None and "t = 16.20 s" in (title.text or "")
    assert "± 0.05 s" in (title.text or "")
    # The line sits where t = 16.2 s is on the axis: x = 64 + plot_w * 16.2 / x_max (30 s).
    line = marker.find(f"{SVG}line")
    assert line is not None
    assert float(line.get("x1", "0")) == pytest.approx(64 + (1100 - 128) * 16.2 / 30, abs=0.1)


def test_leak_is_a_red_bar_over_its_span_with_the_cell_named() -> None:
    root = ET.fromstring(lanes_svg(experiment()))
    leak = next(
        g
        for g in root.iter(f"{SVG}g")
        if (rect := g.find(f"{SVG}rect")) is not None and rect.get("fill") == LEAK_COLOR
    )
    title = leak.find(f"{SVG}title")
    assert title is not None
    assert title.text == (
        "LEAK team-beta/client-0 → team-alpha/api-0:8080: reached in 3 probe round(s), "
        "11.00-13.50 s (during the fault)"
    )
    rect = leak.find(f"{SVG}rect")
    assert rect is not None
    plot_w = 1100 - 128
    assert float(rect.get("x", "0")) == pytest.approx(64 + plot_w * 11 / 30, abs=0.1)
    assert float(rect.get("width", "0")) == pytest.approx(plot_w * 2.5 / 30, abs=0.2)
    labels = [t.text for t in root.iter(f"{SVG}text")]
    assert "leak team-beta/client-0 → team-alpha/api-0:8080" in labels


def test_events_are_ticks_with_tooltips() -> None:
    root = ET.fromstring(lanes_svg(experiment()))
    titles = [t.text or "" for t in root.iter(f"{SVG}title")]
    assert "t = 10.00 s · fault-injected\npod-kill team-alpha/api-0" in titles
    assert "t = 29.00 s · steady-state\nafter: met <ok> & done" in titles
    ticks = [g for g in root.iter(f"{SVG}g") if len(g.findall(f"{SVG}line")) == 2]
    assert len(ticks) == len(experiment().events)


def test_tables_verdict_and_numbers() -> None:
    page = render_timeline([experiment()])
    assert '<span class="pill" style="background:#dc2626">fail</span>' in page
    assert "api survives a pod kill" in page
    assert "6.20 s" in page and "± 0.05 s resolution" in page
    for window in ("before", "fault", "recovery", "after"):
        assert f"<td><b>{window}</b></td>" in page
    assert "250.00x" in page  # the fault window's peak burn rate
    assert "> 1000 %" not in page and "250 % overspent" in page
    assert "180 ms" in page
    assert "<b>team-beta/client-0 → team-alpha/api-0:8080</b>" in page
    assert "after: met &lt;ok&gt; &amp; done" in page
    assert "isolation leaked during the fault: 1 cell" in page
    assert page.count('class="held"') == 2  # steady state before and after


def test_never_recovered_and_never_reverted_are_said_not_drawn() -> None:
    report = experiment(fault_end_s=None, recovery_time_s=None, steady_state_after=False)
    page = render_timeline([report])
    assert "never recovered" in page
    assert "not met" in page
    svg = throughput_svg(report)
    assert svg is not None
    assert "fault (never reverted): pod-kill" in svg
    assert RECOVERY_COLOR not in svg


def test_an_instantaneous_fault_is_a_moment_not_a_window() -> None:
    report = experiment(fault_end_s=10.0)  # a pod kill: one signal
    for svg in (throughput_svg(report), lanes_svg(report)):
        assert svg is not None
        root = ET.fromstring(svg)
        assert not [r for r in root.iter(f"{SVG}rect") if r.get("fill") == FAULT_FILL]
        marker = next(
            g
            for g in root.iter(f"{SVG}g")
            if any(ln.get("stroke") == FAULT_ACCENT for ln in g.iter(f"{SVG}line"))
            and g.find(f"{SVG}text") is not None
        )
        text = marker.find(f"{SVG}text")
        assert text is not None and text.text == "fault: pod-kill"
        title = marker.find(f"{SVG}title")
        assert title is not None and title.text == "fault: pod-kill at t = 10.00 s (instantaneous)"


def test_experiment_without_load_or_fault() -> None:
    report = experiment(
        series=[],
        windows=[],
        leaks=[],
        events=[],
        fault_start_s=None,
        fault_end_s=None,
        recovery_time_s=None,
        isolation_rounds=0,
        steady_state_before=None,
        steady_state_after=None,
        verdict=Verdict.INCONCLUSIVE,
    )
    assert throughput_svg(report) is None and latency_svg(report) is None
    page = render_timeline([report])
    for sentence in (
        "No load was measured",
        "No load windows were measured.",
        "Isolation was not probed during this experiment.",
        "No event was recorded.",
        "no fault injected",
        "fault: none injected",
    ):
        assert sentence in page
    assert [ET.fromstring(s).get("aria-label") for s in svgs(page)] == [
        "api survives a pod kill: fault, leaks and events"
    ]


def test_report_html_has_a_chaos_section() -> None:
    sc = build_scorecard(
        checks=[],
        slos=[],
        target="local",
        profile="smoke",
        platform="fixtures/platform",
        distribution=Distribution(name="local-sandbox"),
        started_at=T0,
        finished_at=T0 + timedelta(seconds=40),
    )
    assert "No chaos experiment ran in this run." in render_html(sc)
    html = render_html(sc.model_copy(update={"chaos": [experiment(), experiment(title="two")]}))
    chaos = html[html.index('<section id="chaos">') : html.index('<section id="matrix">')]
    assert "2 experiment(s): 2 fail" in chaos
    assert chaos.count("requests and errors per second") == 2
    assert '<a href="#chaos">Chaos</a>' in html


# --- headless Chromium ---------------------------------------------------------------------------


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_timeline_renders_in_headless_chromium(tmp_path: Path) -> None:
    page = tmp_path / "timeline.html"
    write_timeline([experiment()], page)
    shot = tmp_path / "timeline.png"

    result = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,1900", page.as_uri())

    assert shot.exists(), result.stderr.decode(errors="replace")[-2000:]
    width, height, pixels = _png_pixels(shot)
    assert (width, height) == (1280, 1900)
    assert shot.stat().st_size > 60_000
    assert len(set(pixels[::97])) > 32
    dom = _chromium(tmp_path, "--dump-dom", page.as_uri()).stdout.decode()
    for label in ("requests and errors per second", "p95 latency per second", "fault, leaks"):
        assert f"api survives a pod kill: {label}" in dom
