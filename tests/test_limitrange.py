"""LimitRanger: defaults and messages as kube-apiserver produces them. Expected texts come from
``plugin/pkg/admission/limitranger/admission.go`` and the Kubernetes docs' LimitRange tasks."""

from __future__ import annotations

from typing import Any

import pytest

from gauntlet.admission.limitrange import (
    LIMIT_RANGER_ANNOTATION,
    StoredLimitRange,
    aggregate_errors,
    apply_limit_ranges,
    requests_over_limits,
)
from gauntlet.blueprint import load_blueprint
from gauntlet.blueprint.kube import LimitRange

ALPHA_LIMITS = {
    "apiVersion": "v1",
    "kind": "LimitRange",
    "metadata": {"name": "team-alpha-limits", "namespace": "team-alpha"},
    "spec": {
        "limits": [
            {
                "type": "Container",
                "default": {"cpu": "500m", "memory": "256Mi"},
                "defaultRequest": {"cpu": "100m", "memory": "128Mi"},
                "max": {"cpu": "2", "memory": "2Gi"},
            }
        ]
    },
}


def limit_range(name: str, *items: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": {"name": name, "namespace": "ns"},
        "spec": {"limits": list(items)},
    }


def container(name: str = "app", **resources: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "image": "registry.platform.example/app:1"}
    if resources:
        out["resources"] = resources
    return out


def pod(*containers: dict[str, Any], init: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": list(containers)}
    if init:
        spec["initContainers"] = list(init)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec}


def resources_of(outcome_pod: dict[str, Any], index: int = 0) -> dict[str, Any]:
    result: dict[str, Any] = outcome_pod["spec"]["containers"][index]["resources"]
    return result


# -- mutating ---------------------------------------------------------------------------------


def test_missing_requests_and_limits_are_defaulted_and_annotated() -> None:
    original = pod(container())
    outcome = apply_limit_ranges(original, [ALPHA_LIMITS])
    assert outcome.allowed
    assert resources_of(outcome.pod) == {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"cpu": "500m", "memory": "256Mi"},
    }
    expected = (
        "LimitRanger plugin set: cpu, memory request for container app; "
        "cpu, memory limit for container app"
    )
    assert outcome.annotation == expected
    assert outcome.pod["metadata"]["annotations"] == {LIMIT_RANGER_ANNOTATION: expected}
    assert "resources" not in original["spec"]["containers"][0]  # the input is not touched


def test_an_explicit_limit_becomes_the_request_not_the_default_request() -> None:
    # Docs, "Configure Default CPU Requests and Limits for a Namespace": a container that states
    # only a limit gets a request equal to it (scheme defaulting runs before LimitRanger).
    outcome = apply_limit_ranges(pod(container(limits={"cpu": "1"})), [ALPHA_LIMITS])
    assert resources_of(outcome.pod) == {
        "requests": {"cpu": "1", "memory": "128Mi"},
        "limits": {"cpu": "1", "memory": "256Mi"},
    }
    assert outcome.annotation == (
        "LimitRanger plugin set: memory request for container app; memory limit for container app"
    )


def test_an_explicit_request_gets_the_default_limit_and_may_then_fail_validation() -> None:
    outcome = apply_limit_ranges(pod(container(requests={"cpu": "1"})), [ALPHA_LIMITS])
    assert outcome.allowed  # LimitRanger itself is satisfied ...
    assert resources_of(outcome.pod)["limits"]["cpu"] == "500m"
    # ... but pod validation, which runs after mutating admission, refuses request > limit.
    assert requests_over_limits(outcome.pod) == (
        'spec.containers[0].resources.requests: Invalid value: "1": must be less than or '
        "equal to cpu limit of 500m",
    )


def test_limit_range_defaults_come_from_max_then_min() -> None:
    # Docs, "Configure Minimum and Maximum CPU Constraints": with only max 800m and min 200m, a
    # container without resources gets limit 800m and request 800m.
    lr = limit_range(
        "cpu-min-max", {"type": "Container", "max": {"cpu": "800m"}, "min": {"cpu": "200m"}}
    )
    outcome = apply_limit_ranges(pod(container()), [lr])
    assert outcome.allowed
    assert resources_of(outcome.pod) == {"requests": {"cpu": "800m"}, "limits": {"cpu": "800m"}}
    stored = StoredLimitRange.from_manifest(
        limit_range("m", {"type": "Container", "min": {"memory": "64Mi"}})
    )
    assert {k: str(v) for k, v in stored.items[0].default_request.items()} == {"memory": "64Mi"}
    assert stored.items[0].default == {}


def test_init_containers_are_defaulted_and_named_as_such() -> None:
    outcome = apply_limit_ranges(
        pod(
            container(
                requests={"cpu": "100m", "memory": "128Mi"},
                limits={"cpu": "500m", "memory": "256Mi"},
            ),
            init=(container("setup"),),
        ),
        [ALPHA_LIMITS],
    )
    init = outcome.pod["spec"]["initContainers"][0]["resources"]
    assert init["requests"] == {"cpu": "100m", "memory": "128Mi"}
    assert outcome.annotation == (
        "LimitRanger plugin set: cpu, memory request for init container setup; "
        "cpu, memory limit for init container setup"
    )


def test_quantities_are_stored_rounded_and_canonical() -> None:
    outcome = apply_limit_ranges(
        pod(container(requests={"cpu": 0.25, "memory": "0.5Gi"}, limits={"cpu": "100u"})), []
    )
    assert resources_of(outcome.pod) == {
        "requests": {"cpu": "250m", "memory": "512Mi"},
        "limits": {"cpu": "1m"},
    }
    assert outcome.annotation is None
    assert "annotations" not in outcome.pod["metadata"]


def test_the_last_limit_range_that_sets_something_writes_the_annotation() -> None:
    cpu = limit_range("cpu", {"type": "Container", "default": {"cpu": "1"}})
    memory = limit_range("memory", {"type": "Container", "default": {"memory": "1Gi"}})
    outcome = apply_limit_ranges(pod(container()), [cpu, memory])
    assert resources_of(outcome.pod)["limits"] == {"cpu": "1", "memory": "1Gi"}
    assert outcome.annotation == (
        "LimitRanger plugin set: memory request for container app; memory limit for container app"
    )


def test_later_container_items_of_one_limit_range_override_earlier_ones() -> None:
    lr = limit_range(
        "two",
        {"type": "Container", "default": {"cpu": "1"}},
        {"type": "Container", "default": {"cpu": "2"}},
    )
    assert resources_of(apply_limit_ranges(pod(container()), [lr]).pod)["limits"] == {"cpu": "2"}


@pytest.mark.parametrize(
    "obj",
    [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "d"},
            "spec": {"template": {"spec": {"containers": [container()]}}},
        },
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}},
    ],
)
def test_only_pods_are_defaulted(obj: dict[str, Any]) -> None:
    outcome = apply_limit_ranges(obj, [ALPHA_LIMITS])
    assert outcome.pod == obj
    assert outcome.pod is not obj
    assert outcome.allowed


def test_pod_updates_are_left_alone() -> None:
    big = pod(container(limits={"cpu": "4"}))
    outcome = apply_limit_ranges(big, [ALPHA_LIMITS], operation="UPDATE")
    assert outcome.allowed
    assert outcome.pod == big


# -- validating -------------------------------------------------------------------------------


def test_max_is_refused_with_the_api_servers_words() -> None:
    outcome = apply_limit_ranges(pod(container(limits={"cpu": "4"})), [ALPHA_LIMITS])
    assert not outcome.allowed
    assert outcome.errors == ("maximum cpu usage per Container is 2, but limit is 4",)
    assert outcome.message == "maximum cpu usage per Container is 2, but limit is 4"
    assert outcome.limit_range == "team-alpha-limits"


def test_quantities_print_canonically_in_messages() -> None:
    # Docs, "Configure Minimum and Maximum Memory Constraints": a 1.5Gi limit over a 1Gi max.
    lr = limit_range(
        "mem-min-max", {"type": "Container", "max": {"memory": "1Gi"}, "min": {"memory": "500Mi"}}
    )
    outcome = apply_limit_ranges(
        pod(container(limits={"memory": "1.5Gi"}, requests={"memory": "800Mi"})), [lr]
    )
    assert outcome.message == "maximum memory usage per Container is 1Gi, but limit is 1536Mi"
    low = apply_limit_ranges(
        pod(container(limits={"memory": "800Mi"}, requests={"memory": "100Mi"})), [lr]
    )
    assert low.message == "minimum memory usage per Container is 500Mi, but request is 100Mi"


def test_several_errors_are_aggregated_and_duplicates_dropped() -> None:
    outcome = apply_limit_ranges(
        pod(
            container("a", limits={"cpu": "4", "memory": "3Gi"}),
            container("b", limits={"cpu": "4"}),
        ),
        [ALPHA_LIMITS],
    )
    assert outcome.errors == (
        "maximum cpu usage per Container is 2, but limit is 4",
        "maximum memory usage per Container is 2Gi, but limit is 3Gi",
        "maximum cpu usage per Container is 2, but limit is 4",
    )
    assert outcome.message == (
        "[maximum cpu usage per Container is 2, but limit is 4, "
        "maximum memory usage per Container is 2Gi, but limit is 3Gi]"
    )
    assert aggregate_errors([]) == ""


def test_the_first_refusing_limit_range_is_reported() -> None:
    loose = limit_range("loose", {"type": "Container", "max": {"cpu": "8"}})
    strict = limit_range("strict", {"type": "Container", "max": {"cpu": "1"}})
    outcome = apply_limit_ranges(pod(container(limits={"cpu": "4"})), [loose, strict])
    assert (outcome.limit_range, outcome.message) == (
        "strict",
        "maximum cpu usage per Container is 1, but limit is 4",
    )


def test_min_messages() -> None:
    lr = limit_range("min", {"type": "Pod", "min": {"cpu": "1"}})
    assert apply_limit_ranges(pod(container()), [lr]).message == (
        "minimum cpu usage per Pod is 1.  No request is specified"
    )
    both = limit_range("min", {"type": "Container", "min": {"cpu": "200m"}})
    limited = apply_limit_ranges(
        pod(container(requests={"cpu": "300m"}, limits={"cpu": "100m"})), [both]
    )
    assert limited.message == "minimum cpu usage per Container is 200m, but limit is 100m"


def test_max_limit_request_ratio() -> None:
    lr = limit_range("ratio", {"type": "Container", "maxLimitRequestRatio": {"cpu": "2"}})
    high = apply_limit_ranges(pod(container(requests={"cpu": "250m"}, limits={"cpu": "1"})), [lr])
    assert (
        high.message
        == "cpu max limit to request ratio per Container is 2, but provided ratio is 4.000000"
    )
    fine = apply_limit_ranges(pod(container(requests={"cpu": "500m"}, limits={"cpu": "1"})), [lr])
    assert fine.allowed
    missing = apply_limit_ranges(pod(container(requests={"cpu": "500m"})), [lr])
    assert missing.message == (
        "cpu max limit to request ratio per Container is 2, but no limit is specified or limit is 0"
    )


def test_pod_items_check_the_sum_with_init_containers_and_sidecars() -> None:
    lr = limit_range("pod", {"type": "Pod", "max": {"cpu": "2"}})
    app = container("app", limits={"cpu": "1500m"})
    assert apply_limit_ranges(pod(app, container("web", limits={"cpu": "1"})), [lr]).message == (
        "maximum cpu usage per Pod is 2, but limit is 2500m"
    )
    # An ordinary init container runs alone: the pod needs max(init, sum of app containers).
    assert apply_limit_ranges(
        pod(app, init=(container("setup", limits={"cpu": "2"}),)), [lr]
    ).allowed
    big_init = pod(app, init=(container("setup", limits={"cpu": "3"}),))
    assert (
        apply_limit_ranges(big_init, [lr]).message
        == "maximum cpu usage per Pod is 2, but limit is 3"
    )
    # A sidecar (restartPolicy Always) runs beside the app containers: it adds up.
    sidecar = {**container("proxy", limits={"cpu": "1"}), "restartPolicy": "Always"}
    assert apply_limit_ranges(pod(app, init=(sidecar,)), [lr]).message == (
        "maximum cpu usage per Pod is 2, but limit is 2500m"
    )


def test_pvc_min_and_max_apply_to_the_storage_request() -> None:
    lr = limit_range(
        "storage",
        {"type": "PersistentVolumeClaim", "min": {"storage": "1Gi"}, "max": {"storage": "2Gi"}},
    )

    def claim(size: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data"},
            "spec": {"resources": {"requests": {"storage": size}}},
        }

    assert apply_limit_ranges(claim("5Gi"), [lr]).message == (
        "maximum storage usage per PersistentVolumeClaim is 2Gi, but request is 5Gi"
    )
    assert apply_limit_ranges(claim("500Mi"), [lr]).message == (
        "minimum storage usage per PersistentVolumeClaim is 1Gi, but request is 500Mi"
    )
    assert apply_limit_ranges(claim("1Gi"), [lr]).allowed


def test_invalid_quantities_raise_the_decoding_error() -> None:
    with pytest.raises(ValueError, match="quantities must match the regular expression"):
        apply_limit_ranges(pod(container(limits={"cpu": "two"})), [ALPHA_LIMITS])


def test_reference_blueprint_limit_ranges() -> None:
    bp = load_blueprint("fixtures/platform")
    models = [lr for lr in bp.limit_ranges if lr.metadata.namespace == "team-alpha"]
    raw = bp.objects("LimitRange", "team-alpha")
    assert isinstance(models[0], LimitRange)
    for ranges in (models, raw):
        outcome = apply_limit_ranges(pod(container(limits={"cpu": "4"})), ranges)
        assert outcome.message == "maximum cpu usage per Container is 2, but limit is 4"
    gamma = bp.objects("LimitRange", "team-gamma")
    assert apply_limit_ranges(pod(container(limits={"memory": "2Gi"})), gamma).message == (
        "maximum memory usage per Container is 1Gi, but limit is 2Gi"
    )
