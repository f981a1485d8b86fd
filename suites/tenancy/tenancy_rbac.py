"""The RBAC questions of the tenancy suite and how their answers are judged.

Least privilege is a set of *denials*, and a denial proves something only if the same subject is
allowed something in the same round: a target whose authorizer (or SubjectAccessReview plumbing,
or impersonation) answers "no" to everything would otherwise pass every negative question. So each
developer first gets positive controls, ``create``/``update``/``delete`` of ``deployments.apps``
and ``pods`` in its own namespace for ``can_i``, and a small compliant Pod for ``admit``. Their
denials count only when the controls were allowed. An *allowance* where a denial is required
needs no control: it is a violation whatever else the target says.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tenancy_observe import list_objects
from tenancy_subjects import Developer, ObjectRef, tenant_identities
from tenancy_table import render_table

from gauntlet.blueprint.model import Blueprint
from gauntlet.report.scorecard import Verdict
from gauntlet.targets.base import AdmissionResult, Target, TargetError

WORKLOAD_RESOURCES = ("deployments.apps", "pods")
WORKLOAD_VERBS = ("create", "update", "delete")
SECRET_VERBS = ("get", "list")
CLUSTER_VERBS = ("create", "delete")
BASELINE_VERBS = ("delete", "patch", "update")
# Cluster-scoped kinds a tenant must never write: each one reaches past the namespace (its own
# Namespace labels included: pod-security and tenant labels drive the guardrails).
CLUSTER_RESOURCES = (
    "namespaces",
    "nodes",
    "clusterroles.rbac.authorization.k8s.io",
    "clusterrolebindings.rbac.authorization.k8s.io",
    "customresourcedefinitions.apiextensions.k8s.io",
    "constrainttemplates.templates.gatekeeper.sh",
    "ciliumclusterwidenetworkpolicies.cilium.io",
    "validatingwebhookconfigurations.admissionregistration.k8s.io",
)

OK = "ok"
VIOLATION = "VIOLATION"
UNPROVEN = "unproven (control failed)"
NO_ANSWER = "no answer"
CONTROL_FAILED = "CONTROL FAILED"


@dataclass(frozen=True)
class Row:
    subject: str
    question: str
    expected: str
    observed: str
    outcome: str


@dataclass
class RbacLedger:
    """Every question asked in one tenant's RBAC check, with its outcome."""

    rows: list[Row] = field(default_factory=list)

    def add(self, *cells: str) -> None:
        self.rows.append(Row(*cells))

    def outcomes(self, outcome: str) -> list[Row]:
        return [r for r in self.rows if r.outcome == outcome]

    def table(self) -> str:
        # Observed last: refusals carry the API server's whole message.
        return render_table(
            ("subject", "question", "expected", "outcome", "observed"),
            [(r.subject, r.question, r.expected, r.outcome, r.observed) for r in self.rows],
        )


def ask(
    target: Target,
    dev: Developer,
    verbs: Sequence[str],
    resource: str,
    *,
    namespace: str | None,
    name: str = "",
) -> tuple[list[str], list[str], str]:
    """(allowed verbs, denied verbs, error) of ``can_i`` for each verb."""
    allowed: list[str] = []
    denied: list[str] = []
    for verb in verbs:
        try:
            ok = target.can_i(dev.subject, verb, resource, namespace=namespace, name=name)
        except TargetError as exc:
            return allowed, denied, str(exc)
        (allowed if ok else denied).append(verb)
    return allowed, denied, ""


def question(verbs: Sequence[str], resource: str, namespace: str | None, name: str = "") -> str:
    where = f"in {namespace}" if namespace else "(cluster scope)"
    return f"{'/'.join(verbs)} {resource}{' ' + name if name else ''} {where}"


def check_controls(target: Target, dev: Developer, namespace: str, ledger: RbacLedger) -> bool:
    """The positive controls: the developer manages workloads in its own namespace."""
    all_ok = True
    for resource in WORKLOAD_RESOURCES:
        _, denied, error = ask(target, dev, WORKLOAD_VERBS, resource, namespace=namespace)
        q = question(WORKLOAD_VERBS, resource, namespace)
        if error:
            ledger.add(dev.label, q, "allowed", f"error: {error}", NO_ANSWER)
            all_ok = False
        elif denied:
            ledger.add(dev.label, q, "allowed", f"denied: {', '.join(denied)}", CONTROL_FAILED)
            all_ok = False
        else:
            ledger.add(dev.label, q, "allowed", "allowed", OK)
    return all_ok


def check_denied(
    target: Target,
    dev: Developer,
    verbs: Sequence[str],
    resource: str,
    *,
    namespace: str | None,
    name: str = "",
    proven: bool,
    ledger: RbacLedger,
) -> None:
    """A question whose every verb must be denied."""
    allowed, _, error = ask(target, dev, verbs, resource, namespace=namespace, name=name)
    q = question(verbs, resource, namespace, name)
    if allowed:
        ledger.add(dev.label, q, "denied", f"allowed: {', '.join(allowed)}", VIOLATION)
    elif error:
        ledger.add(dev.label, q, "denied", f"error: {error}", NO_ANSWER)
    else:
        ledger.add(dev.label, q, "denied", "denied", OK if proven else UNPROVEN)


def describe_admission(result: AdmissionResult) -> str:
    if result.allowed:
        return f"admitted ({result.status_code})"
    text = result.message or "; ".join(f"[{d.constraint}] {d.message}" for d in result.denials)
    return f"refused {result.status_code}: {text}"


def check_refused(
    target: Target,
    dev: Developer,
    manifest: dict[str, Any],
    *,
    what: str,
    proven: bool,
    ledger: RbacLedger,
) -> None:
    """An escalating write that admission must refuse with 403 Forbidden. Any 403 counts (RBAC
    lacking ``create`` on the kind, the escalation check, or a Gatekeeper constraint); another
    status is a malformed request or a broken target, not a refusal."""
    try:
        result = target.admit(manifest, as_user=dev.as_user, as_groups=dev.as_groups)
    except TargetError as exc:
        ledger.add(dev.label, what, "refused 403", f"error: {exc}", NO_ANSWER)
        return
    observed = describe_admission(result)
    if result.allowed:
        outcome = VIOLATION
    elif result.status_code == 403:
        outcome = OK if proven else UNPROVEN
    else:
        outcome = NO_ANSWER
    ledger.add(dev.label, what, "refused 403", observed, outcome)


def binding_subject(dev: Developer) -> dict[str, str]:
    s = dev.subject
    if s.kind == "ServiceAccount":
        return {"kind": "ServiceAccount", "name": s.name, "namespace": s.namespace or ""}
    return {"apiGroup": "rbac.authorization.k8s.io", "kind": s.kind, "name": s.name}


def cluster_admin_binding(dev: Developer, namespace: str) -> dict[str, Any]:
    """A RoleBinding of ClusterRole cluster-admin to the developer itself, in its namespace: the
    API server allows it only to a user holding every permission of cluster-admin there, or the
    ``bind`` verb on it (RBAC escalation prevention)."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "gauntlet-bind-cluster-admin", "namespace": namespace},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "cluster-admin",
        },
        "subjects": [binding_subject(dev)],
    }


def wildcard_role(namespace: str) -> dict[str, Any]:
    """A Role granting ``*`` on ``*``: creating it needs those permissions already, or the
    ``escalate`` verb on roles."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "gauntlet-escalate-wildcard", "namespace": namespace},
        "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
    }


def check_admission_control(
    target: Target, dev: Developer, pod: dict[str, Any], ledger: RbacLedger
) -> bool:
    """The positive control for ``admit``: a small compliant Pod is admitted."""
    what = "admit a small compliant Pod (control)"
    try:
        result = target.admit(pod, as_user=dev.as_user, as_groups=dev.as_groups)
    except TargetError as exc:
        ledger.add(dev.label, what, "admitted", f"error: {exc}", NO_ANSWER)
        return False
    outcome = OK if result.allowed else CONTROL_FAILED
    ledger.add(dev.label, what, "admitted", describe_admission(result), outcome)
    return result.allowed


def interrogate(
    target: Target,
    dev: Developer,
    *,
    namespace: str,
    other_tenants: Sequence[str],
    baseline: Sequence[ObjectRef],
    control_pod: dict[str, Any],
    ledger: RbacLedger,
) -> None:
    """Every question of the RBAC check for one developer of ``namespace``."""
    proven = check_controls(target, dev, namespace, ledger)
    for other in other_tenants:
        check_denied(
            target, dev, SECRET_VERBS, "secrets", namespace=other, proven=proven, ledger=ledger
        )
    for resource in CLUSTER_RESOURCES:
        check_denied(
            target, dev, CLUSTER_VERBS, resource, namespace=None, proven=proven, ledger=ledger
        )
    for obj in baseline:
        check_denied(
            target,
            dev,
            BASELINE_VERBS,
            obj.resource,
            namespace=obj.namespace,
            name=obj.name,
            proven=proven,
            ledger=ledger,
        )
    admit_proven = check_admission_control(target, dev, control_pod, ledger)
    check_refused(
        target,
        dev,
        cluster_admin_binding(dev, namespace),
        what=f"create RoleBinding to ClusterRole cluster-admin in {namespace}",
        proven=admit_proven,
        ledger=ledger,
    )
    check_refused(
        target,
        dev,
        wildcard_role(namespace),
        what=f"create Role granting * on * in {namespace}",
        proven=admit_proven,
        ledger=ledger,
    )


def _cluster_role_binding_hits(
    bindings: Sequence[dict[str, Any]],
    *,
    groups: set[str],
    users: set[str],
    accounts: set[str],
) -> list[str]:
    """``ClusterRoleBinding <name> -> <role>: <subject>`` for each tenant subject bound."""
    hits = []
    for crb in bindings:
        name = (crb.get("metadata") or {}).get("name", "?")
        role = (crb.get("roleRef") or {}).get("name", "?")
        for s in crb.get("subjects") or []:
            kind, sname = s.get("kind"), s.get("name", "")
            if (
                (kind == "Group" and sname in groups)
                or (kind == "User" and sname in users)
                or (kind == "ServiceAccount" and f"{s.get('namespace', '')}/{sname}" in accounts)
            ):
                hits.append(f"ClusterRoleBinding {name} -> {role}: {kind} {sname}")
    return hits


def check_cluster_role_bindings(
    target: Target, bp: Blueprint, namespace: str, ledger: RbacLedger
) -> None:
    """No ClusterRoleBinding the target holds names a tenant subject: a tenant's rights end at
    its namespace (the reference binds ClusterRole tenant-admin only through RoleBindings)."""
    question = "bound by any ClusterRoleBinding"
    crbs, error = list_objects(target, "ClusterRoleBinding", None)
    if error:
        ledger.add("tenant subjects", question, "none", f"error: {error}", NO_ANSWER)
        return
    groups, users, accounts = tenant_identities(bp, namespace)
    hits = _cluster_role_binding_hits(crbs, groups=groups, users=users, accounts=accounts)
    for hit in hits:
        ledger.add("tenant subjects", question, "none", hit, VIOLATION)
    if not hits:
        ledger.add("tenant subjects", question, "none", f"none of {len(crbs)}", OK)


def judge_rbac(ledger: RbacLedger, *, developers: int) -> tuple[Verdict, str]:
    """Any violation fails; otherwise any answer that proves nothing makes it inconclusive,
    citing a failed control first (the cause of the unproven rows)."""
    violations = ledger.outcomes(VIOLATION)
    if violations:
        shown = "; ".join(f"{r.subject}: {r.question} -> {r.observed}" for r in violations[:4])
        more = f" (+{len(violations) - 4} more)" if len(violations) > 4 else ""
        return Verdict.FAIL, f"{len(violations)} violations: {shown}{more}"
    controls = [*ledger.outcomes(CONTROL_FAILED), *ledger.outcomes(NO_ANSWER)]
    open_rows = [*controls, *ledger.outcomes(UNPROVEN)]
    if open_rows:
        first = open_rows[0]
        return Verdict.INCONCLUSIVE, (
            f"{len(open_rows)} answers prove nothing; first cause: {first.subject}: "
            f"{first.question} -> {first.observed}"
        )
    return Verdict.PASS, (
        f"{developers} developers: controls allowed, all {len(ledger.rows)} questions answered "
        "as least privilege requires"
    )
