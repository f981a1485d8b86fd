"""ConstraintTemplates and Constraints as Gatekeeper reads them, checked before anything runs.

A template is turned into the Rego modules the engine loads (its ``rego`` plus ``libs``, or the
``code[engine=Rego]`` form of newer Gatekeeper releases with its ``version``); a constraint into
its typed match criteria, enforcement action per enforcement point and parameters, validated
against the template's ``openAPIV3Schema`` as the CRD Gatekeeper generates would validate them.
Every problem is a ``BlueprintError`` naming the file, the object and the field.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import jsonschema
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gauntlet.admission.rego import RegoModuleSet
from gauntlet.admission.worker import PACKAGE_RE
from gauntlet.blueprint.errors import BlueprintError, UnsupportedPolicyError
from gauntlet.blueprint.selectors import LabelSelector

ADMISSION_TARGET = "admission.k8s.gatekeeper.sh"
WEBHOOK_POINT = "validation.gatekeeper.sh"
AUDIT_POINT = "audit.gatekeeper.sh"


class EnforcementAction(StrEnum):
    DENY = "deny"
    WARN = "warn"
    DRYRUN = "dryrun"


class KindSelector(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    api_groups: tuple[str, ...] = Field(default=(), alias="apiGroups")
    kinds: tuple[str, ...] = ()


class Match(BaseModel):
    """``spec.match`` of a constraint (Gatekeeper's match criteria; unknown fields are errors)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    kinds: tuple[KindSelector, ...] = ()
    scope: str = Field(default="*", pattern=r"^(\*|Cluster|Namespaced)$")
    namespaces: tuple[str, ...] = ()
    excluded_namespaces: tuple[str, ...] = Field(default=(), alias="excludedNamespaces")
    label_selector: LabelSelector | None = Field(default=None, alias="labelSelector")
    namespace_selector: LabelSelector | None = Field(default=None, alias="namespaceSelector")
    name: str = ""
    source: str = Field(default="", pattern=r"^(|All|Generated|Original)$")


@dataclass(frozen=True)
class CompiledTemplate:
    name: str
    kind: str
    rego: RegoModuleSet
    schema: Mapping[str, Any] | None
    where: str

    @functools.cached_property
    def id(self) -> str:
        """Identity in the Rego worker: the kind plus a digest of the Rego, so that one worker
        can hold two versions of a template (``policy verify`` runs many suites in one)."""
        digest = hashlib.sha256(repr(self.rego).encode()).hexdigest()[:12]
        return f"{self.kind}@{digest}"


@dataclass(frozen=True)
class CompiledConstraint:
    kind: str
    name: str
    match: Match
    parameters: Mapping[str, Any]
    # The action per enforcement point: Gatekeeper's ``scoped`` action can differ per point.
    webhook_action: EnforcementAction | None
    audit_action: EnforcementAction | None
    where: str
    template_id: str

    @functools.cached_property
    def id(self) -> str:
        params = json.dumps(self.parameters, sort_keys=True, default=str)
        digest = hashlib.sha256(f"{self.template_id}|{params}".encode()).hexdigest()[:12]
        return f"{self.kind}/{self.name}@{digest}"


def compile_template(doc: Mapping[str, Any], *, file: Path | str) -> CompiledTemplate:
    name = str(_get(doc, "metadata", "name") or "")
    obj = f"ConstraintTemplate {name or '(unnamed)'}"
    if not name:
        raise BlueprintError(file, obj, "metadata.name", "missing")
    kind = _get(doc, "spec", "crd", "spec", "names", "kind")
    if not isinstance(kind, str) or not kind:
        raise BlueprintError(file, obj, "spec.crd.spec.names.kind", "missing")
    if kind.lower() != name:
        # Gatekeeper refuses templates whose name is not the lowercased CRD kind.
        raise BlueprintError(
            file,
            obj,
            "metadata.name",
            f"must be the lowercase of the kind '{kind}' ('{kind.lower()}')",
        )
    targets = _get(doc, "spec", "targets")
    if not isinstance(targets, list) or len(targets) != 1 or not isinstance(targets[0], dict):
        raise BlueprintError(file, obj, "spec.targets", "exactly one target is required")
    target = targets[0]
    if target.get("target") != ADMISSION_TARGET:
        raise BlueprintError(file, obj, "spec.targets[0].target", f"must be '{ADMISSION_TARGET}'")
    rego, libs, version, field = _rego_source(target, file=file, obj=obj)
    package = PACKAGE_RE.search(rego)
    if package is None:
        raise BlueprintError(file, obj, field, "the Rego has no package declaration")
    if not re.search(r"^\s*violation\s*\[", rego, re.MULTILINE):
        raise BlueprintError(file, obj, field, "the Rego defines no `violation[...]` rule")
    modules = [(f"{name}/template.rego", rego)]
    for i, lib in enumerate(libs):
        if not isinstance(lib, str):
            raise BlueprintError(
                file, obj, f"{field.rsplit('.', 1)[0]}.libs[{i}]", "must be a string"
            )
        lib_package = PACKAGE_RE.search(lib)
        if lib_package is None or not lib_package.group(1).startswith("lib."):
            # Gatekeeper: "library package must begin with `lib.`".
            raise BlueprintError(
                file, obj, f"{field.rsplit('.', 1)[0]}.libs[{i}]", "package must begin with `lib.`"
            )
        modules.append((f"{name}/lib{i}.rego", lib))
    schema = _get(doc, "spec", "crd", "spec", "validation", "openAPIV3Schema")
    return CompiledTemplate(
        name=name,
        kind=kind,
        rego=RegoModuleSet(
            modules=tuple(modules),
            rule=f"data.{package.group(1)}.violation",
            version=version,
        ),
        schema=schema if isinstance(schema, dict) else None,
        where=f"{file}: {obj}",
    )


def _rego_source(
    target: Mapping[str, Any], *, file: Path | str, obj: str
) -> tuple[str, list[Any], str, str]:
    if isinstance(target.get("rego"), str):
        return target["rego"], list(target.get("libs") or []), "v0", "spec.targets[0].rego"
    engines = []
    for i, code in enumerate(target.get("code") or []):
        engine = code.get("engine") if isinstance(code, dict) else None
        engines.append(str(engine))
        if engine == "Rego":
            source = code.get("source") or {}
            version = str(source.get("version") or "v0")
            if version not in ("v0", "v1"):
                raise BlueprintError(
                    file, obj, f"spec.targets[0].code[{i}].source.version", "must be v0 or v1"
                )
            rego = source.get("rego")
            if not isinstance(rego, str):
                raise BlueprintError(file, obj, f"spec.targets[0].code[{i}].source.rego", "missing")
            return (
                rego,
                list(source.get("libs") or []),
                version,
                (f"spec.targets[0].code[{i}].source.rego"),
            )
    if engines:
        raise UnsupportedPolicyError(
            file,
            obj,
            "spec.targets[0].code",
            f"the sandbox evaluates only the Rego engine (found {', '.join(engines)}); "
            "add a Rego source or run this template on a cluster",
        )
    raise BlueprintError(file, obj, "spec.targets[0].rego", "missing")


def compile_constraint(
    doc: Mapping[str, Any], *, file: Path | str, templates: Mapping[str, CompiledTemplate]
) -> CompiledConstraint:
    kind = str(doc.get("kind") or "")
    name = str(_get(doc, "metadata", "name") or "")
    obj = f"{kind} {name or '(unnamed)'}"
    if not name:
        raise BlueprintError(file, obj, "metadata.name", "missing")
    template = templates.get(kind)
    if template is None:
        known = ", ".join(sorted(templates)) or "none"
        raise BlueprintError(
            file, obj, "kind", f"no ConstraintTemplate defines kind '{kind}' (defined: {known})"
        )
    spec = doc.get("spec") or {}
    if not isinstance(spec, dict):
        raise BlueprintError(file, obj, "spec", "must be a mapping")
    try:
        match = Match.model_validate(spec.get("match") or {})
    except ValidationError as exc:
        err = exc.errors()[0]
        field = "spec.match" + "".join(
            f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]
        )
        raise BlueprintError(file, obj, field, err["msg"]) from None
    parameters = spec.get("parameters") or {}
    if template.schema is not None:
        try:
            jsonschema.validate(parameters, _as_json_schema(template.schema))
        except jsonschema.ValidationError as exc:
            path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in exc.absolute_path)
            raise BlueprintError(
                file, obj, f"spec.parameters{path}", f"{exc.message} (template {template.name})"
            ) from None
    webhook, audit = _actions(spec, file=file, obj=obj)
    return CompiledConstraint(
        kind=kind,
        name=name,
        match=match,
        parameters=parameters,
        webhook_action=webhook,
        audit_action=audit,
        where=f"{file}: {obj}",
        template_id=template.id,
    )


def _actions(
    spec: Mapping[str, Any], *, file: Path | str, obj: str
) -> tuple[EnforcementAction | None, EnforcementAction | None]:
    action = str(spec.get("enforcementAction") or "deny").lower()
    if action != "scoped":
        try:
            parsed = EnforcementAction(action)
        except ValueError:
            raise BlueprintError(
                file, obj, "spec.enforcementAction", "must be deny, warn, dryrun or scoped"
            ) from None
        return parsed, parsed
    # Gatekeeper >= 3.18: per enforcement point actions; a point not listed is not enforced.
    webhook: EnforcementAction | None = None
    audit: EnforcementAction | None = None
    scoped = spec.get("scopedEnforcementActions") or []
    for i, entry in enumerate(scoped):
        where = f"spec.scopedEnforcementActions[{i}]"
        try:
            act = EnforcementAction(str(entry.get("action", "")).lower())
        except ValueError:
            raise BlueprintError(
                file, obj, f"{where}.action", "must be deny, warn or dryrun"
            ) from None
        for point in entry.get("enforcementPoints") or []:
            point_name = point.get("name") if isinstance(point, dict) else None
            if point_name in (WEBHOOK_POINT, "*"):
                webhook = _stronger(webhook, act)
            if point_name in (AUDIT_POINT, "*"):
                audit = _stronger(audit, act)
    return webhook, audit


def _stronger(a: EnforcementAction | None, b: EnforcementAction) -> EnforcementAction:
    order = [EnforcementAction.DRYRUN, EnforcementAction.WARN, EnforcementAction.DENY]
    return b if a is None or order.index(b) > order.index(a) else a


def _as_json_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """An OpenAPI v3 structural schema as JSON Schema: drop the Kubernetes ``x-kubernetes-*``
    extensions (jsonschema ignores unknown keywords anyway) and keep the rest."""
    return {k: v for k, v in schema.items() if not str(k).startswith("x-kubernetes-")}


def _get(doc: Mapping[str, Any], *path: str) -> Any:
    cur: Any = doc
    for key in path:
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(key)
    return cur
