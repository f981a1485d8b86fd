"""The local sandbox's control plane: the objects it holds, admission, RBAC and audit.

The network half of the sandbox (pods, nftables) lives in the supervisor; this half is pure
Python in the harness process: the blueprint's objects as the API server would store them,
the admission chain that answers create requests (``admission/chain.py``), and Gatekeeper's
audit over the stored objects. Faults that ``gauntlet selfcheck`` plants here change what the
sandbox *holds or enforces* (a quota deleted, a wildcard Role bound, a constraint switched to
dryrun, the webhook down), never what the oracle or the suites expect.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from gauntlet.admission.chain import AdmissionChain, WebhookState
from gauntlet.admission.quota import QuotaLedger
from gauntlet.admission.templates import EnforcementAction
from gauntlet.admission.webhook import UNREACHABLE_MESSAGE, gatekeeper_scope
from gauntlet.blueprint.kube import Role, RoleBinding
from gauntlet.blueprint.model import Blueprint
from gauntlet.rbac import Authorizer
from gauntlet.targets.base import AdmissionResult, AuditFinding, Subject, TargetError

ADMISSION_FAULTS: dict[str, str] = {
    "admission-webhook-down": "Gatekeeper's webhook is down and its failurePolicy is Ignore "
    "(every request is admitted unchecked)",
    "constraint-dryrun": "one constraint was switched to enforcementAction: dryrun",
    "rbac-wildcard": "a tenant's group was bound to a Role granting * on * in its namespace",
    "quota-removed": "a tenant's ResourceQuota is missing (GitOps sync skipped it)",
}


class LocalControlPlane:
    """Objects, admission and authorization of one sandbox."""

    def __init__(self, blueprint: Blueprint) -> None:
        self.blueprint = blueprint
        self.chain = AdmissionChain.from_blueprint(blueprint)
        # Chaos: handles of the webhook outages in progress, and the state they interrupted.
        self._outages: set[str] = set()
        self._webhook_before: WebhookState | None = None

    def close(self) -> None:
        self.chain.close()

    # -- verbs -------------------------------------------------------------------------------

    def admit(
        self, manifest: Mapping[str, Any], *, as_user: str, as_groups: Sequence[str] = ()
    ) -> AdmissionResult:
        return self.chain.admit(manifest, as_user=as_user, as_groups=as_groups)

    def can_i(
        self, subject: Subject, verb: str, resource: str, *, namespace: str | None, name: str = ""
    ) -> bool:
        return self.chain.can_i(subject, verb, resource, namespace=namespace, name=name)

    def objects(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        # Copies: a caller editing what it got must not edit what the sandbox holds.
        return copy.deepcopy(self.blueprint.objects(kind, namespace))

    def audit(self) -> list[AuditFinding]:
        found = self.chain.engine.audit(self.blueprint.manifests.values())
        return [
            AuditFinding(
                constraint=f.violation.constraint_name,
                constraint_kind=f.violation.constraint_kind,
                action=f.violation.action.value,
                kind=f.kind,
                namespace=f.namespace,
                name=f.name,
                message=f.violation.message,
            )
            for f in found
        ]

    # -- faults ------------------------------------------------------------------------------

    def plant(self, fault_id: str, params: Mapping[str, str]) -> None:
        if fault_id == "admission-webhook-down":
            self.chain.webhook = WebhookState(
                available=False, failure_policy=params.get("failurePolicy", "Ignore")
            )
        elif fault_id == "constraint-dryrun":
            name = _param(params, fault_id, "constraint")
            try:
                self.chain.engine = self.chain.engine.with_action(name, EnforcementAction.DRYRUN)
            except KeyError as exc:
                raise TargetError(f"cannot plant {fault_id}: {exc.args[0]}") from None
        elif fault_id == "rbac-wildcard":
            namespace = _param(params, fault_id, "namespace")
            group = params.get("group", f"{namespace}-devs")
            self._replace_blueprint(_with_wildcard_role(self.blueprint, namespace, group))
            self.chain.authorizer = Authorizer.from_blueprint(self.blueprint)
        elif fault_id == "quota-removed":
            namespace = _param(params, fault_id, "namespace")
            bp = self.blueprint
            if not any(q.metadata.namespace == namespace for q in bp.quotas):
                raise TargetError(f"cannot plant {fault_id}: no ResourceQuota in {namespace}")
            self._replace_blueprint(
                dataclasses.replace(
                    bp,
                    quotas=[q for q in bp.quotas if q.metadata.namespace != namespace],
                    manifests={
                        k: v
                        for k, v in bp.manifests.items()
                        if not (k[0] == "ResourceQuota" and k[1] == namespace)
                    },
                )
            )
            self.chain.ledger = QuotaLedger.from_blueprint(self.blueprint)
        else:
            raise TargetError(f"unknown admission fault {fault_id!r}")

    def webhook_outage(self, handle: str) -> None:
        """Gatekeeper's webhook stops answering (its pods gone): the API server applies the
        failurePolicy of the blueprint's ``validation.gatekeeper.sh`` registration (Gatekeeper's
        default Ignore without one) to the requests that registration matches."""
        try:
            scope = gatekeeper_scope(self.blueprint)
        except ValueError as exc:
            raise TargetError(f"admission-webhook-outage: {exc}") from None
        if not self._outages:
            self._webhook_before = self.chain.webhook
        self._outages.add(handle)
        self.chain.webhook = WebhookState(
            available=False,
            failure_policy=scope.failure_policy,
            scope=scope,
            failure_message=UNREACHABLE_MESSAGE,
        )

    def webhook_restored(self, handle: str) -> None:
        """The outage ``handle`` ends; the webhook answers again once no outage is left."""
        self._outages.discard(handle)
        if not self._outages and self._webhook_before is not None:
            self.chain.webhook, self._webhook_before = self._webhook_before, None

    def _replace_blueprint(self, bp: Blueprint) -> None:
        self.blueprint = bp
        self.chain.blueprint = bp


def _param(params: Mapping[str, str], fault_id: str, key: str) -> str:
    if key not in params:
        raise TargetError(f"cannot plant {fault_id}: parameter {key}=... is required")
    return params[key]


def _with_wildcard_role(bp: Blueprint, namespace: str, group: str) -> Blueprint:
    meta = {"name": "planted-wildcard", "namespace": namespace}
    role = Role.model_validate(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": meta,
            "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
        }
    )
    binding_doc = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": meta,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": meta["name"]},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}],
    }
    binding = RoleBinding.model_validate(binding_doc)
    return dataclasses.replace(
        bp,
        roles=[*bp.roles, role],
        role_bindings=[*bp.role_bindings, binding],
        manifests={
            **bp.manifests,
            ("Role", namespace, meta["name"]): role.model_dump(by_alias=True),
            ("RoleBinding", namespace, meta["name"]): binding_doc,
        },
    )
