"""Which requests Gatekeeper's validating webhook sees, and what happens when it cannot answer.

The API server calls a webhook only for requests its ValidatingWebhookConfiguration entry
matches: ``rules`` (operations, apiGroups, apiVersions, resources, scope), ``namespaceSelector``
(the namespace's labels; for a Namespace object its own labels; cluster-scoped objects always
match) and ``objectSelector``. When the call fails, ``failurePolicy`` decides: ``Ignore`` admits
the request unchecked, ``Fail`` refuses it with an internal error (HTTP 500).

Gatekeeper installs ``validation.gatekeeper.sh`` with failurePolicy Ignore, every resource on
CREATE and UPDATE, and a namespaceSelector exempting namespaces labelled
``admission.gatekeeper.sh/ignore`` and its own ``gatekeeper-system``
(gatekeeper/charts/gatekeeper/templates/gatekeeper-validating-webhook-configuration-*.yaml).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from gauntlet.blueprint.model import Blueprint
from gauntlet.blueprint.selectors import LabelSelector, matches

GATEKEEPER_WEBHOOK = "validation.gatekeeper.sh"

# The API server's message when it cannot reach the webhook's Service backend (Gatekeeper's
# pods gone or crash-looping): apiserver/pkg/admission/plugin/webhook/errors wraps the dial
# error as "failed calling webhook", and the status is an InternalError (500).
UNREACHABLE_MESSAGE = (
    f'Internal error occurred: failed calling webhook "{GATEKEEPER_WEBHOOK}": failed to call '
    'webhook: Post "https://gatekeeper-webhook-service.gatekeeper-system.svc:443/v1/admit'
    '?timeout=3s": dial tcp 10.96.0.2:443: connect: connection refused'
)

_DEFAULT_NAMESPACE_SELECTOR = LabelSelector.model_validate(
    {
        "matchExpressions": [
            {"key": "admission.gatekeeper.sh/ignore", "operator": "DoesNotExist"},
            {
                "key": "kubernetes.io/metadata.name",
                "operator": "NotIn",
                "values": ["gatekeeper-system"],
            },
        ]
    }
)


@dataclass(frozen=True)
class WebhookRule:
    """One ``rules[]`` entry (admissionregistration.k8s.io/v1 RuleWithOperations)."""

    operations: tuple[str, ...] = ("CREATE", "UPDATE")
    api_groups: tuple[str, ...] = ("*",)
    api_versions: tuple[str, ...] = ("*",)
    resources: tuple[str, ...] = ("*",)
    scope: str = "*"

    def matches(
        self, *, operation: str, group: str, version: str, resource: str, namespaced: bool
    ) -> bool:
        if not _any(self.operations, operation) or not _any(self.api_groups, group):
            return False
        if not _any(self.api_versions, version):
            return False
        # "*" is every resource but no subresource; "*/*" would add subresources.
        if not any(r in ("*", "*/*", resource) for r in self.resources):
            return False
        return self.scope == "*" or (self.scope == "Namespaced") == namespaced


@dataclass(frozen=True)
class WebhookScope:
    """The requests one webhook entry intercepts, and its failurePolicy."""

    failure_policy: str = "Ignore"
    rules: tuple[WebhookRule, ...] = (WebhookRule(),)
    namespace_selector: LabelSelector = field(default=_DEFAULT_NAMESPACE_SELECTOR)
    object_selector: LabelSelector = field(default_factory=LabelSelector)

    def intercepts(
        self,
        obj: Mapping[str, Any],
        *,
        operation: str,
        group: str,
        version: str,
        resource: str,
        namespaced: bool,
        namespace_labels: Mapping[str, str] | None,
    ) -> bool:
        """Whether the API server would call the webhook for this request.

        ``namespace_labels``: the request's namespace's labels; None for cluster-scoped
        objects other than Namespaces (the namespaceSelector does not apply to them)."""
        if not any(
            r.matches(
                operation=operation,
                group=group,
                version=version,
                resource=resource,
                namespaced=namespaced,
            )
            for r in self.rules
        ):
            return False
        if namespace_labels is not None and not matches(self.namespace_selector, namespace_labels):
            return False
        meta = obj.get("metadata")
        labels = meta.get("labels") if isinstance(meta, Mapping) else None
        return matches(self.object_selector, labels if isinstance(labels, Mapping) else {})


def _any(allowed: tuple[str, ...], value: str) -> bool:
    return "*" in allowed or value in allowed


def gatekeeper_scope(bp: Blueprint) -> WebhookScope:
    """The ``validation.gatekeeper.sh`` entry of the blueprint's ValidatingWebhookConfiguration,
    or Gatekeeper's default installation (failurePolicy Ignore) when the blueprint has none."""
    for doc in bp.objects("ValidatingWebhookConfiguration"):
        for hook in doc.get("webhooks") or ():
            if isinstance(hook, dict) and hook.get("name") == GATEKEEPER_WEBHOOK:
                return _scope_of(hook)
    return WebhookScope()


def _scope_of(hook: Mapping[str, Any]) -> WebhookScope:
    # The API server defaults a v1 webhook's failurePolicy to Fail, namespaceSelector and
    # objectSelector to {} (everything), rules' scope to "*".
    try:
        ns_selector = LabelSelector.model_validate(hook.get("namespaceSelector") or {})
        obj_selector = LabelSelector.model_validate(hook.get("objectSelector") or {})
    except ValidationError as exc:
        raise ValueError(f"webhook {GATEKEEPER_WEBHOOK}: bad selector: {exc}") from None
    rules = tuple(
        WebhookRule(
            operations=tuple(r.get("operations") or ()),
            api_groups=tuple(r.get("apiGroups") or ()),
            api_versions=tuple(r.get("apiVersions") or ()),
            resources=tuple(r.get("resources") or ()),
            scope=str(r.get("scope") or "*"),
        )
        for r in hook.get("rules") or ()
        if isinstance(r, dict)
    )
    return WebhookScope(
        failure_policy=str(hook.get("failurePolicy") or "Fail"),
        rules=rules,
        namespace_selector=ns_selector,
        object_selector=obj_selector,
    )
