"""ResourceQuota admission and the usage ledger. Expected messages follow
``plugin/pkg/admission/resourcequota/controller.go`` and the Kubernetes docs' quota tasks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gauntlet.admission.quantity import Quantity
from gauntlet.admission.quota import QuotaLedger, forbidden_message, resource_of
from gauntlet.blueprint import load_blueprint
from gauntlet.blueprint.model import Blueprint

REFERENCE = Path(__file__).resolve().parents[1] / "fixtures" / "platform"


@pytest.fixture(scope="module")
def reference() -> Blueprint:
    return load_blueprint(REFERENCE)


@pytest.fixture
def ledger(reference: Blueprint) -> QuotaLedger:
    return QuotaLedger.from_blueprint(reference)


def quota(name: str, hard: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": name, "namespace": "ns"},
        "spec": {"hard": hard, **spec},
    }


def pod(name: str = "p", *containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": list(containers) or [box("app")], **spec},
    }


def box(
    name: str, requests: dict[str, str] | None = None, limits: dict[str, str] | None = None
) -> dict[str, Any]:
    resources = {k: v for k, v in (("requests", requests), ("limits", limits)) if v}
    return {"name": name, "image": "registry.platform.example/app:1", "resources": resources}


def obj(kind: str, name: str, api_version: str = "v1", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": name}, "spec": spec}


def text(values: dict[str, Quantity]) -> dict[str, str]:
    return {k: str(v) for k, v in values.items()}


def write_blueprint(root: Path, docs: list[dict[str, Any]]) -> Blueprint:
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}}
    for doc in docs:
        doc["metadata"].setdefault("namespace", "ns")
    (root / "all.yaml").write_text(yaml.safe_dump_all([namespace, *docs]), encoding="utf-8")
    return load_blueprint(root)


# -- the reference blueprint ------------------------------------------------------------------


def test_team_alpha_usage_is_its_two_deployments(reference: Blueprint, ledger: QuotaLedger) -> None:
    # api: 2 replicas x (100m/128Mi requests, 500m/256Mi limits); client: 1 x (50m/64Mi, 200m/128Mi)
    usage = ledger.usage("team-alpha")
    assert text(
        {
            k: usage[k]
            for k in ("requests.cpu", "requests.memory", "limits.cpu", "limits.memory", "pods")
        }
    ) == {
        "requests.cpu": "250m",
        "requests.memory": "320Mi",
        "limits.cpu": "1200m",
        "limits.memory": "640Mi",
        "pods": "3",
    }
    assert text(
        {k: usage[k] for k in ("count/deployments.apps", "count/replicasets.apps", "services")}
    ) == {"count/deployments.apps": "2", "count/replicasets.apps": "2", "services": "1"}
    # The team's own ConfigMaps plus the kube-root-ca.crt every namespace gets.
    own = len(reference.objects("ConfigMap", "team-alpha"))
    assert usage["configmaps"] == Quantity.of(own + 1)
    assert text(ledger.hard("team-alpha")) == {
        "limits.cpu": "4",
        "limits.memory": "8Gi",
        "pods": "20",
        "requests.cpu": "2",
        "requests.memory": "4Gi",
        "services": "10",
    }
    (status,) = ledger.status("team-alpha")
    assert status.name == "team-alpha-quota"
    assert text(dict(status.used)) == {
        "requests.cpu": "250m",
        "requests.memory": "320Mi",
        "limits.cpu": "1200m",
        "limits.memory": "640Mi",
        "pods": "3",
        "services": "1",
    }
    assert ledger.rejected == ()


def test_a_pod_over_limits_cpu_is_refused_with_the_exact_message(ledger: QuotaLedger) -> None:
    big = pod(
        "big", box("a", {"cpu": "100m"}, {"cpu": "2"}), box("b", {"cpu": "100m"}, {"cpu": "1"})
    )
    decision = ledger.check(big, namespace="team-alpha")
    assert not decision.allowed
    assert decision.quota == "team-alpha-quota"
    assert decision.message == (
        "exceeded quota: team-alpha-quota, requested: limits.cpu=3, used: limits.cpu=1200m, "
        "limited: limits.cpu=4"
    )
    assert (
        forbidden_message(big, decision.message) == f'pods "big" is forbidden: {decision.message}'
    )


def test_a_defaulted_pod_fits(ledger: QuotaLedger) -> None:
    decision = ledger.check(pod("small"), namespace="team-alpha")
    assert decision.allowed
    assert text({k: decision.usage[k] for k in ("requests.cpu", "limits.memory", "pods")}) == {
        "requests.cpu": "100m",
        "limits.memory": "256Mi",
        "pods": "1",
    }


def test_check_is_a_dry_run_and_record_accumulates(ledger: QuotaLedger) -> None:
    tiny = box("app", {"cpu": "10m", "memory": "16Mi"}, {"cpu": "10m", "memory": "16Mi"})
    before = ledger.usage("team-alpha")
    for _ in range(3):
        assert ledger.check(pod("x", tiny), namespace="team-alpha").allowed
    assert ledger.usage("team-alpha") == before
    # The tenancy suite's sequence: 3 pods run, 17 more fit in pods: 20, the 21st does not.
    what_if = ledger.copy()
    for index in range(17):
        candidate = pod(f"tiny-{index}", tiny)
        assert what_if.check(candidate, namespace="team-alpha").allowed, index
        what_if.record(candidate, namespace="team-alpha")
    decision = what_if.check(pod("tiny-17", tiny), namespace="team-alpha")
    assert decision.message == (
        "exceeded quota: team-alpha-quota, requested: pods=1, used: pods=20, limited: pods=20"
    )
    assert str(ledger.usage("team-alpha")["pods"]) == "3"  # the original is independent


def test_services_are_counted(ledger: QuotaLedger) -> None:
    for index in range(9):
        service = obj("Service", f"svc-{index}", ports=[{"port": 80}])
        assert ledger.check(service, namespace="team-alpha").allowed
        ledger.record(service, namespace="team-alpha")
    decision = ledger.check(obj("Service", "svc-10"), namespace="team-alpha")
    assert decision.message == (
        "exceeded quota: team-alpha-quota, requested: services=1, used: services=10, "
        "limited: services=10"
    )
    # Quota applies per namespace: gamma has its own budget.
    assert ledger.check(obj("Service", "svc-10"), namespace="team-gamma").allowed


def test_missing_requests_without_limit_range_defaults_is_refused(tmp_path: Path) -> None:
    # The LimitRange only caps memory (so it defaults memory from max), never cpu.
    bp = write_blueprint(
        tmp_path,
        [
            quota("compute", {"requests.cpu": "1", "limits.cpu": "2", "requests.memory": "1Gi"}),
            {
                "apiVersion": "v1",
                "kind": "LimitRange",
                "metadata": {"name": "memory-only"},
                "spec": {"limits": [{"type": "Container", "max": {"memory": "512Mi"}}]},
            },
        ],
    )
    ledger = QuotaLedger.from_blueprint(bp)
    decision = ledger.check(pod("p", box("app"), box("web")), namespace="ns")
    assert decision.message == (
        "failed quota: compute: must specify limits.cpu for: app,web; requests.cpu for: app,web"
    )
    assert decision.quota == "compute"
    partial = pod(
        "p", box("app", {"cpu": "100m"}, {"cpu": "200m"}), box("web", limits={"cpu": "500m"})
    )
    assert ledger.check(partial, namespace="ns").allowed  # web's request defaults to its limit


# -- docs examples ----------------------------------------------------------------------------


def test_memory_quota_docs_example() -> None:
    # Docs, "Configure Memory and CPU Quotas for a Namespace".
    ledger = QuotaLedger(
        [
            quota(
                "mem-cpu-demo",
                {
                    "requests.cpu": "1",
                    "requests.memory": "1Gi",
                    "limits.cpu": "2",
                    "limits.memory": "2Gi",
                },
            )
        ]
    )
    first = pod(
        "quota-mem-cpu-demo",
        box("app", {"memory": "600Mi", "cpu": "400m"}, {"memory": "800Mi", "cpu": "800m"}),
    )
    assert ledger.check(first, namespace="ns").allowed
    ledger.record(first, namespace="ns")
    second = pod(
        "quota-mem-cpu-demo-2",
        box("app", {"memory": "700Mi", "cpu": "400m"}, {"memory": "1Gi", "cpu": "800m"}),
    )
    assert ledger.check(second, namespace="ns").message == (
        "exceeded quota: mem-cpu-demo, requested: requests.memory=700Mi, "
        "used: requests.memory=600Mi, limited: requests.memory=1Gi"
    )


def test_pod_quota_docs_example(tmp_path: Path) -> None:
    # Docs, "Configure a Pod Quota for a Namespace": a 3-replica Deployment under pods: "2".
    bp = write_blueprint(
        tmp_path,
        [
            quota("pod-demo", {"pods": "2"}),
            obj(
                "Deployment",
                "pod-quota-demo",
                "apps/v1",
                replicas=3,
                selector={"matchLabels": {"purpose": "quota-demo"}},
                template={
                    "metadata": {"labels": {"purpose": "quota-demo"}},
                    "spec": {"containers": [{"name": "pod-quota-demo", "image": "nginx:1.27"}]},
                },
            ),
        ],
    )
    ledger = QuotaLedger.from_blueprint(bp)
    assert str(ledger.usage("ns")["pods"]) == "2"
    (rejection,) = ledger.rejected
    assert (rejection.kind, rejection.name) == ("Pod", "pod-quota-demo-2")
    assert rejection.message == (
        'pods "pod-quota-demo-2" is forbidden: exceeded quota: pod-demo, requested: pods=1, '
        "used: pods=2, limited: pods=2"
    )


def test_controller_pods_a_limit_range_refuses_are_not_charged(tmp_path: Path) -> None:
    bp = write_blueprint(
        tmp_path,
        [
            {
                "apiVersion": "v1",
                "kind": "LimitRange",
                "metadata": {"name": "small"},
                "spec": {"limits": [{"type": "Container", "max": {"cpu": "1"}}]},
            },
            obj(
                "Deployment",
                "greedy",
                "apps/v1",
                replicas=1,
                selector={"matchLabels": {"app": "greedy"}},
                template={
                    "metadata": {"labels": {"app": "greedy"}},
                    "spec": {"containers": [box("app", limits={"cpu": "2"})]},
                },
            ),
        ],
    )
    ledger = QuotaLedger.from_blueprint(bp)
    assert [r.message for r in ledger.rejected] == [
        'pods "greedy-0" is forbidden: maximum cpu usage per Container is 1, but limit is 2'
    ]
    assert "pods" not in ledger.usage("ns")
    assert str(ledger.usage("ns")["count/deployments.apps"]) == "1"


def test_bare_blueprint_pods_go_through_limit_ranger_too(tmp_path: Path) -> None:
    bp = write_blueprint(
        tmp_path,
        [
            {
                "apiVersion": "v1",
                "kind": "LimitRange",
                "metadata": {"name": "small"},
                "spec": {"limits": [{"type": "Container", "default": {"cpu": "1"}}]},
            },
            {**pod("fits"), "metadata": {"name": "fits"}},
            {**pod("done"), "metadata": {"name": "done"}, "status": {"phase": "Failed"}},
        ],
    )
    ledger = QuotaLedger.from_blueprint(bp)
    usage = text(ledger.usage("ns"))
    assert (usage["count/pods"], usage["pods"], usage["limits.cpu"]) == ("2", "1", "1")


# -- evaluators -------------------------------------------------------------------------------


def test_object_counts_for_any_kind() -> None:
    ledger = QuotaLedger(
        [quota("counts", {"count/deployments.apps": "1", "configmaps": "1", "count/secrets": "0"})]
    )
    deployment = obj("Deployment", "a", "apps/v1")
    ledger.record(deployment, namespace="ns")
    assert ledger.check(obj("Deployment", "b", "apps/v1"), namespace="ns").message == (
        "exceeded quota: counts, requested: count/deployments.apps=1, "
        "used: count/deployments.apps=1, limited: count/deployments.apps=1"
    )
    assert ledger.check(obj("ConfigMap", "c"), namespace="ns").allowed
    assert ledger.check(obj("Secret", "s"), namespace="ns").message == (
        "exceeded quota: counts, requested: count/secrets=1, used: count/secrets=0, "
        "limited: count/secrets=0"
    )
    # Object counts are charged on CREATE only.
    assert ledger.check(
        obj("Deployment", "a", "apps/v1"), namespace="ns", operation="UPDATE"
    ).allowed
    assert text(ledger.check(obj("Job", "j", "batch/v1"), namespace="ns").usage) == {
        "count/jobs.batch": "1"
    }


def test_terminal_pods_only_count_as_objects() -> None:
    ledger = QuotaLedger([quota("q", {"pods": "0", "count/pods": "5"})])
    done = {**pod("done"), "status": {"phase": "Succeeded"}}
    decision = ledger.check(done, namespace="ns")
    assert decision.allowed
    assert text(dict(decision.usage)) == {"count/pods": "1"}
    assert ledger.check(pod("running"), namespace="ns").message == (
        "exceeded quota: q, requested: pods=1, used: pods=0, limited: pods=0"
    )


def test_scoped_quotas_only_see_matching_pods() -> None:
    ledger = QuotaLedger(
        [
            quota("best-effort", {"pods": "1"}, scopes=["BestEffort"]),
            quota(
                "high",
                {"pods": "1"},
                scopeSelector={
                    "matchExpressions": [
                        {"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}
                    ]
                },
            ),
        ]
    )
    ledger.record(pod("be"), namespace="ns")
    assert ledger.check(pod("be-2"), namespace="ns").quota == "best-effort"
    guaranteed = pod("g", box("app", {"cpu": "1"}, {"cpu": "1"}))
    assert ledger.check(guaranteed, namespace="ns").allowed
    urgent = pod("u", box("app", {"cpu": "1"}, {"cpu": "1"}), priorityClassName="high")
    ledger.record(urgent, namespace="ns")
    assert ledger.check(urgent, namespace="ns").message == (
        "exceeded quota: high, requested: pods=1, used: pods=1, limited: pods=1"
    )
    assert text(dict(ledger.status("ns")[0].used)) == {"pods": "1"}
    # A scoped quota never applies to other kinds.
    assert (
        QuotaLedger([quota("s", {"count/configmaps": "0"}, scopes=["BestEffort"])])
        .check(obj("ConfigMap", "c"), namespace="ns")
        .allowed
    )


def test_services_node_ports_and_updates() -> None:
    ledger = QuotaLedger([quota("svc", {"services.nodeports": "2", "services.loadbalancers": "0"})])
    cluster_ip = obj("Service", "s", ports=[{"port": 80}, {"port": 443}])
    assert ledger.check(cluster_ip, namespace="ns").allowed
    ledger.record(cluster_ip, namespace="ns")
    node_port = obj(
        "Service", "s", type="NodePort", ports=[{"port": 80}, {"port": 443}, {"port": 8080}]
    )
    update = ledger.check(node_port, namespace="ns", operation="UPDATE", old=cluster_ip)
    assert update.message == (
        "exceeded quota: svc, requested: services.nodeports=3, used: services.nodeports=0, "
        "limited: services.nodeports=2"
    )
    assert ledger.check(node_port, namespace="ns", operation="UPDATE").message == (
        "unable to get previous usage since prior version of object was not found"
    )
    assert ledger.check(obj("Service", "lb", type="LoadBalancer"), namespace="ns").message == (
        "exceeded quota: svc, requested: services.loadbalancers=1, "
        "used: services.loadbalancers=0, limited: services.loadbalancers=0"
    )


def test_persistent_volume_claims_by_storage_class() -> None:
    ledger = QuotaLedger(
        [
            quota(
                "storage",
                {
                    "requests.storage": "10Gi",
                    "gold.storageclass.storage.k8s.io/requests.storage": "1Gi",
                },
            )
        ]
    )
    claim = obj(
        "PersistentVolumeClaim",
        "data",
        storageClassName="gold",
        resources={"requests": {"storage": "2Gi"}},
    )
    decision = ledger.check(claim, namespace="ns")
    assert decision.message == (
        "exceeded quota: storage, "
        "requested: gold.storageclass.storage.k8s.io/requests.storage=2Gi, "
        "used: gold.storageclass.storage.k8s.io/requests.storage=0, "
        "limited: gold.storageclass.storage.k8s.io/requests.storage=1Gi"
    )
    plain = obj("PersistentVolumeClaim", "data", resources={"requests": {"storage": "2Gi"}})
    assert text(dict(ledger.check(plain, namespace="ns").usage)) == {
        "persistentvolumeclaims": "1",
        "count/persistentvolumeclaims": "1",
        "requests.storage": "2Gi",
    }


def test_negative_usage_and_ignored_resources() -> None:
    ledger = QuotaLedger([quota("q", {"requests.cpu": "1"})])
    negative = pod("n", box("app", {"cpu": "-1"}, {"cpu": "1"}))
    assert ledger.check(negative, namespace="ns").message == (
        "quota usage is negative for resource(s): cpu,requests.cpu"
    )
    assert ledger.check(obj("Event", "e"), namespace="ns").allowed
    assert ledger.check(pod(), namespace="").allowed


def test_mixed_units_sum_in_the_first_objects_format() -> None:
    ledger = QuotaLedger([quota("q", {"requests.memory": "1G"})])
    for name, memory in (("a", "512Mi"), ("b", "100M")):
        ledger.record(pod(name, box("app", {"memory": memory}, {"memory": memory})), namespace="ns")
    used = ledger.status("ns")[0].used["requests.memory"]
    assert str(used) == "636870912"
    assert ledger.check(
        pod("c", box("app", {"memory": "500Mi"}, {"memory": "500Mi"})), namespace="ns"
    ).message == (
        "exceeded quota: q, requested: requests.memory=500Mi, used: requests.memory=636870912, "
        "limited: requests.memory=1G"
    )


@pytest.mark.parametrize(
    ("api_version", "kind", "expected"),
    [
        ("v1", "Pod", ("", "pods")),
        ("apps/v1", "Deployment", ("apps", "deployments")),
        ("networking.k8s.io/v1", "NetworkPolicy", ("networking.k8s.io", "networkpolicies")),
        ("networking.k8s.io/v1", "Ingress", ("networking.k8s.io", "ingresses")),
        ("v1", "Endpoints", ("", "endpoints")),
        ("cilium.io/v2", "CiliumNetworkPolicy", ("cilium.io", "ciliumnetworkpolicies")),
    ],
)
def test_resource_names(api_version: str, kind: str, expected: tuple[str, str]) -> None:
    assert resource_of({"apiVersion": api_version, "kind": kind}) == expected


def test_forbidden_message_qualifies_the_group() -> None:
    deployment = obj("Deployment", "web", "apps/v1")
    assert forbidden_message(deployment, "x") == 'deployments.apps "web" is forbidden: x'
