"""Allure results: attachments on each check's Allure test, plus SLO and run results at the end.

Design notes:

- allure-pytest owns the per-test results (``--alluredir``); Gauntlet only adds attachments to
  the test that is running (``attach_check``, called from the plugin where a check's record is
  assembled): each evidence block as text, the published isolation matrix as an SVG heatmap and
  as text, the load's latency and throughput plots as SVG, published SLOs as a table. Under
  pytest-xdist each worker attaches to its own tests, as allure-pytest expects.
- SLOs are not pytest tests, so at the end of the session (``write_run_results``) Gauntlet writes
  Allure results of its own from the scorecard, as JUnit does: one per SLO (suite ``slo``, failed
  when breached, skipped with an "inconclusive" message when there was no data), one "gauntlet
  run" result carrying the plots, the score formula and ``report.html``; plus Allure's
  ``environment.properties`` (distribution, versions) and ``categories.json`` (inconclusive is
  its own category, never mixed with deliberate skips).
- Everything is a no-op unless allure-pytest is installed *and* ``--alluredir`` was given.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gauntlet.report import fmt
from gauntlet.report.html import latency_svg, matrix_svg, tenants_svg, throughput_svg
from gauntlet.report.scorecard import (
    Check,
    LoadReport,
    MatrixCell,
    Scorecard,
    SloResult,
    TenantResources,
    Verdict,
)

SVG, TEXT, HTML = ("image/svg+xml", "svg"), ("text/plain", "txt"), ("text/html", "html")
_STATUS = {
    Verdict.PASS: "passed",
    Verdict.FAIL: "failed",
    Verdict.INCONCLUSIVE: "skipped",
    Verdict.SKIP: "skipped",
}


def alluredir(option: Any) -> Path | None:
    """The ``--alluredir`` of a pytest ``config.option``, or None when Allure is not in use."""
    value = getattr(option, "allure_report_dir", None)
    return Path(value) if value else None


def matrix_text(cells: Sequence[MatrixCell]) -> str:
    """The matrix as plain lines (what the SVG shows, for diffing and grepping)."""
    lines = ["source -> destination:port/protocol  expected  observed"]
    for c in sorted(cells, key=lambda c: (c.src, c.dst, c.port, c.protocol)):
        expected = "allow" if c.expected else "deny"
        lines.append(f"{c.src} -> {c.dst}:{c.port}/{c.protocol}  {expected}  {c.observed}")
    return "\n".join(lines)


def slo_table(slos: Sequence[SloResult]) -> str:
    rows = [
        f"{s.verdict.value:<12} {s.name} [{s.window}]: {fmt.observed(s)} "
        f"(objective {fmt.objective(s)}), budget {fmt.budget(s.error_budget_consumed)}"
        for s in slos
    ]
    return "\n".join(rows)


def _plots(
    load: LoadReport | None, matrix: Sequence[MatrixCell], tenants: Sequence[TenantResources]
) -> list[tuple[str, str, tuple[str, str]]]:
    """(title, body, (mime type, extension)) of every plot there is data for."""
    plots: list[tuple[str, str, tuple[str, str]]] = []
    if load is not None:
        for title, svg in (
            ("latency percentiles over time", latency_svg(load)),
            ("requests and errors over time", throughput_svg(load)),
        ):
            if svg:
                plots.append((title, svg, SVG))
    if (heatmap := matrix_svg(matrix)) is not None:
        plots.append(("isolation matrix", heatmap, SVG))
    if (bars := tenants_svg(tenants)) is not None:
        # Two SVG charts side by side: one small HTML page rather than a made-up wrapper SVG.
        plots.append(("requested resources per tenant", bars, HTML))
    return plots


def attach_check(
    check: Check,
    *,
    slos: Sequence[SloResult] = (),
    load: LoadReport | None = None,
    matrix: Sequence[MatrixCell] = (),
    tenants: Sequence[TenantResources] = (),
) -> None:
    """Attach a check's evidence and published results to the Allure test running now."""
    try:
        import allure
    except ImportError:
        return
    text = allure.attachment_type.TEXT
    for evidence in check.evidence:
        allure.attach(
            evidence.content, name=f"{evidence.title} ({evidence.kind})", attachment_type=text
        )
    if slos:
        allure.attach(slo_table(slos), name="SLOs", attachment_type=text)
    if matrix:
        allure.attach(matrix_text(matrix), name="isolation matrix (text)", attachment_type=text)
    for title, body, (mime, ext) in _plots(load, matrix, tenants):
        allure.attach(body, name=title, attachment_type=mime, extension=ext)


class _Writer:
    """Writes Allure result files the way allure-python's ``AllureFileLogger`` does."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def attachment(self, name: str, body: str, kind: tuple[str, str]) -> dict[str, str]:
        mime, ext = kind
        file_name = f"{uuid.uuid4()}-attachment.{ext}"
        (self.directory / file_name).write_text(body, encoding="utf-8")
        return {"name": name, "source": file_name, "type": mime}

    def result(self, data: dict[str, Any]) -> None:
        path = self.directory / f"{data['uuid']}-result.json"
        path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def _millis(sc: Scorecard) -> tuple[int, int]:
    return int(sc.started_at.timestamp() * 1000), int(sc.finished_at.timestamp() * 1000)


def _labels(suite: str, sc: Scorecard) -> list[dict[str, str]]:
    return [
        {"name": "parentSuite", "value": "gauntlet"},
        {"name": "suite", "value": suite},
        {"name": "framework", "value": "gauntlet"},
        {"name": "host", "value": sc.distribution.name},
    ]


def _slo_result(writer: _Writer, sc: Scorecard, slo: SloResult) -> None:
    label = slo.name if slo.window == "run" else f"{slo.name} [{slo.window}]"
    message = (
        f"{fmt.observed(slo)} vs objective {fmt.objective(slo)}; error budget consumed "
        f"{fmt.budget(slo.error_budget_consumed)}"
    )
    if slo.verdict is Verdict.INCONCLUSIVE:
        message = f"inconclusive: {message}"
    start, stop = _millis(sc)
    full_name = f"gauntlet.slo.{label}"
    writer.result(
        {
            "uuid": str(uuid.uuid4()),
            "historyId": full_name,
            "testCaseId": full_name,
            "fullName": full_name,
            "name": label,
            "description": slo.description,
            "status": _STATUS[slo.verdict],
            "statusDetails": {"message": message},
            "stage": "finished",
            "start": start,
            "stop": stop,
            "labels": _labels("slo", sc) + ([{"name": "tag", "value": "critical"}] * slo.critical),
            "parameters": [{"name": "window", "value": slo.window}],
            "attachments": [writer.attachment("SLO", slo_table([slo]), TEXT)],
        }
    )


def write_run_results(sc: Scorecard, directory: Path, *, report_html: Path | None = None) -> None:
    """Allure results for what is not a pytest test: the SLOs and the run as a whole."""
    writer = _Writer(directory)
    for slo in sc.slos:
        _slo_result(writer, sc, slo)
    attachments = [writer.attachment("score formula", sc.score_formula or f"{sc.score:.2f}", TEXT)]
    for title, body, kind in _plots(sc.load, sc.matrix, sc.tenants):
        attachments.append(writer.attachment(title, body, kind))
    if sc.slos:
        attachments.append(writer.attachment("SLOs", slo_table(sc.slos), TEXT))
    if report_html is not None and report_html.is_file():
        attachments.append(
            writer.attachment("report.html", report_html.read_text(encoding="utf-8"), HTML)
        )
    start, stop = _millis(sc)
    writer.result(
        {
            "uuid": str(uuid.uuid4()),
            "historyId": "gauntlet.run",
            "testCaseId": "gauntlet.run",
            "fullName": "gauntlet.run",
            "name": f"gauntlet run: score {sc.score:.1f}, {sc.verdict}",
            "status": _STATUS[sc.verdict],
            "statusDetails": {"message": sc.score_formula},
            "stage": "finished",
            "start": start,
            "stop": stop,
            "labels": _labels("run", sc),
            "attachments": attachments,
        }
    )
    d = sc.distribution
    environment = {
        "distribution": d.name,
        "kubernetes": d.kubernetes_version,
        "cni": " ".join(p for p in (d.cni, d.cni_version) if p) or None,
        "policy.engine": " ".join(p for p in (d.policy_engine, d.policy_engine_version) if p)
        or None,
        "target": sc.target,
        "profile": sc.profile,
        "platform": sc.platform,
        "run.id": sc.run_id,
        "score": f"{sc.score:.2f}",
    }
    (directory / "environment.properties").write_text(
        "".join(f"{k}={v}\n" for k, v in environment.items() if v), encoding="utf-8"
    )
    categories = [
        {
            "name": "Inconclusive (nothing proven)",
            "matchedStatuses": ["skipped"],
            "messageRegex": "(?si).*inconclusive.*",
        },
        {
            "name": "SLO breached",
            "matchedStatuses": ["failed"],
            "messageRegex": "(?s).*objective.*",
        },
        {"name": "Conformance failures", "matchedStatuses": ["failed"]},
    ]
    (directory / "categories.json").write_text(json.dumps(categories, indent=2), encoding="utf-8")


__all__ = ["alluredir", "attach_check", "matrix_text", "slo_table", "write_run_results"]
