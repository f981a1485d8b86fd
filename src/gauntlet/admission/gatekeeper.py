"""Gatekeeper's validating webhook and audit, on the local sandbox, with a real Rego engine.

Each request is matched against the constraints (``match.py``) in Python first; only matching
constraints are evaluated, by the template's Rego, unchanged, with Gatekeeper's input:
``input.review`` is the AdmissionRequest (for audit: ``kind``, ``name``, ``namespace``,
``object`` and no ``operation``/``userInfo``) plus ``_unstable.namespace``, and
``input.parameters`` is the constraint's ``spec.parameters``. Referential data is
``data.inventory`` in Gatekeeper's sync layout. The enforcement action decides what a violation
does: deny (webhook refuses), warn (response warning), dryrun (nothing at admission; audit
records it).
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gauntlet.admission.match import MatchTarget, constraint_matches
from gauntlet.admission.rego import RegoEngineError, RegoWorker
from gauntlet.admission.templates import (
    CompiledConstraint,
    CompiledTemplate,
    EnforcementAction,
    Match,
    compile_constraint,
    compile_template,
)
from gauntlet.blueprint.errors import BlueprintError
from gauntlet.blueprint.model import Blueprint
from gauntlet.rbac import UserInfo, resource_for_kind
from gauntlet.rbac.resources import UnknownKindError

_UID_PREFIX = f"gauntlet-{os.getpid():08x}"
_UIDS = itertools.count(1)
# Gatekeeper's webhook skips namespaces carrying this label (its namespaceSelector).
IGNORE_LABEL = "admission.gatekeeper.sh/ignore"


@dataclass(frozen=True)
class Violation:
    """One result of one constraint: what Gatekeeper turns into ``[name] msg``."""

    constraint_kind: str
    constraint_name: str
    action: EnforcementAction
    message: str
    details: Any = None


@dataclass(frozen=True)
class AuditViolation:
    """A violation found by audit on an object that already exists."""

    kind: str
    namespace: str
    name: str
    violation: Violation


class PolicyEvaluationError(RegoEngineError):
    """A template's Rego failed at run time on a request (Gatekeeper answers with an error)."""


def split_api_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


class GatekeeperEngine:
    """Templates and constraints compiled once; ``review`` and ``audit`` are cheap after that."""

    def __init__(
        self,
        templates: Sequence[CompiledTemplate],
        constraints: Sequence[CompiledConstraint],
        *,
        namespaces: Mapping[str, Mapping[str, str]] | None = None,
        worker: RegoWorker | None = None,
    ) -> None:
        self.templates = {t.kind: t for t in templates}
        self.constraints = list(constraints)
        self._group_matches()
        self.namespace_labels: dict[str, Mapping[str, str]] = dict(namespaces or {})
        self._own_worker = worker is None
        self.worker = worker or RegoWorker()
        errors = self.worker.load(
            {t.id: t.rego for t in templates},
            {c.id: (c.template_id, c.parameters) for c in self.constraints},
        )
        if errors:
            tid, message = next(iter(errors.items()))
            tpl = next(t for t in templates if t.id == tid)
            file, _, obj = tpl.where.partition(": ")
            raise BlueprintError(
                file, obj, "spec.targets[0].rego", f"Rego does not compile: {message}"
            )

    def _group_matches(self) -> None:
        # Platforms write one match block for a whole family of constraints; deciding it once
        # per request instead of once per constraint halves the cost of a review.
        groups: dict[str, tuple[Match, list[CompiledConstraint]]] = {}
        for c in self.constraints:
            key = c.match.model_dump_json()
            groups.setdefault(key, (c.match, []))[1].append(c)
        self._match_groups = list(groups.values())

    def _matching(self, targets: Sequence[MatchTarget], *, audit: bool) -> list[CompiledConstraint]:
        found: list[CompiledConstraint] = []
        for match, members in self._match_groups:
            for t in targets:
                if constraint_matches(match, t):
                    for c in members:
                        if (c.audit_action if audit else c.webhook_action) is not None:
                            found.append(c)
                    break
        return found

    @classmethod
    def from_blueprint(cls, bp: Blueprint, *, worker: RegoWorker | None = None) -> GatekeeperEngine:
        templates: list[CompiledTemplate] = []
        for key, doc in bp.manifests.items():
            if key[0] == "ConstraintTemplate":
                templates.append(compile_template(doc, file=bp.sources[key].file))
        by_kind = {t.kind: t for t in templates}
        constraints = [
            compile_constraint(doc, file=bp.sources[key].file, templates=by_kind)
            for key, doc in bp.manifests.items()
            if str(doc.get("apiVersion", "")).startswith("constraints.gatekeeper.sh/")
        ]
        namespaces = {name: bp.namespace_labels(name) for name in bp.namespaces}
        engine = cls(templates, constraints, namespaces=namespaces, worker=worker)
        engine.set_inventory(bp.manifests.values())
        return engine

    @classmethod
    def from_files(
        cls,
        templates: Iterable[tuple[Path, Mapping[str, Any]]],
        constraints: Iterable[tuple[Path, Mapping[str, Any]]],
        *,
        worker: RegoWorker | None = None,
    ) -> GatekeeperEngine:
        compiled = [compile_template(doc, file=path) for path, doc in templates]
        by_kind = {t.kind: t for t in compiled}
        cons = [compile_constraint(doc, file=path, templates=by_kind) for path, doc in constraints]
        return cls(compiled, cons, worker=worker)

    def close(self) -> None:
        if self._own_worker:
            self.worker.close()

    def __enter__(self) -> GatekeeperEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- configuration -----------------------------------------------------------------------

    def set_inventory(self, objects: Iterable[Mapping[str, Any]]) -> None:
        """Sync objects into ``data.inventory`` (Gatekeeper's ``namespace``/``cluster`` layout)."""
        namespaced: dict[str, Any] = {}
        cluster: dict[str, Any] = {}
        for obj in objects:
            meta = obj.get("metadata") or {}
            api_version, kind, name = obj.get("apiVersion"), obj.get("kind"), meta.get("name")
            if not (api_version and kind and name):
                continue
            ns = meta.get("namespace")
            root = namespaced.setdefault(ns, {}) if ns else cluster
            root.setdefault(str(api_version), {}).setdefault(str(kind), {})[str(name)] = obj
            if kind == "Namespace" and not ns:
                labels = dict(meta.get("labels") or {})
                labels.setdefault("kubernetes.io/metadata.name", str(name))
                self.namespace_labels.setdefault(str(name), labels)
        self.worker.set_data({"inventory": {"namespace": namespaced, "cluster": cluster}})

    def with_action(self, constraint_name: str, action: EnforcementAction) -> GatekeeperEngine:
        """A view of this engine where one constraint's action is overridden (selfcheck fault:
        a constraint switched to dryrun); shares the same worker."""
        found = [c for c in self.constraints if c.name == constraint_name]
        if not found:
            raise KeyError(f"no constraint named {constraint_name!r}")
        clone = object.__new__(GatekeeperEngine)
        clone.templates = self.templates
        clone.constraints = [
            replace(c, webhook_action=action, audit_action=action)
            if c.name == constraint_name
            else c
            for c in self.constraints
        ]
        clone.namespace_labels = self.namespace_labels
        clone._group_matches()
        clone.worker = self.worker
        clone._own_worker = False
        return clone

    # -- evaluation --------------------------------------------------------------------------

    def review(
        self,
        obj: Mapping[str, Any],
        *,
        operation: str = "CREATE",
        user: UserInfo | None = None,
        old_object: Mapping[str, Any] | None = None,
        resource: tuple[str, str, str] | None = None,
    ) -> list[Violation]:
        """The webhook's view: violations of every matching constraint enforced at admission."""
        return self.review_many(
            [obj], operation=operation, user=user, old_objects=[old_object], resource=resource
        )[0]

    def review_many(
        self,
        objs: Sequence[Mapping[str, Any]],
        *,
        operation: str = "CREATE",
        user: UserInfo | None = None,
        old_objects: Sequence[Mapping[str, Any] | None] | None = None,
        resource: tuple[str, str, str] | None = None,
    ) -> list[list[Violation]]:
        items: list[tuple[dict[str, Any], list[CompiledConstraint]]] = []
        for i, obj in enumerate(objs):
            old = old_objects[i] if old_objects else None
            subject = old if operation == "DELETE" and old is not None else obj
            target = self._target(subject)
            if target.namespace and IGNORE_LABEL in (target.namespace_labels or {}):
                items.append(({}, []))
                continue
            # Gatekeeper matches a request when either the object or the old object matches.
            targets = [target] if old is None or subject is old else [target, self._target(old)]
            cons = self._matching(targets, audit=False)
            review = self._admission_review(
                obj, old, target, operation=operation, user=user, resource=resource
            )
            items.append((review, cons))
        return self._evaluate(items, audit=False)

    def audit(self, objects: Iterable[Mapping[str, Any]]) -> list[AuditViolation]:
        """Gatekeeper's audit over existing objects: every action is reported, dryrun too."""
        batch: list[tuple[dict[str, Any], list[CompiledConstraint]]] = []
        refs: list[tuple[str, str, str]] = []
        for obj in objects:
            target = self._target(obj)
            cons = self._matching([target], audit=True)
            if not cons:
                continue
            review: dict[str, Any] = {
                "kind": {"group": target.group, "version": self._version(obj), "kind": target.kind},
                "name": target.name,
                "namespace": target.namespace,
                "object": obj,
            }
            self._add_unstable(review, target)
            batch.append((review, cons))
            refs.append((target.kind, target.namespace, target.name))
        found: list[AuditViolation] = []
        for ref, violations in zip(refs, self._evaluate(batch, audit=True), strict=True):
            found.extend(AuditViolation(*ref, violation=v) for v in violations)
        return found

    def _evaluate(
        self, items: Sequence[tuple[dict[str, Any], list[CompiledConstraint]]], *, audit: bool
    ) -> list[list[Violation]]:
        wanted = [
            (json.dumps(review, separators=(",", ":")), [c.id for c in cons])
            for review, cons in items
            if cons
        ]
        raw = iter(self.worker.evaluate(wanted))
        out: list[list[Violation]] = []
        for _, cons in items:
            if not cons:
                out.append([])
                continue
            answers = next(raw)
            violations: list[Violation] = []
            for constraint, answer in zip(cons, answers, strict=True):
                if isinstance(answer, dict) and "error" in answer:
                    raise PolicyEvaluationError(
                        f"{constraint.where}: template {constraint.kind} failed: {answer['error']}"
                    )
                action = constraint.audit_action if audit else constraint.webhook_action
                assert action is not None
                for result in answer or []:
                    violations.append(
                        Violation(
                            constraint_kind=constraint.kind,
                            constraint_name=constraint.name,
                            action=action,
                            message=_message(result),
                            details=result.get("details") if isinstance(result, dict) else None,
                        )
                    )
            violations.sort(key=lambda v: (v.constraint_name, v.message))
            out.append(violations)
        return out

    # -- request construction ----------------------------------------------------------------

    @staticmethod
    def _version(obj: Mapping[str, Any]) -> str:
        return split_api_version(str(obj.get("apiVersion") or ""))[1]

    def _target(self, obj: Mapping[str, Any]) -> MatchTarget:
        group, _ = split_api_version(str(obj.get("apiVersion") or ""))
        kind = str(obj.get("kind") or "")
        namespace = str((obj.get("metadata") or {}).get("namespace") or "")
        return MatchTarget.of(
            obj,
            group=group,
            kind=kind,
            namespace=namespace,
            namespace_labels=self.namespace_labels.get(namespace) if namespace else None,
        )

    def _admission_review(
        self,
        obj: Mapping[str, Any],
        old: Mapping[str, Any] | None,
        target: MatchTarget,
        *,
        operation: str,
        user: UserInfo | None,
        resource: tuple[str, str, str] | None,
    ) -> dict[str, Any]:
        version = self._version(obj)
        group, res_version, plural = resource or (target.group, version, _resource(obj))
        review: dict[str, Any] = {
            # Unique per request like the API server's UID; a counter is cheaper than uuid4.
            "uid": f"{_UID_PREFIX}-{next(_UIDS):012d}",
            "kind": {"group": target.group, "version": version, "kind": target.kind},
            "resource": {"group": group, "version": res_version, "resource": plural},
            "requestKind": {"group": target.group, "version": version, "kind": target.kind},
            "name": target.name,
            "namespace": target.namespace,
            "operation": operation,
            "userInfo": {
                "username": user.name if user else "",
                "groups": list(user.groups) if user else [],
            },
            "object": None if operation == "DELETE" else obj,
            "oldObject": old,
            "dryRun": True,
            "options": None,
        }
        self._add_unstable(review, target)
        return review

    def _add_unstable(self, review: dict[str, Any], target: MatchTarget) -> None:
        # Gatekeeper hands templates the object's Namespace as review._unstable.namespace.
        if target.namespace and target.namespace_labels is not None:
            review["_unstable"] = {
                "namespace": {
                    "apiVersion": "v1",
                    "kind": "Namespace",
                    "metadata": {"name": target.namespace, "labels": dict(target.namespace_labels)},
                }
            }


def _message(result: Any) -> str:
    if isinstance(result, dict):
        msg = result.get("msg")
        return msg if isinstance(msg, str) else str(msg)
    return str(result)


def _resource(obj: Mapping[str, Any]) -> str:
    """The plural resource name of a manifest, from the same table RBAC uses."""
    try:
        ref, _ = resource_for_kind(str(obj.get("apiVersion") or ""), str(obj.get("kind") or ""))
    except UnknownKindError:
        return str(obj.get("kind") or "").lower() + "s"  # the API server's default plural
    return ref.resource
