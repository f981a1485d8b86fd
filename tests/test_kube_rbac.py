"""can_i on a cluster: the SubjectAccessReview sent and the answers read."""

from __future__ import annotations

import json
from typing import Any

import kmock
import pytest

from gauntlet.targets.base import Subject, TargetError
from gauntlet.targets.kubernetes.client import KubeApiError
from gauntlet.targets.kubernetes.rbac import SAR_PATH, can_i
from kube_emulator import call, client_for, declare, status

pytestmark = [pytest.mark.asyncio, pytest.mark.kmock(cls=kmock.KubernetesScaffold)]
SAR = f"post {SAR_PATH}"


def _answer(allowed: bool, **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "status": {"allowed": allowed, **extra},
    }


async def test_service_account_subresource_question(kmock: Any) -> None:
    kmock[SAR] << 201 << _answer(True, reason='RBAC: allowed by RoleBinding "ci/team-a"')
    sa = Subject(kind="ServiceAccount", name="ci", namespace="team-a")
    assert await call(can_i, client_for(kmock), sa, "get", "pods/log", namespace="team-a")
    spec = json.loads(kmock["post"][0].body)["spec"]
    assert spec == {
        "user": "system:serviceaccount:team-a:ci",
        "groups": [
            "system:serviceaccounts",
            "system:serviceaccounts:team-a",
            "system:authenticated",
        ],
        "resourceAttributes": {
            "verb": "get",
            "group": "",
            "resource": "pods",
            "subresource": "log",
            "namespace": "team-a",
        },
    }
    assert "Impersonate-User" not in kmock["post"][0].headers


async def test_user_in_groups_denied_on_a_grouped_resource(kmock: Any) -> None:
    kmock[SAR] << 201 << _answer(False)
    dev = Subject(kind="User", name="alice", groups=("team-a-devs",))
    allowed = await call(
        can_i, client_for(kmock), dev, "delete", "deployments.apps", namespace="team-b", name="x"
    )
    assert not allowed
    spec = json.loads(kmock["post"][0].body)["spec"]
    assert spec["groups"] == ["team-a-devs", "system:authenticated"]
    assert spec["resourceAttributes"] == {
        "verb": "delete",
        "group": "apps",
        "resource": "deployments",
        "namespace": "team-b",
        "name": "x",
    }


async def test_explicit_deny_wins_and_cluster_scope_has_no_namespace(kmock: Any) -> None:
    kmock[SAR] << 201 << _answer(True, denied=True)
    dev = Subject(kind="Group", name="team-a-devs")
    assert not await call(can_i, client_for(kmock), dev, "list", "namespaces", namespace=None)
    spec = json.loads(kmock["post"][0].body)["spec"]
    assert "user" not in spec and "namespace" not in spec["resourceAttributes"]


async def test_unknown_word_is_looked_up_in_discovery(kmock: Any) -> None:
    kmock["get /apis"] << {
        "kind": "APIGroupList",
        "groups": [{"name": "example.com", "preferredVersion": {"groupVersion": "example.com/v1"}}],
    }
    declare(kmock, "example.com/v1", "widgets", "Widget", namespaced=True)
    kmock[SAR] << 201 << _answer(True)
    who = Subject(kind="User", name="alice")
    assert await call(can_i, client_for(kmock), who, "get", "widgets", namespace="a")
    attrs = json.loads(kmock["post"][0].body)["spec"]["resourceAttributes"]
    assert (attrs["group"], attrs["resource"]) == ("example.com", "widgets")
    with pytest.raises(TargetError, match="discovery does not know it either"):
        await call(can_i, client_for(kmock), who, "get", "gadgets", namespace="a")


async def test_refused_review_raises(kmock: Any) -> None:
    message = "subjectaccessreviews.authorization.k8s.io is forbidden: User cannot create"
    kmock[SAR] << 403 << status(403, "Forbidden", message)
    with pytest.raises(KubeApiError, match="SubjectAccessReview"):
        await call(
            can_i, client_for(kmock), Subject(kind="User", name="a"), "get", "pods", namespace="a"
        )
    with pytest.raises(TargetError, match="needs a namespace"):
        sa = Subject(kind="ServiceAccount", name="ci")
        await call(can_i, client_for(kmock), sa, "get", "pods", namespace="a")
