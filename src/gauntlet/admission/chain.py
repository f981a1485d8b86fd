"""The sandbox's API server, for one purpose: answer a create request as a server-side dry run.

The order is kube-apiserver's: authentication is given (``as_user``/``as_groups``), then RBAC
authorization (including the escalation checks on Roles and bindings), then mutating admission
(LimitRanger defaults a Pod's requests and limits), then validating admission (LimitRanger's
min/max, Gatekeeper's webhook), then ResourceQuota, which the API server always runs last.
Every refusal carries the API server's status code and wording so that suites written against
the sandbox read a real cluster's answers the same way.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gauntlet.admission.gatekeeper import GatekeeperEngine, Violation
from gauntlet.admission.limitrange import apply_limit_ranges
from gauntlet.admission.quota import QuotaLedger
from gauntlet.admission.response import (
    parse_denials,
    warning_lines,
    webhook_denial_message,
)
from gauntlet.admission.webhook import WebhookScope
from gauntlet.blueprint.model import Blueprint
from gauntlet.rbac import Authorizer, resource_for_kind, user_info
from gauntlet.rbac.resources import UnknownKindError
from gauntlet.targets.base import AdmissionResult, Subject


@dataclass
class WebhookState:
    """Whether Gatekeeper's webhook answers, and what the API server does when it does not.

    Gatekeeper installs its ValidatingWebhookConfiguration with ``failurePolicy: Ignore`` by
    default: while the webhook is down, every request is admitted unchecked.
    """

    available: bool = True
    failure_policy: str = "Ignore"
    # Which requests the webhook sees (its ValidatingWebhookConfiguration entry) while it is
    # down; None: every request (the selfcheck fault's simple model).
    scope: WebhookScope | None = None
    failure_message: str = (
        'Internal error occurred: failed calling webhook "validation.gatekeeper.sh": '
        "failed to call webhook: the webhook is unavailable"
    )


def subject_for(as_user: str, as_groups: Sequence[str] = ()) -> Subject:
    """The identity kube-apiserver would authenticate for ``--as``/``--as-group``."""
    prefix = "system:serviceaccount:"
    if as_user.startswith(prefix):
        namespace, _, name = as_user[len(prefix) :].partition(":")
        return Subject(
            kind="ServiceAccount", name=name, namespace=namespace, groups=tuple(as_groups)
        )
    return Subject(kind="User", name=as_user, groups=tuple(as_groups))


@dataclass
class AdmissionChain:
    """Authorization → LimitRanger → Gatekeeper → ResourceQuota, over one blueprint."""

    blueprint: Blueprint
    engine: GatekeeperEngine
    authorizer: Authorizer
    ledger: QuotaLedger
    webhook: WebhookState = field(default_factory=WebhookState)

    @classmethod
    def from_blueprint(
        cls, bp: Blueprint, *, engine: GatekeeperEngine | None = None
    ) -> AdmissionChain:
        return cls(
            blueprint=bp,
            engine=engine or GatekeeperEngine.from_blueprint(bp),
            authorizer=Authorizer.from_blueprint(bp),
            ledger=QuotaLedger.from_blueprint(bp),
        )

    def close(self) -> None:
        self.engine.close()

    def admit(
        self,
        manifest: Mapping[str, Any],
        *,
        as_user: str,
        as_groups: Sequence[str] = (),
        record: bool = False,
    ) -> AdmissionResult:
        """A create request, dry-run. ``record`` keeps an admitted object's quota usage, so a
        sequence of requests accumulates like real creates would (the 21st pod is refused)."""
        obj = copy.deepcopy(dict(manifest))
        kind = str(obj.get("kind") or "")
        api_version = str(obj.get("apiVersion") or "")
        meta = obj.get("metadata")
        if not kind or not api_version or not isinstance(meta, dict) or not meta.get("name"):
            return _refused(400, "Object 'Kind', 'apiVersion' and 'metadata.name' are required")
        name = str(meta["name"])
        try:
            resource, namespaced = resource_for_kind(api_version, kind)
        except UnknownKindError as exc:
            return _refused(404, str(exc))
        qualified = resource.resource + (f".{resource.group}" if resource.group else "")
        namespace = str(meta.get("namespace") or "") if namespaced else ""
        if namespaced and not namespace:
            return _refused(400, f'{qualified} "{name}": the namespace of the object is required')
        if namespace and namespace not in self.blueprint.namespaces:
            return _refused(404, f'namespaces "{namespace}" not found')

        subject = subject_for(as_user, as_groups)
        decision = self.authorizer.authorize_request(
            subject, verb="create", manifest=obj, namespace=namespace or None
        )
        if not decision.allowed:
            return _refused(decision.status_code or 403, decision.message or decision.reason)

        forbidden = f'{qualified} "{name}" is forbidden: '
        if kind == "Pod" and api_version == "v1":
            outcome = apply_limit_ranges(obj, self.blueprint.objects("LimitRange", namespace))
            if outcome.errors:
                return _refused(403, forbidden + outcome.message)
            obj = outcome.pod

        warnings: tuple[str, ...] = ()
        if self.webhook.available:
            violations: list[Violation] = self.engine.review(
                obj,
                user=user_info(subject),
                resource=(resource.group, api_version.rpartition("/")[2], resource.resource),
            )
            warnings = tuple(warning_lines(violations))
            if any(v.action.value == "deny" for v in violations):
                message = webhook_denial_message(violations)
                return AdmissionResult(
                    allowed=False,
                    denials=parse_denials(message),
                    warnings=warnings,
                    status_code=403,
                    message=message,
                )
        elif self.webhook.failure_policy == "Fail" and self._webhook_sees(
            obj,
            group=resource.group,
            version=api_version.rpartition("/")[2],
            resource=resource.resource,
            namespaced=namespaced,
            namespace=namespace,
        ):
            return _refused(500, self.webhook.failure_message)

        quota = self.ledger.check(obj, namespace=namespace)
        if not quota.allowed:
            return _refused(403, forbidden + quota.message, warnings=warnings)
        if record:
            self.ledger.record(obj, namespace=namespace)
        return AdmissionResult(allowed=True, warnings=warnings, status_code=201)

    def _webhook_sees(
        self,
        obj: Mapping[str, Any],
        *,
        group: str,
        version: str,
        resource: str,
        namespaced: bool,
        namespace: str,
    ) -> bool:
        scope = self.webhook.scope
        if scope is None:
            return True
        labels: dict[str, str] | None = None
        if namespaced:
            labels = self.blueprint.namespace_labels(namespace)
        elif resource == "namespaces" and not group:
            # A Namespace request is matched on the namespace object's own labels.
            meta = obj.get("metadata")
            own = meta.get("labels") if isinstance(meta, dict) else None
            labels = {str(k): str(v) for k, v in (own or {}).items()}
            labels["kubernetes.io/metadata.name"] = str(obj["metadata"]["name"])
        return scope.intercepts(
            obj,
            operation="CREATE",
            group=group,
            version=version,
            resource=resource,
            namespaced=namespaced,
            namespace_labels=labels,
        )

    def can_i(
        self, subject: Subject, verb: str, resource: str, *, namespace: str | None, name: str = ""
    ) -> bool:
        return self.authorizer.authorize(
            subject, verb=verb, resource=resource, namespace=namespace, name=name
        ).allowed


def _refused(code: int, message: str, *, warnings: tuple[str, ...] = ()) -> AdmissionResult:
    return AdmissionResult(allowed=False, status_code=code, message=message, warnings=warnings)
