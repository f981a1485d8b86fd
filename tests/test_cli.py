"""Tests for the ``gauntlet`` command line that start nothing (``gauntlet.cli.main`` in-process).

Runs that provision the sandbox are in ``test_e2e_sandbox.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import gauntlet.targets.local.sandbox as sandbox_module
from gauntlet.cli import main
from gauntlet.exitcodes import ExitCode
from gauntlet.plugin import REFERENCE_PLATFORM

TENANTS = ("team-alpha", "team-beta", "team-gamma")


@pytest.fixture
def broken_blueprint(tmp_path: Path) -> Path:
    root = tmp_path / "platform"
    (root / "tenants").mkdir(parents=True)
    (root / "tenants" / "ok.yaml").write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ok\n"
    )
    (root / "tenants" / "broken.yaml").write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: [unclosed\n"
    )
    return root


def test_matrix_prints_grids_and_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["matrix"]) == ExitCode.OK
    out = capsys.readouterr().out
    for ns in (*TENANTS, "kube-system", "ingress", "monitoring"):
        assert f"to namespace {ns}" in out
    assert "gauntlet-probe" not in out
    assert str(REFERENCE_PLATFORM) in out.splitlines()[0]
    summary = out.strip().splitlines()[-1]
    cells, allowed, denied = (int(w) for w in summary.replace(",", "").split()[::2])
    assert summary == f"{cells} cells, {allowed} allowed, {denied} denied"
    assert cells == allowed + denied
    assert 0 < allowed < cells


def test_matrix_with_outsider_adds_the_probe_pod(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["matrix", "--with-outsider"]) == ExitCode.OK
    assert "gauntlet-probe/outsider-0" in capsys.readouterr().out


def test_matrix_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["matrix", "--json"]) == ExitCode.OK
    data = json.loads(capsys.readouterr().out)
    assert data["schema"] == "gauntlet.matrix/v2"
    assert data["summary"]["cells"] == len(data["cells"])
    assert data["summary"]["allowed"] == sum(c["allowed"] for c in data["cells"])
    assert all(isinstance(c["reason"], str) and c["reason"] for c in data["cells"])
    cells = {f"{c['src']}->{c['dst']}:{c['port']}/{c['protocol']}": c for c in data["cells"]}
    # The one declared cross-tenant flow, and its reverse, which nothing allows.
    beta_to_alpha = cells["team-beta/client-0->team-alpha/api-0:8080/TCP"]
    assert beta_to_alpha["allowed"] is True
    assert "team-alpha/allow-team-beta-client" in beta_to_alpha["reason"]
    alpha_to_beta = cells["team-alpha/client-0->team-beta/api-0:8080/TCP"]
    assert alpha_to_beta["allowed"] is False
    assert "denied" in alpha_to_beta["reason"]
    assert {p["key"] for p in data["pods"]} >= {"team-alpha/api-0", "team-beta/client-0"}


def test_matrix_json_matches_the_text_summary(capsys: pytest.CaptureFixture[str]) -> None:
    main(["matrix", "--json"])
    summary = json.loads(capsys.readouterr().out)["summary"]
    main(["matrix"])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith(f"{summary['cells']} cells, {summary['allowed']} allowed")


def test_matrix_broken_blueprint_is_a_usage_error(
    broken_blueprint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["matrix", "--platform", str(broken_blueprint)]) == ExitCode.USAGE_ERROR == 4
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "blueprint error" in captured.err
    assert str(broken_blueprint / "tenants" / "broken.yaml") in captured.err


def test_matrix_missing_directory_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["matrix", "--platform", str(tmp_path / "nope")]) == ExitCode.USAGE_ERROR
    assert "not a directory" in capsys.readouterr().err


def test_run_broken_blueprint_is_a_usage_error(
    broken_blueprint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report_dir = tmp_path / "reports"
    code = main(["run", "--platform", str(broken_blueprint), "--report-dir", str(report_dir)])
    assert code == ExitCode.USAGE_ERROR
    assert "broken.yaml" in capsys.readouterr().err
    assert not report_dir.exists()  # nothing was run


def test_run_unknown_suite_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", "--suite", "nope", "--report-dir", str(tmp_path / "r")])
    assert code == ExitCode.USAGE_ERROR
    err = capsys.readouterr().err
    assert "unknown suite 'nope'" in err
    assert "isolation" in err


def test_run_kubeconfig_without_kubeconfig_is_a_target_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing-kubeconfig"))
    code = main(["run", "--target", "kubeconfig", "--report-dir", str(tmp_path / "r")])
    assert code == ExitCode.INCONCLUSIVE
    assert "missing-kubeconfig" in capsys.readouterr().err


def test_selfcheck_on_kubernetes_targets_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["selfcheck", "--target", "kind", "--report-dir", str(tmp_path / "r")])
    assert code == ExitCode.USAGE_ERROR
    assert "--target kind: selfcheck runs on the local sandbox only" in capsys.readouterr().err


def test_selfcheck_unknown_suite_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["selfcheck", "--suite", "nope", "--report-dir", str(tmp_path / "r")])
    assert code == ExitCode.USAGE_ERROR
    assert "unknown suite" in capsys.readouterr().err


def test_unknown_target_choice_exits_via_argparse(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["run", "--target", "eks"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_down_with_nothing_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Point the state root at an empty directory: `down` without --name tears down *every*
    # sandbox it finds, and other runs on this machine must not be touched.
    monkeypatch.setattr(sandbox_module, "state_root", lambda: tmp_path / "state")
    assert main(["down"]) == ExitCode.OK
    assert "nothing" in capsys.readouterr().out
    (tmp_path / "state").mkdir()
    assert main(["down", "--target", "local", "--name", "absent"]) == ExitCode.OK
    assert "nothing" in capsys.readouterr().out


def test_down_removes_a_stale_state_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    (state / "stale").mkdir(parents=True)
    # The supervisor of a crashed run is gone (no such PID): down only removes the state.
    (state / "stale" / "state.json").write_text(json.dumps({"supervisor_pid": 2_147_000_000}))
    (state / "keep").mkdir()
    monkeypatch.setattr(sandbox_module, "state_root", lambda: state)
    assert main(["down", "--name", "stale"]) == ExitCode.OK
    assert "removed stale" in capsys.readouterr().out
    assert not (state / "stale").exists()
    assert (state / "keep").exists()


def test_down_other_targets_are_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["down", "--target", "kind"]) == ExitCode.USAGE_ERROR
    assert "--target kind" in capsys.readouterr().err


def test_matrix_into_a_closed_pipe_is_quiet() -> None:
    """`gauntlet matrix | head` must not end with a BrokenPipeError traceback."""
    import subprocess
    import sys

    proc = subprocess.run(
        f"{sys.executable} -m gauntlet matrix --json | head -c 10",  # ~100 KB > pipe buffer
        shell=True,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr
