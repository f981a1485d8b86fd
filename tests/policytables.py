"""Builders for small blueprints in tests: manifests as dicts, written to a directory and loaded.

Everything goes through ``gauntlet.blueprint.load_blueprint`` so tests exercise the same path as a
real GitOps directory. Manifests are written as JSON documents (JSON is YAML) because it is fast and
needs no quoting care for ports and labels.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from gauntlet.blueprint import Blueprint, load_blueprint
from gauntlet.oracle import TruthTable, compute_truth_table

Manifest = dict[str, Any]
PortSpec = tuple[int, str, str | None]
MatrixKey = tuple[str, str, int | str]

HTTP: tuple[PortSpec, ...] = ((8080, "TCP", "http"),)
NS_LABEL = "k8s:io.kubernetes.pod.namespace"


def namespace(name: str, labels: Mapping[str, str] | None = None) -> Manifest:
    meta: dict[str, Any] = {"name": name}
    if labels:
        meta["labels"] = dict(labels)
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def deployment(
    ns: str,
    name: str,
    labels: Mapping[str, str],
    ports: Sequence[PortSpec] = HTTP,
    replicas: int = 1,
) -> Manifest:
    """A Deployment whose pods are ``<name>-0 .. <name>-<replicas-1>`` with ``labels``."""
    container_ports = []
    for number, protocol, port_name in ports:
        entry: dict[str, Any] = {"containerPort": number, "protocol": protocol}
        if port_name:
            entry["name"] = port_name
        container_ports.append(entry)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": dict(labels)},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "containers": [
                        {
                            "name": "main",
                            "image": "registry.example/test/app:1.0.0",
                            "ports": container_ports,
                        }
                    ]
                },
            },
        },
    }


def cnp(ns: str, name: str, spec: Mapping[str, Any]) -> Manifest:
    return {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": dict(spec),
    }


def ccnp(name: str, spec: Mapping[str, Any]) -> Manifest:
    return {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumClusterwideNetworkPolicy",
        "metadata": {"name": name},
        "spec": dict(spec),
    }


def netpol(ns: str, name: str, spec: Mapping[str, Any]) -> Manifest:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": dict(spec),
    }


def ports(*items: tuple[int | str, str] | int | str) -> list[dict[str, Any]]:
    """Cilium ``toPorts``: ``ports(80)``, ``ports((53, "UDP"), "http")`` (protocol default TCP)."""
    out = []
    for item in items:
        number, protocol = item if isinstance(item, tuple) else (item, "TCP")
        out.append({"port": str(number), "protocol": protocol})
    return [{"ports": out}]


def sel(ns: str | None = None, **labels: str) -> dict[str, Any]:
    """A Cilium endpoint selector on ``labels``, optionally pinned to namespace ``ns``."""
    match = dict(labels)
    if ns is not None:
        match[NS_LABEL] = ns
    return {"matchLabels": match} if match else {}


def to_yaml_documents(objs: Iterable[Manifest]) -> str:
    return "".join("---\n" + json.dumps(obj, sort_keys=True) + "\n" for obj in objs)


def write_blueprint(root: Path, objs: Iterable[Manifest], filename: str = "blueprint.yaml") -> Path:
    """Write ``objs`` as one multi-document YAML file under ``root``; returns ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / filename).write_text(to_yaml_documents(objs), encoding="utf-8")
    return root


def load(root: Path, objs: Iterable[Manifest]) -> Blueprint:
    return load_blueprint(write_blueprint(root, objs))


def matrix(bp: Blueprint | TruthTable) -> dict[MatrixKey, bool]:
    """``{(src, dst, port): allowed}`` for every cell; pods are ``ns/<deployment>-<i>``.

    ``port`` is the port number for TCP cells and ``"PORT/PROTO"`` (``"53/UDP"``) for other
    protocols, so a pod with 53/UDP and 53/TCP gives two distinct keys.
    """
    table = bp if isinstance(bp, TruthTable) else compute_truth_table(bp)
    out: dict[MatrixKey, bool] = {}
    for exp in table.expectations:
        cell = exp.cell
        key: int | str = cell.port if cell.protocol == "TCP" else f"{cell.port}/{cell.protocol}"
        out[(cell.src, cell.dst, key)] = exp.allowed
    return out


def allowed_set(bp: Blueprint | TruthTable) -> set[MatrixKey]:
    return {key for key, ok in matrix(bp).items() if ok}


def pod_keys(bp: Blueprint) -> list[str]:
    return sorted(p.key for p in bp.pods())
