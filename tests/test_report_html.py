"""Tests for gauntlet.report.html (report.html) and its charts, incl. a headless Chromium render."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gauntlet.report import charts
from gauntlet.report.html import matrix_svg, render_html, write_html
from gauntlet.report.scorecard import (
    Check,
    Distribution,
    Evidence,
    Scorecard,
    Verdict,
    build_scorecard,
)
from gauntlet.report.synthetic import synthetic_scorecard

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
PLOTS = (
    "latency percentiles per second",
    "requests and errors per second",
    "isolation matrix",
    "CPU per tenant",
    "memory per tenant",
)


@pytest.fixture(scope="module")
def full() -> Scorecard:
    return synthetic_scorecard(duration_s=90, rps=50, checks=30)


@pytest.fixture(scope="module")
def page(full: Scorecard) -> str:
    return render_html(full)


def bare_scorecard(checks: list[Check]) -> Scorecard:
    return build_scorecard(
        checks=checks,
        slos=[],
        target="local",
        profile="smoke",
        platform="fixtures/platform",
        distribution=Distribution(name="local-sandbox"),
        started_at=T0,
        finished_at=T0 + timedelta(seconds=3),
    )


def svgs(html: str) -> list[str]:
    return re.findall(r"<svg\b.*?</svg>", html, flags=re.S)


def test_page_is_self_contained(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>")
    lowered = page.lower()
    for needle in ("<script", "<link", "<img", "<iframe", "@import", "url(", " src="):
        assert needle not in lowered, needle
    # The only URL on the page is the load entrypoint, as text.
    assert re.findall(r'(?:href|src)="https?://', page) == []


def test_every_plot_is_drawn_and_well_formed_svg(page: str) -> None:
    drawn = svgs(page)
    labels = [ET.fromstring(s).get("aria-label") for s in drawn]  # parses: well-formed XML
    for plot in PLOTS:
        assert plot in labels
    assert "score 6" in " ".join(str(label) for label in labels)  # the gauge
    assert labels.count("error budget") + labels.count("error budget unknown") == 5


def test_header_has_run_verdict_score_and_formula(full: Scorecard, page: str) -> None:
    assert full.run_id in page
    assert "local-sandbox · Kubernetes v1.30 (emulated) · nftables · rego regorus 0.2" in page
    assert ">fail</span>" in page
    assert f"{full.score:.2f} of 100" in page
    assert "score = 0.5 x conformance + 0.5 x slo" in page
    assert "1 (CONFORMANCE_FAILED)" in page


def test_slo_table(full: Scorecard, page: str) -> None:
    slos = page[page.index('id="slos"') : page.index('id="load"')]
    assert "≥ 99.9 %" in slos
    assert "≤ 50 ms" in slos
    for alert in (a for s in full.slos for a in s.alerts):
        if alert.fired:
            assert f"{alert.name}: fired at {alert.first_fired_s:g} s" in slos
    assert "ticket-slow: quiet" in slos
    assert "no data" in slos  # pod-start-latency has none: said, not drawn as zero
    assert "% overspent" in slos


def test_load_section_has_phases_and_tooltips(full: Scorecard, page: str) -> None:
    load = page[page.index('id="load"') : page.index('id="matrix"')]
    for phase in ("warm-up", "steady", "spike", "recovery"):
        assert f">{phase}</text>" in load
    assert "<title>t = 0 s (warm-up)\nrequests: 50  errors:" in load
    assert full.load is not None
    assert f"{full.load.requests:,}" in load
    assert "errors per second" in load


def test_matrix_heatmap_makes_leaks_and_blocks_stand_out(full: Scorecard) -> None:
    svg = matrix_svg(full.matrix)
    assert svg is not None
    root = ET.fromstring(svg)
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert texts.count("L") == 1
    assert texts.count("B") == 1
    titles = [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}title")]
    assert any(
        t.startswith("team-gamma/worker-0 → ") and "leak: denied but reached" in t for t in titles
    )
    # The outlined cells are exactly the leak and the block.
    outlined = [r for r in root.iter("{http://www.w3.org/2000/svg}rect") if r.get("stroke-width")]
    assert len(outlined) == 2


def test_checks_failures_first_with_collapsible_evidence(page: str) -> None:
    checks = page[page.index('id="checks"') :]
    failed = checks.index("isolation/check-000")
    inconclusive = checks.index("l7/check-001")
    first_pass = checks.index("policy/check-002")
    assert failed < inconclusive < first_pass
    assert "<details open><summary>expected / observed / diff" in checks
    assert "more checks without findings" in checks


def test_sections_without_data_say_so() -> None:
    html = render_html(
        bare_scorecard([Check(suite="s", id="s/a", title="a", verdict=Verdict.PASS)])
    )
    for sentence in (
        "No SLO was evaluated in this run.",
        "No load ran in this run.",
        "No isolation matrix was published in this run.",
        "No per-tenant resources were published in this run.",
    ):
        assert sentence in html
    assert [ET.fromstring(s).get("class") for s in svgs(html)] == ["gauge", "stacked"]


def test_empty_series_says_so(full: Scorecard) -> None:
    assert full.load is not None
    no_series = full.model_copy(update={"load": full.load.model_copy(update={"series": []})})
    html = render_html(no_series)
    assert "No per-second series was recorded" in html
    assert "latency percentiles per second" not in html


def test_text_is_escaped(tmp_path: Path) -> None:
    nasty = '<script>alert("x")</script> & é'
    check = Check(
        suite="l7",
        id=f"l7/{nasty}",
        title=nasty,
        verdict=Verdict.FAIL,
        message=nasty,
        evidence=[Evidence(kind="log", title=nasty, content=nasty)],
    )
    path = tmp_path / "out" / "report.html"
    write_html(bare_scorecard([check]), path)
    html = path.read_text(encoding="utf-8")
    assert "<script" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; é" in html


def test_nice_ticks() -> None:
    assert charts.nice_ticks(0, 83) == [0, 20, 40, 60, 80]
    assert charts.nice_ticks(0, 1) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert charts.nice_max(83) == 100
    assert charts.nice_max(0) == 1.0


def test_long_series_keep_hover_bands_bounded() -> None:
    sc = synthetic_scorecard(duration_s=1200, rps=2, checks=4)
    html = render_html(sc)
    latency = next(s for s in svgs(html) if "latency percentiles" in s)
    assert latency.count("<title>t = ") <= charts.MAX_HOVER_BANDS


# --- headless Chromium ---------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    assert CHROMIUM is not None
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--hide-scrollbars",
            f"--user-data-dir={tmp_path / 'profile'}",
            *args,
        ],
        capture_output=True,
        timeout=60,
        check=False,
    )


def _png_pixels(path: Path) -> tuple[int, int, bytes]:
    """Width, height and the decompressed scanlines of a PNG (no imaging library needed)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    width = height = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    return width, height, zlib.decompress(idat)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_report_renders_in_headless_chromium(tmp_path: Path, full: Scorecard) -> None:
    report = tmp_path / "report.html"
    write_html(full, report)
    shot = tmp_path / "shot.png"

    result = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1400,3000", report.as_uri())

    assert shot.exists(), result.stderr.decode(errors="replace")[-2000:]
    width, height, pixels = _png_pixels(shot)
    assert (width, height) == (1400, 3000)
    # A blank or error page compresses to almost nothing and has a handful of colours; the report
    # has text, plots and colour everywhere.
    assert shot.stat().st_size > 100_000
    assert len(set(pixels[::97])) > 64

    dom = _chromium(tmp_path, "--dump-dom", report.as_uri()).stdout.decode()
    for plot in PLOTS:
        assert f'aria-label="{plot}"' in dom
    assert dom.count("<svg") == len(svgs(render_html(full)))
