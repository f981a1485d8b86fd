"""``gauntlet policy verify``: gator Suite semantics, go-test-like output, exit codes."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import yaml

from gauntlet.admission.verify import SuiteError, verify
from gauntlet.cli import main
from gauntlet.exitcodes import ExitCode
from test_gatekeeper import LIB, SCHEMA, TAGS_REGO, constraint, pod, template

REPO = Path(__file__).resolve().parents[1]


def write(path: Path, *docs: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))


@pytest.fixture
def suite_dir(tmp_path: Path) -> Path:
    write(tmp_path / "template.yaml", template("K8sTestTags", TAGS_REGO, (LIB,), SCHEMA))
    write(
        tmp_path / "constraint.yaml",
        constraint(
            "K8sTestTags",
            "no-latest",
            parameters={"tag": "latest"},
            match={"kinds": [{"apiGroups": [""], "kinds": ["Pod"]}]},
        ),
    )
    write(tmp_path / "bad-constraint.yaml", constraint("K8sTestTags", "bad", parameters={"tag": 1}))
    write(tmp_path / "samples/ok.yaml", pod("reg.io/a:1.0"))
    write(tmp_path / "samples/latest.yaml", pod("reg.io/a:latest", "nginx"))
    write(
        tmp_path / "samples/deployment.yaml",
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {}},
    )
    write(
        tmp_path / "samples/review.yaml",
        {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "operation": "UPDATE",
                "kind": {"group": "", "version": "v1", "kind": "Pod"},
                "object": pod("a:latest"),
                "oldObject": pod("a:1"),
                "userInfo": {"username": "bob"},
            },
        },
    )
    return tmp_path


def suite(tests: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "test.gatekeeper.sh/v1alpha1",
        "kind": "Suite",
        "metadata": {"name": "s"},
        "tests": tests,
    }


def cases(*items: tuple[str, str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [{"name": n, "object": o, "assertions": a} for n, o, a in items]


def run(path: Path, **kw: Any) -> tuple[bool, str]:
    out = io.StringIO()
    ok = verify([path], run=kw.get("run"), verbose=kw.get("verbose", False), out=out)
    return ok, out.getvalue()


def test_passing_suite(suite_dir: Path) -> None:
    write(
        suite_dir / "suite.yaml",
        suite(
            [
                {
                    "name": "tags",
                    "template": "template.yaml",
                    "constraint": "constraint.yaml",
                    "cases": cases(
                        ("ok", "samples/ok.yaml", [{"violations": "no"}]),
                        (
                            "latest",
                            "samples/latest.yaml",
                            [
                                {"violations": 2},
                                {"violations": 1, "message": "uses tag"},
                                {"violations": "yes", "message": "^container <c1>"},
                            ],
                        ),
                        # The constraint matches Pods only: a Deployment is not reviewed.
                        ("other-kind", "samples/deployment.yaml", [{"violations": "no"}]),
                        ("admission-review", "samples/review.yaml", [{"violations": 1}]),
                    ),
                },
                {
                    "name": "schema",
                    "template": "template.yaml",
                    "constraint": "bad-constraint.yaml",
                    "invalid": True,
                },
            ]
        ),
    )
    ok, out = run(suite_dir, verbose=True)
    assert ok, out
    assert "--- PASS: latest" in out and out.rstrip().endswith("PASS")


def test_yaml_yes_no_are_strings(suite_dir: Path) -> None:
    (suite_dir / "suite.yaml").write_text(
        "apiVersion: test.gatekeeper.sh/v1alpha1\nkind: Suite\ntests:\n"
        "- name: t\n  template: template.yaml\n  constraint: constraint.yaml\n  cases:\n"
        "  - name: a\n    object: samples/latest.yaml\n    assertions:\n    - violations: yes\n"
        "  - name: b\n    object: samples/ok.yaml\n    assertions:\n    - violations: no\n"
    )
    assert run(suite_dir)[0]


def test_failures_are_reported_like_gator(suite_dir: Path) -> None:
    write(
        suite_dir / "suite.yaml",
        suite(
            [
                {
                    "name": "tags",
                    "template": "template.yaml",
                    "constraint": "constraint.yaml",
                    "cases": cases(
                        ("wrong-count", "samples/latest.yaml", [{"violations": 1}]),
                        (
                            "wrong-message",
                            "samples/latest.yaml",
                            [{"violations": "yes", "message": "nope"}],
                        ),
                        ("missing-file", "samples/none.yaml", [{"violations": "no"}]),
                    ),
                },
                {
                    "name": "not-invalid",
                    "template": "template.yaml",
                    "constraint": "constraint.yaml",
                    "invalid": True,
                },
            ]
        ),
    )
    ok, out = run(suite_dir)
    assert not ok
    assert "got 2 violations but want exactly 1" in out
    assert "got 0 violations containing 'nope' but want at least 1" in out
    assert "file not found" in out
    assert "marked invalid" in out
    assert out.rstrip().endswith("FAIL")


def test_run_filter_skips_other_cases(suite_dir: Path) -> None:
    write(
        suite_dir / "suite.yaml",
        suite(
            [
                {
                    "name": "tags",
                    "template": "template.yaml",
                    "constraint": "constraint.yaml",
                    "cases": cases(
                        ("ok", "samples/ok.yaml", [{"violations": "no"}]),
                        ("bad", "samples/ok.yaml", [{"violations": 5}]),
                    ),
                }
            ]
        ),
    )
    assert run(suite_dir, run="tags/ok")[0]
    assert not run(suite_dir)[0]


def test_no_suites_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match=r"no test\.gatekeeper\.sh"):
        run(tmp_path)


def test_cli_exit_codes(suite_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(
        suite_dir / "suite.yaml",
        suite(
            [
                {
                    "name": "t",
                    "template": "template.yaml",
                    "constraint": "constraint.yaml",
                    "cases": cases(("ok", "samples/ok.yaml", [{"violations": "no"}])),
                }
            ]
        ),
    )
    assert main(["policy", "verify", str(suite_dir)]) == ExitCode.OK
    write(
        suite_dir / "suite.yaml",
        suite(
            [
                {
                    "name": "t",
                    "template": "template.yaml",
                    "constraint": "constraint.yaml",
                    "cases": cases(("ok", "samples/ok.yaml", [{"violations": "yes"}])),
                }
            ]
        ),
    )
    assert main(["policy", "verify", str(suite_dir)]) == ExitCode.CONFORMANCE_FAILED
    assert main(["policy", "verify", str(suite_dir / "nothing")]) == ExitCode.USAGE_ERROR
    assert "FAIL" in capsys.readouterr().out


def test_reference_library_suites_pass() -> None:
    """The gator suites of the reference policy library pass on Gauntlet's engine."""
    out = io.StringIO()
    assert verify([REPO / "fixtures" / "policy-tests"], run=None, verbose=False, out=out), (
        out.getvalue()
    )
