"""SLO specs: OpenSLO v1 files in ``scenarios/slos/`` resolved into what evaluation needs.

Design notes:

- A directory of YAML files (one or more documents each; a document may also be a list, as in
  OpenSLO's own examples) holds ``SLO``, ``SLI``, ``AlertPolicy`` and ``AlertCondition`` objects.
  References (``indicatorRef``, ``alertPolicyRef``, ``conditionRef``) resolve across the files;
  inline objects work too.
- Gauntlet's own settings live in ``metadata.annotations`` under ``gauntlet.io/`` so the files stay
  valid OpenSLO: ``critical``, ``weight`` and the per-distribution overrides
  ``target.<distribution>`` / ``value.<distribution>`` on an SLO, ``short-window`` on an alert
  condition, ``unit`` on an SLI. An unknown ``gauntlet.io/`` key is an error (a misspelt override
  would otherwise silently keep the default threshold).
- Every error is a ``SloSpecError`` naming the file, the object and the field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml
from pydantic import ValidationError

from gauntlet.errors import LocatedError
from gauntlet.slo import openslo as o

DEFAULT_SPEC_DIR = Path(__file__).resolve().parents[3] / "scenarios" / "slos"
"""The SLO specs shipped with Gauntlet (``scenarios/slos/``)."""

_PREFIX = "gauntlet.io/"

Measurement = Literal["load", "isolation", "admission", "pods", "chaos", "prometheus"]
"""Which measurement an SLO reads: the ``Measurements`` field, or a Prometheus server."""


@dataclass(frozen=True)
class GauntletMetric:
    """A measurement the harness makes itself (``metricSource.type: Gauntlet``)."""

    name: str
    measurement: Measurement
    role: Literal["total", "good", "bad", "value"]
    total: str
    """For ``good``/``bad`` metrics: the ``total`` metric they are a part of."""
    unit: str


def _metrics(*items: GauntletMetric) -> dict[str, GauntletMetric]:
    return {m.name: m for m in items}


GAUNTLET_METRICS = _metrics(
    # Availability counts a request as good when an HTTP answer below 500 came back: a 5xx, a
    # refused or reset connection and a timeout (status 0) are bad.
    GauntletMetric("load.requests", "load", "total", "load.requests", "ratio"),
    GauntletMetric("load.requests.available", "load", "good", "load.requests", "ratio"),
    GauntletMetric("load.requests.unavailable", "load", "bad", "load.requests", "ratio"),
    GauntletMetric("load.latency_ms", "load", "value", "load.latency_ms", "ms"),
    GauntletMetric(
        "isolation.denied_cells", "isolation", "total", "isolation.denied_cells", "ratio"
    ),
    GauntletMetric(
        "isolation.denied_cells.held", "isolation", "good", "isolation.denied_cells", "ratio"
    ),
    GauntletMetric(
        "isolation.denied_cells.leaked", "isolation", "bad", "isolation.denied_cells", "ratio"
    ),
    GauntletMetric("admission.decisions", "admission", "total", "admission.decisions", "ratio"),
    GauntletMetric(
        "admission.decisions.correct", "admission", "good", "admission.decisions", "ratio"
    ),
    GauntletMetric("admission.decisions.wrong", "admission", "bad", "admission.decisions", "ratio"),
    GauntletMetric("pods.start_latency_ms", "pods", "value", "pods.start_latency_ms", "ms"),
    GauntletMetric("chaos.recovery_s", "chaos", "value", "chaos.recovery_s", "s"),
)


_VALUE_METRICS = [m.name for m in GAUNTLET_METRICS.values() if m.role == "value"]


class SloSpecError(LocatedError):
    """An SLO spec Gauntlet cannot load; the message names file, object and field to change."""


@dataclass(frozen=True)
class Indicator:
    """A resolved SLI: what counts as an event and which events are good."""

    name: str
    description: str
    source: Literal["gauntlet", "prometheus"]
    kind: Literal["ratio", "threshold"]
    total: str
    """Ratio SLIs: the metric (Gauntlet) or query (Prometheus) counting all events. Threshold
    SLIs: the metric or query whose values are compared with the objective's ``value``."""
    good: str | None = None
    bad: str | None = None
    counter: bool = True
    unit: str = ""
    measurement: Measurement = "prometheus"


@dataclass(frozen=True)
class BurnRateRule:
    """One burn-rate alert condition, in the spec's own (unscaled) windows."""

    name: str
    threshold: float
    inclusive: bool
    """``op: gte`` (fires at the threshold) rather than ``gt``."""
    long_window_s: float
    short_window_s: float
    alert_after_s: float = 0.0


@dataclass(frozen=True)
class Objective:
    """The objective that applies on one distribution."""

    target: float
    """Fraction of good events promised, in (0, 1]."""
    value: float | None
    """Threshold SLIs: the threshold in the SLI's unit."""


@dataclass(frozen=True)
class SloSpec:
    """One SLO, resolved: evaluate it with ``gauntlet.slo.evaluate``."""

    name: str
    description: str
    file: Path
    indicator: Indicator
    op: Literal["lte", "lt", "gte", "gt"] | None
    """Threshold SLIs: a good event's value compared with the threshold (``lte``: at most)."""
    target: float
    value: float | None
    period_s: float
    """The SLO's time window (e.g. 30 days); burn-rate windows scale from it to the run."""
    alerts: tuple[BurnRateRule, ...] = ()
    critical: bool = False
    weight: float = 1.0
    overrides: Mapping[str, Objective] = field(default_factory=dict)
    """Per distribution name (``local-sandbox``, ``kind``, ``eks``...)."""

    @property
    def measurement(self) -> Measurement:
        return self.indicator.measurement

    def objective_for(self, distribution: str) -> Objective:
        """The objective on ``distribution``: its override if the spec has one, else the default."""
        return self.overrides.get(distribution, Objective(self.target, self.value))


# --- loading -------------------------------------------------------------------------------------


@dataclass
class _Objects:
    slos: dict[str, tuple[Path, o.SLO]] = field(default_factory=dict)
    slis: dict[str, tuple[Path, o.SLI]] = field(default_factory=dict)
    policies: dict[str, tuple[Path, o.AlertPolicy]] = field(default_factory=dict)
    conditions: dict[str, tuple[Path, o.AlertCondition]] = field(default_factory=dict)


def _loc(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _parse(path: Path, index: int, raw: object, into: _Objects) -> None:
    where = f"document {index}"
    if not isinstance(raw, dict):
        raise SloSpecError(path, where, "", "expected a mapping with apiVersion, kind, metadata")
    kind = raw.get("kind")
    name = raw.get("metadata", {}).get("name") if isinstance(raw.get("metadata"), dict) else None
    if name:
        where = f"{kind} {name}"
    if raw.get("apiVersion") != o.API_VERSION:
        raise SloSpecError(
            path, where, "apiVersion", f"expected {o.API_VERSION!r}, got {raw.get('apiVersion')!r}"
        )
    model = o.KINDS.get(str(kind))
    if model is None:
        raise SloSpecError(
            path, where, "kind", f"expected one of {', '.join(o.KINDS)}, got {kind!r}"
        )
    try:
        doc = model.model_validate(raw)
    except ValidationError as exc:
        # Name every problem: a typo shows up as both "unknown field" and "field required".
        first, *rest = exc.errors()
        reason = "; ".join([first["msg"], *(f"{_loc(e['loc'])}: {e['msg']}" for e in rest)])
        raise SloSpecError(path, where, _loc(first["loc"]), reason) from None
    table: dict[str, tuple[Path, object]] = {
        "SLO": into.slos,
        "SLI": into.slis,
        "AlertPolicy": into.policies,
        "AlertCondition": into.conditions,
    }[doc.kind]  # type: ignore[assignment]
    if doc.metadata.name in table:
        other = table[doc.metadata.name][0]
        raise SloSpecError(path, where, "metadata.name", f"{kind} already defined in {other}")
    table[doc.metadata.name] = (path, doc)


def _float(path: Path, where: str, key: str, text: str, *, lo: float, hi: float) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not lo <= value <= hi:  # also false for NaN
        raise SloSpecError(
            path, where, f"metadata.annotations[{key}]", f"expected a number in [{lo:g}, {hi:g}]"
        )
    return value


def _annotations(meta: o.Metadata, allowed: tuple[str, ...], path: Path, where: str) -> None:
    for key in meta.annotations:
        if key.startswith(_PREFIX) and not key.removeprefix(_PREFIX).startswith(allowed):
            raise SloSpecError(
                path,
                where,
                f"metadata.annotations[{key}]",
                "unknown Gauntlet annotation; this kind takes "
                + ", ".join(_PREFIX + a for a in allowed),
            )


def _indicator(path: Path, where: str, meta: o.Metadata, spec: o.SLISpec) -> Indicator:
    _annotations(meta, ("unit",), path, where)
    if (spec.ratioMetric is None) == (spec.thresholdMetric is None):
        raise SloSpecError(
            path, where, "spec", "an SLI needs exactly one of ratioMetric and thresholdMetric"
        )
    unit = meta.annotations.get(_PREFIX + "unit", "")
    if spec.thresholdMetric is not None:
        src = _source(path, where, "spec.thresholdMetric", spec.thresholdMetric.metricSource)
        source, ref = src
        if source == "gauntlet":
            metric = GAUNTLET_METRICS[ref]
            if metric.role != "value":
                raise SloSpecError(
                    path,
                    where,
                    "spec.thresholdMetric.metricSource.spec.metric",
                    f"{ref!r} counts events; a threshold SLI needs a value metric "
                    f"({', '.join(_VALUE_METRICS)})",
                )
            return Indicator(
                name=meta.name,
                description=spec.description,
                source=source,
                kind="threshold",
                total=ref,
                unit=unit or metric.unit,
                measurement=metric.measurement,
            )
        return Indicator(meta.name, spec.description, source, "threshold", ref, unit=unit)
    ratio = spec.ratioMetric
    assert ratio is not None
    if (ratio.good is None) == (ratio.bad is None):
        raise SloSpecError(
            path, where, "spec.ratioMetric", "give exactly one of good and bad (with total)"
        )
    part_field = "good" if ratio.good is not None else "bad"
    part_spec = ratio.good or ratio.bad
    assert part_spec is not None
    total_source, total = _source(path, where, "spec.ratioMetric.total", ratio.total.metricSource)
    part_source, part = _source(
        path, where, f"spec.ratioMetric.{part_field}", part_spec.metricSource
    )
    if part_source != total_source:
        raise SloSpecError(
            path, where, f"spec.ratioMetric.{part_field}", "good/bad and total need the same source"
        )
    measurement: Measurement = "prometheus"
    if total_source == "gauntlet":
        t, p = GAUNTLET_METRICS[total], GAUNTLET_METRICS[part]
        if t.role != "total" or p.role != part_field or p.total != total:
            choices = [m.name for m in GAUNTLET_METRICS.values() if m.total == total]
            raise SloSpecError(
                path,
                where,
                f"spec.ratioMetric.{part_field}.metricSource.spec.metric",
                f"{part!r} is not a {part_field} part of {total!r}; metrics of that family: "
                f"{', '.join(choices) or 'none (total must be an event count)'}",
            )
        measurement = t.measurement
    return Indicator(
        name=meta.name,
        description=spec.description,
        source=total_source,
        kind="ratio",
        total=total,
        good=part if part_field == "good" else None,
        bad=part if part_field == "bad" else None,
        counter=ratio.counter,
        unit=unit or "ratio",
        measurement=measurement,
    )


def _source(
    path: Path, where: str, field: str, src: o.MetricSource
) -> tuple[Literal["gauntlet", "prometheus"], str]:
    kind = src.type.lower()
    if kind == "gauntlet":
        metric = src.spec.get("metric")
        if set(src.spec) != {"metric"} or metric not in GAUNTLET_METRICS:
            raise SloSpecError(
                path,
                where,
                f"{field}.metricSource.spec",
                "a Gauntlet source takes {metric: NAME}, NAME one of "
                + ", ".join(GAUNTLET_METRICS),
            )
        return "gauntlet", metric
    if kind == "prometheus":
        query = src.spec.get("query", "")
        if set(src.spec) != {"query"} or not query.strip():
            raise SloSpecError(
                path,
                where,
                f"{field}.metricSource.spec",
                "a Prometheus source takes {query: PROMQL}",
            )
        return "prometheus", query
    raise SloSpecError(
        path,
        where,
        f"{field}.metricSource.type",
        f"expected Gauntlet or Prometheus, got {src.type!r}",
    )


def _condition(
    path: Path, where: str, meta: o.Metadata, spec: o.AlertConditionSpec
) -> BurnRateRule:
    _annotations(meta, ("short-window",), path, where)
    c = spec.condition
    long_s = o.duration_s(c.lookbackWindow)
    short_text = meta.annotations.get(_PREFIX + "short-window")
    short_s = long_s / 12
    if short_text is not None:
        try:
            short_s = o.duration_s(short_text)
        except ValueError as exc:
            raise SloSpecError(
                path, where, f"metadata.annotations[{_PREFIX}short-window]", str(exc)
            ) from None
        if short_s > long_s:
            raise SloSpecError(
                path,
                where,
                f"metadata.annotations[{_PREFIX}short-window]",
                f"the short window ({short_text}) is longer than lookbackWindow "
                f"({c.lookbackWindow})",
            )
    return BurnRateRule(
        name=meta.name,
        threshold=c.threshold,
        inclusive=c.op == "gte",
        long_window_s=long_s,
        short_window_s=short_s,
        alert_after_s=o.duration_s(c.alertAfter),
    )


def _alerts(path: Path, where: str, slo: o.SLO, objs: _Objects) -> tuple[BurnRateRule, ...]:
    rules: list[BurnRateRule] = []
    for i, entry in enumerate(slo.spec.alertPolicies):
        field = f"spec.alertPolicies[{i}]"
        if isinstance(entry, o.InlineAlertPolicy):
            policy_path, policy_spec = path, entry.spec
        else:
            ref = entry if isinstance(entry, str) else entry.alertPolicyRef
            if ref not in objs.policies:
                raise SloSpecError(path, where, field, f"no AlertPolicy named {ref!r}")
            policy_path, policy = objs.policies[ref]
            policy_spec = policy.spec
        for j, cond in enumerate(policy_spec.conditions):
            if isinstance(cond, o.ConditionRef):
                if cond.conditionRef not in objs.conditions:
                    raise SloSpecError(
                        policy_path,
                        where,
                        f"{field}.spec.conditions[{j}].conditionRef",
                        f"no AlertCondition named {cond.conditionRef!r}",
                    )
                cpath, c = objs.conditions[cond.conditionRef]
                rules.append(
                    _condition(cpath, f"AlertCondition {c.metadata.name}", c.metadata, c.spec)
                )
            else:
                rules.append(
                    _condition(
                        policy_path,
                        f"AlertCondition {cond.metadata.name}",
                        cond.metadata,
                        cond.spec,
                    )
                )
    return tuple(rules)


def _resolve(path: Path, slo: o.SLO, objs: _Objects) -> SloSpec:
    where = f"SLO {slo.metadata.name}"
    spec = slo.spec
    if (spec.indicator is None) == (spec.indicatorRef is None):
        raise SloSpecError(path, where, "spec", "give exactly one of indicator and indicatorRef")
    if spec.indicator is not None:
        indicator = _indicator(path, where, spec.indicator.metadata, spec.indicator.spec)
    else:
        ref = spec.indicatorRef
        if ref not in objs.slis:
            raise SloSpecError(path, where, "spec.indicatorRef", f"no SLI named {ref!r}")
        sli_path, sli = objs.slis[ref]
        indicator = _indicator(sli_path, f"SLI {sli.metadata.name}", sli.metadata, sli.spec)
    obj = spec.objectives[0]
    ofield = "spec.objectives[0]"
    if (obj.target is None) == (obj.targetPercent is None):
        raise SloSpecError(path, where, ofield, "give exactly one of target and targetPercent")
    target = obj.target if obj.target is not None else (obj.targetPercent or 0) / 100
    if indicator.kind == "threshold":
        if obj.op is None or obj.value is None:
            raise SloSpecError(
                path,
                where,
                ofield,
                f"SLI {indicator.name} is a threshold metric: give op and value "
                "(e.g. op: lte, value: 300 for 'at most 300 ms')",
            )
    elif obj.op is not None or obj.value is not None:
        raise SloSpecError(
            path, where, ofield, f"SLI {indicator.name} is a ratio: op and value do not apply"
        )
    meta = slo.metadata
    _annotations(meta, ("critical", "weight", "target.", "value."), path, where)
    ann = meta.annotations
    critical_text = ann.get(_PREFIX + "critical", "false")
    if critical_text not in ("true", "false"):
        raise SloSpecError(
            path, where, f"metadata.annotations[{_PREFIX}critical]", 'expected "true" or "false"'
        )
    weight = 1.0
    if (w := ann.get(_PREFIX + "weight")) is not None:
        weight = _float(path, where, _PREFIX + "weight", w, lo=0, hi=1e6)
    overrides: dict[str, Objective] = {}
    for key, text in ann.items():
        for what in ("target", "value"):
            prefix = f"{_PREFIX}{what}."
            if not key.startswith(prefix):
                continue
            dist = key.removeprefix(prefix)
            base = overrides.get(dist, Objective(target, obj.value))
            if what == "target":
                t = _float(path, where, key, text, lo=0, hi=1)
                if t <= 0:
                    raise SloSpecError(
                        path, where, f"metadata.annotations[{key}]", "a target must be above 0"
                    )
                overrides[dist] = Objective(t, base.value)
            else:
                if indicator.kind != "threshold":
                    raise SloSpecError(
                        path,
                        where,
                        f"metadata.annotations[{key}]",
                        "value overrides apply to threshold SLIs only",
                    )
                overrides[dist] = Objective(
                    base.target, _float(path, where, key, text, lo=-1e12, hi=1e12)
                )
    return SloSpec(
        name=meta.name,
        description=spec.description or indicator.description,
        file=path,
        indicator=indicator,
        op=obj.op,
        target=target,
        value=obj.value,
        period_s=o.duration_s(spec.timeWindow[0].duration),
        alerts=_alerts(path, where, slo, objs),
        critical=critical_text == "true",
        weight=weight,
        overrides=overrides,
    )


def load_specs(
    path: Path | str | None = None, *, measurement: Measurement | None = None
) -> list[SloSpec]:
    """Load the SLO specs of a directory (default ``scenarios/slos/``) or of one file.

    ``measurement`` keeps only the SLOs that read it (e.g. ``"load"`` for the load suite).
    Raises ``SloSpecError`` naming the file, object and field of the first problem.
    """
    root = Path(path) if path is not None else DEFAULT_SPEC_DIR
    if root.is_dir():
        files = sorted(p for p in root.iterdir() if p.suffix in (".yaml", ".yml"))
    elif root.is_file():
        files = [root]
    else:
        raise SloSpecError(root, "", "", "no such file or directory")
    objs = _Objects()
    for file in files:
        try:
            docs = list(yaml.safe_load_all(file.read_text(encoding="utf-8")))
        except yaml.YAMLError as exc:
            raise SloSpecError(file, "", "", f"not YAML: {exc}") from None
        index = 0
        for doc in docs:
            for item in doc if isinstance(doc, list) else [doc]:
                if item is not None:
                    _parse(file, index, item, objs)
                index += 1
    for p, sli in objs.slis.values():  # unreferenced SLIs are checked too
        _indicator(p, f"SLI {sli.metadata.name}", sli.metadata, sli.spec)
    specs = [_resolve(p, slo, objs) for p, slo in objs.slos.values()]
    if measurement is not None:
        specs = [s for s in specs if s.measurement == measurement]
    return specs
