"""Matrices for people (per-namespace grids) and for tools (JSON)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gauntlet.blueprint.cilium import HTTPRule
from gauntlet.oracle.connectivity import Cell, Expectation, TruthTable
from gauntlet.oracle.l7 import side_summary

ALLOWED = "✓"
DENIED = "·"
LEGEND = (
    "✓ allowed   · denied   L leak (denied but reached)   "
    "B blocked (allowed but dropped)   ? inconclusive"
)


def _short(pod_key: str) -> str:
    return pod_key.split("/", 1)[1]


def grid(
    table: TruthTable,
    symbol: Callable[[Cell], str],
    *,
    title: str,
    only_namespaces: set[str] | None = None,
) -> str:
    """One grid per destination namespace: rows are sources, columns ``pod:port``."""
    cells_by_dst_ns: dict[str, list[Cell]] = {}
    for exp in table.expectations:
        cells_by_dst_ns.setdefault(exp.cell.dst.split("/")[0], []).append(exp.cell)
    sources = [ep.key for ep in table.endpoints]
    width = max((len(s) for s in sources), default=10)
    out = [title]
    for ns in sorted(cells_by_dst_ns):
        if only_namespaces is not None and ns not in only_namespaces:
            continue
        columns: list[tuple[str, int, str]] = []
        for cell in cells_by_dst_ns[ns]:
            col = (cell.dst, cell.port, cell.protocol)
            if col not in columns:
                columns.append(col)
        labels = [f"{_short(d)}:{p}{'/u' if proto == 'UDP' else ''}" for d, p, proto in columns]
        index = {(c.src, c.dst, c.port, c.protocol): c for c in cells_by_dst_ns[ns]}
        out.append(f"\n  to namespace {ns}")
        out.append("  " + " " * width + "  " + " ".join(f"{lab:>{len(lab)}}" for lab in labels))
        for src in sources:
            row = []
            for (dst, port, proto), lab in zip(columns, labels, strict=True):
                found = index.get((src, dst, port, proto))
                mark = symbol(found) if found else " "
                row.append(mark.rjust(len(lab)))
            out.append(f"  {src:<{width}}  " + " ".join(row))
    return "\n".join(out)


def expected_grid(table: TruthTable, **kw: Any) -> str:
    lookup = table.lookup()
    return grid(table, lambda c: ALLOWED if lookup[c.id].allowed else DENIED, **kw)


def l7_section(table: TruthTable) -> str:
    """Every proxied cell with each side's HTTP rules; a request must pass both sides."""
    proxied = [e for e in table.expectations if e.l7_proxied]
    if not proxied:
        return "L7 rules: none (no allowed cell passes an L7 proxy)"
    out = ["L7 rules (proxied cells; a request must pass the egress and the ingress side)"]
    for exp in proxied:
        out.append(f"  {exp.cell.id}")
        out.append(f"    egress:  {side_summary(exp.l7_egress)}")
        out.append(f"    ingress: {side_summary(exp.l7_ingress)}")
    return "\n".join(out)


def _rules_json(side: tuple[HTTPRule, ...] | None) -> list[dict[str, Any]] | None:
    if side is None:
        return None
    return [rule.model_dump(by_alias=True, exclude_defaults=True) for rule in side]


def _l7_json(exp: Expectation) -> dict[str, Any] | None:
    """Allowed cells: whether proxied, and each side's rules (None: unrestricted there)."""
    if not exp.allowed:
        return None
    return {
        "proxied": exp.l7_proxied,
        "egress": _rules_json(exp.l7_egress),
        "ingress": _rules_json(exp.l7_ingress),
    }


def table_json(table: TruthTable) -> dict[str, Any]:
    return {
        "schema": "gauntlet.matrix/v2",
        "pods": [
            {
                "key": ep.key,
                "namespace": ep.namespace,
                "labels": ep.pod.labels,
                "ports": [
                    {"port": p.container_port, "protocol": p.protocol.value, "name": p.name}
                    for p in ep.pod.ports
                ],
            }
            for ep in table.endpoints
        ],
        "cells": [
            {
                "src": e.cell.src,
                "dst": e.cell.dst,
                "port": e.cell.port,
                "protocol": e.cell.protocol,
                "port_name": e.cell.port_name,
                "allowed": e.allowed,
                "reason": e.reason,
                "l7": _l7_json(e),
            }
            for e in table.expectations
        ],
        "summary": {"cells": len(table.expectations), "allowed": table.allowed_count},
    }


def symbols_from(marks: Mapping[str, str]) -> Callable[[Cell], str]:
    return lambda c: marks.get(c.id, " ")
