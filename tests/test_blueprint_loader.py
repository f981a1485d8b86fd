"""The blueprint loader: what it accepts; errors that name the file, the object and the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gauntlet.blueprint import (
    Blueprint,
    BlueprintError,
    UnsupportedPolicyError,
    load_blueprint,
)
from policytables import cnp, deployment, namespace, netpol, sel, write_blueprint

REFERENCE = Path(__file__).resolve().parents[1] / "fixtures" / "platform"

TEAM_A = namespace("team-a")


def _write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _load_error(
    tmp_path: Path,
    objs: list[dict[str, Any]],
    *,
    error: type[BlueprintError] = BlueprintError,
) -> BlueprintError:
    write_blueprint(tmp_path, objs, filename="manifests.yaml")
    with pytest.raises(error) as info:
        load_blueprint(tmp_path)
    return info.value


def _assert_names(exc: BlueprintError, *, file: str, obj: str, field: str) -> None:
    """The message names all three, and the attributes carry them for tools."""
    message = str(exc)
    assert file in message, message
    assert obj in message, message
    assert field in message, message
    assert exc.file.endswith(file)
    assert exc.obj == obj
    assert exc.field == field


def _cnp_with_rule(section: str, rule: dict[str, Any]) -> dict[str, Any]:
    return cnp("team-a", "x", {"endpointSelector": sel(app="api"), section: [rule]})


# --------------------------------------------------------------------------------------------
# What loads
# --------------------------------------------------------------------------------------------


class TestLoads:
    def test_minimal_blueprint(self, tmp_path: Path) -> None:
        objs = [
            TEAM_A,
            deployment("team-a", "api", {"app": "api"}, replicas=2),
            cnp("team-a", "allow", {"endpointSelector": {}, "ingress": [{}]}),
            netpol("team-a", "np", {"podSelector": {}}),
        ]
        bp = load_blueprint(write_blueprint(tmp_path, objs))
        assert set(bp.namespaces) == {"team-a"}
        assert [p.key for p in bp.pods()] == ["team-a/api-0", "team-a/api-1"]
        assert len(bp.cilium_policies) == 1
        assert len(bp.network_policies) == 1
        assert bp.sources[("Deployment", "team-a", "api")].file == tmp_path / "blueprint.yaml"
        assert bp.sources[("Deployment", "team-a", "api")].document == 1

    def test_list_kind_expands(self, tmp_path: Path) -> None:
        listed = {
            "apiVersion": "v1",
            "kind": "List",
            "items": [
                TEAM_A,
                deployment("team-a", "api", {"app": "api"}),
                deployment("team-a", "client", {"app": "client"}),
            ],
        }
        bp = load_blueprint(write_blueprint(tmp_path, [listed]))
        assert "team-a" in bp.namespaces
        assert sorted(p.key for p in bp.pods()) == ["team-a/api-0", "team-a/client-0"]

    def test_kustomization_file_is_skipped(self, tmp_path: Path) -> None:
        write_blueprint(tmp_path, [TEAM_A, deployment("team-a", "api", {"app": "api"})])
        _write(
            tmp_path,
            "kustomization.yaml",
            yaml.safe_dump(
                {
                    "apiVersion": "kustomize.config.k8s.io/v1beta1",
                    "kind": "Kustomization",
                    "resources": ["blueprint.yaml"],
                }
            ),
        )
        bp = load_blueprint(tmp_path)
        assert [p.key for p in bp.pods()] == ["team-a/api-0"]
        assert not any(kind == "Kustomization" for kind, _, _ in bp.sources)

    def test_kustomization_without_api_version_is_skipped(self, tmp_path: Path) -> None:
        """Kustomize treats ``apiVersion``/``kind`` of a kustomization file as optional; a GitOps
        repo commonly holds a bare ``kustomization.yaml`` with only ``resources:``."""
        write_blueprint(tmp_path, [TEAM_A, deployment("team-a", "api", {"app": "api"})])
        _write(tmp_path, "kustomization.yaml", "resources:\n  - blueprint.yaml\n")
        bp = load_blueprint(tmp_path)
        assert [p.key for p in bp.pods()] == ["team-a/api-0"]

    def test_yml_suffix_nested_dirs_and_hidden_dirs(self, tmp_path: Path) -> None:
        write_blueprint(tmp_path / "tenants" / "team-a", [TEAM_A], filename="ns.yml")
        write_blueprint(tmp_path / "apps", [deployment("team-a", "api", {"app": "api"})])
        # Hidden directories (.git, .github) are not part of the blueprint.
        _write(tmp_path, ".github/workflows/ci.yaml", "on: push\njobs: {}\n")
        _write(tmp_path, "README.md", "not a manifest")
        bp = load_blueprint(tmp_path)
        assert bp.tenants() == ["team-a"]
        assert [p.key for p in bp.pods()] == ["team-a/api-0"]

    def test_empty_documents_are_ignored(self, tmp_path: Path) -> None:
        _write(
            tmp_path, "a.yaml", "---\n# only a comment\n---\n" + yaml.safe_dump(TEAM_A) + "---\n"
        )
        assert set(load_blueprint(tmp_path).namespaces) == {"team-a"}

    def test_cilium_integer_ports_are_accepted(self, tmp_path: Path) -> None:
        policy = _cnp_with_rule("ingress", {"toPorts": [{"ports": [{"port": 80}]}]})
        bp = load_blueprint(write_blueprint(tmp_path, [TEAM_A, policy]))
        spec = bp.cilium_policies[0].spec
        assert spec is not None and spec.ingress is not None
        assert spec.ingress[0].to_ports is not None
        assert spec.ingress[0].to_ports[0].ports[0].port == "80"

    def test_any_and_k8s_label_sources_are_accepted(self, tmp_path: Path) -> None:
        policy = _cnp_with_rule(
            "ingress",
            {
                "fromEndpoints": [
                    {"matchLabels": {"k8s:app": "client", "any:tier": "web"}},
                    {"matchLabels": {"k8s:io.kubernetes.pod.namespace": "team-a"}},
                ]
            },
        )
        assert load_blueprint(write_blueprint(tmp_path, [TEAM_A, policy])).cilium_policies

    @pytest.mark.skipif(not (REFERENCE / "tenants").is_dir(), reason="no reference blueprint")
    def test_reference_blueprint_loads(self) -> None:
        bp = load_blueprint(REFERENCE)
        assert isinstance(bp, Blueprint)
        assert len(bp.tenants()) >= 3
        assert set(bp.tenants()) >= {"team-alpha", "team-beta", "team-gamma"}
        assert {"kube-system", "ingress", "monitoring"} <= set(bp.namespaces)
        assert "kube-system" not in bp.tenants()
        assert bp.pods()
        assert bp.cilium_policies


# --------------------------------------------------------------------------------------------
# Errors: file, object, field
# --------------------------------------------------------------------------------------------


class TestErrors:
    def test_not_a_directory(self, tmp_path: Path) -> None:
        with pytest.raises(BlueprintError, match="not a directory"):
            load_blueprint(tmp_path / "missing")

    def test_no_manifests(self, tmp_path: Path) -> None:
        with pytest.raises(BlueprintError, match=r"no \*\.yaml manifests"):
            load_blueprint(tmp_path)

    def test_malformed_yaml_names_line_and_column(self, tmp_path: Path) -> None:
        _write(
            tmp_path,
            "broken.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\n  labels: [a, b\n",
        )
        with pytest.raises(BlueprintError) as info:
            load_blueprint(tmp_path)
        message = str(info.value)
        assert "broken.yaml" in message
        assert "malformed YAML" in message
        assert "line " in message and "column " in message

    def test_malformed_yaml_exact_position(self, tmp_path: Path) -> None:
        _write(tmp_path, "tab.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n\tname: x\n")
        with pytest.raises(BlueprintError) as info:
            load_blueprint(tmp_path)
        assert "line 4, column 1" in str(info.value)

    def test_document_that_is_not_a_mapping(self, tmp_path: Path) -> None:
        _write(tmp_path, "list.yaml", "- a\n- b\n")
        with pytest.raises(BlueprintError) as info:
            load_blueprint(tmp_path)
        assert "list.yaml" in str(info.value)
        assert "document 1" in str(info.value)

    def test_unknown_kind(self, tmp_path: Path) -> None:
        obj = {
            "apiVersion": "example.com/v1",
            "kind": "Frobnicator",
            "metadata": {"name": "x", "namespace": "team-a"},
        }
        exc = _load_error(tmp_path, [TEAM_A, obj])
        _assert_names(exc, file="manifests.yaml", obj="Frobnicator team-a/x", field="kind")
        assert "unknown kind 'Frobnicator'" in str(exc)

    def test_missing_kind(self, tmp_path: Path) -> None:
        exc = _load_error(tmp_path, [{"apiVersion": "v1", "metadata": {"name": "x"}}])
        _assert_names(exc, file="manifests.yaml", obj="object x", field="kind")

    def test_missing_metadata_name(self, tmp_path: Path) -> None:
        dep = deployment("team-a", "api", {"app": "api"})
        del dep["metadata"]["name"]
        exc = _load_error(tmp_path, [TEAM_A, dep])
        _assert_names(
            exc, file="manifests.yaml", obj="Deployment (document 2)", field="metadata.name"
        )
        assert "missing" in str(exc)

    def test_missing_namespace_on_namespaced_object(self, tmp_path: Path) -> None:
        policy = cnp("team-a", "x", {"endpointSelector": {}})
        del policy["metadata"]["namespace"]
        exc = _load_error(tmp_path, [TEAM_A, policy])
        _assert_names(
            exc,
            file="manifests.yaml",
            obj="CiliumNetworkPolicy x",
            field="metadata.namespace",
        )

    def test_namespace_on_cluster_scoped_object(self, tmp_path: Path) -> None:
        obj = namespace("team-a")
        obj["metadata"]["namespace"] = "default"
        exc = _load_error(tmp_path, [obj])
        _assert_names(
            exc, file="manifests.yaml", obj="Namespace default/team-a", field="metadata.namespace"
        )
        assert "cluster-scoped" in str(exc)

    def test_undeclared_namespace(self, tmp_path: Path) -> None:
        exc = _load_error(tmp_path, [TEAM_A, deployment("team-z", "api", {"app": "api"})])
        _assert_names(
            exc, file="manifests.yaml", obj="Deployment team-z/api", field="metadata.namespace"
        )
        assert "'team-z' is not declared" in str(exc)

    def test_duplicate_object_across_files(self, tmp_path: Path) -> None:
        write_blueprint(tmp_path, [TEAM_A, deployment("team-a", "api", {"app": "api"})], "a.yaml")
        write_blueprint(tmp_path, [deployment("team-a", "api", {"app": "other"})], "b.yaml")
        with pytest.raises(BlueprintError) as info:
            load_blueprint(tmp_path)
        exc = info.value
        _assert_names(exc, file="b.yaml", obj="Deployment team-a/api", field="metadata.name")
        assert "duplicate" in str(exc)
        assert "a.yaml" in str(exc)

    def test_same_name_different_kind_is_not_a_duplicate(self, tmp_path: Path) -> None:
        objs = [
            TEAM_A,
            cnp("team-a", "isolate", {"endpointSelector": {}, "ingress": [{}]}),
            netpol("team-a", "isolate", {"podSelector": {}}),
        ]
        bp = load_blueprint(write_blueprint(tmp_path, objs))
        assert len(bp.cilium_policies) == len(bp.network_policies) == 1

    def test_from_requires_is_unsupported(self, tmp_path: Path) -> None:
        policy = _cnp_with_rule("ingress", {"fromRequires": [{"matchLabels": {"env": "prod"}}]})
        exc = _load_error(tmp_path, [TEAM_A, policy], error=UnsupportedPolicyError)
        _assert_names(
            exc,
            file="manifests.yaml",
            obj="CiliumNetworkPolicy team-a/x",
            field="spec.ingress[0].fromRequires",
        )
        assert "deprecated" in str(exc)

    @pytest.mark.parametrize(
        ("section", "construct", "value"),
        [
            ("egress", "toFQDNs", [{"matchName": "example.com"}]),
            ("egress", "toServices", [{"k8sService": {"serviceName": "x", "namespace": "y"}}]),
            ("ingress", "fromNodes", [{"matchLabels": {"role": "worker"}}]),
            ("egress", "toGroups", [{"aws": {"securityGroupsIds": ["sg-1"]}}]),
        ],
    )
    def test_other_unsupported_constructs(
        self, tmp_path: Path, section: str, construct: str, value: list[Any]
    ) -> None:
        policy = _cnp_with_rule(section, {construct: value})
        exc = _load_error(tmp_path, [TEAM_A, policy], error=UnsupportedPolicyError)
        _assert_names(
            exc,
            file="manifests.yaml",
            obj="CiliumNetworkPolicy team-a/x",
            field=f"spec.{section}[0].{construct}",
        )

    def test_misspelled_field(self, tmp_path: Path) -> None:
        policy = _cnp_with_rule("ingress", {"fromEndpoint": [{"matchLabels": {"app": "client"}}]})
        exc = _load_error(tmp_path, [TEAM_A, policy], error=UnsupportedPolicyError)
        _assert_names(
            exc,
            file="manifests.yaml",
            obj="CiliumNetworkPolicy team-a/x",
            field="spec.ingress[0].fromEndpoint",
        )
        assert "spelling" in str(exc)

    def test_misspelled_spec_field(self, tmp_path: Path) -> None:
        policy = cnp("team-a", "x", {"endpointSelector": {}, "ingres": [{}]})
        exc = _load_error(tmp_path, [TEAM_A, policy], error=UnsupportedPolicyError)
        _assert_names(
            exc, file="manifests.yaml", obj="CiliumNetworkPolicy team-a/x", field="spec.ingres"
        )

    def test_to_endpoints_in_ingress_rule(self, tmp_path: Path) -> None:
        policy = _cnp_with_rule("ingress", {"toEndpoints": [{}]})
        exc = _load_error(tmp_path, [TEAM_A, policy])
        _assert_names(
            exc,
            file="manifests.yaml",
            obj="CiliumNetworkPolicy team-a/x",
            field="spec.ingress[0].toEndpoints",
        )
        assert "not allowed in an ingress rule" in str(exc)

    def test_from_entities_in_egress_deny_rule(self, tmp_path: Path) -> None:
        policy = _cnp_with_rule("egressDeny", {"fromEntities": ["world"]})
        exc = _load_error(tmp_path, [TEAM_A, policy])
        _assert_names(
            exc,
            file="manifests.yaml",
            obj="CiliumNetworkPolicy team-a/x",
            field="spec.egressDeny[0].fromEntities",
        )

    def test_l7_rules_in_ingress_deny(self, tmp_path: Path) -> None:
        policy = _cnp_with_rule(
            "ingressDeny",
            {
                "fromEndpoints": [{}],
                "toPorts": [{"ports": [{"port": "80"}], "rules": {"http": [{"method": "GET"}]}}],
            },
        )
        exc = _load_error(tmp_path, [TEAM_A, policy])
        _assert_names(
            exc,
            file="manifests.yaml",
            obj="CiliumNetworkPolicy team-a/x",
            field="spec.ingressDeny[0].toPorts[0].rules",
        )

    def test_reserved_label_source_in_peer_selector(self, tmp_path: Path) -> None:
        policy = _cnp_with_rule(
            "ingress", {"fromEndpoints": [{"matchLabels": {"reserved:host": ""}}]}
        )
        exc = _load_error(tmp_path, [TEAM_A, policy], error=UnsupportedPolicyError)
        _assert_names(
            exc,
            file="manifests.yaml",
            obj="CiliumNetworkPolicy team-a/x",
            field="spec.ingress[0].fromEndpoints[0]",
        )
        assert "reserved:" in str(exc)

    def test_reserved_label_source_in_endpoint_selector(self, tmp_path: Path) -> None:
        policy = cnp(
            "team-a",
            "x",
            {
                "endpointSelector": {
                    "matchExpressions": [{"key": "reserved:init", "operator": "Exists"}]
                },
                "ingress": [{}],
            },
        )
        exc = _load_error(tmp_path, [TEAM_A, policy], error=UnsupportedPolicyError)
        _assert_names(
            exc,
            file="manifests.yaml",
            obj="CiliumNetworkPolicy team-a/x",
            field="spec.endpointSelector",
        )

    def test_bad_cilium_port(self, tmp_path: Path) -> None:
        policy = _cnp_with_rule("ingress", {"toPorts": [{"ports": [{"port": "70000"}]}]})
        exc = _load_error(tmp_path, [TEAM_A, policy])
        _assert_names(
            exc,
            file="manifests.yaml",
            obj="CiliumNetworkPolicy team-a/x",
            field="spec.ingress[0].toPorts[0].ports[0].port",
        )
        assert "70000" in str(exc)

    def test_bad_cilium_protocol(self, tmp_path: Path) -> None:
        policy = _cnp_with_rule(
            "egress", {"toPorts": [{"ports": [{"port": "80", "protocol": "HTTP"}]}]}
        )
        exc = _load_error(tmp_path, [TEAM_A, policy])
        _assert_names(
            exc,
            file="manifests.yaml",
            obj="CiliumNetworkPolicy team-a/x",
            field="spec.egress[0].toPorts[0].ports[0].protocol",
        )

    def test_bad_networkpolicy_port(self, tmp_path: Path) -> None:
        policy = netpol(
            "team-a", "np", {"podSelector": {}, "ingress": [{"ports": [{"port": 70000}]}]}
        )
        exc = _load_error(tmp_path, [TEAM_A, policy])
        _assert_names(
            exc,
            file="manifests.yaml",
            obj="NetworkPolicy team-a/np",
            field="spec.ingress[0].ports[0].port",
        )

    def test_networkpolicy_missing_pod_selector(self, tmp_path: Path) -> None:
        policy = netpol("team-a", "np", {"policyTypes": ["Ingress"]})
        exc = _load_error(tmp_path, [TEAM_A, policy])
        _assert_names(
            exc, file="manifests.yaml", obj="NetworkPolicy team-a/np", field="spec.podSelector"
        )
        assert "missing" in str(exc)

    def test_networkpolicy_bad_policy_type(self, tmp_path: Path) -> None:
        policy = netpol("team-a", "np", {"podSelector": {}, "policyTypes": ["Inbound"]})
        exc = _load_error(tmp_path, [TEAM_A, policy])
        _assert_names(
            exc, file="manifests.yaml", obj="NetworkPolicy team-a/np", field="spec.policyTypes[0]"
        )

    @pytest.mark.parametrize("containers", [[], None])
    def test_deployment_without_containers(
        self, tmp_path: Path, containers: list[Any] | None
    ) -> None:
        dep = deployment("team-a", "api", {"app": "api"})
        pod_spec = dep["spec"]["template"]["spec"]
        if containers is None:
            del pod_spec["containers"]
        else:
            pod_spec["containers"] = containers
        exc = _load_error(tmp_path, [TEAM_A, dep])
        _assert_names(
            exc,
            file="manifests.yaml",
            obj="Deployment team-a/api",
            field="spec.template.spec.containers",
        )

    def test_cnp_without_endpoint_selector(self, tmp_path: Path) -> None:
        policy = cnp("team-a", "x", {"ingress": [{}]})
        exc = _load_error(tmp_path, [TEAM_A, policy])
        _assert_names(
            exc,
            file="manifests.yaml",
            obj="CiliumNetworkPolicy team-a/x",
            field="spec.endpointSelector",
        )

    def test_cnp_without_spec(self, tmp_path: Path) -> None:
        policy = cnp("team-a", "x", {})
        del policy["spec"]
        exc = _load_error(tmp_path, [TEAM_A, policy])
        _assert_names(exc, file="manifests.yaml", obj="CiliumNetworkPolicy team-a/x", field="spec")

    def test_error_in_specs_list_names_its_index(self, tmp_path: Path) -> None:
        policy = cnp("team-a", "x", {})
        del policy["spec"]
        policy["specs"] = [
            {"endpointSelector": {}, "ingress": [{}]},
            {"endpointSelector": {}, "ingress": [{"toEndpoints": [{}]}]},
        ]
        exc = _load_error(tmp_path, [TEAM_A, policy])
        _assert_names(
            exc,
            file="manifests.yaml",
            obj="CiliumNetworkPolicy team-a/x",
            field="specs[1].ingress[0].toEndpoints",
        )

    def test_selector_operator_needs_values(self, tmp_path: Path) -> None:
        policy = _cnp_with_rule(
            "ingress",
            {"fromEndpoints": [{"matchExpressions": [{"key": "app", "operator": "In"}]}]},
        )
        exc = _load_error(tmp_path, [TEAM_A, policy])
        assert "manifests.yaml" in str(exc)
        assert "CiliumNetworkPolicy team-a/x" in str(exc)
        assert exc.field.startswith("spec.ingress[0].fromEndpoints[0].matchExpressions[0]")

    def test_unknown_entity(self, tmp_path: Path) -> None:
        policy = _cnp_with_rule("ingress", {"fromEntities": ["everyone"]})
        exc = _load_error(tmp_path, [TEAM_A, policy])
        _assert_names(
            exc,
            file="manifests.yaml",
            obj="CiliumNetworkPolicy team-a/x",
            field="spec.ingress[0].fromEntities[0]",
        )

    def test_unsupported_policy_error_is_a_blueprint_error(self) -> None:
        exc = UnsupportedPolicyError("f.yaml", "CiliumNetworkPolicy a/b", "spec.x", "nope")
        assert isinstance(exc, BlueprintError)
        assert str(exc) == "f.yaml: CiliumNetworkPolicy a/b: spec.x: nope"
