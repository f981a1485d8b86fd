"""Read a directory of plain Kubernetes manifests (as a GitOps repo holds them) into a Blueprint.

Loading is all-or-nothing: the first problem raises a ``BlueprintError`` naming the file, the
object and the field, before anything is started on a target.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from gauntlet.blueprint.cilium import UNSUPPORTED_RULE_FIELDS, CiliumNetworkPolicy, PeerRule
from gauntlet.blueprint.errors import BlueprintError, UnsupportedPolicyError
from gauntlet.blueprint.kube import (
    Constraint,
    ConstraintTemplate,
    Deployment,
    LimitRange,
    Namespace,
    PassiveObject,
    ResourceQuota,
    Role,
    RoleBinding,
    Service,
    ServiceAccount,
)
from gauntlet.blueprint.model import Blueprint, Source
from gauntlet.blueprint.netpol import NetworkPolicy
from gauntlet.blueprint.selectors import LabelSelector

_MODELS: dict[str, type[BaseModel]] = {
    "Namespace": Namespace,
    "ServiceAccount": ServiceAccount,
    "Role": Role,
    "ClusterRole": Role,
    "RoleBinding": RoleBinding,
    "ClusterRoleBinding": RoleBinding,
    "ResourceQuota": ResourceQuota,
    "LimitRange": LimitRange,
    "NetworkPolicy": NetworkPolicy,
    "CiliumNetworkPolicy": CiliumNetworkPolicy,
    "CiliumClusterwideNetworkPolicy": CiliumNetworkPolicy,
    "ConstraintTemplate": ConstraintTemplate,
    "Deployment": Deployment,
    "Service": Service,
}
_CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CiliumClusterwideNetworkPolicy",
    "ConstraintTemplate",
    "ValidatingWebhookConfiguration",
}
# Kinds a tenant directory carries that Gauntlet does not interpret beyond their metadata:
# they are kept verbatim (``Blueprint.manifests``) for admission, audit, RBAC and the tenancy
# suite's baseline checks (e.g. a PrometheusRule or a dashboard ConfigMap per tenant).
_PASSIVE_KINDS = {
    "ConfigMap",
    "Secret",
    "PrometheusRule",
    "ServiceMonitor",
    "PodMonitor",
    "PodDisruptionBudget",
    "HorizontalPodAutoscaler",
    "Pod",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "CronJob",
    "ReplicaSet",
    "PersistentVolumeClaim",
    "Ingress",
    # Gatekeeper's webhook registration: its failurePolicy and selectors decide what an
    # admission-webhook outage lets in (gauntlet.admission.webhook).
    "ValidatingWebhookConfiguration",
}
# Files a GitOps repo keeps beside its manifests that are not cluster objects.
_SKIPPED_KINDS = {"Kustomization"}
# kustomize build files may omit apiVersion and kind entirely; they are recognised by name.
_KUSTOMIZE_FILES = {"kustomization.yaml", "kustomization.yml", "Kustomization"}
# Cilium label sources a selector key may carry; "any:" and no prefix match every source.
_SELECTOR_SOURCES = ("k8s:", "any:")


def load_blueprint(root: Path | str) -> Blueprint:
    """Load every ``*.yaml``/``*.yml`` under ``root`` (sorted, recursively)."""
    root = Path(root)
    if not root.is_dir():
        raise BlueprintError(root, "-", "", "not a directory of manifests (--platform DIR)")
    bp = Blueprint(root=root)
    files = sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    files = [
        p
        for p in files
        if not any(part.startswith(".") for part in p.relative_to(root).parts)
        and p.name not in _KUSTOMIZE_FILES
    ]
    if not files:
        raise BlueprintError(root, "-", "", "no *.yaml manifests found")
    for path in files:
        for index, doc in _documents(path):
            _add(bp, path, index, doc)
    _check_references(bp)
    return bp


def _documents(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        problem = getattr(exc, "problem", None) or str(exc)
        raise BlueprintError(path, f"YAML at {where}", "", f"malformed YAML: {problem}") from exc
    except UnicodeDecodeError as exc:
        raise BlueprintError(path, "-", "", "not UTF-8 text") from exc
    for index, doc in enumerate(docs):
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise BlueprintError(
                path, f"document {index + 1}", "", "expected a Kubernetes object (a mapping)"
            )
        if doc.get("kind") == "List" and isinstance(doc.get("items"), list):
            for item in doc["items"]:
                yield index, item
        else:
            yield index, doc


def _describe(doc: dict[str, Any], index: int) -> str:
    kind = doc.get("kind") or "object"
    meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
    assert isinstance(meta, dict)
    name = meta.get("name")
    if not name:
        return f"{kind} (document {index + 1})"
    ns = meta.get("namespace")
    return f"{kind} {ns}/{name}" if ns else f"{kind} {name}"


def _add(bp: Blueprint, path: Path, index: int, doc: dict[str, Any]) -> None:
    obj = _describe(doc, index)
    kind = doc.get("kind")
    if kind in _SKIPPED_KINDS:
        return
    for required in ("apiVersion", "kind"):
        if not doc.get(required):
            raise BlueprintError(path, obj, required, "missing")
    model = _MODELS.get(str(kind))
    api_version = str(doc.get("apiVersion"))
    if model is None and kind in _PASSIVE_KINDS:
        model = PassiveObject
    if model is None and api_version.startswith("constraints.gatekeeper.sh/"):
        model = Constraint
    if model is None:
        known = ", ".join(sorted(_MODELS))
        raise BlueprintError(
            path,
            obj,
            "kind",
            f"unknown kind '{kind}' ({api_version}); Gauntlet reads {known}, "
            f"Gatekeeper constraints (constraints.gatekeeper.sh/*) and keeps "
            f"{', '.join(sorted(_PASSIVE_KINDS))} as they are",
        )
    try:
        parsed = model.model_validate(doc)
    except ValidationError as exc:
        raise _from_validation(path, obj, str(kind), exc) from None
    meta = doc["metadata"]
    namespaced = kind not in _CLUSTER_SCOPED and model is not Constraint
    if namespaced and not meta.get("namespace"):
        raise BlueprintError(
            path,
            obj,
            "metadata.namespace",
            "missing: a GitOps blueprint must name the namespace of every namespaced object",
        )
    if not namespaced and meta.get("namespace"):
        raise BlueprintError(path, obj, "metadata.namespace", f"{kind} is cluster-scoped")
    key = (str(kind), str(meta.get("namespace") or ""), str(meta["name"]))
    if key in bp.sources:
        raise BlueprintError(
            path, obj, "metadata.name", f"duplicate: already defined in {bp.sources[key]}"
        )
    bp.sources[key] = Source(path, index)
    bp.manifests[key] = doc
    if isinstance(parsed, CiliumNetworkPolicy):
        _check_cilium(path, obj, parsed)
    _store(bp, parsed)


def _store(bp: Blueprint, obj: BaseModel) -> None:
    if isinstance(obj, Namespace):
        bp.namespaces[obj.metadata.name] = obj
    elif isinstance(obj, ServiceAccount):
        bp.service_accounts.append(obj)
    elif isinstance(obj, Role):
        bp.roles.append(obj)
    elif isinstance(obj, RoleBinding):
        bp.role_bindings.append(obj)
    elif isinstance(obj, ResourceQuota):
        bp.quotas.append(obj)
    elif isinstance(obj, LimitRange):
        bp.limit_ranges.append(obj)
    elif isinstance(obj, NetworkPolicy):
        bp.network_policies.append(obj)
    elif isinstance(obj, CiliumNetworkPolicy):
        bp.cilium_policies.append(obj)
    elif isinstance(obj, ConstraintTemplate):
        bp.constraint_templates.append(obj)
    elif isinstance(obj, Constraint):
        bp.constraints.append(obj)
    elif isinstance(obj, Deployment):
        bp.deployments.append(obj)
    elif isinstance(obj, Service):
        bp.services.append(obj)


def _loc_to_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


def _from_validation(path: Path, obj: str, kind: str, exc: ValidationError) -> BlueprintError:
    err = exc.errors()[0]
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    # pydantic reports union branches as extra path segments (e.g. "int", "str"); drop them.
    loc = tuple(p for p in loc if p not in ("int", "str", "bool", "float", "none"))
    field = _loc_to_path(loc)
    last = loc[-1] if loc else ""
    if err["type"] == "extra_forbidden":
        if isinstance(last, str) and last in UNSUPPORTED_RULE_FIELDS:
            return UnsupportedPolicyError(
                path, obj, field, f"unsupported policy construct: {UNSUPPORTED_RULE_FIELDS[last]}"
            )
        return UnsupportedPolicyError(
            path,
            obj,
            field,
            f"unknown or unsupported field for {kind}; remove it or check "
            "its spelling (policy fields are never ignored silently)",
        )
    if err["type"] == "missing":
        return BlueprintError(path, obj, field, "missing required field")
    if err["type"] in ("literal_error", "enum"):
        return BlueprintError(path, obj, field, f"invalid value {err.get('input')!r}: {err['msg']}")
    if err["type"] == "value_error" and "error" in err.get("ctx", {}):
        # Our own validators' messages, without pydantic's "Value error, " prefix.
        return BlueprintError(path, obj, field, str(err["ctx"]["error"]))
    return BlueprintError(path, obj, field, err["msg"])


def _check_selector(path: Path, obj: str, field: str, selector: LabelSelector) -> None:
    for key in selector.label_keys():
        if ":" in key.split("/")[0] and not key.startswith(_SELECTOR_SOURCES):
            source = key.split(":", 1)[0]
            raise UnsupportedPolicyError(
                path,
                obj,
                field,
                f"label source '{source}:' in key '{key}' is not supported "
                "(use plain keys, 'k8s:' or 'any:'; use fromEntities/toEntities for reserved "
                "identities)",
            )


def _check_cilium(path: Path, obj: str, cnp: CiliumNetworkPolicy) -> None:
    specs = cnp.all_specs()
    if not specs:
        raise BlueprintError(path, obj, "spec", "missing: a Cilium policy needs spec or specs")
    for s_index, spec in enumerate(specs):
        prefix = "spec" if cnp.spec is spec else f"specs[{s_index - (1 if cnp.spec else 0)}]"
        if spec.endpoint_selector is None:
            raise BlueprintError(path, obj, f"{prefix}.endpointSelector", "missing required field")
        _check_selector(path, obj, f"{prefix}.endpointSelector", spec.endpoint_selector)
        sections: tuple[tuple[str, tuple[PeerRule, ...] | None, bool, bool], ...] = (
            ("ingress", spec.ingress, True, False),
            ("ingressDeny", spec.ingress_deny, True, True),
            ("egress", spec.egress, False, False),
            ("egressDeny", spec.egress_deny, False, True),
        )
        for section, rules, ingress, deny in sections:
            for r_index, rule in enumerate(rules or ()):
                _check_rule(path, obj, f"{prefix}.{section}[{r_index}]", rule, ingress, deny)


def _check_rule(
    path: Path, obj: str, where: str, rule: PeerRule, ingress: bool, deny: bool
) -> None:
    wrong_side = (
        ("toEndpoints", "toEntities", "toCIDR", "toCIDRSet")
        if ingress
        else ("fromEndpoints", "fromEntities", "fromCIDR", "fromCIDRSet")
    )
    for alias in wrong_side:
        if rule.model_dump(by_alias=True).get(alias) is not None:
            side = "an ingress" if ingress else "an egress"
            raise BlueprintError(path, obj, f"{where}.{alias}", f"not allowed in {side} rule")
    selectors = (rule.from_endpoints if ingress else rule.to_endpoints) or ()
    for i, sel in enumerate(selectors):
        name = "fromEndpoints" if ingress else "toEndpoints"
        _check_selector(path, obj, f"{where}.{name}[{i}]", sel)
    for p_index, port_rule in enumerate(rule.to_ports or ()):
        if deny and port_rule.rules is not None:
            raise BlueprintError(
                path,
                obj,
                f"{where}.toPorts[{p_index}].rules",
                "L7 rules are not allowed in deny rules (Cilium rejects them)",
            )


def _check_references(bp: Blueprint) -> None:
    """Every namespaced object must live in a namespace the blueprint declares."""
    for (kind, namespace, name), source in bp.sources.items():
        if namespace and namespace not in bp.namespaces:
            raise BlueprintError(
                source.file,
                f"{kind} {namespace}/{name}",
                "metadata.namespace",
                f"namespace '{namespace}' is not declared by any Namespace manifest",
            )
