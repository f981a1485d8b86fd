"""``report.html``: one self-contained page rendered from a ``Scorecard``.

Design notes:

- One file, no network: CSS is inline, plots are inline SVG built by ``gauntlet.report.charts``,
  and there is no JavaScript at all (collapsing uses ``<details>``, tooltips use SVG ``<title>``).
  It opens from a CI artifact, an e-mail or a laptop on a plane.
- Rendered only from the scorecard (like JUnit and JSON), so a ``scorecard.json`` read back from
  disk renders the same page; nothing here looks at pytest or the target.
- The order answers the questions people open a report with: did it pass and why (verdict, score
  and its formula), which SLOs burnt budget, how latency and errors moved during the load, where
  isolation leaked, what each tenant requests, and then every check, failures first.
- A section without data says so in words instead of drawing an empty plot: an empty axis reads as
  "zero", which is a claim the run never made.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from html import escape
from pathlib import Path

from gauntlet.exitcodes import ExitCode
from gauntlet.report import charts, fmt
from gauntlet.report.charts import Bars, Cell, Line, Phase
from gauntlet.report.scorecard import (
    Check,
    LoadReport,
    MatrixCell,
    Scorecard,
    SloResult,
    TenantResources,
    Verdict,
    atomic_write_text,
)

VERDICT_COLOR = {
    Verdict.PASS: "#16a34a",
    Verdict.FAIL: "#dc2626",
    Verdict.INCONCLUSIVE: "#d97706",
    Verdict.SKIP: "#6b7280",
}
_CHECK_ORDER = {Verdict.FAIL: 0, Verdict.INCONCLUSIVE: 1, Verdict.PASS: 2, Verdict.SKIP: 3}
P50, P95, P99 = "#2563eb", "#f59e0b", "#dc2626"
OK_REQUESTS, ERRORS = "#93c5fd", "#dc2626"

MATRIX_STYLE = {
    # (expected, observed) -> fill, mark, strong, legend text
    (True, "pass"): ("#4ade80", "", False, "allowed and reached"),
    (False, "pass"): ("#e5e7eb", "", False, "denied and blocked"),
    (False, "leak"): ("#dc2626", "L", True, "leak: denied but reached"),
    (True, "blocked"): ("#f97316", "B", True, "blocked: allowed but not reached"),
    (True, "inconclusive"): ("#fde68a", "?", False, "inconclusive"),
    (False, "inconclusive"): ("#fde68a", "?", False, "inconclusive"),
}

CSS = """
*{box-sizing:border-box}
body{margin:0;background:#f8fafc;color:#111827;font:14px/1.45 system-ui,-apple-system,'Segoe UI',
Roboto,sans-serif}
main{max-width:1180px;margin:0 auto;padding:24px}
header.top{display:flex;gap:24px;align-items:center;background:#fff;border:1px solid #e5e7eb;
border-radius:10px;padding:20px 24px}
header.top .meta{flex:1;min-width:0}
header.top svg.gauge{flex:0 0 auto}
h1{font-size:22px;margin:0 0 6px}
h2{font-size:18px;margin:0 0 12px}
h3{font-size:15px;margin:16px 0 8px}
section{background:#fff;border:1px solid #e5e7eb;border-radius:10px;padding:18px 22px;
margin-top:18px}
nav{margin:14px 0 0;display:flex;gap:14px;flex-wrap:wrap;font-size:13px}
nav a{color:#374151;text-decoration:none;border-bottom:1px dotted #9ca3af}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:8px 0 0;
font-size:13px}
dl.kv dt{color:#6b7280}
dl.kv dd{margin:0}
.pill{display:inline-block;padding:1px 8px;border-radius:999px;color:#fff;font-size:12px;
font-weight:600;text-transform:uppercase;letter-spacing:.02em;white-space:nowrap}
.badge{display:inline-block;padding:0 6px;border-radius:4px;background:#fee2e2;color:#991b1b;
font-size:11px;font-weight:600;margin-left:6px}
.big{font-size:20px;padding:4px 14px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #f1f5f9;vertical-align:middle}
th{color:#6b7280;font-weight:600;font-size:12px;border-bottom:1px solid #e5e7eb}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
pre{background:#f8fafc;border:1px solid #e5e7eb;border-radius:6px;padding:10px;overflow:auto;
font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;margin:6px 0}
pre.formula{background:#f1f5f9;margin-top:10px;white-space:pre-wrap;overflow-wrap:anywhere}
.empty{color:#6b7280;font-style:italic;margin:4px 0}
.muted{color:#6b7280;font-size:12px}
svg.chart{max-width:100%;height:auto;display:block;margin:6px 0}
svg.heatmap{max-width:none}
.scroll{overflow-x:auto}
.row{display:flex;gap:24px;flex-wrap:wrap}
.alert{display:inline-block;border-radius:4px;padding:0 6px;margin:1px 2px;font-size:12px;
border:1px solid #d1d5db;color:#374151;white-space:nowrap}
.alert.fired{background:#fee2e2;border-color:#fca5a5;color:#991b1b;font-weight:600}
.why{font-size:12px;color:#92400e}
.legend{display:flex;gap:14px;flex-wrap:wrap;font-size:12px;color:#374151;margin:6px 0}
.swatch{display:inline-block;width:12px;height:12px;border-radius:2px;vertical-align:-2px;
margin-right:4px;border:1px solid #d1d5db}
.stats{display:flex;gap:10px;flex-wrap:wrap;margin:6px 0 10px}
.stat{background:#f8fafc;border:1px solid #e5e7eb;border-radius:8px;padding:6px 12px;
min-width:96px}
.stat b{display:block;font-size:17px}
.stat>span{color:#6b7280;font-size:12px}
.check{border:1px solid #e5e7eb;border-left:4px solid #d1d5db;border-radius:6px;margin:6px 0;
padding:6px 10px}
.check.fail{border-left-color:#dc2626}
.check.inconclusive{border-left-color:#d97706}
.check.pass{border-left-color:#16a34a}
.check summary{cursor:pointer}
.check .id{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12.5px}
.check .msg{white-space:pre-wrap;margin:6px 0 0;color:#7f1d1d}
.check.inconclusive .msg{color:#78350f}
.check.skip .msg{color:#4b5563}
.passes{column-width:360px;column-gap:18px;font-size:12.5px}
.passes div{break-inside:avoid;padding:1px 0}
h4{font-size:13.5px;margin:14px 0 6px;color:#374151}
.exp{border-top:1px solid #e5e7eb;padding-top:14px;margin-top:14px}
.exp:first-of-type{border-top:0;margin-top:0;padding-top:0}
.exp h3{font-size:16px;margin:8px 0 4px}
.ev{display:inline-block;border-radius:4px;padding:0 6px;font-size:11.5px;font-weight:600;
color:#fff;white-space:nowrap}
.held{color:#15803d}
.broken{color:#b91c1c}
"""


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _pill(verdict: Verdict, *, big: bool = False) -> str:
    cls = "pill big" if big else "pill"
    return f'<span class="{cls}" style="background:{VERDICT_COLOR[verdict]}">{_e(verdict)}</span>'


def _empty(text: str) -> str:
    return f'<p class="empty">{_e(text)}</p>'


# --- header -------------------------------------------------------------------------------------


def _distribution(sc: Scorecard) -> str:
    d = sc.distribution
    parts = [d.name]
    if d.kubernetes_version:
        parts.append(f"Kubernetes {d.kubernetes_version}")
    if d.cni:
        parts.append(" ".join(p for p in (d.cni, d.cni_version) if p))
    if d.policy_engine:
        parts.append(" ".join(p for p in (d.policy_engine, d.policy_engine_version) if p))
    return " · ".join(parts)


def _exit_name(code: int) -> str:
    try:
        return ExitCode(code).name
    except ValueError:
        return "unknown"


def _header(sc: Scorecard) -> str:
    duration_s = (sc.finished_at - sc.started_at).total_seconds()
    min_score = f" (threshold {sc.min_score:g})" if sc.min_score is not None else ""
    formula = sc.score_formula or f"score = {sc.score:.2f} (no formula recorded in this scorecard)"
    return f"""<header class="top">
{charts.gauge(sc.score, color=VERDICT_COLOR[sc.verdict])}
<div class="meta">
<h1>Gauntlet run {_e(sc.run_id)} {_pill(sc.verdict, big=True)}</h1>
<div>{_e(_distribution(sc))}</div>
<dl class="kv">
<dt>target / profile</dt><dd>{_e(sc.target)} / {_e(sc.profile)}</dd>
<dt>platform</dt><dd>{_e(sc.platform)}</dd>
<dt>started</dt><dd>{_e(sc.started_at.isoformat(timespec="seconds"))}
 ({duration_s:.1f} s)</dd>
<dt>exit code</dt><dd>{sc.exit_code} ({_e(_exit_name(sc.exit_code))})</dd>
<dt>score</dt><dd>{sc.score:.2f} of 100{_e(min_score)}</dd>
</dl>
<pre class="formula">{_e(formula)}</pre>
<nav><a href="#suites">Suites</a><a href="#slos">SLOs</a><a href="#load">Load</a>
<a href="#chaos">Chaos</a><a href="#matrix">Isolation matrix</a><a href="#tenants">Tenants</a>
<a href="#checks">Checks</a></nav>
</div>
</header>"""


# --- suites -------------------------------------------------------------------------------------


def _suites(sc: Scorecard) -> str:
    if not sc.suites:
        return f'<section id="suites"><h2>Suites</h2>{_empty("No check ran.")}</section>'
    rows = []
    for name, s in sc.suites.items():
        bar = charts.stacked_bar(
            [
                ("failed", s.failed, VERDICT_COLOR[Verdict.FAIL]),
                ("inconclusive", s.inconclusive, VERDICT_COLOR[Verdict.INCONCLUSIVE]),
                ("passed", s.passed, VERDICT_COLOR[Verdict.PASS]),
                ("skipped", s.skipped, "#d1d5db"),
            ]
        )
        rows.append(
            f"<tr><td><b>{_e(name)}</b></td><td class=num>{s.passed}</td>"
            f"<td class=num>{s.failed}</td><td class=num>{s.inconclusive}</td>"
            f"<td class=num>{s.skipped}</td><td>{bar}</td></tr>"
        )
    return (
        '<section id="suites"><h2>Suites</h2><table><tr><th>suite</th><th class=num>passed</th>'
        "<th class=num>failed</th><th class=num>inconclusive</th><th class=num>skipped</th>"
        f"<th>verdicts</th></tr>{''.join(rows)}</table></section>"
    )


# --- SLOs ---------------------------------------------------------------------------------------


def _alerts(slo: SloResult) -> str:
    if not slo.alerts:
        return '<span class="muted">none defined</span>'
    chips = []
    for a in slo.alerts:
        windows = f"{a.long_window_s:g} s / {a.short_window_s:g} s at {a.threshold:g}x"
        if a.fired:
            when = f"{a.first_fired_s:g} s" if a.first_fired_s is not None else "?"
            chips.append(
                f'<span class="alert fired" title="{_e(windows)}">{_e(a.name)}: fired at '
                f"{_e(when)}</span>"
            )
        else:
            chips.append(f'<span class="alert" title="{_e(windows)}">{_e(a.name)}: quiet</span>')
    return "".join(chips)


def _slos(sc: Scorecard) -> str:
    if not sc.slos:
        empty = _empty("No SLO was evaluated in this run.")
        return f'<section id="slos"><h2>SLOs</h2>{empty}</section>'
    rows = []
    for slo in sc.slos:
        critical = '<span class="badge">critical</span>' if slo.critical else ""
        description = f'<div class="muted">{_e(slo.description)}</div>' if slo.description else ""
        if slo.message:
            why = "why" if slo.verdict is not Verdict.PASS else "muted"
            description += f'<div class="{why}">{_e(slo.message)}</div>'
        burn = "-" if slo.peak_burn_rate is None else f"{slo.peak_burn_rate:.2f}x"
        where = " · ".join(p for p in (slo.sli, slo.window, slo.source) if p)
        rows.append(
            f"<tr><td>{_pill(slo.verdict)}</td><td><b>{_e(slo.name)}</b>{critical}{description}"
            f'<div class="muted">{_e(where)} · weight {slo.weight:g}</div></td>'
            f"<td class=num>{_e(fmt.objective(slo))}</td><td class=num>{_e(fmt.observed(slo))}</td>"
            f"<td>{charts.budget_bar(slo.error_budget_consumed)}</td>"
            f"<td class=num>{_e(burn)}</td><td>{_alerts(slo)}</td></tr>"
        )
    return (
        '<section id="slos"><h2>SLOs</h2><table><tr><th>verdict</th><th>SLO</th>'
        "<th class=num>objective</th><th class=num>observed</th><th>error budget</th>"
        f"<th class=num>peak burn rate</th><th>burn-rate alerts</th></tr>{''.join(rows)}</table>"
        '<p class="muted">Budget bars: the filled part is the error budget consumed, the light '
        "part what remains; a red bar is spent or overspent. Burn rate 1x spends exactly the "
        "budget over the window.</p></section>"
    )


# --- load ---------------------------------------------------------------------------------------


def _phases(load: LoadReport) -> list[Phase]:
    return [Phase(p.name, p.start_s, p.end_s) for p in load.phases]


def _tooltip(load: LoadReport, i: int, j: int) -> str:
    points = load.series[i:j]
    first, last = points[0], points[-1]
    span = f"t = {first.t_s:g} s" if len(points) == 1 else f"t = {first.t_s:g}-{last.t_s:g} s"
    requests = sum(p.requests for p in points)
    errors = sum(p.errors for p in points)
    phase = next((p.name for p in load.phases if p.start_s <= first.t_s < p.end_s), "")
    lines = [span + (f" ({phase})" if phase else ""), f"requests: {requests:,}  errors: {errors:,}"]
    if len(points) == 1:
        lines.append(
            f"p50 {fmt.ms(first.p50_ms)}  p95 {fmt.ms(first.p95_ms)}  p99 {fmt.ms(first.p99_ms)}"
        )
    else:
        worst = max((p.p99_ms for p in points if p.p99_ms is not None), default=None)
        lines.append(f"worst p99 {fmt.ms(worst)}")
    return "\n".join(lines)


def latency_svg(load: LoadReport) -> str | None:
    """p50/p95/p99 per second with the profile's phases; ``None`` without a series."""
    if not load.series:
        return None
    times = [p.t_s for p in load.series]
    return charts.time_chart(
        times=times,
        lines=[
            Line("p50", P50, [p.p50_ms for p in load.series]),
            Line("p95", P95, [p.p95_ms for p in load.series]),
            Line("p99", P99, [p.p99_ms for p in load.series], width=1.5),
        ],
        y_label="latency (ms)",
        title="latency percentiles per second",
        phases=_phases(load),
        tooltip=lambda i, j: _tooltip(load, i, j),
    )


def throughput_svg(load: LoadReport) -> str | None:
    """Requests per second (successful and failed, stacked) with phases; ``None`` without a
    series."""
    if not load.series:
        return None
    times = [p.t_s for p in load.series]
    errors = [float(p.errors) for p in load.series]
    return charts.time_chart(
        times=times,
        lines=[],
        stacked_areas=[
            Line(
                "successful requests/s", OK_REQUESTS, [p.requests - p.errors for p in load.series]
            ),
            Line("failed requests/s", "#fca5a5", errors),
        ],
        secondary=Line("errors/s (right axis)", ERRORS, errors, width=1.5),
        secondary_label="errors per second",
        y_label="requests per second",
        title="requests and errors per second",
        phases=_phases(load),
        tooltip=lambda i, j: _tooltip(load, i, j),
        height=260,
    )


def _stat(value: str, label: str) -> str:
    return f'<div class="stat"><b>{_e(value)}</b><span>{_e(label)}</span></div>'


def _counts_table(title: str, counts: dict[str, int]) -> str:
    if not counts:
        return ""
    rows = "".join(
        f"<tr><td>{_e(k)}</td><td class=num>{v:,}</td></tr>"
        for k, v in sorted(counts.items(), key=lambda kv: -kv[1])
    )
    return f"<div><h3>{_e(title)}</h3><table style='width:auto'>{rows}</table></div>"


def _load(sc: Scorecard) -> str:
    load = sc.load
    if load is None:
        return f'<section id="load"><h2>Load</h2>{_empty("No load ran in this run.")}</section>'
    lat = load.latency
    error_ratio = load.errors / load.requests if load.requests else 0.0
    stats = "".join(
        [
            _stat(f"{load.requests:,}", "requests"),
            _stat(f"{load.rps:,.0f}/s", "mean rate"),
            _stat(f"{load.errors:,} ({100 * error_ratio:.2f} %)", "errors"),
            _stat(fmt.ms(lat.p50_ms), "p50"),
            _stat(fmt.ms(lat.p95_ms), "p95"),
            _stat(fmt.ms(lat.p99_ms), "p99"),
            _stat(fmt.ms(lat.p999_ms), "p99.9"),
            _stat(fmt.ms(lat.max_ms), "max"),
            _stat(f"{load.duration_s:.0f} s", "duration"),
        ]
    )
    latency, throughput = latency_svg(load), throughput_svg(load)
    plots = (
        f"<h3>Latency percentiles over time</h3>{latency}"
        f"<h3>Requests and errors over time</h3>{throughput}"
        if latency and throughput
        else _empty("No per-second series was recorded, so there is nothing to plot over time.")
    )
    phases = ", ".join(f"{p.name} {p.start_s:.1f}-{p.end_s:.1f} s" for p in load.phases)
    return (
        f'<section id="load"><h2>Load</h2><div class="muted">profile <b>{_e(load.profile)}</b> '
        f"against {_e(load.entrypoint)}, started "
        f"{_e(load.started_at.isoformat(timespec='seconds'))}"
        f"{'; phases: ' + _e(phases) if phases else ''}. Percentiles are exact (HDR histogram, "
        f"mean {_e(fmt.ms(lat.mean_ms))} over {lat.count:,} requests, errors included).</div>"
        f'<div class="stats">{stats}</div>{plots}<div class="row">'
        f"{_counts_table('HTTP status', load.status_counts)}"
        f"{_counts_table('errors by kind', load.error_counts)}</div></section>"
    )


# --- chaos --------------------------------------------------------------------------------------


def _chaos(sc: Scorecard) -> str:
    # Imported here: the timeline module borrows this page's CSS and colours at import time.
    from gauntlet.report.timeline import chaos_section

    return chaos_section(sc.chaos)


# --- isolation matrix -----------------------------------------------------------------------------


def _column(dst: str, port: int, protocol: str) -> str:
    proto = "" if protocol.upper() == "TCP" else f"/{protocol}"
    return f"{dst}:{port}{proto}"


def matrix_svg(cells: Sequence[MatrixCell]) -> str | None:
    """The isolation matrix as a heatmap (rows: sources, columns: destination:port);
    ``None`` without cells."""
    if not cells:
        return None
    rows = sorted({c.src for c in cells})
    columns = sorted({(c.dst, c.port, c.protocol) for c in cells})
    col_labels = [_column(*column) for column in columns]
    grid: dict[tuple[str, str], Cell] = {}
    for c in cells:
        fill, mark, strong, meaning = MATRIX_STYLE[(c.expected, c.observed)]
        expected = "allow" if c.expected else "deny"
        grid[(c.src, _column(c.dst, c.port, c.protocol))] = Cell(
            fill=fill,
            mark=mark,
            strong=strong,
            tooltip=f"{c.src} → {c.dst}:{c.port}/{c.protocol}\nexpected {expected}; {meaning}",
        )
    return charts.heatmap(
        rows=rows,
        cols=col_labels,
        cells=grid,
        title="isolation matrix",
        row_axis="source pod",
        col_axis="destination pod:port",
    )


def _matrix(sc: Scorecard) -> str:
    svg = matrix_svg(sc.matrix)
    if svg is None:
        return (
            f'<section id="matrix"><h2>Isolation matrix</h2>'
            f"{_empty('No isolation matrix was published in this run.')}</section>"
        )
    tally: dict[tuple[bool, str], int] = {}
    for c in sc.matrix:
        tally[(c.expected, c.observed)] = tally.get((c.expected, c.observed), 0) + 1
    legend = []
    seen: set[str] = set()
    for fill, _mark, _strong, meaning in MATRIX_STYLE.values():
        if meaning in seen:
            continue
        seen.add(meaning)
        n = sum(v for k, v in tally.items() if MATRIX_STYLE[k][3] == meaning)
        legend.append(
            f'<span><span class="swatch" style="background:{fill}"></span>{_e(meaning)} '
            f"({n:,})</span>"
        )
    leaks = sum(1 for c in sc.matrix if c.observed == "leak")
    blocks = sum(1 for c in sc.matrix if c.observed == "blocked")
    headline = (
        f"<b style='color:#dc2626'>{leaks} leak(s), {blocks} blocked cell(s)</b>"
        if leaks or blocks
        else "<b style='color:#16a34a'>no leak, no blocked cell</b>"
    )
    return (
        f'<section id="matrix"><h2>Isolation matrix</h2><div>{len(sc.matrix):,} cells: {headline}'
        ". Hover a cell for source, destination and verdict.</div>"
        f'<div class="legend">{"".join(legend)}</div><div class="scroll">{svg}</div></section>'
    )


# --- tenants ------------------------------------------------------------------------------------


def tenants_svg(tenants: Sequence[TenantResources]) -> str | None:
    """CPU and memory requests vs limits per tenant namespace; ``None`` without tenants."""
    if not tenants:
        return None
    ordered = sorted(tenants, key=lambda t: t.namespace)
    cpu = ([t.requests_cpu_m for t in ordered], [t.limits_cpu_m for t in ordered])
    memory = ([t.requests_memory_mib for t in ordered], [t.limits_memory_mib for t in ordered])
    plots = [
        charts.hbar_chart(
            categories=[t.namespace for t in ordered],
            series=[
                Bars(f"{what} requests", dark, requests),
                Bars(f"{what} limits", light, limits),
            ],
            title=f"{what} per tenant",
            x_label=f"{what} ({unit_name})",
            unit=unit,
        )
        for what, (requests, limits), unit, unit_name, dark, light in (
            ("CPU", cpu, "m", "millicores", "#6366f1", "#c7d2fe"),
            ("memory", memory, "MiB", "MiB", "#0d9488", "#99f6e4"),
        )
    ]
    return f'<div class="row">{"".join(plots)}</div>'


def _tenants(sc: Scorecard) -> str:
    plots = tenants_svg(sc.tenants)
    if plots is None:
        return (
            f'<section id="tenants"><h2>Tenants: requested resources</h2>'
            f"{_empty('No per-tenant resources were published in this run.')}</section>"
        )
    rows = "".join(
        f"<tr><td>{_e(t.namespace)}</td><td class=num>{t.pods}</td>"
        f"<td class=num>{t.requests_cpu_m:g} m</td><td class=num>{t.limits_cpu_m:g} m</td>"
        f"<td class=num>{t.requests_memory_mib:g} MiB</td>"
        f"<td class=num>{t.limits_memory_mib:g} MiB</td></tr>"
        for t in sorted(sc.tenants, key=lambda t: t.namespace)
    )
    return (
        f'<section id="tenants"><h2>Tenants: requested resources</h2>{plots}'
        "<table><tr><th>namespace</th><th class=num>pods</th><th class=num>CPU requests</th>"
        "<th class=num>CPU limits</th><th class=num>memory requests</th>"
        f"<th class=num>memory limits</th></tr>{rows}</table></section>"
    )


# --- checks -------------------------------------------------------------------------------------


def _check(check: Check) -> str:
    counts = ", ".join(f"{k} {v:,}" for k, v in check.counts.items())
    evidence = "".join(
        f"<details{' open' if check.verdict is Verdict.FAIL else ''}><summary>{_e(e.title)} "
        f'<span class="muted">({_e(e.kind)})</span></summary><pre>{_e(e.content)}</pre></details>'
        for e in check.evidence
    )
    message = f'<div class="msg">{_e(check.message)}</div>' if check.message else ""
    return (
        f'<div class="check {check.verdict.value}">{_pill(check.verdict)} '
        f'<span class="id">{_e(check.id)}</span> <span class="muted">{_e(check.title)} · '
        f"{check.duration_s:.2f} s{' · ' + _e(counts) if counts else ''}</span>"
        f"{message}{evidence}</div>"
    )


def _checks(sc: Scorecard) -> str:
    if not sc.checks:
        return f'<section id="checks"><h2>Checks</h2>{_empty("No check ran.")}</section>'
    ordered = sorted(sc.checks, key=lambda c: (_CHECK_ORDER[c.verdict], c.suite, c.id))
    notable = [c for c in ordered if c.verdict in (Verdict.FAIL, Verdict.INCONCLUSIVE)]
    # Passes and skips with nothing to show collapse into a compact list; with evidence they keep
    # their card so the evidence stays one click away.
    plain = [c for c in ordered if c not in notable and not c.evidence and not c.message]
    cards = [c for c in ordered if c in notable or c not in plain]
    plain_list = "".join(
        f"<div>{_pill(c.verdict)} <span class='id'>{_e(c.id)}</span> "
        f"<span class='muted'>{c.duration_s:.2f} s</span></div>"
        for c in plain
    )
    passes = (
        f"<details><summary>{len(plain)} more checks without findings</summary>"
        f'<div class="passes">{plain_list}</div></details>'
        if plain
        else ""
    )
    return (
        f'<section id="checks"><h2>Checks</h2><div class="muted">{len(sc.checks)} checks, '
        "failures and inconclusive checks first; evidence is collapsible.</div>"
        f"{''.join(_check(c) for c in cards)}{passes}</section>"
    )


# --- page ---------------------------------------------------------------------------------------


def render_html(sc: Scorecard) -> str:
    """The whole ``report.html`` for ``sc``: one self-contained document."""
    title = f"Gauntlet {sc.verdict} · {sc.distribution.name} · {sc.run_id}"
    body = "\n".join(
        [
            _header(sc),
            _suites(sc),
            _slos(sc),
            _load(sc),
            _chaos(sc),
            _matrix(sc),
            _tenants(sc),
            _checks(sc),
        ]
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<meta name="generator" content="gauntlet ({_e(sc.schema_)})">'
        f"<title>{_e(title)}</title><style>{CSS}</style></head>\n<body><main>\n{body}\n"
        f'<p class="muted">Rendered from scorecard {_e(sc.run_id)} ({_e(sc.schema_)}).</p>'
        "</main></body></html>\n"
    )


def write_html(sc: Scorecard, path: str | os.PathLike[str]) -> None:
    """Write ``render_html(sc)`` to ``path`` atomically; parent folders are created."""
    atomic_write_text(Path(path), render_html(sc))


__all__ = [
    "latency_svg",
    "matrix_svg",
    "render_html",
    "tenants_svg",
    "throughput_svg",
    "write_html",
]
