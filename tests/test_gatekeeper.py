"""Gatekeeper engine: match criteria, enforcement actions, input shape, errors, crash isolation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gauntlet.admission.gatekeeper import GatekeeperEngine
from gauntlet.admission.match import MatchTarget, constraint_matches, wildcard_matches
from gauntlet.admission.rego import RegoEngineCrashed, RegoWorker
from gauntlet.admission.response import parse_denials, parse_warnings, webhook_denial_message
from gauntlet.admission.templates import EnforcementAction, Match
from gauntlet.blueprint.errors import BlueprintError, UnsupportedPolicyError
from gauntlet.rbac import UserInfo

# Rego v0, with a library imported as a function (as gatekeeper-library's templates do).
TAGS_REGO = """
package k8stesttags

import data.lib.images.has_tag

violation[{"msg": msg, "details": {"image": c.image}}] {
  c := input.review.object.spec.containers[_]
  not has_tag(c.image)
  msg := sprintf("container <%v> has no tag", [c.name])
}

violation[{"msg": msg}] {
  c := input.review.object.spec.containers[_]
  endswith(c.image, concat(":", ["", input.parameters.tag]))
  msg := sprintf("container <%v> uses tag %v", [c.name, input.parameters.tag])
}
"""
LIB = """
package lib.images

has_tag(image) {
  parts := split(image, "/")
  contains(parts[count(parts) - 1], ":")
}
"""
REVIEW_REGO = """
package k8sreviewecho

violation[{"msg": msg}] {
  msg := sprintf("op=%v user=%v ns=%v nslabel=%v inv=%v", [
    object.get(input.review, "operation", "none"),
    object.get(object.get(input.review, "userInfo", {}), "username", "none"),
    input.review.namespace,
    input.review._unstable.namespace.metadata.labels.tier,
    count(object.get(data.inventory.namespace, [input.review.namespace, "v1", "ConfigMap"], {})),
  ])
}
"""


def template(
    kind: str, rego: str, libs: tuple[str, ...] = (), schema: Any = None
) -> dict[str, Any]:
    crd: dict[str, Any] = {"spec": {"names": {"kind": kind}}}
    if schema is not None:
        crd["spec"]["validation"] = {"openAPIV3Schema": schema}
    return {
        "apiVersion": "templates.gatekeeper.sh/v1",
        "kind": "ConstraintTemplate",
        "metadata": {"name": kind.lower()},
        "spec": {
            "crd": crd,
            "targets": [
                {"target": "admission.k8s.gatekeeper.sh", "rego": rego, "libs": list(libs)}
            ],
        },
    }


def constraint(kind: str, name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "constraints.gatekeeper.sh/v1beta1",
        "kind": kind,
        "metadata": {"name": name},
        "spec": spec,
    }


def pod(*images: str, ns: str = "team-a", labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": ns, "labels": labels or {}},
        "spec": {"containers": [{"name": f"c{i}", "image": im} for i, im in enumerate(images)]},
    }


SCHEMA = {"type": "object", "properties": {"tag": {"type": "string"}}}
F = Path("policies.yaml")


@pytest.fixture(scope="module")
def worker() -> Any:
    with RegoWorker() as w:
        yield w


def engine(worker: RegoWorker, *constraints: dict[str, Any], **kw: Any) -> GatekeeperEngine:
    tpl = template("K8sTestTags", TAGS_REGO, (LIB,), SCHEMA)
    eng = GatekeeperEngine.from_files([(F, tpl)], [(F, c) for c in constraints], worker=worker)
    eng.namespace_labels.update(kw.get("namespaces", {}))
    return eng


class TestReview:
    def test_violations_with_imported_library_function(self, worker: RegoWorker) -> None:
        eng = engine(worker, constraint("K8sTestTags", "tags", parameters={"tag": "latest"}))
        found = eng.review(pod("nginx", "reg.io/a:latest", "reg.io/b:1.0"))
        assert [(v.constraint_name, v.message) for v in found] == [
            ("tags", "container <c0> has no tag"),
            ("tags", "container <c1> uses tag latest"),
        ]
        assert found[0].details == {"image": "nginx"}

    def test_enforcement_actions(self, worker: RegoWorker) -> None:
        eng = engine(
            worker,
            constraint("K8sTestTags", "deny-it", parameters={"tag": "latest"}),
            constraint("K8sTestTags", "warn-it", enforcementAction="warn", parameters={"tag": "x"}),
            constraint(
                "K8sTestTags", "dry-it", enforcementAction="dryrun", parameters={"tag": "x"}
            ),
        )
        found = eng.review(pod("a/b:x"))
        actions = {v.constraint_name: v.action for v in found}
        assert actions == {"warn-it": EnforcementAction.WARN, "dry-it": EnforcementAction.DRYRUN}

    def test_scoped_enforcement_actions(self, worker: RegoWorker) -> None:
        scoped = constraint(
            "K8sTestTags",
            "scoped",
            enforcementAction="scoped",
            scopedEnforcementActions=[
                {"action": "warn", "enforcementPoints": [{"name": "validation.gatekeeper.sh"}]},
                {"action": "deny", "enforcementPoints": [{"name": "audit.gatekeeper.sh"}]},
            ],
            parameters={"tag": "x"},
        )
        eng = engine(worker, scoped)
        assert [v.action for v in eng.review(pod("a/b:x"))] == [EnforcementAction.WARN]
        assert [a.violation.action for a in eng.audit([pod("a/b:x")])] == [EnforcementAction.DENY]

    def test_with_action_overrides_one_constraint(self, worker: RegoWorker) -> None:
        eng = engine(worker, constraint("K8sTestTags", "t", parameters={"tag": "x"}))
        relaxed = eng.with_action("t", EnforcementAction.DRYRUN)
        assert [v.action for v in relaxed.review(pod("a/b:x"))] == [EnforcementAction.DRYRUN]
        assert [v.action for v in eng.review(pod("a/b:x"))] == [EnforcementAction.DENY]

    def test_input_shape_admission_and_audit(self, worker: RegoWorker) -> None:
        tpl = template("K8sReviewEcho", REVIEW_REGO)
        eng = GatekeeperEngine.from_files(
            [(F, tpl)], [(F, constraint("K8sReviewEcho", "echo"))], worker=worker
        )
        eng.set_inventory(
            [
                {
                    "apiVersion": "v1",
                    "kind": "Namespace",
                    "metadata": {"name": "team-a", "labels": {"tier": "gold"}},
                },
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": "c1", "namespace": "team-a"},
                },
            ]
        )
        admitted = eng.review(pod("x:1"), user=UserInfo("bob", ("devs",)))
        assert admitted[0].message == "op=CREATE user=bob ns=team-a nslabel=gold inv=1"
        audited = eng.audit([pod("x:1")])
        # During audit Gatekeeper sends no operation and no userInfo.
        assert audited[0].violation.message == "op=none user=none ns=team-a nslabel=gold inv=1"

    def test_ignored_namespace_is_not_reviewed(self, worker: RegoWorker) -> None:
        eng = engine(
            worker,
            constraint("K8sTestTags", "t", parameters={"tag": "x"}),
            namespaces={"skip": {"admission.gatekeeper.sh/ignore": "no-self-managing"}},
        )
        assert eng.review(pod("a/b:x", ns="skip")) == []


class TestMatch:
    @staticmethod
    def target(**kw: Any) -> MatchTarget:
        base: dict[str, Any] = dict(
            group="",
            kind="Pod",
            name="web-1",
            generate_name="",
            namespace="team-a",
            labels={"app": "web"},
            namespace_labels={"tenant": "yes"},
        )
        base.update(kw)
        return MatchTarget(**base)

    @pytest.mark.parametrize(
        ("pattern", "candidate", "expected"),
        [
            ("kube-*", "kube-system", True),
            ("kube-*", "team-kube", False),
            ("*-system", "kube-system", True),
            ("*team*", "my-team-a", True),
            ("team-a", "team-a", True),
            ("team-a", "team-ab", False),
        ],
    )
    def test_wildcards(self, pattern: str, candidate: str, expected: bool) -> None:
        assert wildcard_matches(pattern, candidate) is expected

    @pytest.mark.parametrize(
        ("match", "target_kw", "expected"),
        [
            ({"kinds": [{"apiGroups": [""], "kinds": ["Pod"]}]}, {}, True),
            ({"kinds": [{"apiGroups": ["apps"], "kinds": ["Pod"]}]}, {}, False),
            ({"kinds": [{"apiGroups": ["*"], "kinds": ["*"]}]}, {"group": "apps"}, True),
            ({"kinds": [{"kinds": ["Deployment"]}]}, {}, False),
            ({"namespaces": ["team-*"]}, {}, True),
            ({"excludedNamespaces": ["team-*"]}, {}, False),
            # Cluster-scoped objects are never excluded by namespace criteria.
            ({"namespaces": ["team-a"]}, {"namespace": "", "kind": "ClusterRole"}, True),
            # A Namespace object is matched by namespace criteria on its own name.
            (
                {"namespaces": ["team-*"]},
                {"namespace": "", "kind": "Namespace", "name": "team-b"},
                True,
            ),
            ({"scope": "Cluster"}, {}, False),
            ({"scope": "Namespaced"}, {}, True),
            ({"scope": "Cluster"}, {"namespace": "", "kind": "Namespace", "name": "x"}, True),
            ({"labelSelector": {"matchLabels": {"app": "web"}}}, {}, True),
            (
                {
                    "labelSelector": {
                        "matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]
                    }
                },
                {},
                False,
            ),
            ({"namespaceSelector": {"matchLabels": {"tenant": "yes"}}}, {}, True),
            ({"namespaceSelector": {"matchLabels": {"tenant": "no"}}}, {}, False),
            # A Namespace is matched by a namespaceSelector on its own labels.
            (
                {"namespaceSelector": {"matchLabels": {"app": "web"}}},
                {"kind": "Namespace", "namespace": ""},
                True,
            ),
            # Unknown namespace: Gatekeeper cannot evaluate the selector; no match.
            (
                {"namespaceSelector": {"matchLabels": {"tenant": "yes"}}},
                {"namespace_labels": None},
                False,
            ),
            ({"name": "web-*"}, {}, True),
            ({"name": "api"}, {}, False),
            ({"name": "web-*"}, {"name": "", "generate_name": "web-"}, True),
            ({"source": "Generated"}, {}, False),
            ({"source": "All"}, {}, True),
        ],
    )
    def test_criteria(
        self, match: dict[str, Any], target_kw: dict[str, Any], expected: bool
    ) -> None:
        assert constraint_matches(Match.model_validate(match), self.target(**target_kw)) is expected


class TestErrors:
    def test_rego_that_does_not_compile_names_the_template(self, worker: RegoWorker) -> None:
        bad = template("K8sBroken", 'package x\nviolation[{"msg": m}] { m := }\n')
        with pytest.raises(BlueprintError) as err:
            GatekeeperEngine.from_files([(F, bad)], [], worker=worker)
        assert err.value.obj == "ConstraintTemplate k8sbroken"
        assert err.value.field == "spec.targets[0].rego"

    def test_name_must_be_lowercase_kind(self, worker: RegoWorker) -> None:
        tpl = template("K8sTestTags", TAGS_REGO, (LIB,))
        tpl["metadata"]["name"] = "tags"
        with pytest.raises(BlueprintError, match="lowercase of the kind"):
            GatekeeperEngine.from_files([(F, tpl)], [], worker=worker)

    def test_library_package_must_start_with_lib(self, worker: RegoWorker) -> None:
        tpl = template("K8sTestTags", TAGS_REGO, ("package images\n",))
        with pytest.raises(BlueprintError, match="lib"):
            GatekeeperEngine.from_files([(F, tpl)], [], worker=worker)

    def test_cel_only_template_is_unsupported(self, worker: RegoWorker) -> None:
        tpl = template("K8sCel", "")
        tpl["spec"]["targets"][0] = {
            "target": "admission.k8s.gatekeeper.sh",
            "code": [{"engine": "K8sNativeValidation", "source": {"validations": []}}],
        }
        with pytest.raises(UnsupportedPolicyError, match="K8sNativeValidation"):
            GatekeeperEngine.from_files([(F, tpl)], [], worker=worker)

    def test_constraint_of_unknown_kind(self, worker: RegoWorker) -> None:
        with pytest.raises(BlueprintError, match="no ConstraintTemplate defines kind"):
            engine(worker, constraint("K8sNope", "x"))

    def test_parameters_validated_against_schema(self, worker: RegoWorker) -> None:
        with pytest.raises(BlueprintError) as err:
            engine(worker, constraint("K8sTestTags", "t", parameters={"tag": 3}))
        assert err.value.field == "spec.parameters.tag"

    def test_unknown_match_field(self, worker: RegoWorker) -> None:
        with pytest.raises(BlueprintError) as err:
            engine(worker, constraint("K8sTestTags", "t", match={"namespace": ["a"]}))
        assert err.value.field == "spec.match.namespace"

    def test_bad_enforcement_action(self, worker: RegoWorker) -> None:
        with pytest.raises(BlueprintError, match="deny, warn, dryrun or scoped"):
            engine(worker, constraint("K8sTestTags", "t", enforcementAction="block"))


class TestCrashIsolation:
    def test_a_native_crash_is_reported_and_the_next_request_works(self) -> None:
        with RegoWorker() as w:
            eng = engine(w, constraint("K8sTestTags", "t", parameters={"tag": "x"}))
            assert len(eng.review(pod("a/b:x"))) == 1
            with pytest.raises(RegoEngineCrashed, match="exited with status"):
                w.crash_for_test()
            # The worker is restarted with the templates and constraints it held.
            assert len(eng.review(pod("a/b:x"))) == 1
            assert w.crashes == 1

    def test_a_hung_engine_is_killed(self) -> None:
        loop = template(
            "K8sSlow",
            'package slow\nviolation[{"msg": "x"}] { numbers.range(1, 100000000)[_] == -1 }\n',
        )
        with RegoWorker() as w:
            eng = GatekeeperEngine.from_files(
                [(F, loop)], [(F, constraint("K8sSlow", "s"))], worker=w
            )
            # Only the evaluation gets the short deadline: starting the worker and compiling
            # may take longer than that on a loaded CI machine.
            w.timeout_s = 0.5
            with pytest.raises(RegoEngineCrashed, match="did not answer"):
                eng.review(pod("a:1"))


class TestResponse:
    def test_round_trip(self, worker: RegoWorker) -> None:
        eng = engine(worker, constraint("K8sTestTags", "tags", parameters={"tag": "latest"}))
        message = webhook_denial_message(eng.review(pod("nginx", "a/b:latest")))
        assert message.startswith(
            'admission webhook "validation.gatekeeper.sh" denied the request: '
        )
        assert [(d.constraint, d.message) for d in parse_denials(message)] == [
            ("tags", "container <c0> has no tag"),
            ("tags", "container <c1> uses tag latest"),
        ]

    def test_newer_api_server_prefix_and_multiline_message(self) -> None:
        message = (
            'deployments.apps "web" is forbidden: admission webhook "validation.gatekeeper.sh" '
            "denied the request: [no-latest] image <a:latest>\nuses latest\n[no-priv] privileged"
        )
        assert [(d.constraint, d.message) for d in parse_denials(message)] == [
            ("no-latest", "image <a:latest>\nuses latest"),
            ("no-priv", "privileged"),
        ]

    def test_other_refusals_have_no_denials(self) -> None:
        assert parse_denials('pods "x" is forbidden: exceeded quota: q, requested: pods=1') == ()

    def test_warnings(self) -> None:
        assert [
            (d.constraint, d.message) for d in parse_warnings(["[cost] add labels", "other"])
        ] == [("cost", "add labels")]


# Templates that observe their parameters in different ways (shared-input planning).
FLAG_REGO = """
package k8stestflag

violation[{"msg": "flag is set"}] {
  input.parameters.flag
}
"""
LABEL_REGO = """
package k8stestlabel

violation[{"msg": sprintf("label %v missing", [input.parameters["label"]])}] {
  not input.review.object.metadata.labels[input.parameters["label"]]
}
"""
COUNT_REGO = """
package k8stestcount

violation[{"msg": sprintf("%v parameters", [count(object.get(input, "parameters", {}))])}] {
  true
}
"""


class TestSharedInput:
    """Constraints with different parameters share one parsed input only where no template can
    tell: the answers are those each constraint gives with its own parameters alone."""

    @staticmethod
    def build(worker: RegoWorker, *constraints: dict[str, Any]) -> GatekeeperEngine:
        templates = [
            (F, template("K8sTestFlag", FLAG_REGO)),
            (F, template("K8sTestLabel", LABEL_REGO)),
            (F, template("K8sTestCount", COUNT_REGO)),
        ]
        return GatekeeperEngine.from_files(templates, [(F, c) for c in constraints], worker=worker)

    def test_parameter_reads(self) -> None:
        from gauntlet.admission.worker import parameter_reads

        assert parameter_reads([FLAG_REGO]) == {"flag"}
        assert parameter_reads([LABEL_REGO, "x := input.review.object.kind"]) == {"label"}
        assert parameter_reads([COUNT_REGO]) is None
        assert parameter_reads(["import input.parameters as p"]) is None
        assert parameter_reads(["p := input\nq := p.parameters.x"]) is None
        assert parameter_reads(["f { x := data.y with input as {} }"]) is None
        assert parameter_reads(["myinput.parameters + input_x"]) == frozenset()

    def test_absent_parameter_is_not_filled_from_another_constraint(
        self, worker: RegoWorker
    ) -> None:
        eng = self.build(
            worker,
            constraint("K8sTestFlag", "unset", parameters={}),
            constraint("K8sTestFlag", "set", parameters={"flag": True}),
            constraint("K8sTestLabel", "label", parameters={"label": "team"}),
        )
        found = eng.review(pod("a/b:1", labels={"app": "x"}))
        assert [(v.constraint_name, v.message) for v in found] == [
            ("label", "label team missing"),
            ("set", "flag is set"),
        ]

    def test_whole_parameter_readers_see_only_their_own(self, worker: RegoWorker) -> None:
        eng = self.build(
            worker,
            constraint("K8sTestCount", "none", parameters={}),
            constraint("K8sTestCount", "two", parameters={"a": 1, "b": 2}),
            constraint("K8sTestLabel", "label", parameters={"label": "app"}),
            constraint("K8sTestFlag", "set", parameters={"flag": True}),
        )
        found = {
            v.constraint_name: v.message for v in eng.review(pod("a/b:1", labels={"app": "x"}))
        }
        assert found == {"none": "0 parameters", "two": "2 parameters", "set": "flag is set"}

    def test_plan_merges_disjoint_readers_into_one_input(self) -> None:
        from gauntlet.admission.worker import _Host

        host = _Host()
        mods = {"k8stestflag": FLAG_REGO, "k8stestlabel": LABEL_REGO, "k8stestcount": COUNT_REGO}
        host.load(
            {
                "templates": {
                    pkg: {
                        "version": "v0",
                        "modules": [["m.rego", src]],
                        "rule": f"data.{pkg}.violation",
                    }
                    for pkg, src in mods.items()
                },
                "constraints": {
                    "flag": ["k8stestflag", {"flag": True}],
                    "label": ["k8stestlabel", {"label": "team"}],
                    "unset": ["k8stestflag", {}],
                    "count": ["k8stestcount", {"a": 1}],
                },
            }
        )
        assert [members for _, _, members in host.plan(("flag", "label"))] == [
            [(0, "k8stestflag"), (1, "k8stestlabel")]
        ]
        plan = host.plan(("flag", "label", "unset", "count"))
        assert [json for _, json, _ in plan] == ['{"flag":true,"label":"team"}', "{}", '{"a":1}']
