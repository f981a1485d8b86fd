"""Probe Pods for the quota check, sized from the quota and LimitRange the target holds.

A refusal proves the quota works only if nothing else could have refused the Pod, so every probe
Pod is compliant with the platform guardrails (docs/guardrails.md: trusted registry, pinned tag,
requests and limits, read-only root filesystem, not privileged, cost labels) and with Pod
Security ``restricted``, and every container stays within the LimitRange's per-container
``min``/``max``; a Pod that must ask for more than one container may hold gets several
containers. Requests equal limits, so ``maxLimitRequestRatio`` is always met and one number per
resource drives both ``requests.*`` and ``limits.*`` quota keys.

Amounts are integers in the resource's smallest unit the quota compares exactly: millicores for
cpu, bytes for memory.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gauntlet.admission.quantity import Format, Quantity
from gauntlet.blueprint.samples import pod_security_context, restricted_container

RESOURCES = ("cpu", "memory")
# The smallest Pod worth admitting as a positive control, and the margin by which a probe
# exceeds a limit: one unit of what the API server compares (1m cpu, 1Mi memory).
SMALL = {"cpu": 10, "memory": 16 * 2**20}
STEP = {"cpu": 1, "memory": 2**20}

Manifest = dict[str, Any]


def amount(resource: str, quantity: Quantity) -> int:
    """A quantity in millicores (cpu) or bytes (memory), rounded up as the API server does."""
    return quantity.milli_value() if resource == "cpu" else quantity.int_value()


def quantity_text(resource: str, value: int) -> str:
    """The API server's canonical spelling: ``2``, ``250m``, ``4Gi``, ``8193Mi``."""
    if resource == "cpu":
        return Quantity.of_milli(value).canonical()
    return Quantity.of(value, Format.BINARY_SI).canonical()


def quota_keys(resource: str) -> tuple[str, str, str]:
    """The quota keys that charge a Pod's ``resource``: ``cpu`` is ``requests.cpu``."""
    return (resource, f"requests.{resource}", f"limits.{resource}")


@dataclass(frozen=True)
class ContainerBounds:
    """Per-container and per-Pod limits the namespace's LimitRanges impose (``None``: none)."""

    container_min: Mapping[str, int]
    container_max: Mapping[str, int]
    pod_max: Mapping[str, int]

    @classmethod
    def from_limit_ranges(cls, limit_ranges: Iterable[Mapping[str, Any]]) -> ContainerBounds:
        cmin: dict[str, int] = {}
        cmax: dict[str, int] = {}
        pmax: dict[str, int] = {}
        for lr in limit_ranges:
            for item in (lr.get("spec") or {}).get("limits") or []:
                kind = item.get("type")
                for r in RESOURCES:
                    if kind == "Container" and r in (item.get("min") or {}):
                        v = amount(r, Quantity.parse(item["min"][r]))
                        cmin[r] = max(cmin.get(r, v), v)
                    targets = cmax if kind == "Container" else pmax if kind == "Pod" else None
                    if targets is not None and r in (item.get("max") or {}):
                        v = amount(r, Quantity.parse(item["max"][r]))
                        targets[r] = min(targets.get(r, v), v)
        return cls(cmin, cmax, pmax)


class Unsizable(ValueError):
    """No single compliant Pod can carry the amounts (the LimitRange leaves no room)."""


def split(totals: Mapping[str, int], bounds: ContainerBounds) -> list[dict[str, int]]:
    """Containers whose amounts add up to ``totals`` exactly, each within the LimitRange.

    Amounts are spread evenly over the fewest containers the per-container ``max`` allows."""
    n = 1
    for r, total in totals.items():
        cap = bounds.container_max.get(r)
        if cap:
            n = max(n, -(-total // cap))
    for r, total in totals.items():
        if r in bounds.pod_max and total > bounds.pod_max[r]:
            raise Unsizable(
                f"a LimitRange caps a Pod's {r} at {quantity_text(r, bounds.pod_max[r])}, "
                f"below the {quantity_text(r, total)} one Pod would need"
            )
        if total // n < bounds.container_min.get(r, 0):
            raise Unsizable(
                f"{quantity_text(r, total)} of {r} over {n} containers falls below the "
                f"LimitRange's per-container min {quantity_text(r, bounds.container_min[r])}"
            )
    containers: list[dict[str, int]] = [{} for _ in range(n)]
    for r, total in totals.items():
        base, extra = divmod(total, n)
        for i, c in enumerate(containers):
            c[r] = base + (1 if i < extra else 0)
    return containers


def probe_pod(
    name: str,
    *,
    namespace: str,
    team: str,
    cost_center: str,
    containers: Sequence[Mapping[str, int]],
) -> Manifest:
    """A guardrail-compliant Pod with one container per entry of ``containers``."""
    specs = []
    for i, amounts in enumerate(containers):
        values = {r: quantity_text(r, v) for r, v in amounts.items()}
        specs.append(restricted_container(f"probe-{i}", team, requests=values, limits=values))
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app": name, "team": team, "cost-center": cost_center},
        },
        "spec": {
            "automountServiceAccountToken": False,
            "securityContext": pod_security_context(),
            "containers": specs,
        },
    }


def small_amounts(bounds: ContainerBounds) -> dict[str, int]:
    return {r: max(SMALL[r], bounds.container_min.get(r, 0)) for r in RESOURCES}


def hard_limits(quotas: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """The largest hard value per cpu/memory quota key over ``quotas`` (key -> amount)."""
    out: dict[str, int] = {}
    for q in quotas:
        for key, value in ((q.get("spec") or {}).get("hard") or {}).items():
            r = key.rpartition(".")[2]
            if r in RESOURCES and key in quota_keys(r):
                v = amount(r, Quantity.parse(value))
                out[key] = max(out.get(key, v), v)
    return out


def over_hard_amounts(hard: Mapping[str, int], bounds: ContainerBounds) -> dict[str, int]:
    """Per resource: one step over the largest hard limit of any of its keys, so the Pod
    exceeds every cpu/memory key of every quota whatever the namespace already uses."""
    out = small_amounts(bounds)
    for r in RESOURCES:
        values = [hard[k] for k in quota_keys(r) if k in hard]
        if values:
            out[r] = max(values) + STEP[r]
    return out


_LIST = re.compile(
    r"exceeded quota: (?P<name>[^,]+), requested: .*?, used: (?P<used>.*?), "
    r"limited: (?P<limited>.*)$"
)


@dataclass(frozen=True)
class QuotaRefusal:
    """The parts of kube-apiserver's ``exceeded quota: <name>, requested: ..., used: ...,
    limited: ...`` message that say what the namespace already uses."""

    quota: str
    used: dict[str, int]
    limited: dict[str, int]

    @classmethod
    def parse(cls, message: str) -> QuotaRefusal | None:
        m = _LIST.search(message.strip())
        if not m:
            return None
        try:
            return cls(m["name"], _pairs(m["used"]), _pairs(m["limited"]))
        except ValueError:
            return None


def _pairs(text: str) -> dict[str, int]:
    out = {}
    for pair in text.split(","):
        key, _, value = pair.strip().partition("=")
        r = key.rpartition(".")[2]
        if r in RESOURCES:
            out[key] = amount(r, Quantity.parse(value))
    return out


def over_remaining_amounts(
    refusal: QuotaRefusal, bounds: ContainerBounds
) -> tuple[dict[str, int], list[str]] | None:
    """Amounts that fit every hard limit on their own but exceed what is *left* of one, using
    the usage the API server reported; None when nothing is used yet (no such Pod exists).

    Returns the amounts and the quota keys the Pod is meant to exceed."""
    out = small_amounts(bounds)
    exceeded: list[str] = []
    for r in RESOURCES:
        keys = [k for k in quota_keys(r) if k in refusal.limited]
        if not keys:
            continue
        remaining = {k: refusal.limited[k] - refusal.used.get(k, 0) for k in keys}
        want = min(remaining.values()) + STEP[r]
        if 0 < want <= min(refusal.limited[k] for k in keys):
            out[r] = want
            exceeded += [k for k in keys if want > remaining[k]]
    return (out, exceeded) if exceeded else None
