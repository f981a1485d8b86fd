"""Every manifest Gauntlet sends to a cluster is valid before it is sent: Kubernetes OpenAPI
(kubernetes-validate, strict), our reduced Cilium and Gatekeeper CRD schemas, Pod Security
"restricted" on every pod, and the platform's own Gatekeeper policies on the agent workloads
(run on Gauntlet's Rego engine), so the probe pods are proven admissible."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest

import gauntlet.targets.kubernetes as kube_pkg
from gauntlet.admission.gatekeeper import GatekeeperEngine
from gauntlet.admission.templates import EnforcementAction
from gauntlet.blueprint.loader import load_blueprint
from gauntlet.blueprint.model import Blueprint
from gauntlet.blueprint.probes import with_outsider
from gauntlet.targets.kubernetes.fault_manifests import hog_pod, partition_policy
from gauntlet.targets.kubernetes.podsecurity import restricted_problems
from gauntlet.targets.kubernetes.workloads import (
    AGENT_IMAGE_DEFAULT,
    agent_image_problem,
    render_deploy,
)

REPO = Path(__file__).resolve().parents[1]
SCHEMAS = Path(kube_pkg.__file__).parent / "schemas"
K8S_VERSION = "1.31"
MIRROR = "registry.platform.example/library/python:3.12.8-slim-bookworm"
# Kinds without a schema here: CRDs of optional platform add-ons, applied only where served.
UNVALIDATED = {"PrometheusRule"}


@cache
def schema(name: str) -> jsonschema.protocols.Validator:
    doc = json.loads((SCHEMAS / name).read_text())
    jsonschema.Draft202012Validator.check_schema(doc)
    return jsonschema.Draft202012Validator(doc)


def validate(manifest: dict[str, Any]) -> None:
    """Raise if ``manifest`` is invalid for the schema of its kind."""
    api_version = manifest["apiVersion"]
    if api_version == "cilium.io/v2":
        schema("cilium-network-policy.json").validate(manifest)
    elif api_version.startswith("templates.gatekeeper.sh/"):
        schema("gatekeeper-constraint-template.json").validate(manifest)
        assert (
            manifest["metadata"]["name"] == manifest["spec"]["crd"]["spec"]["names"]["kind"].lower()
        )
    elif api_version.startswith("constraints.gatekeeper.sh/"):
        schema("gatekeeper-constraint.json").validate(manifest)
    else:
        kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)


@cache
def reference() -> Blueprint:
    return with_outsider(load_blueprint(REPO / "fixtures" / "platform"))


def rendered(image: str = MIRROR) -> list[dict[str, Any]]:
    return render_deploy(reference(), agent_image=image, run_id="r1")


def fault_manifests() -> list[dict[str, Any]]:
    return [
        partition_policy("r1", 1, ["team-alpha"], ["team-beta", "team-gamma"]),
        hog_pod(
            run_id="r1",
            namespace="gauntlet-probe",
            node="gauntlet-worker",
            memory_bytes=1 << 30,
            image=MIRROR,
        ),
    ]


def pod_specs(manifests: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for m in manifests:
        where = f"{m['kind']} {m['metadata'].get('namespace')}/{m['metadata']['name']}"
        if m["kind"] == "Pod":
            yield where, m["spec"]
        elif m["kind"] == "Deployment":
            yield where, m["spec"]["template"]["spec"]


def _id(m: dict[str, Any]) -> str:
    return f"{m['kind']}:{m['metadata'].get('namespace', '')}/{m['metadata']['name']}"


@pytest.mark.parametrize("manifest", rendered() + fault_manifests(), ids=_id)
def test_generated_manifest_is_schema_valid(manifest: dict[str, Any]) -> None:
    if manifest["kind"] in UNVALIDATED:
        pytest.skip(f"{manifest['kind']}: optional add-on CRD, no schema")
    validate(manifest)


def test_only_optional_add_ons_are_left_unvalidated() -> None:
    kinds = {m["kind"] for m in rendered()}
    assert kinds & UNVALIDATED == {"PrometheusRule"}
    assert {"CiliumNetworkPolicy", "ConstraintTemplate", "Deployment", "ConfigMap"} <= kinds


@pytest.mark.parametrize(
    "key",
    [
        k
        for k in reference().manifests
        if k[0] in ("CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy", "ConstraintTemplate")
        or reference().manifests[k]["apiVersion"].startswith("constraints.gatekeeper.sh/")
    ],
    ids=lambda k: f"{k[0]}:{k[1]}/{k[2]}",
)
def test_reference_blueprint_policies_match_our_crd_schemas(key: tuple[str, str, str]) -> None:
    validate(reference().manifests[key])


def test_constraint_parameters_match_their_template_schema() -> None:
    bp = reference()
    templates = {
        doc["spec"]["crd"]["spec"]["names"]["kind"]: doc
        for (kind, _, _), doc in bp.manifests.items()
        if kind == "ConstraintTemplate"
    }
    checked = 0
    for doc in bp.manifests.values():
        if doc["apiVersion"].startswith("constraints.gatekeeper.sh/"):
            params_schema = templates[doc["kind"]]["spec"]["crd"]["spec"]["validation"][
                "openAPIV3Schema"
            ]
            jsonschema.validate(doc["spec"].get("parameters", {}), params_schema)
            checked += 1
    assert checked == 7


@pytest.mark.parametrize(
    ("mutate", "error"),
    [
        (lambda p: p["specs"][0].update(ingresDeny=[]), "ingresDeny"),
        (
            lambda p: p["specs"][0]["egressDeny"][0].update(
                toPorts=[{"ports": [{"port": "80"}], "rules": {"http": [{}]}}]
            ),
            "rules",
        ),
        (
            lambda p: p["specs"][0]["egressDeny"][0].update(
                toPorts=[{"ports": [{"port": "99999"}]}]
            ),
            "99999",
        ),
        (lambda p: p["specs"][0]["egressDeny"][0].update(toEntities=["internet"]), "internet"),
        (lambda p: p["specs"][0].pop("endpointSelector"), "endpointSelector"),
        (lambda p: p["metadata"].update(namespace="team-alpha"), "namespace"),
    ],
)
def test_cilium_schema_catches_what_the_api_server_would_prune_or_refuse(
    mutate: Any, error: str
) -> None:
    policy = partition_policy("r1", 1, ["a"], ["b"])
    mutate(policy)
    with pytest.raises(jsonschema.ValidationError) as info:
        validate(policy)
    assert error in str(info.value)


def test_gatekeeper_schemas_catch_mistakes() -> None:
    bp = reference()
    constraint = copy.deepcopy(
        next(
            d
            for d in bp.manifests.values()
            if d["apiVersion"].startswith("constraints.gatekeeper.sh/")
        )
    )
    constraint["spec"]["enforcementAction"] = "block"
    with pytest.raises(jsonschema.ValidationError, match="block"):
        validate(constraint)
    template = copy.deepcopy(bp.manifests[("ConstraintTemplate", "", "k8sgauntletnoprivileged")])
    template["spec"]["targets"][0]["target"] = "admission.k8s.io"
    with pytest.raises(jsonschema.ValidationError, match=r"admission\.k8s\.gatekeeper\.sh"):
        validate(template)


# -- Pod Security "restricted" ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "spec"), list(pod_specs(rendered() + fault_manifests())), ids=lambda x: str(x)[:60]
)
def test_every_generated_pod_is_restricted(where: str, spec: dict[str, Any]) -> None:
    assert restricted_problems(spec) == [], where


def test_every_workload_is_rendered_with_the_agent() -> None:
    specs = dict(pod_specs(rendered()))
    assert len(specs) == 9  # 8 blueprint Deployments outside kube-system + the outsider


def _good_spec() -> dict[str, Any]:
    return copy.deepcopy(next(iter(dict(pod_specs(rendered())).values())))


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda s: s.update(hostNetwork=True), "spec.hostNetwork"),
        (lambda s: s.update(hostPID=True), "spec.hostPID"),
        (lambda s: s["volumes"].append({"name": "h", "hostPath": {"path": "/"}}), "hostPath"),
        (
            lambda s: s["securityContext"].update(
                sysctls=[{"name": "kernel.msgmax", "value": "1"}]
            ),
            "kernel.msgmax is not safe",
        ),
        (
            lambda s: [
                s["securityContext"].pop("runAsNonRoot"),
                s["containers"][0]["securityContext"].pop("runAsNonRoot"),
            ],
            "runAsNonRoot must be true",
        ),
        (lambda s: s["securityContext"].update(runAsUser=0), "runAsUser must not be 0"),
        (
            lambda s: s["securityContext"].update(seccompProfile={"type": "Unconfined"}),
            "seccompProfile",
        ),
        (lambda s: s["containers"][0]["securityContext"].update(privileged=True), "privileged"),
        (
            lambda s: s["containers"][0]["securityContext"].pop("allowPrivilegeEscalation"),
            "allowPrivilegeEscalation must be false",
        ),
        (
            lambda s: s["containers"][0]["securityContext"].update(
                capabilities={"drop": ["NET_RAW"]}
            ),
            "drop must include ALL",
        ),
        (
            lambda s: s["containers"][0]["securityContext"]["capabilities"].update(
                add=["SYS_ADMIN"]
            ),
            "not SYS_ADMIN",
        ),
        (lambda s: s["containers"][0]["ports"][0].update(hostPort=80), "hostPort"),
        (lambda s: s["securityContext"].update(seLinuxOptions={"type": "spc_t"}), "spc_t"),
    ],
)
def test_pod_security_check_catches_violations(mutate: Any, problem: str) -> None:
    spec = _good_spec()
    mutate(spec)
    problems = restricted_problems(spec)
    assert any(problem in p for p in problems), problems


def test_net_bind_service_is_the_one_addable_capability() -> None:
    spec = _good_spec()
    spec["containers"][0]["securityContext"]["capabilities"]["add"] = ["NET_BIND_SERVICE"]
    assert restricted_problems(spec) == []


# -- the platform's own Gatekeeper policies ---------------------------------------------------


@pytest.fixture(scope="module")
def engine() -> Iterator[GatekeeperEngine]:
    with GatekeeperEngine.from_blueprint(reference()) as gk:
        yield gk


def _as_pod(dep: dict[str, Any]) -> dict[str, Any]:
    """The Pod a Deployment's ReplicaSet creates (Gatekeeper reviews both)."""
    template = dep["spec"]["template"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{dep['metadata']['name']}-x",
            "namespace": dep["metadata"]["namespace"],
            "labels": template["metadata"]["labels"],
        },
        "spec": template["spec"],
    }


def test_agent_workloads_pass_the_platform_guardrails(engine: GatekeeperEngine) -> None:
    workloads = [m for m in rendered() if m["kind"] == "Deployment"]
    objects = workloads + [_as_pod(d) for d in workloads]
    tenant = [o for o in objects if o["metadata"]["namespace"].startswith("team-")]
    assert len(tenant) == 12  # the guardrails apply to tenant namespaces only
    for obj, violations in zip(objects, engine.review_many(objects), strict=True):
        denials = [v for v in violations if v.action is EnforcementAction.DENY]
        assert denials == [], (_id(obj), denials)
        assert [v.constraint_name for v in violations] == [], _id(obj)  # no warn, no dryrun


def test_hog_pod_passes_the_guardrails_even_in_a_tenant_namespace(engine: GatekeeperEngine) -> None:
    hog = hog_pod(run_id="r1", namespace="team-alpha", node="n", memory_bytes=1 << 20, image=MIRROR)
    hog["metadata"]["labels"].update({"team": "team-alpha", "cost-center": "cc"})
    assert engine.review(hog) == []


def test_default_image_is_refused_by_the_trusted_registry_guardrail(
    engine: GatekeeperEngine,
) -> None:
    dep = next(
        m
        for m in rendered(AGENT_IMAGE_DEFAULT)
        if m["kind"] == "Deployment" and m["metadata"]["namespace"] == "team-alpha"
    )
    (violation,) = engine.review(dep)
    assert violation.constraint_name == "g4-trusted-registries"
    assert violation.action is EnforcementAction.DENY
    problem = agent_image_problem(reference(), AGENT_IMAGE_DEFAULT)
    assert problem is not None and "--agent-image " + MIRROR in problem
    assert agent_image_problem(reference(), MIRROR) is None


def test_kubernetes_schema_is_strict_about_unknown_fields() -> None:
    dep = copy.deepcopy(next(m for m in rendered() if m["kind"] == "Deployment"))
    dep["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError, match="imagePullPolicyy"):
        validate(dep)
