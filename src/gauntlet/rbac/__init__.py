"""Kubernetes RBAC for the local sandbox: the answers kube-apiserver would give.

``Authorizer.from_blueprint(bp)`` evaluates the blueprint's Roles and bindings (plus the
cluster's default roles) with the API server's semantics: ``authorize`` for access questions,
``authorize_request`` for writes, escalation checks included. ``parse_resource`` and
``resource_for_kind`` map kubectl words and manifest kinds to RBAC resources.
"""

from gauntlet.rbac.authorizer import Authorizer, MissingRole, RuleResolution
from gauntlet.rbac.decision import Decision, forbidden_message
from gauntlet.rbac.escalation import BadRequestError, RequestAttributes, request_attributes
from gauntlet.rbac.identity import UserInfo, user_info
from gauntlet.rbac.resources import (
    KNOWN_RESOURCES,
    ResourceInfo,
    ResourceRef,
    UnknownKindError,
    UnknownResourceError,
    parse_resource,
    resource_for_kind,
)
from gauntlet.rbac.rules import Coverage, coverage, covers

__all__ = [
    "KNOWN_RESOURCES",
    "Authorizer",
    "BadRequestError",
    "Coverage",
    "Decision",
    "MissingRole",
    "RequestAttributes",
    "ResourceInfo",
    "ResourceRef",
    "RuleResolution",
    "UnknownKindError",
    "UnknownResourceError",
    "UserInfo",
    "coverage",
    "covers",
    "forbidden_message",
    "parse_resource",
    "request_attributes",
    "resource_for_kind",
    "user_info",
]
